//! `stampede compare`: two results side by side, as text or JSON.

use super::read_result;
use crate::cli::CompareArgs;
use crate::error::{exit, Error, Result};

/// `stampede compare`.
pub(super) fn compare(a: &CompareArgs) -> Result<i32> {
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
