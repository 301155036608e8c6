//! The `throttle` preset: a daemon with a concurrency limit and a rate limit, driven through the
//! nine phases of ../shared/use-cases/002 (baseline 10 % of the concurrency limit, moderate
//! 50 %, warning 80 %, at the limit, over it at 150 %; the rate limit, a burst at 150 % of it;
//! 1 MB payloads; recovery), each with what it expects: no throttling below the limits,
//! throttling over them. Pure: the plan's TOML text.
//!
//! Closed-loop phases pause `think` after each answer (75 ms, or `--think`). With a rate limit
//! `r`, a phase of `n` connections below the limits thinks at least `2n / r`, so that it sends
//! at most half the rate limit: in those phases neither limit can be reached (at most `n <= N`
//! requests in progress, at most `r / 2` per second). The over-limit phase thinks the least
//! think: its 1.5 × connections go over the concurrency limit when the target's service time
//! is long against the think time (Little's law: in progress = connections × service /
//! (service + think)), and over the rate limit when it is short: throttled either way.
//! Rate phases run over as many connections as the concurrency limit (a rate capped by it).
//! Either limit may be left out: its phases are then left out too. The phase right after the
//! burst (payloads) has no throttling threshold: a sliding-window limiter still holds the
//! burst's requests for one window; it is there for the target's memory (`--monitor-pid`,
//! e.g. `thresholds = ["target_rss<200MiB"]`).
//!
//! Over `raw` (a daemon on a Unix socket or TCP) throttling is an answer that carries a text
//! (`--throttled-match`), counted as failed requests of class `throttled`: the phases judge
//! `throttled<1%` / `throttled>1%` instead of `status_429`, and since those failures are errors,
//! the plan-wide `errors<1%` becomes a per-phase rule of the phases that expect no throttling.
//! The payload phase sends `payload_message` (`--payload-message`), e.g.
//! `{"op":"ping","data":"{payload:1M}"}`, else the run's message.

use std::fmt::Write as _;
use std::time::Duration;

use super::num;

/// The preset's knobs (`--concurrent-limit`, `--rate-limit`, `--stage-duration`, `--think`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Throttle {
    /// Requests in progress the target allows.
    pub concurrent: Option<u64>,
    /// Requests per period the target allows: (count, period).
    pub rate: Option<(u64, Duration)>,
    /// Every phase this long (tests); `None`: the use case's 30 s (60 s for the rate phases).
    pub stage: Option<Duration>,
    /// The least pause after each answer in closed loop (default 75 ms).
    pub think: Option<Duration>,
    /// raw: the payload phase's own message (a template with `{payload:N}`).
    pub payload_message: Option<String>,
}

/// The use case's limits, when neither is given.
const DEFAULT_CONCURRENT: u64 = 100;
const DEFAULT_RATE: (u64, Duration) = (2000, Duration::from_secs(60));

/// The plan for `url`.
pub fn throttle(t: &Throttle, scenario: &str, url: &str) -> Result<String, String> {
    let (concurrent, rate) = match (t.concurrent, t.rate) {
        (None, None) => (Some(DEFAULT_CONCURRENT), Some(DEFAULT_RATE)),
        given => given,
    };
    if concurrent == Some(0) || rate.is_some_and(|(n, p)| n == 0 || p.is_zero()) {
        return Err("the limits must be greater than 0".into());
    }
    let per_s = rate.map(|(n, p)| n as f64 / p.as_secs_f64());
    let base_think = t.think.unwrap_or(Duration::from_millis(75));
    // Closed loop: n connections pause at least 2n / r, so they send at most half the rate limit.
    let think = |n: u64| per_s.map_or(base_think, |r| base_think.max(Duration::from_secs_f64(2.0 * n as f64 / r)));
    // (`think(0)`: the least think, for the over-limit phase.)
    let dur = |secs: u64| t.stage.unwrap_or(Duration::from_secs(secs));
    let share = |pct: u64, c: u64| (c * pct).div_ceil(100).max(1);
    let baseline = concurrent.map_or(10, |c| share(10, c));
    let raw = scenario == "raw";
    if t.payload_message.is_some() && !raw {
        return Err("a payload message is for raw targets (unix:///PATH, tcp://HOST:PORT); http sends 1 MB bodies".into());
    }
    // What says "throttled": a 429, or (raw) an answer matched by --throttled-match.
    let (calm, over) = match raw {
        true => ("throttled<1%\", \"errors<1%", "throttled>1%"),
        false => ("status_429<1%", "status_429>1%"),
    };
    let plan_rules = if raw { "[]" } else { "[\"errors<1%\"]" };
    let mut out = format!("scenario = \"{scenario}\"\nurl = \"{url}\"\nthresholds = {plan_rules}\n\n[options]\n");
    if scenario == "http" {
        // 429 is the limiter's answer, which this plan provokes: expected, not a failed request.
        out.push_str("ok-status = \"200-299,429\"\n");
    }
    out += "# any long flag of the scenario command, e.g. timeout = \"2s\"\n\n";
    let none = "no throttling expected";
    let closed = |out: &mut String, name: &str, n: u64, th: u64, d: Duration, expect: Option<&str>, extra: &str| {
        let _ = write!(out, "[[stage]]\nname = \"{name}\"\nduration = \"{}\"\nconnections = {n}\nthink = \"{}\"\n", secs(d), ms(think(th)));
        out.push_str(extra);
        match expect {
            Some(rule) => {
                let _ = writeln!(out, "thresholds = [\"{rule}\"]\n");
            }
            None => out.push('\n'),
        }
    };
    closed(&mut out, "baseline", baseline, baseline, dur(30), Some(calm), &format!("# {none}\n"));
    if let Some(c) = concurrent {
        closed(&mut out, "moderate", share(50, c), share(50, c), dur(30), Some(calm), "");
        closed(&mut out, "warning", share(80, c), share(80, c), dur(30), Some(calm), "");
        closed(&mut out, "at-limit", c, c, dur(30), Some(calm), "");
        let note = "# 50 % over the concurrency limit: throttling expected\n";
        closed(&mut out, "over-limit", share(150, c), 0, dur(30), Some(over), note);
    }
    if let Some(r) = per_s {
        let pool = concurrent.map_or(String::new(), |c| format!("connections = {c}\n"));
        let _ = write!(
            out,
            "[[stage]]\nname = \"rate-limit\"\nduration = \"{}\"\nrate = {}\n{pool}# at the rate limit: judged by the table\n\n",
            secs(dur(60)),
            num(round3(r))
        );
        let _ = write!(
            out,
            "[[stage]]\nname = \"burst\"\nduration = \"{}\"\nrate = {}\n{pool}# 50 % over the rate limit: throttling expected\nthresholds = [\"{over}\"]\n\n",
            secs(dur(60)),
            num(round3(1.5 * r))
        );
    }
    let payload = "method = \"POST\"\nheaders = [\"Content-Type: application/octet-stream\"]\nbody = \"{payload:1MB}\"\n\
                   # 1 MB bodies for the target's memory: add thresholds = [\"target_rss<200MiB\"] with --monitor-pid PID\n";
    // A stage's own request is http's; a ws plan's messages are sized by [options] size = "...".
    let own;
    let payload = match (scenario, &t.payload_message) {
        ("http", _) => payload,
        ("raw", Some(m)) => {
            own = format!("message = {}\n# large messages for the target's memory (--monitor-pid PID, target_rss)\n", quoted(m));
            &own
        }
        ("raw", None) => "# large messages for the target's memory: give this stage message = '{\"op\":\"ping\",\"data\":\"{payload:1M}\"}' (--payload-message)\n",
        _ => "# 1 MB messages for the target's memory: give size = \"1MB\" in [options]\n",
    };
    closed(&mut out, "payload", baseline, baseline, dur(30), None, payload);
    closed(&mut out, "recovery", baseline, baseline, dur(20), Some(calm), "");
    Ok(out)
}

/// `s` as a TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage<'a>(p: &'a crate::plan::Plan, name: &str) -> &'a crate::plan::Stage {
        p.stages.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no stage {name}"))
    }

    #[test]
    fn the_use_case_s_nine_phases() {
        let text = throttle(&Throttle::default(), "http", "http://h/").unwrap();
        let p = crate::plan::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["baseline", "moderate", "warning", "at-limit", "over-limit", "rate-limit", "burst", "payload", "recovery"]);
        let total: Duration = p.stages.iter().map(|s| s.duration).sum();
        assert_eq!(total, Duration::from_secs(5 * 30 + 2 * 60 + 30 + 20), "the use case's 5 min 20 s");
        assert_eq!([10.0, 50.0, 80.0, 100.0, 150.0].to_vec(), p.stages[..5].iter().map(|s| s.to).collect::<Vec<_>>());
        // 2000/min = 33.333/s; burst 3000/min = 50/s, over 100 connections
        assert_eq!((stage(&p, "rate-limit").to, stage(&p, "burst").to), (33.333, 50.0));
        assert_eq!(stage(&p, "burst").pool, Some(100));
        // 100 connections think 2 × 100 / 33.3 = 6 s (half the rate limit); 10 think 600 ms
        assert_eq!(stage(&p, "at-limit").think, Some(Duration::from_millis(6000)));
        assert_eq!(stage(&p, "over-limit").think, Some(Duration::from_millis(75)), "the least think: over a limit");
        assert_eq!(stage(&p, "baseline").think, Some(Duration::from_millis(600)));
        let payload = stage(&p, "payload").request.clone().unwrap();
        assert_eq!((payload.method.as_deref(), payload.body.as_deref()), (Some("POST"), Some("{payload:1MB}")));
        let expects = |name: &str| stage(&p, name).thresholds.iter().map(|t| t.expr.clone()).collect::<Vec<_>>();
        assert_eq!(expects("over-limit"), ["status_429>1%"]);
        assert_eq!(expects("burst"), ["status_429>1%"]);
        assert!(expects("rate-limit").is_empty() && expects("payload").is_empty());
        for calm in ["baseline", "moderate", "warning", "at-limit", "recovery"] {
            assert_eq!(expects(calm), ["status_429<1%"], "{calm}");
        }
        crate::invariants::plan(&text);
    }

    #[test]
    fn a_limit_left_out_leaves_its_phases_out_and_stages_shorten() {
        let conc = Throttle { concurrent: Some(20), stage: Some(Duration::from_millis(1500)), ..Default::default() };
        let p = crate::plan::parse(&throttle(&conc, "http", "http://h/").unwrap()).unwrap();
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["baseline", "moderate", "warning", "at-limit", "over-limit", "payload", "recovery"]);
        assert!(p.stages.iter().all(|s| s.duration == Duration::from_millis(1500) && s.think == Some(Duration::from_millis(75))));
        assert_eq!(stage(&p, "baseline").to, 2.0);
        let rate = Throttle { rate: Some((60, Duration::from_secs(2))), think: Some(Duration::from_millis(10)), ..Default::default() };
        let p = crate::plan::parse(&throttle(&rate, "http", "http://h/").unwrap()).unwrap();
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["baseline", "rate-limit", "burst", "payload", "recovery"]);
        assert_eq!((stage(&p, "rate-limit").to, stage(&p, "burst").to, stage(&p, "burst").pool), (30.0, 45.0, None));
        assert_eq!(stage(&p, "baseline").think, Some(Duration::from_millis(666)), "10 connections at half of 30/s");
        assert!(throttle(&Throttle { concurrent: Some(0), ..Default::default() }, "http", "x").is_err());
    }

    #[test]
    fn over_raw_the_phases_judge_throttled_answers_and_the_payload_phase_sends_its_message() {
        let t = Throttle {
            concurrent: Some(20),
            rate: Some((600, Duration::from_secs(60))),
            payload_message: Some("{\"op\":\"ping\",\"data\":\"{payload:1M}\"}".into()),
            ..Default::default()
        };
        let text = throttle(&t, "raw", "unix:///tmp/d.sock").unwrap();
        let p = crate::plan::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(p.scenario, "raw");
        assert!(p.thresholds.is_empty(), "throttled answers are errors: errors<1% is judged per calm phase");
        let expects = |name: &str| stage(&p, name).thresholds.iter().map(|t| t.expr.clone()).collect::<Vec<_>>();
        for calm in ["baseline", "moderate", "warning", "at-limit", "recovery"] {
            assert_eq!(expects(calm), ["throttled<1%", "errors<1%"], "{calm}");
        }
        assert_eq!((expects("over-limit"), expects("burst")), (vec!["throttled>1%".to_string()], vec!["throttled>1%".to_string()]));
        assert!(expects("rate-limit").is_empty() && expects("payload").is_empty());
        assert_eq!(stage(&p, "payload").message.as_deref(), Some("{\"op\":\"ping\",\"data\":\"{payload:1M}\"}"));
        assert!(p.stages.iter().filter(|s| s.name != "payload").all(|s| s.message.is_none() && s.request.is_none()));
        // Without a payload message the phase sends the run's message, and says how to give one.
        let text = throttle(&Throttle { payload_message: None, ..t.clone() }, "raw", "tcp://127.0.0.1:9").unwrap();
        assert!(text.contains("--payload-message"), "{text}");
        assert!(crate::plan::parse(&text).unwrap().stages.iter().all(|s| s.message.is_none()));
        assert!(throttle(&t, "http", "http://h/").unwrap_err().contains("raw"));
        assert_eq!(quoted("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
        crate::invariants::plan(&text);
    }
}
