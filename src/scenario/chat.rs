//! Chat rooms: `stampede ws URL --rooms N`. Each connection joins room (global slot mod N) by
//! the `room` query parameter, sends timestamped messages on the open-loop schedule, and reads
//! what the room fans out to it; the fan-out latency of every delivery is measured from its
//! sender's intended send time (the first 8 payload bytes), so it is corrected for queueing in
//! the generator too. Frames are masked once per run; each send copies the template into the
//! connection's buffer and patches the 16 timestamp and sender bytes (no allocation per message).
//! Pings are answered at once and each session ends with a close frame (`ws_session`).

use std::rc::Rc;
use std::sync::Arc;

use crate::clock;
use crate::config::WsConfig;
use crate::net::{self, Backoff, ReadOutcome, Shared};
use crate::proto::ws::frame::{encode_frame, Decoder, Event, FrameHeader, Opcode, Role};
use crate::proto::ws::handshake::{encode_request, parse_answer};
use crate::scenario::ws_session::{WsWriter, CLOSE_WAIT_NS};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::{ErrorClass, ProtocolReason};

const MAX_FRAME: u64 = 1 << 20;

pub struct ChatScenario {
    cfg: WsConfig,
    rooms: u64,
    key: String,
    mask: [u8; 4],
    /// One upgrade request per room, back to back in one shared buffer.
    openings: Shared,
    /// Where room `r`'s upgrade request lies in `openings`.
    spans: Vec<std::ops::Range<usize>>,
    /// The masked message frame; the payload starts at `payload_at`.
    template: Vec<u8>,
    payload_at: usize,
}

impl ChatScenario {
    pub fn new(cfg: WsConfig, rooms: u64, nonce: [u8; 16]) -> ChatScenario {
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[2], nonce[6], nonce[10], nonce[14]];
        let sep = if cfg.target.path.contains('?') { '&' } else { '?' };
        let mut openings = Vec::new();
        let spans = (0..rooms)
            .map(|r| {
                let path = format!("{}{sep}room={r}", cfg.target.path);
                let at = openings.len();
                openings.extend_from_slice(&encode_request(&cfg.target.host_header, &path, &key, &cfg.headers, &cfg.protocols));
                at..openings.len()
            })
            .collect();
        let openings = net::shared(openings);
        let mut template = Vec::with_capacity(cfg.payload.len() + 14);
        encode_frame(&mut template, true, Opcode::Binary, Some(mask), &cfg.payload);
        let payload_at =
            FrameHeader { fin: true, opcode: Opcode::Binary, mask: Some(mask), payload_len: cfg.payload.len() as u64 }.encoded_len();
        ChatScenario { cfg, rooms, key, mask, openings, spans, template, payload_at }
    }

    async fn member(&self, ctx: &Rc<WorkerCtx>, slot: u64) {
        if !ctx.ramp(slot, self.cfg.load.connect_rate).await {
            return;
        }
        let global = slot * ctx.workers as u64 + ctx.index as u64;
        let room = (global % self.rooms) as usize;
        let mut backoff = Backoff::new(clock::now_ns() ^ global.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut buf = Vec::with_capacity(self.template.len());
        while !ctx.finished(clock::now_ns()) {
            let Some(mut stream) = net::dial(ctx.run(), &self.cfg.target, &self.cfg.load, &mut backoff).await else { return };
            let mut rbuf = Vec::with_capacity(64 * 1024);
            let timeout = self.cfg.load.connect.timeout;
            let span = &self.spans[room];
            let opening = monoio::buf::Slice::new(Arc::clone(&self.openings), span.start, span.end);
            let opened = net::open_with(ctx.run(), &mut stream, &mut rbuf, opening, timeout, |i| {
                parse_answer(i, &self.key, 16 * 1024, &self.cfg.protocols).map(|a| a.map(|a| a.head)).map_err(|_| ErrorClass::Handshake)
            })
            .await;
            match opened {
                Ok(()) => {}
                Err(None) => return,
                Err(Some(class)) => {
                    ctx.shard.borrow_mut().on_open_error(class);
                    ctx.shard.borrow_mut().on_close();
                    if !ctx.sleep_for(backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
            }
            backoff.reset();
            let (rd, wr) = stream.into_split();
            // Room messages until the run's end, then the server's close for a bounded time.
            let give_up = ctx.end_ns.map_or(u64::MAX, |e| e.saturating_add(CLOSE_WAIT_NS));
            let writer = Rc::new(WsWriter::new(wr, self.mask));
            let reader = monoio::spawn(deliveries(rd, rbuf, Rc::clone(ctx), give_up, Rc::clone(&writer)));
            while let Some(t) = ctx.claim_scheduled() {
                if t > clock::now_ns() && !ctx.sleep_until(t).await {
                    break;
                }
                buf.clear();
                buf.extend_from_slice(&self.template);
                let mut stamp = [0u8; 16];
                stamp[..8].copy_from_slice(&t.to_le_bytes());
                stamp[8..].copy_from_slice(&global.to_le_bytes());
                for (i, b) in stamp.iter().enumerate() {
                    buf[self.payload_at + i] = b ^ self.mask[i % 4];
                }
                let len = buf.len() as u64;
                let (res, b) = writer.write_own(buf).await;
                buf = b;
                if res.is_err() {
                    break;
                }
                ctx.shard.borrow_mut().on_broadcast(len);
            }
            let closed_early = !ctx.finished(clock::now_ns());
            // The session ends with our close; the reader waits for the server's.
            writer.close(1000).await;
            let _ = reader.await;
            drop(Rc::try_unwrap(writer).ok().and_then(WsWriter::into_half));
            ctx.shard.borrow_mut().on_close();
            if closed_early && !ctx.sleep_for(backoff.next_delay()).await {
                return;
            }
        }
    }
}

impl Scenario for ChatScenario {
    fn name(&self) -> &'static str {
        "ws-chat"
    }

    fn target(&self) -> String {
        self.cfg.target.url.clone()
    }

    fn spawn_connection(self: &Arc<Self>, ctx: Rc<WorkerCtx>, slot: u64) {
        let me = Arc::clone(self);
        ctx.spawn_counted(move |ctx| async move { me.member(ctx.rc(), slot).await });
    }
}

/// Reads room messages until the connection closes or `give_up`; records each delivery. A
/// server's ping is answered at once (`ws_session`).
async fn deliveries<R: monoio::io::AsyncReadRent, W: monoio::io::AsyncWriteRent>(
    mut rd: R,
    mut rbuf: Vec<u8>,
    ctx: Rc<WorkerCtx>,
    give_up: u64,
    writer: Rc<WsWriter<W>>,
) -> R {
    let mut dec = Decoder::new(Role::Client, MAX_FRAME, MAX_FRAME as usize);
    loop {
        loop {
            match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    match ev {
                        Some(Event::Message { payload, .. }) if payload.len() >= 16 => {
                            let mut ts = [0u8; 8];
                            ts.copy_from_slice(&payload[..8]);
                            ctx.shard.borrow_mut().on_delivery(clock::now_ns().saturating_sub(u64::from_le_bytes(ts)));
                        }
                        Some(Event::Close { code, .. }) => {
                            ctx.shard.borrow_mut().on_close_code(code);
                            return rd;
                        }
                        Some(Event::Ping(payload)) => {
                            let payload = payload.to_vec();
                            rbuf.drain(..n);
                            writer.pong(&payload).await;
                            // A masked pong: 2 header bytes, 4 of mask, the payload (≤ 125).
                            ctx.shard.borrow_mut().on_bytes_written(6 + payload.len() as u64);
                            continue;
                        }
                        Some(Event::Message { .. } | Event::Pong(_)) | None => {}
                    }
                    rbuf.drain(..n);
                }
                Err(_) => {
                    ctx.shard.borrow_mut().on_error(ErrorClass::Protocol(ProtocolReason::BadFrame));
                    return rd;
                }
            }
        }
        if rbuf.len() == rbuf.capacity() {
            return rd;
        }
        if !matches!(net::read_some(&mut rd, &mut rbuf, give_up, &ctx.shard).await, ReadOutcome::Data) {
            return rd;
        }
    }
}
