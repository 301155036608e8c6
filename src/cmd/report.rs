//! `stampede report`: an HTML page (SVG charts) from a JSON result.

use super::{read_result, write_atomically};
use crate::cli::ReportArgs;
use crate::error::{exit, Error, Result};

/// `stampede report`.
pub(super) fn report(a: &ReportArgs) -> Result<i32> {
    let (v, r) = read_result(&a.input)?;
    let out = a.output.clone().unwrap_or_else(|| a.input.with_extension("html"));
    if out == a.input {
        return Err(Error::usage(format!("-o {}: that is the input; choose another file", out.display())));
    }
    let page = crate::report::html::render(&v, &r);
    write_atomically(&out, page.as_bytes())?;
    eprintln!("stampede: report written to {}", out.display());
    Ok(exit::OK)
}
