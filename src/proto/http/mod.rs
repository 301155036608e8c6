//! HTTP/1.1 (RFC 9110, RFC 9112): the client request encoder and response parser, and the
//! server-side request parser used by the embedded target.

pub mod request;
pub mod request_template;
pub mod response;
