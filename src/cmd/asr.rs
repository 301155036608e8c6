//! `stampede asr`: streaming speech recognition sessions over WebSocket.

use super::run::run_asr;
use crate::cli::AsrArgs;
use crate::config;
use crate::error::Result;

/// `stampede asr`.
pub(super) fn asr(a: &AsrArgs) -> Result<i32> {
    run_asr(config::asr_config(a)?)
}
