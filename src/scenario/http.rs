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
use crate::scenario::exchange::{Exchange, Fed, Wire};
use crate::scenario::http_template::{self, HttpConn};
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, ProtocolReason};

pub struct HttpWire {
    cfg: HttpConfig,
    /// `pipeline` copies of the encoded request, back to back.
    batch: Shared,
    limits: Limits,
}

/// The `stampede http` scenario.
pub type HttpScenario = Exchange<HttpWire>;

impl HttpScenario {
    pub fn http(cfg: HttpConfig) -> HttpScenario {
        let depth = cfg.load.pipeline.max(1) as usize;
        let batch: Vec<u8> = cfg.request.repeat(depth);
        let limits = Limits { max_head_bytes: cfg.max_head, max_headers: cfg.max_headers };
        Exchange::new(HttpWire { batch: crate::net::shared(batch), cfg, limits })
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
        HttpConn::new(ResponseParser::new(self.limits), self.cfg.dynamic.is_some())
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

    fn feed(&self, p: &mut HttpConn, input: &[u8], _reply: &mut Vec<u8>) -> Result<Fed, ErrorClass> {
        match p.resp.feed(input, self.cfg.head_request) {
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

    fn eof(&self, p: &mut HttpConn) -> Option<u16> {
        match p.resp.eof() {
            Eof::Complete(r) => Some(r.status),
            Eof::Idle | Eof::Truncated => None,
        }
    }

    fn reset(&self, p: &mut HttpConn) {
        p.resp.reset();
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
