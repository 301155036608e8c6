//! The `[[setup]]` phase of a plan as measured (requests run before the load): one record per
//! setup, in the result's optional `setup` section, and its text block.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One `[[setup]]` as it ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupStepDoc {
    pub name: String,
    pub method: String,
    pub url: String,
    /// Requests asked for (`count`); `ok + failed` were made (all, unless the setup stopped).
    pub count: u64,
    pub ok: u64,
    pub failed: u64,
    pub duration_s: f64,
    pub throughput_per_s: f64,
    #[serde(default)]
    pub latency_ms: SetupLatency,
    /// Failed requests by reason (`status 401`, `refused`, `capture token`...).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Values captured, by name.
    #[serde(default)]
    pub captured: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupLatency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// The text block: one line per setup, its errors, what it captured.
pub fn render(steps: &[SetupStepDoc]) -> String {
    let mut out = String::from("Setup\n");
    for s in steps {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}ms"));
        out.push_str(&format!(
            "  {:<12} {} {}: {} of {} ok, {} failed in {:.2}s ({:.1}/s), latency p50 {} p99 {} max {}\n",
            s.name,
            s.method,
            s.url,
            s.ok,
            s.count,
            s.failed,
            s.duration_s,
            s.throughput_per_s,
            ms(s.latency_ms.p50),
            ms(s.latency_ms.p99),
            ms(s.latency_ms.max)
        ));
        if !s.errors.is_empty() {
            let e: Vec<String> = s.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out.push_str(&format!("  {:<12} errors: {}\n", "", e.join(", ")));
        }
        if !s.captured.is_empty() {
            let c: Vec<String> =
                s.captured.iter().map(|(k, v)| if *v == 1 { format!("{{{k}}}") } else { format!("{{{k}}} ({v} values)") }).collect();
            out.push_str(&format!("  {:<12} captured: {}\n", "", c.join(", ")));
        }
    }
    out
}
