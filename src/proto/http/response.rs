//! HTTP/1.1 response parser: a push state machine (RFC 9112 §6).
