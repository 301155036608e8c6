//! The embedded target server.
