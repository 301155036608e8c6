//! Chat rooms: `stampede ws URL --rooms N`. Member `c` (its connection index in the run) joins
//! its rooms ([`Rooms`]: by the URL's `{conn}`/`{room}`, `--on-open` messages, or `?room=K` for
//! `stampede serve`'s raw relay), sends its messages on the open-loop schedule (rotating over its
//! rooms), and reads what the rooms fan out to it. Messages are `proto::template` templates;
//! each carries a [`Mark`] (the template's `{mark}`, or the first bytes of the default
//! payload): a received frame is a delivery only when a valid mark is found in it, and its
//! fan-out latency is measured from its sender's intended send time (corrected) and actual send
//! (service). The mark's `intended_ns` is relative to the run's start; its `seq` carries the
//! sender's message number (high 32 bits) and how late the send was, in ns (low 32 bits). Each message expects one
//! delivery per other live member of its room: members count as live from their join to their
//! close, in per-room counters shared by the workers of this process (touched per join and
//! close, read per message). The mark's `epoch` is the room's join count read with that live
//! count: receivers judge by it whether the message expected them (`chat_rooms::counted_in`).
//!
//! Pings are answered at once, `--heartbeat` sends ours, a server close before the end is an
//! error with its code, and each session ends with our close 1000 (`ws_session`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock;
use crate::config::{Captures, ChatConfig, WsConfig, MAX_NAMES};
use crate::net::{self, Backoff};
use crate::proto::template::{Kind, Mark, Rendered, Rng, Template, Values, MARK_LEN};
use crate::proto::ws::frame::{apply_mask, FrameHeader, Opcode};
use crate::proto::ws::handshake::{encode_request, parse_answer};
use crate::proto::ws::template_frame::{mask_rendered, FrameSeg, MaskedShared};
use crate::scenario::chat_read::{deliveries, join, Membership, Reading, Session};
use crate::scenario::chat_rooms::{Receiver, RoomCount, Rooms};
use crate::scenario::ws_session::{WsWriter, CLOSE_AFTER_END_NS};
use crate::scenario::{Scenario, WorkerCtx};
use crate::stats::{ErrorClass, ProtocolReason};

/// How long members keep reading after the run's end before they close: messages sent last
/// are still on their way.
const DRAIN_NS: u64 = CLOSE_AFTER_END_NS * 2 / 5;

/// What each message is made of.
enum Body {
    /// The default payload (`--size`), its first bytes replaced by the mark.
    Raw(Vec<u8>),
    /// A `--message` template, and its shared bytes masked once.
    Template(Template, MaskedShared),
}

/// How a member's connect phase ended.
enum Connected {
    In(net::Conn, Vec<u8>),
    /// Failed (counted, backed off): try again.
    Retry,
    /// The run ended.
    Stop,
}

/// A member's reused buffers for rendering its messages.
#[derive(Default)]
struct Scratch {
    rendered: Rendered,
    segs: Vec<FrameSeg>,
    rng: Option<Rng>,
    /// The framed message: its own bytes, and ranges of the pre-masked shared buffers.
    iov: net::IoVecs,
}

/// The values of the setup's captures for `room` (room k takes a list's k-th value mod its
/// length; a single value goes to every room), in capture order, without allocating.
fn room_values(caps: &Captures, room: u64) -> ([&[u8]; MAX_NAMES], usize) {
    let n = caps.names().len().min(MAX_NAMES);
    let mut names: [&[u8]; MAX_NAMES] = [&[]; MAX_NAMES];
    for (i, v) in names.iter_mut().enumerate().take(n) {
        *v = caps.pick(i, room);
    }
    (names, n)
}

/// A template's rendering as text (URL paths, on-open messages: cold path).
fn render_string(t: &Template, caps: &Captures, conn: u64, room: u64) -> Vec<u8> {
    let (names, n) = room_values(caps, room);
    let (mut r, mut out) = (Rendered::default(), Vec::with_capacity(t.max_len()));
    t.render_to(&Values { conn, room, seq: conn, names: &names[..n], ..Values::default() }, &mut Rng::new(conn), &mut r, &mut out);
    out
}

/// `t` parsed with the setup's captured names, bounded by their values' lengths.
fn parse_named(t: &str, caps: &Captures) -> Template {
    let names: Vec<&str> = caps.names().iter().map(String::as_str).collect();
    // Validated by the config: a template that fails here is sent as typed (never happens).
    let mut parsed = Template::parse(t.as_bytes(), &names).unwrap_or_else(|_| literal(t));
    for i in 0..names.len() {
        let (lo, hi) = caps.width(i);
        parsed.bound_name(i, lo, hi);
    }
    parsed
}

pub struct ChatScenario {
    cfg: WsConfig,
    chat: ChatConfig,
    rooms: Rooms,
    key: String,
    mask: [u8; 4],
    path: Template,
    /// Join by `?room=K` (the raw relay of `stampede serve`).
    room_query: bool,
    body: Body,
    marked: bool,
    on_open: Vec<Template>,
    opcode: Opcode,
    /// Each room's live members and joins in this process ([`RoomCount`]).
    live: Arc<[AtomicU64]>,
    /// Read buffer a member starts with (it grows for larger frames and shrinks back).
    read_start: usize,
}

impl ChatScenario {
    pub fn new(cfg: WsConfig, nonce: [u8; 16]) -> ChatScenario {
        let chat = cfg.chat.clone().unwrap_or_else(|| ChatConfig {
            rooms: 1,
            rooms_per_conn: 1,
            total: cfg.load.connections,
            first: 0,
            len: cfg.load.connections,
            message: None,
            text: false,
            path_template: false,
            on_open: Vec::new(),
            on_open_expect: None,
        });
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[2], nonce[6], nonce[10], nonce[14]];
        let parse = |t: &str| parse_named(t, &cfg.load.captures);
        let path = parse(&cfg.target.path);
        let room_query = !chat.path_template && chat.on_open.is_empty();
        let body = match &chat.message {
            Some(m) => {
                let t = parse(m);
                let masked = MaskedShared::new(t.shared(), mask);
                Body::Template(t, masked)
            }
            None => Body::Raw(cfg.payload.clone()),
        };
        let marked = match &body {
            Body::Raw(p) => p.len() >= MARK_LEN,
            Body::Template(t, _) => t.uses(Kind::Mark),
        };
        let on_open = chat.on_open.iter().map(|m| parse(m)).collect();
        let opcode = if chat.text { Opcode::Text } else { Opcode::Binary };
        let live: Arc<[AtomicU64]> = (0..chat.rooms).map(|_| AtomicU64::new(0)).collect();
        let longest = match &body {
            Body::Raw(p) => p.len(),
            Body::Template(t, _) => t.max_len(),
        };
        // The server's copy of a message: ours in an envelope (a few hundred bytes more).
        let read_start = (longest + 14 + 256).next_power_of_two().clamp(512, 64 * 1024);
        ChatScenario { rooms: Rooms::of(&chat), chat, cfg, key, mask, path, room_query, body, marked, on_open, opcode, live, read_start }
    }

    /// The first connection index of worker `w` in this process.
    fn worker_first(&self, w: usize) -> u64 {
        (0..w).map(|v| self.cfg.load.connections_of(v)).sum()
    }

    /// The upgrade request of member `conn` (made per connect: its path may name the member).
    fn opening(&self, conn: u64, room: u64) -> Vec<u8> {
        let path = if self.room_query {
            let sep = if self.cfg.target.path.contains('?') { '&' } else { '?' };
            format!("{}{sep}room={room}", self.cfg.target.path)
        } else {
            String::from_utf8_lossy(&render_string(&self.path, &self.cfg.load.captures, conn, room)).into_owned()
        };
        encode_request(&self.cfg.target.host_header, &path, &self.key, &self.cfg.headers, &self.cfg.protocols)
    }

    /// The on-open messages of member `conn`: each once, or once per room when it names one
    /// (`{room}`, or a captured value handed out by room: each distinct text once).
    fn on_open_frames(&self, conn: u64, my_rooms: &[u64]) -> (Vec<u8>, usize) {
        let (mut out, mut n) = (Vec::new(), 0);
        let caps = &self.cfg.load.captures;
        for t in &self.on_open {
            let per_room = t.uses(Kind::Room) || t.uses(Kind::Name);
            let rooms = if per_room { my_rooms } else { &my_rooms[..1] };
            let mut sent: Vec<Vec<u8>> = Vec::with_capacity(rooms.len());
            for room in rooms {
                let plain = render_string(t, caps, conn, *room);
                if sent.contains(&plain) {
                    continue;
                }
                crate::proto::ws::frame::encode_frame(&mut out, true, Opcode::Text, Some(self.mask), &plain);
                sent.push(plain);
                n += 1;
            }
        }
        (out, n)
    }

    /// Message `n` of member `conn` to `room`, framed and masked into `buf` (a raw body) or
    /// `sc.iov` (a template: its shared bytes not copied).
    #[allow(clippy::too_many_arguments)]
    fn message(&self, buf: &mut Vec<u8>, sc: &mut Scratch, conn: u64, (room, epoch): (u64, u32), n: u32, intended_rel: u64, now_rel: u64) {
        let late = now_rel.saturating_sub(intended_rel).min(u64::from(u32::MAX));
        let mark = Mark { sender: conn as u32, seq: (u64::from(n) << 32) | late, intended_ns: intended_rel, epoch };
        buf.clear();
        match &self.body {
            Body::Raw(p) => {
                mark.encode(buf);
                buf.extend_from_slice(&p[MARK_LEN.min(p.len())..]);
                let header = FrameHeader { fin: true, opcode: self.opcode, mask: Some(self.mask), payload_len: buf.len() as u64 };
                let mut head = Vec::with_capacity(14);
                header.encode(&mut head);
                apply_mask(buf, self.mask, 0);
                buf.splice(0..0, head);
            }
            Body::Template(t, masked) => {
                let seq = u64::from(n) * self.rooms.total + conn;
                let rng = sc.rng.get_or_insert_with(|| {
                    Rng::new(conn ^ u64::from_le_bytes([self.mask[0], self.mask[1], self.mask[2], self.mask[3], 0, 0, 0, 1]))
                });
                let (names, k) = room_values(&self.cfg.load.captures, room);
                t.render(&Values { conn, room, seq, mark, names: &names[..k] }, rng, &mut sc.rendered);
                mask_rendered(&mut sc.rendered, self.opcode, masked, &mut sc.segs);
                sc.iov.clear();
                for seg in &sc.segs {
                    match seg {
                        FrameSeg::Own(range) => sc.iov.push_own(&sc.rendered.bytes[range.clone()]),
                        FrameSeg::Masked { phase, range } => sc.iov.push_shared(masked.phase(*phase), range.clone()),
                    }
                }
            }
        }
    }

    /// The deliveries a message to `room` expects now (the other members live in it), and the
    /// room's joins seen with that count, which the message's mark carries: a member of this
    /// process classifies its copy as a delivery exactly when this count included it
    /// ([`crate::scenario::chat_rooms::counted_in`]).
    fn expected(&self, room: u64) -> (u64, u32) {
        let seen = RoomCount(self.live[room as usize].load(Ordering::SeqCst));
        (u64::from(seen.live()).saturating_sub(1) + self.rooms.remote(room), seen.joins())
    }

    /// Dials, upgrades and joins member `conn`'s rooms (failures counted, backed off).
    async fn connect(&self, ctx: &Rc<WorkerCtx>, conn: u64, my_rooms: &[u64], backoff: &mut Backoff) -> Connected {
        let timeout = self.cfg.load.connect.timeout;
        let Some(mut stream) = net::dial(ctx.run(), &self.cfg.target, &self.cfg.load, backoff).await else { return Connected::Stop };
        let mut rbuf = Vec::with_capacity(self.read_start);
        let opened = net::open_with(ctx.run(), &mut stream, &mut rbuf, self.opening(conn, my_rooms[0]), timeout, |i| {
            parse_answer(i, &self.key, 16 * 1024, &self.cfg.protocols).map(|a| a.map(|a| a.head)).map_err(|_| ErrorClass::Handshake)
        })
        .await;
        let (opened, joining) = match opened {
            Ok(()) if self.on_open.is_empty() => (Ok(()), false),
            Ok(()) => {
                let (frames, count) = self.on_open_frames(conn, my_rooms);
                let expect = self.chat.on_open_expect.as_deref();
                (join(ctx, &mut stream, &mut rbuf, frames, count, expect, self.mask, timeout).await, true)
            }
            Err(e) => (Err(e), false),
        };
        match opened {
            Ok(()) => Connected::In(stream, rbuf),
            Err(None) => Connected::Stop,
            Err(Some(class)) => {
                if joining {
                    ctx.shard.borrow_mut().on_join_error(class);
                } else {
                    ctx.shard.borrow_mut().on_open_error(class);
                }
                ctx.shard.borrow_mut().on_close();
                if ctx.sleep_for(backoff.next_delay()).await {
                    Connected::Retry
                } else {
                    Connected::Stop
                }
            }
        }
    }

    async fn member(self: Arc<Self>, ctx: &Rc<WorkerCtx>, slot: u64) {
        if !ctx.ramp(slot, self.cfg.load.connect_rate).await {
            return;
        }
        let conn = self.rooms.first + self.worker_first(ctx.index) + slot;
        let my_rooms: Vec<u64> = (0..self.rooms.per_conn).map(|j| self.rooms.room(conn, j)).collect();
        let mut backoff = Backoff::new(clock::now_ns() ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut buf = Vec::new();
        let mut sc = Scratch::default();
        let mut n: u32 = 0;
        while !ctx.finished(clock::now_ns()) {
            // Boxed: the connect phase's futures are large and gone once the member is in.
            let (stream, rbuf) = match Box::pin(self.connect(ctx, conn, &my_rooms, &mut backoff)).await {
                Connected::In(stream, rbuf) => (stream, rbuf),
                Connected::Retry => continue,
                Connected::Stop => return,
            };
            backoff.reset();
            let joined = clock::now_ns().saturating_sub(ctx.start_ns);
            let (membership, joins) = Membership::join(Arc::clone(&self.live), my_rooms.clone());
            let (rd, wr) = stream.into_split();
            let writer = Rc::new(WsWriter::new(wr, self.mask));
            let session = Rc::new(Session { gone: Cell::new(false), pong_ns: Cell::new(0) });
            let reading = Reading {
                ctx: Rc::clone(ctx),
                writer: Rc::clone(&writer),
                session: Rc::clone(&session),
                receiver: Receiver::new(conn, joined, joins),
                rooms: self.rooms.clone(),
                timeout_ns: self.cfg.load.timeout.as_nanos() as u64,
                read_start: self.read_start,
                membership,
            };
            // Until the server's close, or a bounded time after the run's end.
            let give_up = ctx.end_ns.map_or(u64::MAX, |e| e.saturating_add(CLOSE_AFTER_END_NS));
            let reader = monoio::spawn(deliveries(rd, rbuf, reading, give_up));
            self.send_loop(ctx, &writer, &session, (&mut buf, &mut sc), conn, &my_rooms, &mut n).await;
            let ended = ctx.finished(clock::now_ns());
            if ended && !session.gone.get() {
                // The messages sent last are still on their way: read them before closing.
                let drain = ctx.end_ns.map_or(DRAIN_NS, |e| e.saturating_add(DRAIN_NS).saturating_sub(clock::now_ns()));
                Box::pin(monoio::time::sleep(std::time::Duration::from_nanos(drain))).await;
            }
            // The session ends with our close; the reader waits for the server's.
            Box::pin(writer.close(1000)).await;
            let _ = reader.await;
            drop(Rc::try_unwrap(writer).ok().and_then(WsWriter::into_half));
            ctx.shard.borrow_mut().on_close();
            if !ended && !Box::pin(ctx.sleep_for(backoff.next_delay())).await {
                return;
            }
        }
    }

    /// Sends the member's messages on the schedule (and its heartbeat pings) until the run
    /// ends or the session is gone.
    #[allow(clippy::too_many_arguments)]
    async fn send_loop<W: monoio::io::AsyncWriteRent>(
        &self,
        ctx: &Rc<WorkerCtx>,
        writer: &WsWriter<W>,
        session: &Session,
        (buf, sc): (&mut Vec<u8>, &mut Scratch),
        conn: u64,
        my_rooms: &[u64],
        n: &mut u32,
    ) {
        let hb = self.cfg.heartbeat;
        let mut next_ping = hb.map(|h| clock::now_ns().saturating_add(h.every.as_nanos() as u64));
        // The ping waiting for its pong: its deadline.
        let mut pong_due: Option<(u64, u64)> = None;
        while let Some(t) = ctx.claim_scheduled() {
            loop {
                if session.gone.get() {
                    return;
                }
                let wake = [Some(t), next_ping, pong_due.map(|p| p.1)].into_iter().flatten().min().unwrap_or(t);
                if wake > clock::now_ns() && !ctx.sleep_until(wake).await {
                    return;
                }
                let now = clock::now_ns();
                if let Some((sent, due)) = pong_due {
                    if session.pong_ns.get() >= sent {
                        pong_due = None;
                    } else if now >= due {
                        ctx.shard.borrow_mut().on_error(ErrorClass::Protocol(ProtocolReason::NoPong));
                        session.gone.set(true);
                        return;
                    }
                }
                if let (Some(p), Some(h)) = (next_ping, hb) {
                    if now >= p {
                        Box::pin(writer.ping(b"stampede")).await;
                        ctx.shard.borrow_mut().on_bytes_written(6 + 8);
                        if pong_due.is_none() {
                            pong_due = Some((now, now.saturating_add(h.pong_timeout.as_nanos() as u64)));
                        }
                        next_ping = Some(p.saturating_add(h.every.as_nanos() as u64).max(now));
                    }
                }
                if clock::now_ns() >= t {
                    break;
                }
            }
            let room = my_rooms[(*n as usize) % my_rooms.len()];
            let (expected, epoch) = self.expected(room);
            let now = clock::now_ns();
            self.message(buf, sc, conn, (room, epoch), *n, t.saturating_sub(ctx.start_ns), now.saturating_sub(ctx.start_ns));
            *n = n.wrapping_add(1);
            // Boxed: the write's future lives only while a message goes out, not in every
            // idle member.
            let (len, res) = match &self.body {
                Body::Raw(_) => {
                    let (res, b) = Box::pin(writer.write_own(std::mem::take(buf))).await;
                    *buf = b;
                    (buf.len() as u64, res)
                }
                Body::Template(..) => {
                    let (res, iov) = Box::pin(writer.write_iov(std::mem::take(&mut sc.iov))).await;
                    sc.iov = iov;
                    (sc.iov.len() as u64, res)
                }
            };
            if res.is_err() {
                return;
            }
            if self.marked {
                ctx.shard.borrow_mut().on_marked_broadcast(len, expected);
            } else {
                ctx.shard.borrow_mut().on_broadcast(len);
            }
        }
    }
}

/// `t` as a template with no placeholder.
fn literal(t: &str) -> Template {
    let escaped = t.replace('{', "{{");
    Template::parse(escaped.as_bytes(), &[]).unwrap_or_else(|_| literal(""))
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
