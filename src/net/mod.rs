//! Client sockets: created by hand, options set, connected non-blocking, handed to monoio.
