//! A plan's `[[setup]]` phase before its load: run once (by the parent of a `--processes` run,
//! whose children read the captured values from a file it names in their environment),
//! reported on its own, and failing the run (exit 1) with the request and why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Captures, TlsOptions};
use crate::error::{Error, Result};
use crate::plan::PlanSetup;
use crate::scenario::setup::{SetupError, SetupOpts};
use crate::stats::setup::SetupStepDoc;

/// Set by a `--processes` parent for its children: the JSON file of the captured values.
const CAPTURES_ENV: &str = "STAMPEDE_SETUP_CAPTURES";

/// What the load gets from the setup phase. Dropping it removes the children's file.
#[derive(Default)]
pub(crate) struct SetupDone {
    pub captures: Arc<Captures>,
    /// The setups as measured (`None`: no setup ran in this process).
    pub steps: Option<Arc<Vec<SetupStepDoc>>>,
    file: Option<PathBuf>,
}

impl Drop for SetupDone {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// How the load of a plan runs, as far as its setup phase cares.
pub(crate) struct SetupContext<'a> {
    pub origin: &'a str,
    pub tls: TlsOptions,
    pub timeout: Duration,
    /// This process is a child of a `--processes` run (`--process-part`).
    pub child: bool,
    pub processes: u32,
}

/// Runs the plan's setups (or, in a child, reads what its parent captured).
pub(crate) fn setup_phase(setups: &[PlanSetup], cx: SetupContext) -> Result<SetupDone> {
    if setups.is_empty() {
        return Ok(SetupDone::default());
    }
    if cx.child {
        if let Some(path) = std::env::var_os(CAPTURES_ENV) {
            let text = std::fs::read(&path).map_err(|e| Error::io(format!("setup captures {}", PathBuf::from(&path).display()), e))?;
            let captures: Captures = serde_json::from_slice(&text).map_err(|e| Error::run(format!("setup captures: {e}")))?;
            return Ok(SetupDone { captures: Arc::new(captures), steps: None, file: None });
        }
    }
    let total: u64 = setups.iter().map(|s| s.count).sum();
    eprintln!("stampede: setup: {} step(s), {total} request(s) before the load", setups.len());
    for s in setups {
        eprintln!("stampede: setup {}", s.describe());
    }
    let opts = SetupOpts { tls: cx.tls, timeout: cx.timeout };
    let (captures, steps) = match crate::scenario::setup::run(setups, &opts, Captures::default()) {
        Ok(done) => done,
        Err(SetupError::Usage(m)) => return Err(Error::usage(format!("{}: {m}", cx.origin))),
        Err(SetupError::Failed { message, steps }) => {
            print!("{}", crate::stats::setup::render(&steps));
            return Err(Error::run(format!("{message}; the load was not started")));
        }
    };
    print!("{}", crate::stats::setup::render(&steps));
    let mut done = SetupDone { captures: Arc::new(captures), steps: Some(Arc::new(steps)), file: None };
    if cx.processes > 1 {
        let path = std::env::temp_dir().join(format!("stampede-setup-{}.json", std::process::id()));
        let json = serde_json::to_vec(done.captures.as_ref()).map_err(|e| Error::run(format!("setup captures: {e}")))?;
        std::fs::write(&path, json).map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        // The children inherit it; they start after this, from this thread.
        std::env::set_var(CAPTURES_ENV, &path);
        done.file = Some(path);
    }
    Ok(done)
}

/// The TLS flags as the setup client takes them.
pub(crate) fn tls_options(a: &crate::cli::TlsArgs) -> TlsOptions {
    TlsOptions { insecure: a.insecure, cacert: a.cacert.clone(), server_name: a.server_name.clone(), resume: false }
}
