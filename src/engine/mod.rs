//! Threads, pinning, one monoio runtime per core, start/stop, merging shards.

pub mod pacer;
pub mod runtime;
