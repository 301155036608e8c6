//! `stampede report` and `stampede compare`, and writing `--junit` files (edge layer: reads and
//! writes files, prints). The pages themselves are built by the pure `report` module.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{CompareArgs, ReportArgs};
use crate::error::{exit, Error, Result};
use crate::stats::report::RunResult;

/// Reads a result file; anything that is not a result is a usage error (exit 2).
fn read_result(p: &Path) -> Result<(crate::stats::result::ResultDoc, RunResult)> {
    let bytes = std::fs::read(p).map_err(|e| Error::usage(format!("{}: {e}", p.display())))?;
    crate::report::parse_result(&bytes).map_err(|e| Error::usage(format!("{}: not a stampede result: {e}", p.display())))
}

/// Writes through a temp file and a rename, so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".stampede-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

pub fn report(a: &ReportArgs) -> Result<i32> {
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

pub fn compare(a: &CompareArgs) -> Result<i32> {
    let (va, _) = read_result(&a.a)?;
    let (vb, _) = read_result(&a.b)?;
    let c = crate::report::compare::compare(&va, &vb, &a.a.display().to_string(), &a.b.display().to_string());
    if a.json {
        let text = serde_json::to_string_pretty(&crate::report::compare::to_json(&c))
            .map_err(|e| Error::run(format!("cannot encode JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", crate::report::compare::render_text(&c));
    }
    Ok(exit::OK)
}

/// Writes the JUnit file of a run: its verdicts (`result`), or one failed case when the run
/// produced no result or failed (`failure`).
pub fn write_junit(path: &Path, result: Option<&Value>, failure: Option<&str>) -> Result<()> {
    let doc = result.map(crate::stats::result::ResultDoc::from_value).transpose().map_err(Error::run)?;
    write_atomically(path, crate::report::junit::render(doc.as_ref(), failure).as_bytes())?;
    eprintln!("stampede: JUnit written to {}", path.display());
    Ok(())
}
