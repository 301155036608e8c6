//! Per-worker stats shards: histograms and counters, merged after the workers stop.

pub mod report;
