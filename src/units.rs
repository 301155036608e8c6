//! Parsing of human units on the command line: counts (`10k`, `1.5m`), sizes (`4KiB`, `1MB`)
//! and durations (`500ms`, `10s`, `2m`, `1h`). Pure; errors are messages for a usage error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A count with an optional SI suffix: `1000`, `10k`, `2.5M`, `1G`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = split_suffix(t, &[("k", 1e3), ("K", 1e3), ("m", 1e6), ("M", 1e6), ("g", 1e9), ("G", 1e9)]);
    let v: f64 = num.parse().map_err(|_| format!("'{s}' is not a count (examples: 100, 10k, 1.5M)"))?;
    let r = v * mult;
    if !r.is_finite() || r < 0.0 || r.fract() != 0.0 || r > u64::MAX as f64 {
        return Err(format!("'{s}' is not a whole, non-negative count"));
    }
    Ok(r as u64)
}

/// A rate per second: a count (`500`, `20k`) or a decimal (`0.5`), above 0 and at most 10^9.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let rate = match parse_count(s) {
        Ok(v) => v as f64,
        Err(_) => s.trim().parse::<f64>().map_err(|_| format!("'{s}' is not a rate (examples: 500, 20k, 0.5)"))?,
    };
    if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
        return Err(format!("'{s}' must be greater than 0 and at most 1G (10^9) per second, e.g. 0.5, 500, 20k"));
    }
    Ok(rate)
}

/// A size in bytes: `512`, `4k`/`4KiB` (1024), `1KB` (1000), `2MiB`, `1MB`, `1GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let table: &[(&str, f64)] = &[
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
        ("KB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("k", 1024.0),
        ("K", 1024.0),
        ("m", 1048576.0),
        ("M", 1048576.0),
        ("g", 1073741824.0),
        ("G", 1073741824.0),
        ("B", 1.0),
    ];
    let (num, mult) = split_suffix(t, table);
    let v: f64 = num.parse().map_err(|_| format!("'{s}' is not a size (examples: 512, 4KiB, 1MB)"))?;
    let r = (v * mult).round();
    if !r.is_finite() || r < 0.0 || r > u64::MAX as f64 {
        return Err(format!("'{s}' is not a valid size"));
    }
    Ok(r as u64)
}

/// A wall-clock start time: Unix seconds (`1795000000`, `1795000000.25`), UTC RFC 3339
/// (`2026-11-23T12:00:00Z`, fraction allowed) or `+DURATION` from `now` (`+30s`).
pub fn parse_start_at(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let t = s.trim();
    let bad = || format!("'{s}' is not a start time: give Unix seconds (1795000000), UTC like 2026-11-23T12:00:00Z, or +30s");
    if let Some(rel) = t.strip_prefix('+') {
        return parse_duration(rel).map(|d| now + d).map_err(|_| bad());
    }
    let secs: f64 = if t.contains('T') { rfc3339_utc(t).ok_or_else(bad)? } else { t.parse().map_err(|_| bad())? };
    if !secs.is_finite() || !(0.0..=1e11).contains(&secs) {
        return Err(bad());
    }
    Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]Z` as Unix seconds (UTC only: offsets are refused; so are dates
/// that do not exist, such as February 31).
fn rfc3339_utc(t: &str) -> Option<f64> {
    let at = humantime::parse_rfc3339(&t.to_ascii_uppercase()).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

/// A duration: `250ms`, `10s`, `1.5s`, `2m`, `1h`, `100us`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let table: &[(&str, f64)] = &[("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    let (num, mult) = split_suffix(t, table);
    let v: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration (examples: 500ms, 10s, 2m)"))?;
    let secs = v * mult;
    if !(0.0..=1e9).contains(&secs) {
        return Err(format!("'{s}' is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn split_suffix<'a>(t: &'a str, table: &[(&str, f64)]) -> (&'a str, f64) {
    for (suf, mult) in table {
        if let Some(num) = t.strip_suffix(suf) {
            return (num.trim(), *mult);
        }
    }
    (t, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        for (input, want) in [
            ("100", Some(100)),
            ("10k", Some(10_000)),
            ("1.5M", Some(1_500_000)),
            ("2G", Some(2_000_000_000)),
            ("0", Some(0)),
            ("1.5", None),
            ("-3", None),
            ("ten", None),
            ("", None),
        ] {
            assert_eq!(parse_count(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn sizes() {
        for (input, want) in [
            ("512", Some(512)),
            ("4k", Some(4096)),
            ("4KiB", Some(4096)),
            ("1KB", Some(1000)),
            ("2MiB", Some(2 << 20)),
            ("1MB", Some(1_000_000)),
            ("10B", Some(10)),
            ("x", None),
            ("-1", None),
        ] {
            assert_eq!(parse_size(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn durations() {
        for (input, want_ms) in [
            ("500ms", Some(500)),
            ("10s", Some(10_000)),
            ("2m", Some(120_000)),
            ("1h", Some(3_600_000)),
            ("1.5s", Some(1500)),
            ("3", Some(3000)),
            ("0s", Some(0)),
            ("soon", None),
            ("-1s", None),
        ] {
            assert_eq!(parse_duration(input).ok().map(|d| d.as_millis() as u64), want_ms, "input {input:?}");
        }
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
    }

    #[test]
    fn start_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |s: &str| parse_start_at(s, now).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(at("1795000000"), Ok(1_795_000_000.0));
        assert_eq!(at("1795000000.25"), Ok(1_795_000_000.25));
        assert_eq!(at("+30s"), Ok(1_030.0));
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0.0));
        assert_eq!(at("2000-03-01T00:00:00Z"), Ok(951_868_800.0));
        assert_eq!(at("2026-11-23T12:00:00.5Z"), Ok(1_795_435_200.5));
        assert_eq!(at("2028-02-29T00:00:00z"), Ok(1_835_395_200.0));
        for bad in [
            "soon",
            "2026-11-23T12:00:00+01:00",
            "2026-13-01T00:00:00Z",
            "2026-02-31T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "-5",
            "+later",
            "2026-11-23 12:00:00Z",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }
}
