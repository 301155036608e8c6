//! The text report people read: the run's headline, counts, latency table, statuses and
//! errors, connections, the scenario's own section (chat fan-out, streaming sessions), the
//! generator's cost; plus the stage, request-name and monitor tables, the `--latency`
//! distribution and the live line. The scenario comes from the result ([`ScenarioKind`]), not
//! from which figures happen to be empty.
//!
//! Pure: strings out, no I/O, no clock.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::report::RunResult;
use super::result::ScenarioKind;
use super::timeline::IntervalRec;
use super::{AsrStats, ChatStats, ErrorClass, ScenarioStats};

/// The share of sends that came due with every connection busy from which the latency table
/// says how many (a few at the start, while connections open, are not worth a line).
const DUE_BUSY_LINE: f64 = 0.001;

/// Human duration from nanoseconds: µs below 1 ms, ms below 1 s, else s.
pub fn human(ns: f64) -> String {
    if ns < 1e6 {
        format!("{:.2}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// A rate or count for people: rounded, thousands grouped (`1,942`); below 10 with one
/// decimal (`2.5`), so slow rates do not read as 0 or 3.
pub fn grouped(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x.abs() < 10.0 && x.fract() != 0.0 {
        return format!("{x:.1}");
    }
    let n = x.round() as i128;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count for people: B, KiB, MiB or GiB.
pub fn human_bytes(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / 1048576.0)
    } else {
        format!("{:.2} GiB", b / 1073741824.0)
    }
}

impl RunResult {
    /// One line per named request of a mix (empty without a mix).
    pub fn render_by_name(&self) -> String {
        if self.by_name.is_empty() {
            return String::new();
        }
        let mut o = String::from("\nRequests by name\n");
        let _ =
            writeln!(o, "  {:<16} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}", "name", "sent", "ok", "errors", "rps", "p50", "p95", "p99");
        for (name, shard) in &self.by_name {
            let Some(r) = self.named_result(name) else { continue };
            let h = &shard.corrected;
            let q = |p: f64| if h.is_empty() { "-".to_string() } else { human(h.value_at_quantile(p) as f64) };
            let _ = writeln!(
                o,
                "  {:<16} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
                name,
                shard.sent,
                shard.responses,
                shard.failed,
                grouped(r.achieved_rate()),
                q(0.5),
                q(0.95),
                q(0.99)
            );
        }
        o
    }

    /// The stage table: one line per stage of a plan (empty without stages).
    pub fn render_stages(&self) -> String {
        if self.stages.is_empty() {
            return String::new();
        }
        let mut o = String::from("\nStages\n");
        // Chat counts messages sent and copies delivered, with their fan-out latency.
        let (sent, ok, rps) = match self.kind() {
            Some(ScenarioKind::WsChat) => ("messages", "delivered", "msg/s"),
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Asr | ScenarioKind::Raw) | None => ("sent", "ok", "rps"),
        };
        let _ = writeln!(
            o,
            "  {:<16} {:>13}  {:<34} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}",
            "stage", "time", "shape", sent, ok, "errors", rps, "p50", "p99"
        );
        for i in 0..self.stages.len() {
            let (st, Some(r)) = (&self.stages[i], self.stage_result(i)) else { continue };
            let fig = r.part_figures();
            let h = fig.latency;
            let q = |p: f64| if h.is_empty() { "-".to_string() } else { human(h.value_at_quantile(p) as f64) };
            let _ = writeln!(
                o,
                "  {:<16} {:>13}  {:<34} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}",
                st.name,
                format!("{:.0}-{:.0}s", st.start_s, st.end_s),
                st.shape,
                fig.sent,
                fig.ok,
                st.shard.failed,
                grouped(r.achieved_rate()),
                q(0.5),
                q(0.99)
            );
        }
        o
    }

    /// One line per `--monitor-pid` target (empty without any).
    pub fn render_monitor(&self) -> String {
        let mut o = String::new();
        for m in &self.monitor {
            let cpu = match (m.cpu_mean(), m.cpu_max()) {
                (Some(a), Some(b)) => format!("CPU mean {a:.0}%, max {b:.0}% of a CPU"),
                _ => "no sample".to_string(),
            };
            let rss = m.rss_peak().map_or(String::new(), |b| format!("; RSS peak {}", human_bytes(b as f64)));
            let gone = m.exited_at_s.map_or(String::new(), |t| format!("; EXITED {t:.1}s into the run"));
            let _ = writeln!(o, "Target     pid {} ({}): {cpu}{rss}{gone}", m.pid, m.name);
        }
        o
    }

    /// The whole text report.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        self.text_headline(&mut o);
        match self.kind() {
            Some(ScenarioKind::WsChat) => self.text_chat_counts(&mut o),
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Asr | ScenarioKind::Raw) | None => self.text_counts(&mut o),
        }
        let s = &self.shard;
        let _ = writeln!(o, "Transfer   {} read, {} written", human_bytes(s.bytes_read as f64), human_bytes(s.bytes_written as f64));
        let _ = writeln!(o);
        match self.kind() {
            // the fan-out latency is on the Chat line below, the final latency on Streaming
            Some(ScenarioKind::WsChat) => {
                let _ = writeln!(o);
            }
            Some(ScenarioKind::Asr) => {}
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Raw) | None => {
                self.text_latency(&mut o);
                let _ = writeln!(o);
            }
        }
        self.text_outcomes(&mut o);
        self.text_connections(&mut o);
        // The scenario's own part, as recorded.
        match &self.shard.ext {
            ScenarioStats::Chat(c) => self.text_chat(&mut o, c),
            ScenarioStats::Asr(a) => self.text_streaming(&mut o, a),
            ScenarioStats::Plain => {}
        }
        self.text_generator(&mut o);
        o
    }

    /// Interrupted or aborted, what ran against what, and how.
    fn text_headline(&self, o: &mut String) {
        let m = &self.meta;
        let mode = match m.target_rate {
            Some(r) => match &m.pacing {
                Some(p) => format!("open loop at {} req/s (pacing {p})", grouped(r)),
                None => format!("open loop at {} req/s", grouped(r)),
            },
            None => "closed loop".to_string(),
        };
        let _ = writeln!(o);
        if let Some(why) = &self.aborted {
            let _ = writeln!(o, "*** ABORTED: {why}; figures cover {:.2}s ***", m.duration_s);
        } else if let Some(why) = &self.stalled {
            let _ = writeln!(o, "*** STOPPED: {why}; figures cover {:.2}s ***", m.duration_s);
        } else if m.interrupted {
            let _ = writeln!(o, "*** INTERRUPTED: the run was stopped early; figures cover {:.2}s ***", m.duration_s);
        }
        // A --processes run with parts missing never claims the whole plan's load.
        let connections = match &self.partial {
            Some(p) => {
                let missing: Vec<String> = p.missing.iter().map(|x| format!("part {} (pid {}): {}", x.part, x.pid, x.status)).collect();
                let _ = writeln!(
                    o,
                    "*** PARTIAL: {} of {} processes produced no result ({}); figures cover only the others ***",
                    p.missing.len(),
                    p.processes,
                    missing.join("; ")
                );
                format!("{} of {} planned connections", m.connections, p.connections_planned)
            }
            None => format!("{} connections", m.connections),
        };
        let _ = writeln!(o, "stampede {} {}", m.scenario, m.target);
        if let Some((total, failed)) = self.verdict {
            let _ = writeln!(o, "  {}", verdict_headline(total, failed));
        }
        match self.kind() {
            // Streams send audio in real time: no loop, no pipeline.
            Some(ScenarioKind::Asr) => {
                let _ = writeln!(o, "  {} streams, {} threads, {:.2}s, driver {}", m.connections, m.threads, m.duration_s, m.driver);
            }
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::WsChat | ScenarioKind::Raw) | None => {
                let _ = writeln!(
                    o,
                    "  {mode}, {connections}, {} threads, pipeline {}, {:.2}s, driver {}",
                    m.threads, m.pipeline, m.duration_s, m.driver
                );
            }
        }
        let _ = writeln!(o);
    }

    /// Sent, answered, failed, the accounting and the achieved rate.
    fn text_counts(&self, o: &mut String) {
        let (s, m) = (&self.shard, &self.meta);
        // WebSocket runs count messages, ASR runs sessions; the figures mean the same.
        let (what, per) = match self.kind() {
            Some(ScenarioKind::Ws) => ("Messages", "msg/s"),
            Some(ScenarioKind::Asr) => ("Sessions", "sessions/s"),
            Some(ScenarioKind::Http | ScenarioKind::WsChat | ScenarioKind::Raw) | None => ("Requests", "req/s"),
        };
        let _ = writeln!(o, "{what:<10} {} sent, {} ok, {} failed, {} in flight at the end", s.sent, s.responses, s.failed, s.in_flight);
        let _ = writeln!(o, "{}", accounting_line(&s.accounting()));
        if s.failed > 0 {
            let _ = writeln!(o, "Failed     {} ({})", s.failed, failed_detail(s));
        }
        if s.checks.checked > 0 {
            let c = &s.checks;
            let pct = c.pass_pct().unwrap_or(0.0);
            let _ = writeln!(o, "Checks     {} of {} answers passed every check ({pct:.2} %)", c.passed, c.checked);
            for (name, n) in &c.failed {
                let _ = writeln!(o, "           failed {name}: {n}");
            }
        }
        let target = m.target_rate.map_or(String::new(), |r| format!(" (target {})", grouped(r)));
        let _ = writeln!(o, "Rate       {} {per} achieved{target}", grouped(self.achieved_rate()));
    }

    /// Chat messages are not answered: they are sent, and delivered to room members.
    fn text_chat_counts(&self, o: &mut String) {
        let (s, m) = (&self.shard, &self.meta);
        let per_s = |n: u64| n as f64 / m.duration_s.max(1e-9);
        let target = m.target_rate.map_or(String::new(), |r| format!(", target {}", grouped(r)));
        let _ = writeln!(
            o,
            "Messages   {} sent ({:.1}/s{target}), {} delivered ({:.1}/s)",
            s.broadcasts(),
            per_s(s.broadcasts()),
            s.deliveries(),
            per_s(s.deliveries())
        );
    }

    /// The latency table: corrected, service and send lateness (open loop), or service only.
    fn text_latency(&self, o: &mut String) {
        let s = &self.shard;
        let pcts: [(&str, f64); 6] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("p99.99", 0.9999), ("max", 1.0)];
        if self.open_loop() {
            let hs = [&s.corrected, &s.service, &s.lateness];
            let _ = writeln!(o, "Latency    {:>12} {:>12} {:>12}", "corrected", "service", "send late");
            let _ = writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", "min", fmt_min(hs[0]), fmt_min(hs[1]), fmt_min(hs[2]));
            let _ = writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", "mean", fmt_mean(hs[0]), fmt_mean(hs[1]), fmt_mean(hs[2]));
            for (name, q) in pcts {
                let _ = writeln!(o, "  {:<8} {:>12} {:>12} {:>12}", name, fmt_q(hs[0], q), fmt_q(hs[1], q), fmt_q(hs[2], q));
            }
            let _ = writeln!(o, "  (corrected: from the intended send time; service: from the actual send)");
            if let Some((busy, opening)) = self.due_unsent_shares() {
                let why = [
                    (busy, s.due.busy, "every connection was waiting for an answer"),
                    (opening, s.due.opening, "their connections were still opening"),
                ];
                for (share, n, why) in why.into_iter().filter(|(share, _, _)| *share >= DUE_BUSY_LINE) {
                    let (n, sent) = (grouped(n as f64), grouped(s.sent as f64));
                    let _ = writeln!(o, "  {n} of {sent} sends ({:.1}%) came due while {why}: they waited for a connection", share * 100.0);
                }
            }
            if let Some(note) = self.pacing_note() {
                let _ = writeln!(o, "  WARNING: {note}");
            }
        } else {
            let _ = writeln!(o, "Latency    (closed loop: latency = service time)");
            let _ = writeln!(o, "  {:<8} {:>12}", "min", fmt_min(&s.service));
            let _ = writeln!(o, "  {:<8} {:>12}", "mean", fmt_mean(&s.service));
            for (name, q) in pcts {
                let _ = writeln!(o, "  {:<8} {:>12}", name, fmt_q(&s.service, q));
            }
        }
    }

    /// Statuses, WebSocket closes by the server, error classes with their hints.
    fn text_outcomes(&self, o: &mut String) {
        let s = &self.shard;
        let statuses: Vec<String> = s.statuses().map(|(c, n)| format!("{c}: {n}")).collect();
        if !matches!(self.kind(), Some(ScenarioKind::Asr)) {
            let _ = writeln!(o, "Status     {}", if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") });
        }
        let nn = self.non_2xx_3xx();
        if nn > 0 {
            let _ = writeln!(o, "           {nn} responses were not 2xx/3xx");
        }
        let closes: Vec<String> =
            s.ws.close_codes
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| format!("{}: {n}", super::close_slot_name(i)))
                .collect();
        if !closes.is_empty() {
            let _ = writeln!(o, "Closes     by the server: {}", closes.join(", "));
        }
        // Failed connects are not requests: they get their own line.
        let other = |c: ErrorClass| s.errors_of(c) - s.connect_errors_of(c);
        let listed = |n: &dyn Fn(ErrorClass) -> u64| {
            let v: Vec<String> = ErrorClass::ALL.iter().filter(|c| n(**c) > 0).map(|c| format!("{}: {}", c.name(), n(*c))).collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(o, "Errors     {}", listed(&other));
        for (reason, n) in s.protocol_reasons() {
            let _ = writeln!(o, "           protocol: {}: {n}", reason.name());
        }
        if s.connect_errors.iter().any(|n| *n > 0) {
            let _ = writeln!(o, "Connect errors {} (connects and openings, not requests)", listed(&|c| s.connect_errors_of(c)));
        }
        let seen = || ErrorClass::ALL.iter().copied().filter(|c| s.errors_of(*c) > 0);
        for (name, hint) in seen().filter_map(|c| c.hint().map(|h| (c.name(), h))) {
            let _ = writeln!(o, "           {name}: {hint}");
        }
        if s.pushed > 0 {
            let _ = writeln!(o, "Pushed     {} messages the server sent unasked (not answers)", s.pushed);
        }
    }

    /// Connections, then the TLS and protocol handshakes when there were any.
    fn text_connections(&self, o: &mut String) {
        let s = &self.shard;
        let _ = writeln!(
            o,
            "Connections {} attempted, {} established, peak {} open, mean {:.1} open, connect p50 {} p99 {}",
            s.connects_attempted,
            s.connects_ok,
            s.open_peak,
            s.mean_open(),
            fmt_q(&s.connect, 0.5),
            fmt_q(&s.connect, 0.99)
        );
        if s.teardown_ns > 0 {
            let _ = writeln!(
                o,
                "Teardown   the last connection closed {:.2} s after the end (in waves: --close-rate)",
                s.teardown_ns as f64 / 1e9
            );
        }
        let tls = &s.tls.handshakes;
        if !tls.is_empty() || s.tls_started > 0 {
            let _ = writeln!(
                o,
                "TLS        {} handshakes ({} resumed), p50 {} p99 {} max {}{}",
                tls.len(),
                s.tls.resumed,
                fmt_q(tls, 0.5),
                fmt_q(tls, 0.99),
                fmt_q(tls, 1.0),
                unfinished(s.tls_failed, s.tls_pending())
            );
        }
        if !s.handshake.is_empty() || s.opens_started > 0 {
            let h = &s.handshake;
            let _ = writeln!(
                o,
                "Handshake  p50 {} p99 {} max {}{}",
                fmt_q(h, 0.5),
                fmt_q(h, 0.99),
                fmt_q(h, 1.0),
                if s.opens_started > 0 {
                    format!(" ({} started, {} ok{})", s.opens_started, h.len(), unfinished(s.opens_failed, s.opens_pending()))
                } else {
                    String::new()
                }
            );
        }
        let pending = [(s.connects_pending(), "connects"), (s.tls_pending(), "TLS handshakes"), (s.opens_pending(), "openings")];
        let pending: Vec<String> = pending.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        if !pending.is_empty() {
            let _ = writeln!(o, "Pending    at the end: {}", pending.join(", "));
        }
    }

    /// Chat: messages sent, deliveries per message and the fan-out latency.
    fn text_chat(&self, o: &mut String, c: &ChatStats) {
        let _ = writeln!(
            o,
            "Chat       {} messages sent, {} delivered ({:.1} per message), fan-out latency p50 {} p99 {} max {}",
            c.broadcasts,
            c.deliveries,
            c.deliveries as f64 / c.broadcasts.max(1) as f64,
            fmt_q(&c.delivery, 0.5),
            fmt_q(&c.delivery, 0.99),
            fmt_q(&c.delivery, 1.0)
        );
        if c.marked {
            let pct = c.delivered_pct().map_or("-".to_string(), |p| format!("{p:.2}%"));
            let _ = writeln!(
                o,
                "Delivery   {} expected, {} delivered to others ({pct}), {} lost, {} late, {} duplicated, {} to the sender itself, {} sent before the receiver joined",
                c.expected,
                c.delivered,
                c.lost(),
                c.late,
                c.duplicated,
                c.self_deliveries,
                c.before_join
            );
            let pcts: [(&str, f64); 5] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)];
            let row = |h: &Histogram<u64>| pcts.iter().map(|(n, q)| format!("{n} {}", fmt_q(h, *q))).collect::<Vec<_>>().join(" ");
            let _ = writeln!(o, "Fan-out    corrected {}", row(&c.delivery));
            let _ = writeln!(o, "           service   {}", row(&c.delivery_service));
        } else if c.broadcasts > 0 && c.unmarked > 0 {
            let _ = writeln!(o, "Delivery   not matched: the messages carry no {{mark}}, so frames are only counted");
        }
        if c.unmarked > 0 {
            let _ = writeln!(o, "           {} frames without a mark (acks, notices, errors): not deliveries", c.unmarked);
        }
    }

    /// Streaming sessions (ASR): transcript updates, segments, final latency, frame pacing,
    /// real-time factor.
    fn text_streaming(&self, o: &mut String, a: &AsrStats) {
        let s = &self.shard;
        let rtf = |q: f64| {
            if a.rtf_permille.is_empty() {
                "-".to_string()
            } else {
                format!("{:.3}", a.rtf_permille.value_at_quantile(q) as f64 / 1000.0)
            }
        };
        let per = |n: u64| if s.responses > 0 { n as f64 / s.responses as f64 } else { 0.0 };
        let (fp, c, sv, lag, sl) = (&a.first_partial, &s.corrected, &s.service, &a.frame_lag, &a.segment_latency);
        let _ = writeln!(o, "Streaming  sessions: {} started, {} completed, {} failed", s.sent, s.responses, s.failed);
        if let Some(c) = &self.meta.audio_conversion {
            let _ = writeln!(o, "           {c}");
        }
        let _ = writeln!(o, "           time to first partial p50 {} p99 {}", fmt_q(fp, 0.5), fmt_q(fp, 0.99));
        let _ = writeln!(
            o,
            "           final latency from the end of audio's due time p50 {} p99 {} max {}; from the end message sent p50 {} p99 {}",
            fmt_q(c, 0.5),
            fmt_q(c, 0.99),
            fmt_q(c, 1.0),
            fmt_q(sv, 0.5),
            fmt_q(sv, 0.99)
        );
        let _ = writeln!(
            o,
            "           segments (mid-stream results): {} ({:.1} per session), latency from their audio's due time p50 {} p99 {}",
            a.segments,
            per(a.segments),
            fmt_q(sl, 0.5),
            fmt_q(sl, 0.99)
        );
        let _ = writeln!(
            o,
            "           frame send lag p99 {} max {} over {} frames (pacing held if small)",
            fmt_q(lag, 0.99),
            fmt_q(lag, 1.0),
            lag.len()
        );
        let _ = writeln!(
            o,
            "           real-time factor p50 {} p99 {}, {:.1} transcript updates per session",
            rtf(0.5),
            rtf(0.99),
            per(a.partials)
        );
    }

    /// The generator's CPU time per second of audio of the completed sessions.
    fn cpu_us_per_audio_second(&self, a: &AsrStats) -> Option<f64> {
        let cpu = self.meta.cpu_user_s + self.meta.cpu_sys_s;
        (a.audio_ms > 0 && cpu > 0.0).then(|| cpu * 1e6 / (a.audio_ms as f64 / 1000.0))
    }

    /// The generator's CPU and memory, and the saturation warning.
    fn text_generator(&self, o: &mut String) {
        let m = &self.meta;
        let sat = self.saturation();
        let wall = m.duration_s.max(1e-9) * m.threads.max(1) as f64;
        let polled =
            if m.pacing_polled_s >= 0.01 { format!(" ({:.2}s of it polling for send times)", m.pacing_polled_s) } else { String::new() };
        let _ = writeln!(
            o,
            "Generator  CPU {:.2}s user + {:.2}s sys = {:.0}% of {} thread(s){polled}{}",
            m.cpu_user_s,
            m.cpu_sys_s,
            (m.cpu_user_s + m.cpu_sys_s) / wall * 100.0,
            m.threads,
            match &self.shard.ext {
                ScenarioStats::Asr(a) =>
                    self.cpu_us_per_audio_second(a).map_or(String::new(), |us| format!(", {us:.0} µs CPU per audio-second")),
                ScenarioStats::Plain | ScenarioStats::Chat(_) =>
                    self.cpu_us_per_request().map_or(String::new(), |us| format!(", {us:.2} µs CPU per request")),
            }
        );
        if m.rss_peak > 0 {
            let _ = writeln!(
                o,
                "Memory     RSS peak {} ({} at start){}",
                human_bytes(m.rss_peak as f64),
                human_bytes(m.rss_start as f64),
                self.bytes_per_connection().map_or(String::new(), |b| format!(", {:.1} KiB per open connection", b / 1024.0))
            );
        }
        if sat.saturated {
            let _ = writeln!(o);
            let _ = writeln!(o, "WARNING: the generator itself may have limited this run:");
            for r in &sat.reasons {
                let _ = writeln!(o, "  - {r}");
            }
        }
    }
}

fn fmt_q(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        "-".into()
    } else if q >= 1.0 {
        human(h.max() as f64)
    } else {
        human(h.value_at_quantile(q) as f64)
    }
}

/// `, 3 failed, 2 pending` after a count of handshakes, the parts that are not zero.
fn unfinished(failed: u64, pending: u64) -> String {
    let mut out = String::new();
    if failed > 0 {
        out += &format!(", {failed} failed");
    }
    if pending > 0 {
        out += &format!(", {pending} pending");
    }
    out
}

/// `Thresholds: all 3 passed` or `Thresholds: 1 of 3 failed`: every threshold of a run (run,
/// stage, named request), the same words in the text, the HTML page and the exit code's cause.
pub fn verdict_headline(total: usize, failed: usize) -> String {
    if failed == 0 {
        format!("Thresholds: all {total} passed")
    } else {
        format!("Thresholds: {failed} of {total} failed")
    }
}

/// What failed requests failed of: `status 503: 400, check_failed: 3, reset: 2` (failed
/// statuses by code, then the other classes; failed connects are not requests).
pub fn failed_detail(s: &super::Shard) -> String {
    let mut parts: Vec<String> = s.failed_statuses().map(|(c, n)| format!("status {c}: {n}")).collect();
    for c in ErrorClass::ALL {
        let n = s.errors_of(c).saturating_sub(s.connect_errors_of(c));
        if n > 0 && !matches!(c, ErrorClass::Status(_)) {
            parts.push(format!("{}: {n}", c.name()));
        }
    }
    parts.join(", ")
}

/// `Accounting  1000 sent = 900 ok + 95 errors + 5 in flight`, flagged when it does not add up.
pub fn accounting_line(a: &super::Accounting) -> String {
    let mut line = format!("Accounting  {} sent = {} ok + {} errors + {} in flight", a.sent, a.ok, a.errors, a.in_flight);
    if !a.balanced() {
        let counted = a.ok as i128 + a.errors as i128 + a.in_flight as i128;
        line.push_str(&format!("  UNBALANCED: {} counted for {} sent (a stampede bug: please report it)", counted, a.sent));
    }
    line
}

fn fmt_min(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        human(h.min() as f64)
    }
}

fn fmt_mean(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        "-".into()
    } else {
        human(h.mean())
    }
}

/// The full percentile distribution of the (corrected) latency, for `--latency`.
pub fn render_distribution(r: &RunResult) -> String {
    let h = &r.shard.corrected;
    let mut o = String::new();
    let _ = writeln!(o, "\nLatency distribution ({}):", if r.open_loop() { "corrected" } else { "service" });
    if h.is_empty() {
        let _ = writeln!(o, "  no responses");
        return o;
    }
    for q in [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 0.99999, 1.0] {
        let v = if q >= 1.0 { h.max() } else { h.value_at_quantile(q) };
        let _ = writeln!(o, "  {:>9.3}%  {:>12}", q * 100.0, human(v as f64));
    }
    o
}

/// One line for the live display: elapsed time and the last second's figures.
pub fn live_line(rec: &IntervalRec) -> String {
    let p99 = if rec.answered == 0 { "-".to_string() } else { human(rec.quantiles[2] as f64) };
    format!("[{:>5}s] {:>9} req/s  {:>6} errors  {:>6} open  p99 {p99}", rec.t_s, rec.ok, rec.errors, rec.open)
}
