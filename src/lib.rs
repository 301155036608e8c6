//! stampede: a thread-per-core HTTP/1.1 and WebSocket load generator on io_uring.
//!
//! # Layer map
//!
//! A module imports only from layers above it in this list (lower in the ladder):
//!
//! ```text
//! proto/      HTTP and WebSocket codecs, pure: std + httparse only. No monoio, no clock, no stats.
//! audio       WAV reading and the generated speech-like signal, pure
//! clock       monotonic nanoseconds; the only place that reads the time
//! stats/      shards, histograms, merge, report rendering (text, JSON)
//! engine/pacer, engine/profile   pure schedule: a plan's level over time, each request's intended send time
//! plan        load plans (TOML stages, request mixes, presets), pure parsing and validation
//! net/        sockets: connect with a source-address pool, options, backoff; TLS over them (rustls)
//! scenario/   what one connection does: the request/answer exchange (http, ws), asr sessions
//! engine/     threads, pinning, runtimes, start/stop, merging shards
//! server/     the embedded target (uses proto/ in the server role)
//! preflight/  kernel and limit checks, pure reporting over a readable /proc root
//! monitor     a target process's CPU and RSS from /proc, sampled each second
//! live        the run as it goes: time series, live line, Prometheus endpoint, abort on failure
//! report/     pages from a JSON result, pure: HTML with SVG charts, compare, JUnit XML
//! config, cli, error, sys   edges: clap args -> validated Config; cold-path errors; the only `unsafe`
//! app, capacity, preflight_cmd, report_cmd   the subcommands end to end: the only code that prints reports
//! main        parses, dispatches, maps every error to an exit code in one place
//! invariants  the decoders' invariant checkers, for the property tests and tests/fuzz/ only (not in the binary)
//! ```
//!
//! Hot-path rules: one task per connection, buffers allocated at connect time and reused,
//! one stats shard per worker (never shared across threads), errors counted by a `Copy` enum.

pub mod audio;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod engine;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod invariants;
pub mod live;
pub mod monitor;
pub mod net;
pub mod plan;
pub mod preflight;
pub mod proto;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod sys;
pub mod thresholds;
pub mod units;
