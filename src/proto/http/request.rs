//! HTTP/1.1 requests: encoded once at start-up (client), parsed push-style (server role).
