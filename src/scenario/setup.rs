//! The `[[setup]]` phase: a plan's setup requests, run before the load on the calling thread,
//! each setup in file order with its `count` requests one after the other (paced by `rate`),
//! measured on their own, their JSON answers captured by pointer into [`Captures`].
//!
//! Request `i` of a setup (from 0) renders with `{seq}` = i + 1, `{conn}` = `{room}` = i, and
//! the captures of earlier setups: a single value as it is, a list's `i mod len`-th value.
//! A request fails on a transport error, a status outside 200–399, or a capture whose pointer
//! is not in the answer (or an answer that is not JSON); more failures than `max_failed` stop
//! the setup and the run, naming the request and why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::{Captures, Target, TlsOptions};
use crate::plan::PlanSetup;
use crate::proto::http::request::{encode_request, RequestSpec};
use crate::proto::http::request_template::RequestTemplate;
use crate::proto::template::{Rendered, Rng, Values};
use crate::scenario::setup_client::{Client, Failure};
use crate::stats::setup::{SetupLatency, SetupStepDoc};

/// How the setup connects.
#[derive(Clone, Debug)]
pub struct SetupOpts {
    pub tls: TlsOptions,
    /// Per request (connect, and each read or write).
    pub timeout: Duration,
}

/// Why the setup phase did not complete.
#[derive(Debug)]
pub enum SetupError {
    /// A setup that cannot be sent as written (bad URL, header or placeholder).
    Usage(String),
    /// Too many failed requests: the message names the setup, the request and why; `steps`
    /// holds what was measured up to there.
    Failed { message: String, steps: Vec<SetupStepDoc> },
}

/// Runs every setup in order. `captures` starts with what is known (nothing, usually).
pub fn run(setups: &[PlanSetup], opts: &SetupOpts, mut captures: Captures) -> Result<(Captures, Vec<SetupStepDoc>), SetupError> {
    let mut steps = Vec::new();
    for s in setups {
        match run_one(s, opts, &captures) {
            Ok((doc, values)) => {
                for (name, v) in values {
                    captures.insert(&name, v);
                }
                steps.push(doc);
            }
            Err(StepError::Usage(m)) => return Err(SetupError::Usage(format!("setup \"{}\": {m}", s.name))),
            Err(StepError::Failed(message, doc)) => {
                steps.push(*doc);
                return Err(SetupError::Failed { message, steps });
            }
        }
    }
    Ok((captures, steps))
}

enum StepError {
    Usage(String),
    Failed(String, Box<SetupStepDoc>),
}

/// Captured values by name, in the setup's order.
type Captured = Vec<(String, Vec<String>)>;

/// The request of a setup: encoded once, or its template.
enum Request {
    Fixed(Vec<u8>),
    Template(Box<RequestTemplate>),
}

fn run_one(s: &PlanSetup, opts: &SetupOpts, captures: &Captures) -> Result<(SetupStepDoc, Captured), StepError> {
    let target = crate::config::parse_target(&s.url).map_err(|e| StepError::Usage(e.to_string()))?;
    let tls = tls_for(&target, &opts.tls).map_err(StepError::Usage)?;
    let headers = parse_headers(&s.headers).map_err(StepError::Usage)?;
    let body = s.body.as_deref().unwrap_or("").as_bytes();
    let spec = RequestSpec { method: &s.method, host: &target.host_header, path: &target.path, headers: &headers, body };
    let names: Vec<&str> = captures.names().iter().map(String::as_str).collect();
    let request = match RequestTemplate::parse(&spec, &names).map_err(|e| StepError::Usage(format!("{}: {}", e.part, e.error)))? {
        Some(t) => Request::Template(Box::new(t)),
        None => Request::Fixed(encode_request(&spec)),
    };
    let short_path = target.path.clone();
    let mut client = Client::new(target, tls, opts.timeout);
    let mut doc = SetupStepDoc { name: s.name.clone(), method: s.method.clone(), url: s.url.clone(), count: s.count, ..Default::default() };
    let mut values: Vec<(String, Vec<String>)> = s.capture.iter().map(|(n, _)| (n.clone(), Vec::new())).collect();
    let mut lat = Vec::with_capacity(s.count.min(1 << 20) as usize);
    let (mut rng, mut scratch, mut buf) = (Rng::new(0x5e70_u64), Rendered::default(), Vec::new());
    let start = Instant::now();
    for i in 0..s.count {
        if let Some(rate) = s.rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let bytes = match &request {
            Request::Fixed(b) => b.as_slice(),
            Request::Template(t) => {
                let vals: Vec<&[u8]> = (0..names.len()).map(|j| captures.pick(j, i)).collect();
                buf.clear();
                t.encode(&Values { seq: i + 1, conn: i, room: i, names: &vals, ..Values::default() }, &mut rng, &mut scratch, &mut buf);
                buf.as_slice()
            }
        };
        let sent = Instant::now();
        let outcome = client.exchange(bytes, s.method == "HEAD");
        lat.push(sent.elapsed().as_nanos() as u64);
        let failure = match outcome {
            Ok((status, _)) if !(200..400).contains(&status) => {
                Some((format!("status {status}"), format!("{status} from {} {short_path}", s.method)))
            }
            Ok((_, answer)) => capture(&s.capture, &answer, &mut values).err().map(|m| (format!("capture {}", m.0), m.1)),
            Err(Failure(class)) => Some((class.clone(), format!("{class} on {} {short_path}", s.method))),
        };
        match failure {
            None => doc.ok += 1,
            Some((class, why)) => {
                doc.failed += 1;
                *doc.errors.entry(class).or_insert(0) += 1;
                if doc.failed > s.max_failed {
                    finish(&mut doc, &lat, start, &values);
                    let n = if s.count > 1 { format!(" (request {} of {})", i + 1, s.count) } else { String::new() };
                    let limit = if s.max_failed > 0 { format!("; more than max_failed = {}", s.max_failed) } else { String::new() };
                    return Err(StepError::Failed(format!("setup \"{}\": {why}{n}{limit}", s.name), Box::new(doc)));
                }
            }
        }
    }
    finish(&mut doc, &lat, start, &values);
    Ok((doc, values))
}

/// Takes each capture's value from a JSON answer; `Err((name, why))` at the first one missing.
fn capture(wanted: &[(String, String)], answer: &[u8], values: &mut [(String, Vec<String>)]) -> Result<(), (String, String)> {
    if wanted.is_empty() {
        return Ok(());
    }
    let (name, _) = &wanted[0];
    let json: serde_json::Value =
        serde_json::from_slice(answer).map_err(|e| (name.clone(), format!("capture {name}: the answer is not JSON ({e})")))?;
    let mut got = Vec::with_capacity(wanted.len());
    for (name, pointer) in wanted {
        let v = json.pointer(pointer).ok_or_else(|| (name.clone(), format!("capture {name}: {pointer} not in the answer")))?;
        got.push(match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    for ((_, list), v) in values.iter_mut().zip(got) {
        list.push(v);
    }
    Ok(())
}

fn finish(doc: &mut SetupStepDoc, lat: &[u64], start: Instant, values: &[(String, Vec<String>)]) {
    doc.duration_s = start.elapsed().as_secs_f64();
    doc.throughput_per_s = if doc.duration_s > 0.0 { (doc.ok + doc.failed) as f64 / doc.duration_s } else { 0.0 };
    let mut sorted = lat.to_vec();
    sorted.sort_unstable();
    let q = |p: f64| (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1e6);
    doc.latency_ms = SetupLatency { p50: q(0.5), p99: q(0.99), max: q(1.0) };
    doc.captured = values.iter().map(|(n, v)| (n.clone(), v.len() as u64)).collect::<BTreeMap<_, _>>();
}

/// `Name: value` lines.
fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|h| {
            let (n, v) = h.split_once(':').ok_or_else(|| format!("header '{h}': write it as 'Name: value'"))?;
            let n = n.trim();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_graphic()) || v.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("header '{h}' is not a valid header"));
            }
            Ok((n.to_string(), v.trim().to_string()))
        })
        .collect()
}

type Tls = Option<(std::sync::Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>;

fn tls_for(target: &Target, o: &TlsOptions) -> Result<Tls, String> {
    if !target.tls {
        return Ok(None);
    }
    let config = crate::net::tls::client_config(o.insecure, o.cacert.as_deref(), 0).map_err(|e| format!("--cacert: {e}"))?;
    let name = o.server_name.clone().unwrap_or_else(|| target.host.clone());
    let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|_| format!("'{name}' is not a valid TLS server name"))?;
    Ok(Some((config, name)))
}
