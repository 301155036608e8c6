//! Command line (clap derive). Dumb: no validation beyond parsing.
