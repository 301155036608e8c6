//! TLS over any monoio stream, with rustls driven as a sans-IO state machine.
//!
//! - [`stream`]: [`TlsStream`] and its split halves, monoio's `AsyncReadRent`/`AsyncWriteRent`
//!   over rustls (plaintext is copied once each way: a fixed request cannot be sent zero-copy
//!   under TLS).
//! - [`config`]: the client and server configurations (ring provider, ALPN `http/1.1`,
//!   resumption on both sides, `--insecure`, `--cacert`).
//! - `session`: the client's session cache (many TLS 1.3 tickets per server).
//! - `verify`: certificate verifiers and the classification of TLS failures into error classes.
//! - [`cert`]: PEM files and the generated CA and certificate of `serve --tls-self-signed`.
//!
//! It never parses application bytes.

pub mod cert;
pub mod config;
mod session;
pub mod stream;
mod verify;

pub use cert::{read_certs, read_key, SelfSigned};
pub use config::{client_config, server_config};
pub use stream::{Handshake, TlsReadHalf, TlsStream, TlsWriteHalf};
pub use verify::tls_error;

#[cfg(test)]
mod tests;
