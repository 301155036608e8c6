//! HTTP/1.1 keep-alive load: the [`Wire`] for `stampede http`.
//!
//! The request is encoded once; `pipeline` copies of it sit in one [`Shared`] buffer, so every
//! write of every connection on every worker is a slice of that one buffer: no copy, no
//! reference count, no allocation per request. A request with placeholders is rendered per
//! request instead (`scenario::http_template`). Responses are framed by `proto::http::response`.

use std::ops::Range;

use crate::config::{HttpConfig, LoadConfig, Target};
use crate::net::Shared;
use crate::proto::http::response::{Eof, Limits, ParseError, Progress, ResponseParser};
use crate::scenario::checks::{judge, CheckState, Observer};
use crate::scenario::exchange::{Exchange, Fed, Wire};
use crate::scenario::http_template::{self, HttpConn};
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, Judged, ProtocolReason};

pub struct HttpWire {
    cfg: HttpConfig,
    /// `pipeline` copies of the encoded request, back to back (then each stage's own request,
    /// `pipeline` copies each, for a plan whose stages send their own).
    batch: Shared,
    limits: Limits,
    /// Per plan stage: where its own request starts in `batch`, and its length.
    stages: Vec<Option<(usize, usize)>>,
    /// Per plan stage: its own expected statuses (with the run's checks); `None`: the run's.
    stage_expect: Vec<Option<crate::config::Expect>>,
}

/// The `stampede http` scenario.
pub type HttpScenario = Exchange<HttpWire>;

impl HttpScenario {
    pub fn http(cfg: HttpConfig) -> HttpScenario {
        let depth = cfg.load.pipeline.max(1) as usize;
        let batch: Vec<u8> = cfg.request.repeat(depth);
        let limits = Limits { max_head_bytes: cfg.max_head, max_headers: cfg.max_headers };
        Exchange::new(HttpWire { batch: crate::net::shared(batch), cfg, limits, stages: Vec::new(), stage_expect: Vec::new() })
    }

    /// A plan whose stages may send their own request (encoded, `None`: the run's): every
    /// request is encoded once, into the one shared buffer.
    /// A plan whose stages send their own requests, or judge statuses their own way (a stage's
    /// `ok_status`): one entry of each per stage.
    pub fn http_staged(
        cfg: HttpConfig,
        stage_requests: &[Option<Vec<u8>>],
        stage_expect: Vec<Option<crate::config::Expect>>,
    ) -> HttpScenario {
        let depth = cfg.load.pipeline.max(1) as usize;
        let mut batch: Vec<u8> = cfg.request.repeat(depth);
        let mut stages = Vec::with_capacity(stage_requests.len());
        for r in stage_requests {
            stages.push(r.as_ref().map(|r| {
                let start = batch.len();
                for _ in 0..depth {
                    batch.extend_from_slice(r);
                }
                (start, r.len())
            }));
        }
        let limits = Limits { max_head_bytes: cfg.max_head, max_headers: cfg.max_headers };
        Exchange::new(HttpWire { batch: crate::net::shared(batch), cfg, limits, stages, stage_expect })
    }
}

impl Wire for HttpWire {
    type Parser = HttpConn;

    fn name(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> &Target {
        &self.cfg.target
    }

    fn load(&self) -> &LoadConfig {
        &self.cfg.load
    }

    fn new_parser(&self) -> HttpConn {
        let checks = (!self.cfg.expect.checks.is_empty()).then(|| CheckState::new(&self.cfg.expect));
        HttpConn::new(ResponseParser::new(self.limits), self.cfg.dynamic.is_some(), checks)
    }

    fn attach(&self, p: &mut HttpConn, conn: u64) {
        p.attach(conn);
    }

    fn per_request(&self) -> bool {
        self.cfg.dynamic.is_some()
    }

    fn encode(&self, ctx: &WorkerCtx, p: &mut HttpConn, k: usize) -> Vec<u8> {
        match &self.cfg.dynamic {
            Some(t) => http_template::encode(t, &self.cfg.load, ctx, p, k),
            None => Vec::new(),
        }
    }

    fn encoded(&self, p: &mut HttpConn, buf: Vec<u8>) {
        p.encoded(buf);
    }

    fn shared(&self) -> &Shared {
        &self.batch
    }

    fn batch(&self, k: usize) -> Range<usize> {
        0..k * self.cfg.request.len()
    }

    fn stage_batch(&self, k: usize, stage: usize) -> Range<usize> {
        match self.stages.get(stage).copied().flatten() {
            Some((start, len)) => start..start + k * len,
            None => self.batch(k),
        }
    }

    fn feed(&self, p: &mut HttpConn, input: &[u8], _reply: &mut Vec<u8>) -> Result<Fed, ErrorClass> {
        let progress = match &mut p.checks {
            None => p.resp.feed(input, self.cfg.head_request),
            Some(state) => {
                let mut obs = Observer { checks: &self.cfg.expect.checks, state };
                p.resp.feed_observed(input, self.cfg.head_request, &mut obs)
            }
        };
        match progress {
            Ok(Progress::Partial { consumed }) => Ok(Fed::Partial { consumed }),
            Ok(Progress::Complete { consumed, response }) => {
                Ok(Fed::Answer { consumed, status: response.status, keep_alive: response.keep_alive })
            }
            Err(e) => Err(ErrorClass::Protocol(reason(e))),
        }
    }

    fn read_buf(&self) -> usize {
        // The whole head must fit: the parser refuses it at its limit, never the buffer.
        crate::scenario::exchange::READ_BUF.max(self.limits.max_head_bytes + 1)
    }

    #[inline]
    fn judge<'a>(&'a self, p: &mut HttpConn, status: u16, stage: usize) -> Judged<'a> {
        let expect = self.stage_expect.get(stage).and_then(Option::as_ref).unwrap_or(&self.cfg.expect);
        judge(expect, p.checks.as_mut(), status)
    }

    fn eof(&self, p: &mut HttpConn) -> Option<u16> {
        match p.resp.eof() {
            Eof::Complete(r) => Some(r.status),
            Eof::Idle | Eof::Truncated => None,
        }
    }

    fn reset(&self, p: &mut HttpConn) {
        p.resp.reset();
        if let Some(c) = &mut p.checks {
            c.reset();
        }
    }
}

/// The reason a response parse error is counted under.
fn reason(e: ParseError) -> ProtocolReason {
    match e {
        ParseError::HeadTooLarge => ProtocolReason::HeadTooLarge,
        ParseError::TooManyHeaders => ProtocolReason::TooManyHeaders,
        ParseError::BadHead => ProtocolReason::BadStatusLine,
        ParseError::BadHeader => ProtocolReason::BadHeader,
        ParseError::BadContentLength => ProtocolReason::BadContentLength,
        ParseError::BadChunk => ProtocolReason::BadChunkSize,
        ParseError::BadChunkEnd => ProtocolReason::BadChunk,
        ParseError::Unexpected1xx => ProtocolReason::Unexpected1xx,
    }
}
