//! HTTP/1.1 keep-alive load: one task per connection, requests in batches of up to the
//! pipelining depth, responses parsed by `proto::http::response`.
//!
//! The request is encoded once; `pipeline` copies of it sit in one buffer leaked for the whole
//! process (`&'static [u8]`), so every write of every connection on every worker is a slice of
//! that one buffer: no copy, no reference count, no allocation per request. Each connection owns
//! a read buffer allocated when its task starts and reused across reconnects.
//!
//! Closed loop: a connection sends its next batch when the previous one is answered.
//! Open loop: a free connection claims the next scheduled request, sleeps until it is due (or
//! sends at once when it is late), and adds every other request already due up to the depth;
//! latency counts from each request's intended time, so waiting for a free connection shows.

use std::rc::Rc;
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::clock;
use crate::config::HttpConfig;
use crate::net::{connect, Backoff};
use crate::proto::http::response::{Eof, Limits, Progress, ResponseParser};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::ErrorClass;

/// Read buffer per connection: larger than the head limit plus a chunk-size line, so a full
/// buffer always means the parser has already refused the input.
pub const READ_BUF: usize = 24 * 1024;

pub struct HttpScenario {
    cfg: HttpConfig,
    /// `pipeline` copies of the encoded request, back to back.
    batch: &'static [u8],
    limits: Limits,
}

impl HttpScenario {
    pub fn new(cfg: HttpConfig) -> HttpScenario {
        let depth = cfg.load.pipeline.max(1) as usize;
        let batch: Vec<u8> = cfg.request.repeat(depth);
        HttpScenario {
            batch: Box::leak(batch.into_boxed_slice()),
            cfg,
            limits: Limits::default(),
        }
    }

    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }
}

impl Scenario for HttpScenario {
    fn name(&self) -> &'static str {
        "http"
    }

    fn target(&self) -> String {
        self.cfg.target.url.clone()
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        let me = Arc::clone(self);
        ctx.task_started();
        monoio::spawn(async move {
            me.connection(&ctx, slot).await;
            ctx.task_done();
        });
    }
}

/// Why a connection's request loop returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The run is over for this worker (time, budget or stop): do not reconnect.
    RunOver,
    /// The connection closed or failed; `served` responses came back on it.
    Closed { served: u64 },
}

/// Per-connection buffers, allocated once when the task starts.
struct ConnState {
    parser: ResponseParser,
    rbuf: Vec<u8>,
    intended: Vec<u64>,
}

impl HttpScenario {
    async fn connection(&self, ctx: &WorkerCtx, slot: u64) {
        let mut backoff = Backoff::new(
            clock::now_ns() ^ ((ctx.index as u64) << 48) ^ slot.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut st = ConnState {
            parser: ResponseParser::new(self.limits),
            rbuf: Vec::with_capacity(READ_BUF),
            intended: Vec::with_capacity(self.cfg.load.pipeline as usize),
        };
        let addr = self.cfg.target.addr;
        let opts = self.cfg.load.connect;
        loop {
            let t0 = clock::now_ns();
            if ctx.finished(t0) {
                return;
            }
            let source = ctx.sources.borrow_mut().next_addr();
            let stream = match connect(addr, source, &opts).await {
                Ok(s) => s,
                Err(class) => {
                    if ctx.past_end(clock::now_ns()) || ctx.stop.get() {
                        return; // the run ended while connecting: not a failure of the target
                    }
                    ctx.shard.borrow_mut().on_connect_error(class);
                    if !ctx.sleep_for(backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
            };
            ctx.shard
                .borrow_mut()
                .on_connect(clock::now_ns().saturating_sub(t0));
            let ended = self.requests(ctx, stream, &mut st).await;
            ctx.shard.borrow_mut().on_close();
            st.parser.reset();
            st.rbuf.clear();
            match ended {
                Ended::RunOver => return,
                Ended::Closed { served: 0 } => {
                    // Accepted and dropped without an answer: back off as for a refusal.
                    if !ctx.sleep_for(backoff.next_delay()).await {
                        return;
                    }
                }
                Ended::Closed { .. } => backoff.reset(),
            }
        }
    }

    /// Claims the next batch; fills `st.intended`. Returns false when the run is over.
    async fn claim_batch(&self, ctx: &WorkerCtx, st: &mut ConnState) -> bool {
        st.intended.clear();
        let depth = self.cfg.load.pipeline as u64;
        if !ctx.is_open_loop() {
            let k = ctx.claim(depth);
            st.intended.resize(k as usize, 0);
            return k > 0;
        }
        let Some(first) = ctx.claim_scheduled() else {
            return false;
        };
        if first > clock::now_ns() && !ctx.sleep_until(first).await {
            return false;
        }
        st.intended.push(first);
        let now = clock::now_ns();
        while (st.intended.len() as u64) < depth {
            match ctx.claim_due(now) {
                Some(t) => st.intended.push(t),
                None => break,
            }
        }
        true
    }

    /// Drives one established connection until it closes or the run ends.
    async fn requests(&self, ctx: &WorkerCtx, mut stream: TcpStream, st: &mut ConnState) -> Ended {
        let req_len = self.cfg.request.len();
        let head = self.cfg.head_request;
        let timeout_ns = self.cfg.load.timeout.as_nanos() as u64;
        let mut served = 0u64;
        loop {
            if ctx.finished(clock::now_ns()) || !self.claim_batch(ctx, st).await {
                return Ended::RunOver;
            }
            let k = st.intended.len();
            let bytes = &self.batch[..k * req_len];
            let (res, _) = stream.write_all(bytes).await;
            let sent_ns = clock::now_ns();
            if !ctx.is_open_loop() {
                st.intended.fill(sent_ns);
            }
            ctx.shard.borrow_mut().on_sent(k as u64, bytes.len() as u64);
            if let Err(e) = res {
                return self.fail_rest(ctx, ErrorClass::from_io(&e), k, served);
            }

            let deadline = sent_ns.saturating_add(timeout_ns);
            let read_until = ctx.end_ns.map_or(deadline, |e| e.min(deadline));
            let mut done = 0usize;
            let mut read_ns = sent_ns;
            loop {
                // Parse whatever is buffered (pipelined responses may already be here).
                let mut pos = 0;
                while done < k {
                    match st.parser.feed(&st.rbuf[pos..], head) {
                        Ok(Progress::Complete { consumed, response }) => {
                            pos += consumed;
                            ctx.shard.borrow_mut().on_response(
                                response.status,
                                st.intended[done],
                                sent_ns,
                                read_ns,
                            );
                            done += 1;
                            served += 1;
                            if !response.keep_alive {
                                return self.fail_rest(
                                    ctx,
                                    ErrorClass::ClosedEarly,
                                    k - done,
                                    served,
                                );
                            }
                        }
                        Ok(Progress::Partial { consumed }) => {
                            pos += consumed;
                            break;
                        }
                        Err(_) => {
                            return self.fail_rest(ctx, ErrorClass::Protocol, k - done, served)
                        }
                    }
                }
                st.rbuf.drain(..pos);
                if done == k {
                    break;
                }
                if st.rbuf.len() == st.rbuf.capacity() {
                    return self.fail_rest(ctx, ErrorClass::Protocol, k - done, served);
                }
                let buf = std::mem::take(&mut st.rbuf);
                let until = monoio::time::Instant::from_std(clock::instant_at(read_until));
                match monoio::time::timeout_at(until, stream.read(buf)).await {
                    Err(_elapsed) => {
                        // The read op may still own the old buffer: start a new one.
                        st.rbuf = Vec::with_capacity(READ_BUF);
                        if clock::now_ns() < deadline && ctx.past_end(clock::now_ns()) {
                            return Ended::RunOver; // still in flight when the run ended
                        }
                        return self.fail_rest(ctx, ErrorClass::RequestTimeout, k - done, served);
                    }
                    Ok((Ok(0), buf)) => {
                        st.rbuf = buf;
                        if let Eof::Complete(response) = st.parser.eof() {
                            ctx.shard.borrow_mut().on_response(
                                response.status,
                                st.intended[done],
                                sent_ns,
                                clock::now_ns(),
                            );
                            done += 1;
                            served += 1;
                        }
                        return self.fail_rest(ctx, ErrorClass::ClosedEarly, k - done, served);
                    }
                    Ok((Ok(n), buf)) => {
                        st.rbuf = buf;
                        read_ns = clock::now_ns();
                        ctx.shard.borrow_mut().on_bytes_read(n as u64);
                    }
                    Ok((Err(e), buf)) => {
                        st.rbuf = buf;
                        return self.fail_rest(ctx, ErrorClass::from_io(&e), k - done, served);
                    }
                }
            }
        }
    }

    /// Counts the `n` requests still in flight on a closing connection as failed.
    fn fail_rest(&self, ctx: &WorkerCtx, class: ErrorClass, n: usize, served: u64) -> Ended {
        if n > 0 {
            ctx.shard.borrow_mut().on_request_error(class, n as u64);
        }
        Ended::Closed { served }
    }
}
