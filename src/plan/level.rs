//! A stage's level in a plan file: `N`, `{from, to}`, `{from, to, steps}`, `{from, to, rise}`.

use super::{Drive, Shape};

/// A stage level: `N`, `{from, to}`, `{from, to, steps}`, `{from, to, rise}`.
pub(super) fn parse_level(v: &toml::Value, d: Drive) -> Result<(f64, f64, Shape), String> {
    let number = |v: &toml::Value, what: &str| -> Result<f64, String> {
        let x = match v {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            toml::Value::String(s) => crate::units::parse_count(s).map(|c| c as f64)?,
            _ => return Err(format!("{what} must be a number")),
        };
        if !x.is_finite() || x < 0.0 {
            return Err(format!("{what} must be a number >= 0"));
        }
        if d != Drive::Rate && x.fract() != 0.0 {
            return Err(format!("{what} must be a whole number of {}", d.name()));
        }
        Ok(x)
    };
    match v {
        toml::Value::Table(t) => {
            for k in t.keys() {
                if !matches!(k.as_str(), "from" | "to" | "steps" | "rise") {
                    return Err(format!("unknown key '{k}' (expected from, to, steps or rise)"));
                }
            }
            let to = number(t.get("to").ok_or("missing 'to'")?, "to")?;
            let from = t.get("from").map(|f| number(f, "from")).transpose()?.unwrap_or(to);
            let shape = match (t.get("steps"), t.get("rise")) {
                (Some(_), Some(_)) => return Err("give steps or rise, not both".into()),
                (Some(n), None) => {
                    let n = n.as_integer().filter(|n| (1..=1000).contains(n)).ok_or("steps must be a whole number from 1 to 1000")?;
                    Shape::Step(n as u32)
                }
                (None, Some(r)) => {
                    let r = r.as_str().ok_or("rise must be a duration like \"10s\"")?;
                    Shape::Spike { rise: crate::units::parse_duration(r)? }
                }
                (None, None) if from == to => Shape::Constant,
                (None, None) => Shape::Ramp,
            };
            Ok((from, to, shape))
        }
        other => {
            let x = number(other, "the level")?;
            Ok((x, x, Shape::Constant))
        }
    }
}
