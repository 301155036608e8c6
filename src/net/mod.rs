//! Client sockets: created by hand, options set, connected non-blocking, handed to monoio.
//!
//! This is the only client code that awaits connects. It owns the source-address pool
//! (`--source`), the socket options (`TCP_NODELAY`, `IP_BIND_ADDRESS_NO_PORT`, optional
//! `SO_LINGER 0`) and the reconnect backoff. It never reads or parses application bytes.

pub mod backoff;
pub mod connect;
pub mod source;

pub use backoff::Backoff;
pub use connect::{connect, ConnectOpts};
pub use source::{parse_sources, SourcePool};
