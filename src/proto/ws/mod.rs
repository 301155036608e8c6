//! WebSocket (RFC 6455): the opening handshake and the framing, pure and push-driven.

pub mod frame;
pub mod handshake;
pub mod template_frame;
