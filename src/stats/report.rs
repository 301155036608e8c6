//! The run result: built from merged shards, rendered as text and versioned JSON.
