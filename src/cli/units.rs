//! The parsers of `units` hooked into clap with `value_parser`.

use std::ffi::OsStr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::Arg;

/// A parser of `units` hooked into clap: its error names the flag, `-c/--connections: 'x' is
/// not a count (...)`, and is a usage error (exit 2) like every other.
#[derive(Clone, Copy)]
pub struct Unit<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Unit<T> {
    type Value = T;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&Arg>, value: &OsStr) -> Result<T, clap::Error> {
        let flag = arg.map_or_else(|| "value".to_string(), flag_name);
        (self.0)(&value.to_string_lossy()).map_err(|e| clap::Error::raw(ErrorKind::ValueValidation, format!("{flag}: {e}\n")).with_cmd(cmd))
    }
}

/// `-c/--connections`, `--timeout`, as the messages of `config` write flags.
fn flag_name(arg: &Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}/--{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => arg.get_id().to_string(),
    }
}

/// A count with an optional SI suffix (`10k`).
pub(super) fn count() -> Unit<u64> {
    Unit(crate::units::parse_count)
}

/// A size in bytes (`4KiB`, `1MB`).
pub(super) fn size() -> Unit<u64> {
    Unit(crate::units::parse_size)
}

/// A duration (`500ms`, `10s`, `2m`).
pub(super) fn duration() -> Unit<Duration> {
    Unit(crate::units::parse_duration)
}

/// A rate per second (`500`, `20k`, `0.5`).
pub(super) fn rate() -> Unit<f64> {
    Unit(crate::units::parse_rate)
}

/// `--processes N` or `auto` (0: worked out from the fd limit and the connections).
pub(super) fn processes_arg(s: &str) -> Result<u32, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err(format!("'{s}': give a number of processes (1 or more) or auto")),
        Ok(n) => Ok(n),
    }
}
