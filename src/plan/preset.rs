//! The presets: plans for the shapes our users describe (../shared/use-cases), as TOML text.

use super::num;

/// Names of the presets, for `--help` and errors.
pub const PRESETS: &[&str] = &["smoke", "load", "stress", "spike", "soak", "qps", "throttle"];

/// The TOML of a preset for `url`: the shapes our users describe (../shared/use-cases).
pub fn preset(name: &str, scenario: &str, url: &str) -> Result<String, String> {
    let head = format!("scenario = \"{scenario}\"\nurl = \"{url}\"\n");
    let (th, opts, stages): (&str, &str, &str) = match name {
        "smoke" => (r#"["errors<1%", "p99<1s"]"#, "", "[[stage]]\nname = \"smoke\"\nduration = \"10s\"\nconnections = 2\n"),
        "load" => (
            r#"["p95<500ms", "errors<1%"]"#,
            "",
            "[[stage]]\nname = \"ramp-to-100\"\nduration = \"30s\"\nconnections = { from = 1, to = 100 }\n\n\
             [[stage]]\nname = \"hold-100\"\nduration = \"1m\"\nconnections = 100\n\n\
             [[stage]]\nname = \"ramp-to-200\"\nduration = \"30s\"\nconnections = { from = 100, to = 200 }\n\n\
             [[stage]]\nname = \"hold-200\"\nduration = \"1m\"\nconnections = 200\n",
        ),
        "stress" => {
            (r#"["errors<5%"]"#, "", "[[stage]]\nname = \"step-up\"\nduration = \"5m\"\nconnections = { from = 50, to = 400, steps = 8 }\n")
        }
        "spike" => (
            r#"["errors<5%"]"#,
            "",
            "[[stage]]\nname = \"base\"\nduration = \"30s\"\nconnections = 100\n\n\
             [[stage]]\nname = \"spike\"\nduration = \"1m\"\nconnections = { from = 100, to = 1000, rise = \"10s\" }\n\n\
             [[stage]]\nname = \"recovery\"\nduration = \"30s\"\nconnections = 100\n",
        ),
        "soak" => (r#"["p99<1s", "errors<0.1%"]"#, "", "[[stage]]\nname = \"soak\"\nduration = \"30m\"\nconnections = 50\n"),
        "qps" => (
            r#"["p95<500ms", "errors<1%", "rps>9500"]"#,
            "connections = 200\n",
            "[[stage]]\nname = \"warm-up\"\nduration = \"30s\"\nrate = { from = 1000, to = 10000 }\n\n\
             [[stage]]\nname = \"10k-qps\"\nduration = \"5m\"\nrate = 10000\n",
        ),
        "throttle" => return throttle(&Throttle::default(), scenario, url),
        other => return Err(format!("no preset '{other}': choose one of {}", PRESETS.join(", "))),
    };
    if scenario == "asr" {
        return Err("presets are for http and ws; write an asr plan with streams = ... stages".into());
    }
    let opts = if opts.is_empty() { "# any long flag of the scenario command, e.g.\n# timeout = \"2s\"\n" } else { opts };
    Ok(format!("{head}thresholds = {th}\n\n[options]\n{opts}\n{stages}"))
}

/// Kept for plans written for the old throttle preset's `{L50}`-style placeholders: fills them
/// for a limit of `limit` requests/s (the rebuilt preset has none).
pub fn with_limit(text: &str, limit: f64) -> String {
    let mut out = text.to_string();
    for pct in [50u32, 80, 100, 150, 300] {
        out = out.replace(&format!("{{L{pct}}}"), &num((limit * pct as f64 / 100.0).round()));
    }
    out
}

pub use super::throttle::{throttle, Throttle};
