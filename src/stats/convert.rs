//! A [`RunResult`] to and from its schema document ([`ResultDoc`]): the figures are computed
//! here from the histograms, and the histograms travel encoded so results merge exactly.
//!
//! Pure: no I/O, no clock.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::codec::{decode_hist, encode_hist};
use super::report::{ms, RunMeta, RunResult};
use super::result::{
    AccountingDoc, AsrDoc, Bytes, ChatDoc, ChecksDoc, Connections, DeliveryDoc, FinalLatency, Generator, Histograms, Latency, Loop,
    OpeningsDoc, PartDoc, PartLatency, Rate, Requests, ResultDoc, Segments, Sessions, Short, StageDoc, TlsDoc, SCHEMA,
};
use super::timeline::{IntervalRec, MonitorSeries, StageResult};
use super::{new_histogram, AsrStats, ChatStats, DueUnsent, ErrorClass, ProtocolReason, ScenarioStats, Shard};

/// p50 / p99 / max in ms, or nulls when nothing was recorded.
fn short(h: &Histogram<u64>) -> Short {
    if h.is_empty() {
        return Short::default();
    }
    Short { p50: Some(ms(h.value_at_quantile(0.5))), p99: Some(ms(h.value_at_quantile(0.99))), max: Some(ms(h.max())) }
}

fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let q = |p: f64| Some(ms(h.value_at_quantile(p)));
    Latency {
        min: Some(ms(h.min())),
        mean: Some(h.mean() / 1e6),
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        p999: q(0.999),
        p9999: q(0.9999),
        max: Some(ms(h.max())),
    }
}

fn part_latency(h: &Histogram<u64>) -> PartLatency {
    let q = |p: f64| (!h.is_empty()).then(|| ms(h.value_at_quantile(p)));
    PartLatency { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), max: (!h.is_empty()).then(|| ms(h.max())) }
}

fn statuses(s: &Shard) -> BTreeMap<String, u64> {
    s.statuses().map(|(c, n)| (c.to_string(), n)).collect()
}

/// The counters of a stage or a named request, with its full result.
/// A stage or named request: `r` is its result (its shard, judged on its own). Chat counts
/// messages sent and copies delivered, with their fan-out latency ([`RunResult::part_figures`]).
fn part(shard: &Shard, r: &RunResult) -> PartDoc {
    let fig = r.part_figures();
    PartDoc {
        sent: fig.sent,
        ok: fig.ok,
        errors: shard.failed,
        rps: Some(r.achieved_rate()),
        latency_ms: part_latency(fig.latency),
        status: statuses(shard),
        result: Some(Box::new(r.to_doc())),
        thresholds: None,
    }
}

fn asr(s: &Shard) -> Option<AsrDoc> {
    let a = s.asr()?;
    let rtf = |q: f64| (!a.rtf_permille.is_empty()).then(|| a.rtf_permille.value_at_quantile(q) as f64 / 1000.0);
    Some(AsrDoc {
        sessions: Sessions { started: s.sent, completed: s.responses, failed: s.failed, in_flight: s.in_flight },
        time_to_first_partial_ms: short(&a.first_partial),
        final_latency_ms: FinalLatency { corrected: short(&s.corrected), service: short(&s.service) },
        frame_send_lag_ms: short(&a.frame_lag),
        frames_sent: a.frame_lag.len(),
        rtf: Short { p50: rtf(0.5), p99: rtf(0.99), max: rtf(1.0) },
        partials: a.partials,
        partials_per_session: if s.responses > 0 { a.partials as f64 / s.responses as f64 } else { 0.0 },
        // Results loaded from writers before segments have no audio length: none written.
        segments: (a.audio_ms > 0).then(|| Segments {
            count: a.segments,
            per_session: if s.responses > 0 { a.segments as f64 / s.responses as f64 } else { 0.0 },
            latency_ms: short(&a.segment_latency),
        }),
        audio_seconds: (a.audio_ms > 0).then_some(a.audio_ms as f64 / 1000.0),
        cpu_us_per_audio_second: None,
        audio_conversion: None,
    })
}

fn chat(s: &Shard) -> Option<ChatDoc> {
    let c = s.chat()?;
    Some(ChatDoc {
        messages_sent: c.broadcasts,
        deliveries: c.deliveries,
        deliveries_per_message: if c.broadcasts > 0 { c.deliveries as f64 / c.broadcasts as f64 } else { 0.0 },
        delivery_latency_ms: short(&c.delivery),
        accounting: (c.marked || c.unmarked > 0 || c.expected > 0).then(|| DeliveryDoc {
            marked: c.marked,
            expected: c.expected,
            delivered: c.delivered,
            delivered_pct: c.delivered_pct(),
            lost: c.lost(),
            late: c.late,
            duplicated: c.duplicated,
            self_deliveries: c.self_deliveries,
            before_join: c.before_join,
            unmarked: c.unmarked,
            service_latency_ms: short(&c.delivery_service),
        }),
    })
}

fn tls(s: &Shard) -> Option<TlsDoc> {
    let t = &s.tls;
    (!t.handshakes.is_empty() || s.tls_started > 0).then(|| TlsDoc {
        handshakes: t.handshakes.len(),
        resumed: t.resumed,
        handshake_ms: short(&t.handshakes),
        failed: s.tls_failed,
        pending: s.tls_pending(),
    })
}

fn openings(s: &Shard) -> Option<OpeningsDoc> {
    (s.opens_started > 0).then(|| OpeningsDoc {
        started: s.opens_started,
        ok: s.handshake.len(),
        failed: s.opens_failed,
        pending: s.opens_pending(),
    })
}

/// Every histogram, the scenario's own written empty when the run has none (the layout of
/// `stampede.result/1`).
fn histograms(s: &Shard) -> Histograms {
    let empty = new_histogram();
    let asr = s.asr();
    let of = |h: Option<&Histogram<u64>>| Some(encode_hist(h.unwrap_or(&empty)));
    Histograms {
        corrected: encode_hist(&s.corrected),
        service: encode_hist(&s.service),
        lateness: encode_hist(&s.lateness),
        connect: encode_hist(&s.connect),
        handshake: encode_hist(&s.handshake),
        tls: Some(encode_hist(&s.tls.handshakes)),
        frame_lag: of(asr.map(|a| &a.frame_lag)),
        first_partial: of(asr.map(|a| &a.first_partial)),
        rtf_permille: of(asr.map(|a| &a.rtf_permille)),
        delivery: of(s.chat().map(|c| &c.delivery)),
        delivery_service: s.chat().filter(|c| c.marked).map(|c| encode_hist(&c.delivery_service)),
        segment_latency: asr.filter(|a| a.audio_ms > 0).map(|a| encode_hist(&a.segment_latency)),
    }
}

impl RunResult {
    /// The result as its schema document.
    pub fn to_doc(&self) -> ResultDoc {
        let (s, m) = (&self.shard, &self.meta);
        let sat = self.saturation();
        let acc = s.accounting();
        ResultDoc {
            schema: SCHEMA.to_string(),
            scenario: m.scenario.clone(),
            target: m.target.clone(),
            driver: m.driver.clone(),
            threads: m.threads as u64,
            pipeline: m.pipeline as u64,
            duration_s: m.duration_s,
            started_unix_ms: m.started_unix_ms,
            interrupted: m.interrupted,
            aborted: self.aborted.clone(),
            stalled: self.stalled.clone(),
            partial: self.partial.clone(),
            setup: None,
            loop_mode: if self.open_loop() { Loop::Open } else { Loop::Closed },
            pacing: m.pacing.clone(),
            requests: Requests {
                total: s.requests_total(),
                ok: s.responses,
                errors: s.failed,
                sent: s.sent,
                in_flight: s.in_flight,
                due_while_busy: (self.open_loop() && s.due.known).then_some(s.due.busy),
                due_while_opening: (self.open_loop() && s.due.known).then_some(s.due.opening),
            },
            accounting: AccountingDoc {
                sent: acc.sent,
                ok: acc.ok,
                errors: acc.errors,
                in_flight: acc.in_flight,
                balanced: acc.balanced(),
            },
            rate: Rate { achieved_per_s: self.achieved_rate(), target_per_s: m.target_rate },
            latency_ms: latency(&s.corrected),
            service_latency_ms: latency(&s.service),
            send_lateness_ms: (self.open_loop() && !s.lateness.is_empty()).then(|| short(&s.lateness)),
            connect_ms: short(&s.connect),
            handshake_ms: short(&s.handshake),
            tls: tls(s),
            status: statuses(s),
            non_2xx_3xx: self.non_2xx_3xx(),
            close_codes: s
                .ws
                .close_codes
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (super::close_slot_name(i), *n))
                .collect(),
            errors: ErrorClass::ALL.iter().filter(|c| s.errors_of(**c) > 0).map(|c| (c.name().to_string(), s.errors_of(*c))).collect(),
            protocol_errors: s.protocol_reasons().map(|(r, n)| (r.name().to_string(), n)).collect(),
            status_errors: s.failed_statuses().map(|(c, n)| (c.to_string(), n)).collect(),
            checks: (s.checks.checked > 0).then(|| ChecksDoc {
                checked: s.checks.checked,
                passed: s.checks.passed,
                passed_pct: s.checks.pass_pct(),
                failed: s.checks.failed.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            }),
            pushed: s.pushed,
            openings: openings(s),
            connect_errors: ErrorClass::ALL
                .iter()
                .filter(|c| s.connect_errors_of(**c) > 0)
                .map(|c| (c.name().to_string(), s.connect_errors_of(*c)))
                .collect(),
            bytes: Bytes { read: s.bytes_read, written: s.bytes_written },
            generator: Generator {
                cpu_user_s: m.cpu_user_s,
                cpu_sys_s: m.cpu_sys_s,
                cpu_us_per_request: self.cpu_us_per_request(),
                pacing_polled_s: m.pacing_polled_s,
                cpu_busy: sat.cpu_busy,
                saturated: sat.saturated,
                saturation_reasons: sat.reasons,
                rss_start_bytes: m.rss_start,
                rss_peak_bytes: m.rss_peak,
                bytes_per_connection: self.bytes_per_connection(),
                pacing_note: self.pacing_note(),
            },
            connections: Connections {
                planned: m.connections,
                attempted: s.connects_attempted,
                established: s.connects_ok,
                pending: s.connects_pending(),
                peak_open: s.open_peak,
                mean_open: s.mean_open(),
                samples: s.open_samples,
                samples_sum: s.open_samples_sum,
                teardown_ms: (s.teardown_ns > 0).then(|| (s.teardown_ns / 1000) as f64 / 1000.0),
            },
            histograms: histograms(s),
            asr: asr(s).map(|mut a| {
                let cpu = m.cpu_user_s + m.cpu_sys_s;
                a.cpu_us_per_audio_second = a.audio_seconds.filter(|s| *s > 0.0 && cpu > 0.0).map(|s| cpu * 1e6 / s);
                a.audio_conversion.clone_from(&m.audio_conversion);
                a
            }),
            chat: chat(s),
            stages: self.stage_docs(),
            by_name: self.by_name.iter().filter_map(|(n, sh)| Some((n.clone(), part(sh, &self.named_result(n)?)))).collect(),
            monitor: self.monitor.iter().map(MonitorSeries::to_doc).collect(),
            intervals: self.intervals.iter().map(|r| r.to_doc(self.stage_name_at(r.t_s as f64 - 0.5))).collect(),
            thresholds: None,
            verdict: None,
            host: None,
        }
    }

    fn stage_docs(&self) -> Vec<StageDoc> {
        (0..self.stages.len())
            .filter_map(|i| {
                let (st, r) = (&self.stages[i], self.stage_result(i)?);
                Some(StageDoc {
                    name: st.name.clone(),
                    start_s: st.start_s,
                    end_s: st.end_s,
                    shape: Some(st.shape.clone()),
                    in_flight_at_end: st.shard.in_flight,
                    part: part(&st.shard, &r),
                })
            })
            .collect()
    }

    /// Reads a result document back, histograms included.
    pub fn from_doc(d: &ResultDoc) -> Result<RunResult, String> {
        let mut r = RunResult::new(meta(d), shard(d)?);
        r.intervals = d.intervals.iter().map(IntervalRec::from_doc).collect::<Result<_, _>>()?;
        r.aborted = d.aborted.clone();
        r.stalled = d.stalled.clone();
        r.partial = d.partial.clone();
        r.verdict = d.verdict.as_ref().map(|v| (v.thresholds as usize, v.failed as usize));
        for (name, entry) in &d.by_name {
            // A request without its full result (hand-written JSON) is left out.
            let Some(inner) = &entry.result else { continue };
            let inner = RunResult::from_doc(inner).map_err(|e| format!("request {name}: {e}"))?;
            r.by_name.push((name.clone(), inner.shard));
        }
        r.monitor = d.monitor.iter().map(MonitorSeries::from_doc).collect();
        for st in &d.stages {
            // A stage without its full result (hand-written JSON) is left out.
            let Some(inner) = &st.part.result else { continue };
            let inner = RunResult::from_doc(inner).map_err(|e| format!("stage \"{}\": {e}", st.name))?;
            let shape = st.shape.clone().unwrap_or_default();
            // The stage's own asked rate and CPU are its result's (results written before stages
            // had their own carry the plan's mean rate and the run's CPU there).
            let (target_rate, cpu_user_s, cpu_sys_s) = (inner.meta.target_rate, inner.meta.cpu_user_s, inner.meta.cpu_sys_s);
            r.stages.push(StageResult {
                name: st.name.clone(),
                start_s: st.start_s,
                end_s: st.end_s,
                shape,
                target_rate,
                cpu_user_s,
                cpu_sys_s,
                shard: inner.shard,
            });
        }
        Ok(r)
    }
}

fn meta(d: &ResultDoc) -> RunMeta {
    RunMeta {
        scenario: d.scenario.clone(),
        target: d.target.clone(),
        driver: d.driver.clone(),
        threads: d.threads as usize,
        connections: d.connections.planned,
        pipeline: d.pipeline as u32,
        duration_s: d.duration_s,
        target_rate: d.rate.target_per_s,
        cpu_user_s: d.generator.cpu_user_s,
        cpu_sys_s: d.generator.cpu_sys_s,
        interrupted: d.interrupted,
        started_unix_ms: d.started_unix_ms,
        rss_start: d.generator.rss_start_bytes,
        rss_peak: d.generator.rss_peak_bytes,
        audio_conversion: d.asr.as_ref().and_then(|a| a.audio_conversion.clone()),
        pacing: d.pacing.clone(),
        pacing_polled_s: d.generator.pacing_polled_s,
    }
}

/// The merged shard of a document: histograms decoded, counters put back in their slots.
fn shard(d: &ResultDoc) -> Result<Shard, String> {
    let h = &d.histograms;
    let optional = |x: &Option<String>| x.as_deref().map(decode_hist).transpose().map(|o| o.unwrap_or_else(new_histogram));
    let mut s = Shard::new();
    s.corrected = decode_hist(&h.corrected)?;
    s.service = decode_hist(&h.service)?;
    s.lateness = decode_hist(&h.lateness)?;
    s.connect = decode_hist(&h.connect)?;
    s.handshake = decode_hist(&h.handshake)?;
    // TLS, streaming and chat histograms are absent from results written before they existed.
    s.tls.handshakes = optional(&h.tls)?;
    s.tls.resumed = d.tls.as_ref().map_or(0, |t| t.resumed);
    if let Some(t) = &d.tls {
        s.tls_failed = t.failed;
        s.tls_started = t.handshakes + t.failed + t.pending;
    }
    if let Some(o) = &d.openings {
        s.opens_started = o.started;
        s.opens_failed = o.failed;
    }
    s.pushed = d.pushed;
    for (name, n) in &d.protocol_errors {
        let reason = ProtocolReason::from_name(name).ok_or_else(|| format!("unknown protocol error {name}"))?;
        s.protocol[reason.index()] = *n;
    }
    s.ext = match (&d.asr, &d.chat) {
        (Some(a), _) => ScenarioStats::Asr(Box::new(AsrStats {
            frame_lag: optional(&h.frame_lag)?,
            first_partial: optional(&h.first_partial)?,
            rtf_permille: optional(&h.rtf_permille)?,
            partials: a.partials,
            segments: a.segments.as_ref().map_or(0, |g| g.count),
            segment_latency: optional(&h.segment_latency)?,
            audio_ms: a.audio_seconds.map_or(0, |s| (s * 1000.0).round() as u64),
        })),
        (None, Some(c)) => ScenarioStats::Chat(Box::new(ChatStats {
            broadcasts: c.messages_sent,
            deliveries: c.deliveries,
            delivery: optional(&h.delivery)?,
            delivery_service: optional(&h.delivery_service)?,
            expected: c.accounting.as_ref().map_or(0, |a| a.expected),
            delivered: c.accounting.as_ref().map_or(0, |a| a.delivered),
            late: c.accounting.as_ref().map_or(0, |a| a.late),
            duplicated: c.accounting.as_ref().map_or(0, |a| a.duplicated),
            self_deliveries: c.accounting.as_ref().map_or(0, |a| a.self_deliveries),
            before_join: c.accounting.as_ref().map_or(0, |a| a.before_join),
            unmarked: c.accounting.as_ref().map_or(0, |a| a.unmarked),
            marked: c.accounting.as_ref().is_some_and(|a| a.marked),
        })),
        (None, None) => ScenarioStats::Plain,
    };
    for (name, n) in &d.close_codes {
        let slot = match name.as_str() {
            "none" => 16,
            "other" => 17,
            code => super::close_slot(code.parse().ok()),
        };
        s.ws.close_codes[slot] = *n;
    }
    s.sent = d.requests.sent;
    s.responses = d.requests.ok;
    s.failed = d.requests.errors;
    s.in_flight = d.requests.in_flight;
    s.due = match (d.requests.due_while_busy, d.requests.due_while_opening) {
        (Some(busy), opening) => DueUnsent { busy, opening: opening.unwrap_or(0), known: true },
        // open loop before they were counted: unknown (closed loop never has any)
        (None, _) => DueUnsent { known: d.rate.target_per_s.is_none(), ..DueUnsent::default() },
    };
    for (code, n) in &d.status {
        let code: usize = code.parse().map_err(|_| format!("bad status code {code}"))?;
        *s.status.get_mut(code).ok_or_else(|| format!("bad status code {code}"))? = *n;
    }
    for (code, n) in &d.status_errors {
        let code: usize = code.parse().map_err(|_| format!("bad status code {code}"))?;
        *s.status_failed.get_mut(code).ok_or_else(|| format!("bad status code {code}"))? = *n;
    }
    if let Some(c) = &d.checks {
        s.checks.checked = c.checked;
        s.checks.passed = c.passed;
        for (name, n) in &c.failed {
            s.checks.add(&std::sync::Arc::from(name.as_str()), *n);
        }
    }
    for (name, n) in &d.errors {
        let class = ErrorClass::from_name(name).ok_or_else(|| format!("unknown error class {name}"))?;
        s.errors[class.index()] = *n;
    }
    for (name, n) in &d.connect_errors {
        let class = ErrorClass::from_name(name).ok_or_else(|| format!("unknown error class {name}"))?;
        s.connect_errors[class.index()] = (*n).min(s.errors[class.index()]);
    }
    s.bytes_read = d.bytes.read;
    s.bytes_written = d.bytes.written;
    s.connects_attempted = d.connections.attempted;
    s.connects_ok = d.connections.established;
    // Results written before attempts were counted at their start count failed ones only.
    s.connects_failed = d.connections.attempted.saturating_sub(d.connections.established + d.connections.pending);
    s.open_peak = d.connections.peak_open;
    s.open_samples = d.connections.samples;
    s.open_samples_sum = d.connections.samples_sum;
    s.teardown_ns = d.connections.teardown_ms.map_or(0, |ms| (ms * 1e6) as u64);
    Ok(s)
}
