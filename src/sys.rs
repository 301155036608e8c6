//! The only module with `unsafe`: raw socket options and fd hand-over.
