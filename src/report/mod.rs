//! Reports people look at, built from a result document ([`ResultDoc`], `stampede.result/1`):
//! one self-contained HTML page with inline SVG charts (`stampede report`), two runs side by
//! side (`stampede compare`), and the thresholds as JUnit XML for CI (`--junit`).
//!
//! Pure: typed documents in, strings out; no I/O, no clock. The charts are drawn by our own
//! small SVG code (`svg`), no charting crate and no script. Older results have no time series,
//! stages, request names or process monitor, and the pages say so instead of failing. Every
//! string taken from a result is escaped before it reaches HTML, SVG or XML.

pub mod compare;
pub mod html;
pub mod junit;
pub mod svg;
pub mod view;

use serde_json::Value;

use crate::stats::report::RunResult;
use crate::stats::result::ResultDoc;

/// Parses a result file's bytes: the document (what was written, verdicts included) and the
/// decoded result (histograms). The error says why the bytes are not a result.
pub fn parse_result(bytes: &[u8]) -> Result<(ResultDoc, RunResult), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let d = ResultDoc::from_value(&v)?;
    let r = RunResult::from_doc(&d)?;
    Ok((d, r))
}
