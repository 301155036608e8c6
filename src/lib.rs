//! stampede: a thread-per-core HTTP/1.1 and WebSocket load generator on io_uring.
//!
//! # Layer map
//!
//! From the bottom up; a module imports only from its own line and the lines above it.
//! `tests/layers.rs` checks every `crate::` path of the non-test code against this list.
//! `config` is split: its types sit low, its builders (`config/build`) at the edge.
//!
//! ```text
//! clock, units, error, sys  foundations: the only reader of the time; counts, sizes, durations,
//!                           start times; the cold-path error; the only `unsafe`
//! proto/      HTTP, WebSocket, raw codecs, pure: std + httparse only. No I/O, no clock, no stats
//! audio       WAV reading and the generated speech-like signal, pure
//! engine/profile            a plan's level over time, pure
//! stats/      shards, histograms, the result schema, merge, text rendering
//! preflight/  kernel and limit checks, pure reporting over a readable /proc root
//! thresholds  rules judged on a result (stats, units)
//! plan        load plans: TOML stages, request mixes, presets; pure (engine/profile, thresholds)
//! config/     types.rs: plain validated types, no clap (plan, thresholds, audio, proto);
//!             target.rs: URLs parsed and resolved
//! engine/pacer              each request's intended send time, pure (config)
//! engine/timer              the worker's precise timer: one timerfd, a heap of deadlines (config)
//! net/        every client transport: sockets with a source pool and options, connect with
//!             retry and backoff (dial), Unix, TLS (tls/), reads and writes (io)
//! scenario/   what one connection does: http, ws echo, chat, asr, raw, mix (net, proto, config)
//! engine/     threads, pinning, runtimes, start/stop, merging shards (scenario, net, stats)
//! server/     the embedded target (proto in the server role, engine/runtime)
//! monitor     a target process's CPU and RSS from /proc, sampled each second
//! live        the run as it goes: time series, live line, Prometheus endpoint, abort on failure
//! report/     pages from a JSON result, pure: HTML with SVG charts, compare, JUnit XML
//! cli         clap definitions, dumb (strings and numbers; server's fault help text)
//! config/build              the edge: clap args -> config types (cli, net, server, proto)
//! cmd/        one file per subcommand; cmd/run executes a scenario, reports, splits
//!             --processes; no command imports another (the only code that prints reports)
//! main        parses, dispatches, maps every error to an exit code in one place
//! invariants  the decoders' invariant checkers, for the property tests and tests/fuzz/ only
//! ```
//!
//! Test code may reach up (a runtime from `engine::runtime`, a parsed command line from `cli`).
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
