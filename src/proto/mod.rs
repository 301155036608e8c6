//! Protocol codecs, pure: std + httparse only. No sockets, no clock, no stats.
//!
//! Decoders are push-driven: they take `&[u8]` and say how much they consumed and whether a
//! message completed; partial input is not an error. Encoders write into caller-owned buffers.

pub mod csv;
pub mod http;
pub mod raw;
pub mod template;
mod template_mark;
pub mod ws;
