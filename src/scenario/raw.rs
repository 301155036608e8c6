//! Raw request/response load: the [`Wire`] for `stampede raw`. Each connection writes a fixed
//! message (encoded once, like HTTP requests) and waits for the response, framed by
//! `proto::raw` (delimiter, length prefix or fixed size); `--expect` checks each response.
//! With `--seq` each request is rendered through the template engine instead (its own number
//! for `{seq}`, and `{conn}`, `{rand:A:B}`, `{uuid}`, `{payload:N}`), encoded into the
//! connection's buffer, and an `--expect` with `{seq}` wants each answer to carry its request's
//! number.
//!
//! A plan's stages may send their own message (`message = "..."` in a `[[stage]]`): each is
//! framed once into the run's one shared buffer (`pipeline` copies), like the run's message.
//! `--throttled-match TEXT`: an answer containing TEXT is a request the target throttled
//! (class `throttled`, checked before `--expect`).

use std::ops::Range;

use crate::config::{LoadConfig, RawConfig, Target};
use crate::net::Shared;
use crate::proto::raw::{RawDecoder, RawError};
use crate::proto::template::{Rendered, Rng, Values};
use crate::scenario::exchange::{Exchange, Fed, Wire};
use crate::scenario::WorkerCtx;
use crate::stats::{ErrorClass, ProtocolReason};

/// One connection's parser state.
pub struct RawConn {
    dec: RawDecoder,
    /// `--seq`: the number the next answer answers, and the step to the one after.
    next: u64,
    stride: u64,
    /// `--seq` with `--expect {seq}`: the expected text for the current answer.
    want: Vec<u8>,
    /// `--seq`: the connection's requests, encoded for each batch into this one buffer.
    out: Vec<u8>,
    /// `--seq`: `{conn}` (the connection's global index, unique across workers, processes and
    /// shards: [`WorkerCtx::global_conn`]), the state of `{rand}`/`{uuid}`, and the reused
    /// render buffer.
    conn: u64,
    rng: Rng,
    scratch: Rendered,
}

pub struct RawWire {
    cfg: RawConfig,
    /// `pipeline` copies of the framed message, back to back (then each stage's own message,
    /// `pipeline` copies each, for a plan whose stages send their own).
    batch: Shared,
    message_len: usize,
    /// Per plan stage: where its own message starts in `batch`, and its length.
    stages: Vec<Option<(usize, usize)>>,
}

pub type RawScenario = Exchange<RawWire>;

impl RawScenario {
    pub fn raw(cfg: RawConfig) -> RawScenario {
        Self::raw_staged(cfg, &[])
    }

    /// A plan whose stages may send their own message (framed, `None`: the run's): every
    /// message is in the one shared buffer.
    pub fn raw_staged(cfg: RawConfig, stage_messages: &[Option<Vec<u8>>]) -> RawScenario {
        let depth = cfg.load.pipeline.max(1) as usize;
        let mut batch = cfg.message.repeat(depth);
        let mut stages = Vec::with_capacity(stage_messages.len());
        for m in stage_messages {
            stages.push(m.as_ref().map(|m| {
                let start = batch.len();
                for _ in 0..depth {
                    batch.extend_from_slice(m);
                }
                (start, m.len())
            }));
        }
        let message_len = cfg.message.len();
        Exchange::new(RawWire { batch: crate::net::shared(batch), message_len, stages, cfg })
    }
}

impl Wire for RawWire {
    type Parser = RawConn;

    fn name(&self) -> &'static str {
        "raw"
    }

    fn target(&self) -> &Target {
        &self.cfg.target
    }

    fn load(&self) -> &LoadConfig {
        &self.cfg.load
    }

    fn new_parser(&self) -> RawConn {
        RawConn {
            conn: 0,
            rng: Rng::new(0),
            scratch: Rendered::default(),
            dec: RawDecoder::new(self.cfg.framing.clone(), self.cfg.max_response),
            next: 0,
            stride: 0,
            want: Vec::new(),
            out: Vec::new(),
        }
    }

    fn shared(&self) -> &Shared {
        &self.batch
    }

    fn attach(&self, p: &mut RawConn, conn: u64) {
        // Seeded per connection of the whole run: two processes draw different values.
        (p.conn, p.rng) = (conn, Rng::new(conn));
    }

    fn batch(&self, k: usize) -> Range<usize> {
        0..k * self.message_len
    }

    fn stage_batch(&self, k: usize, stage: usize) -> Range<usize> {
        match self.stages.get(stage).copied().flatten() {
            Some((start, len)) => start..start + k * len,
            None => self.batch(k),
        }
    }

    fn per_request(&self) -> bool {
        self.cfg.seq.is_some()
    }

    fn encode(&self, ctx: &WorkerCtx, p: &mut RawConn, k: usize) -> Vec<u8> {
        let mut out = std::mem::take(&mut p.out);
        out.clear();
        let Some(seq) = &self.cfg.seq else { return out };
        let first = ctx.seq.get();
        ctx.seq.set(first + k as u64);
        for n in first..first + k as u64 {
            let v = Values { seq: seq.number(n, ctx.index, ctx.workers), conn: p.conn, ..Values::default() };
            seq.message.encode(&v, &mut p.rng, &mut p.scratch, &mut out);
        }
        // The batch is answered in order, or the connection closes (and the next batch resets this).
        (p.next, p.stride) = (seq.number(first, ctx.index, ctx.workers), seq.stride(ctx.workers));
        out
    }

    fn encoded(&self, p: &mut RawConn, buf: Vec<u8>) {
        p.out = buf;
    }

    fn read_buf(&self) -> usize {
        crate::scenario::exchange::READ_BUF.max(self.cfg.max_response + 1)
    }

    fn feed(&self, p: &mut RawConn, input: &[u8], _reply: &mut Vec<u8>) -> Result<Fed, ErrorClass> {
        let n = match p.dec.feed(input) {
            Ok(None) => return Ok(Fed::Partial { consumed: 0 }),
            Ok(Some(n)) => n,
            Err(RawError::TooLong) => return Err(ErrorClass::Protocol(ProtocolReason::TooLong)),
        };
        let number = p.next;
        p.next = p.next.wrapping_add(p.stride);
        if self.cfg.throttled.as_deref().is_some_and(|t| contains(&input[..n], t)) {
            return Ok(Fed::Failed { consumed: n, class: ErrorClass::Throttled });
        }
        let want = match (self.cfg.seq.as_ref().and_then(|s| s.expect.as_ref()), &self.cfg.expect) {
            (Some(template), _) => {
                p.want.clear();
                // Only {seq} and {conn} vary in an expected text (checked by the config).
                let v = Values { seq: number, conn: p.conn, ..Values::default() };
                template.render_to(&v, &mut p.rng, &mut p.scratch, &mut p.want);
                Some(p.want.as_slice())
            }
            (None, want) => want.as_deref(),
        };
        if want.is_some_and(|want| !contains(&input[..n], want)) {
            return Ok(Fed::Failed { consumed: n, class: ErrorClass::Check });
        }
        Ok(Fed::Answer { consumed: n, status: 0, keep_alive: true })
    }

    fn eof(&self, _p: &mut RawConn) -> Option<u16> {
        None
    }

    fn reset(&self, p: &mut RawConn) {
        p.dec.reset();
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
