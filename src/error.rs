//! Cold-path errors: one type whose variants say how the caller should react.
//!
//! Hot-path failures (a refused connect, a malformed response) are never this type: they are
//! `Copy` classes counted in the stats shard. `main` maps every `Error` to an exit code in one
//! place: 0 ok, 1 the run could not be carried out, 2 usage error, 3 thresholds breached.

use std::fmt;

/// Process exit codes, shared by every subcommand.
pub mod exit {
    pub const OK: i32 = 0;
    pub const RUN_FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const THRESHOLDS: i32 = 3;
}

#[derive(Debug)]
pub enum Error {
    /// The command line or configuration is wrong; the message says what to change.
    Usage(String),
    /// The run could not be carried out (socket, thread, file or kernel limit).
    Run { context: String, source: Option<std::io::Error> },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn run(context: impl Into<String>) -> Self {
        Error::Run { context: context.into(), source: None }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Run { context: context.into(), source: Some(source) }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Run { .. } => exit::RUN_FAILED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Run { context, source: Some(e) } => write!(f, "{context}: {e}"),
            Error::Run { context, source: None } => write!(f, "{context}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Run { source: Some(e), .. } => Some(e),
            Error::Usage(_) | Error::Run { source: None, .. } => None,
        }
    }
}
