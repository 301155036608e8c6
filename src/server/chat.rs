//! The embedded server's chat: raw rooms at `/ws/chat?room=NAME`, where every message a member
//! sends is broadcast as-is to every member of its room (the sender included), and the JSON
//! group chat of chat_json.rs at `/ws/u{N}` and `/ws/chat/json` (join, envelope, errors).
//!
//! Rooms and groups live per worker thread (thread-per-core: no locks); run `stampede serve -t 1`
//! for rooms that span every connection. Each member has an outbox its writer task drains, so a
//! slow member never blocks the broadcast. With `serve --ws-ping-interval` every member is
//! pinged; one whose pong is `--ws-ping-timeout` late is closed with 1011 (keepalive ping
//! timeout), as Python `websockets` does.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;

use super::chat_json::{self, Ask};
use super::ServerConn;
use crate::proto::ws::frame::{close_payload, encode_frame, Decoder, Event, Opcode, Role};

const MAX_FRAME: u64 = 1 << 20;

/// `stampede serve`'s chat settings (both kinds of chat).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChatSettings {
    /// Ping every member this often (`None`: never).
    pub ping_interval: Option<Duration>,
    /// A pong later than this after its ping closes the member with 1011.
    pub ping_timeout: Duration,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings { ping_interval: None, ping_timeout: Duration::from_secs(20) }
    }
}

/// What a member speaks.
pub(crate) enum Mode {
    /// Raw relay in this room.
    Raw { room: String },
    /// JSON group chat as this user.
    Json { user: String },
}

struct Member {
    out: RefCell<Vec<u8>>,
    waker: Cell<Option<Waker>>,
    /// The reader's waker while it waits for bytes (woken when the member is closed).
    reader: Cell<Option<Waker>>,
    /// The pinger's waker while it waits for a pong.
    ponged: Cell<Option<Waker>>,
    pongs: Cell<u64>,
    open: Cell<bool>,
}

impl Member {
    fn push(&self, frame: &[u8]) {
        self.out.borrow_mut().extend_from_slice(frame);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn close(&self) {
        self.open.set(false);
        for w in [self.waker.take(), self.reader.take(), self.ponged.take()].into_iter().flatten() {
            w.wake();
        }
    }
}

/// Resolves when the member has bytes to send or is closed.
struct Ready<'a>(&'a Member);

impl Future for Ready<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.0.out.borrow().is_empty() || !self.0.open.get() {
            return Poll::Ready(());
        }
        self.0.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Resolves when the member is closed (by its writer or its keepalive).
struct Closed<'a>(&'a Member);

impl Future for Closed<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.0.open.get() {
            return Poll::Ready(());
        }
        self.0.reader.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Resolves when more than `.1` pongs have come (or the member is closed).
struct Ponged<'a>(&'a Member, u64);

impl Future for Ponged<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.pongs.get() > self.1 || !self.0.open.get() {
            return Poll::Ready(());
        }
        self.0.ponged.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Raw rooms (`false`) and JSON groups (`true`) by name: separate name spaces.
type Key = (bool, String);

thread_local! {
    static ROOMS: RefCell<HashMap<Key, Vec<Rc<Member>>>> = RefCell::new(HashMap::new());
}

/// The room named by the `room` query parameter (`"default"` without one).
pub(crate) fn room_of(path_and_query: &str) -> String {
    path_and_query
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("room=")))
        .filter(|r| !r.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// Adds `me` to `key` (once); the members there now.
fn join(key: &Key, me: &Rc<Member>) -> usize {
    ROOMS.with(|r| {
        let mut rooms = r.borrow_mut();
        let members = rooms.entry(key.clone()).or_default();
        if !members.iter().any(|m| Rc::ptr_eq(m, me)) {
            members.push(Rc::clone(me));
        }
        members.len()
    })
}

/// Removes `me` from `key`; the members left there.
fn leave(key: &Key, me: &Rc<Member>) -> usize {
    ROOMS.with(|r| {
        let mut rooms = r.borrow_mut();
        let Some(members) = rooms.get_mut(key) else { return 0 };
        members.retain(|m| !Rc::ptr_eq(m, me));
        let left = members.len();
        if left == 0 {
            rooms.remove(key);
        }
        left
    })
}

/// Pushes `frame` to every open member of `key`.
fn broadcast(key: &Key, frame: &[u8]) {
    ROOMS.with(|r| {
        for m in r.borrow().get(key).into_iter().flatten().filter(|m| m.open.get()) {
            m.push(frame);
        }
    });
}

fn text(frame: &mut Vec<u8>, body: &str) {
    frame.clear();
    encode_frame(frame, true, Opcode::Text, None, body.as_bytes());
}

/// Pings `me` every `interval`; a pong later than `timeout` closes it with 1011.
async fn keepalive(me: Rc<Member>, interval: Duration, timeout: Duration) {
    let mut ping = Vec::new();
    encode_frame(&mut ping, true, Opcode::Ping, None, b"stampede");
    loop {
        monoio::time::sleep(interval).await;
        if !me.open.get() {
            return;
        }
        let before = me.pongs.get();
        me.push(&ping);
        if monoio::time::timeout(timeout, Ponged(&me, before)).await.is_err() && me.open.get() {
            let mut frame = Vec::new();
            encode_frame(&mut frame, true, Opcode::Close, None, &close_payload(1011, "keepalive ping timeout"));
            me.push(&frame);
            me.close();
            return;
        }
    }
}

pub(crate) async fn session<S: ServerConn>(stream: S, mut rbuf: Vec<u8>, mode: Mode, settings: ChatSettings) {
    let (mut rd, mut wr) = match stream.split() {
        Ok(halves) => halves,
        Err(mut stream) => {
            // A member reads and is written to at once: a transport without halves cannot chat.
            let mut frame = Vec::new();
            encode_frame(&mut frame, true, Opcode::Close, None, &close_payload(1011, "chat needs a splittable transport"));
            let _ = stream.write_all(frame).await;
            return;
        }
    };
    let me = Rc::new(Member {
        out: RefCell::new(Vec::new()),
        waker: Cell::new(None),
        reader: Cell::new(None),
        ponged: Cell::new(None),
        pongs: Cell::new(0),
        open: Cell::new(true),
    });
    // Raw: the one room of the query; JSON: the groups joined so far.
    let mut keys: Vec<Key> = match &mode {
        Mode::Raw { room } => vec![(false, room.clone())],
        Mode::Json { .. } => Vec::new(),
    };
    for k in &keys {
        join(k, &me);
    }
    let writer = {
        let me = Rc::clone(&me);
        monoio::spawn(async move {
            let mut spare = Vec::new();
            loop {
                Ready(&me).await;
                if me.out.borrow().is_empty() {
                    return; // closed and drained
                }
                spare.clear();
                std::mem::swap(&mut spare, &mut *me.out.borrow_mut());
                let (res, b) = wr.write_all(spare).await;
                spare = b;
                if res.is_err() {
                    me.close();
                    return;
                }
            }
        })
    };
    if let Some(interval) = settings.ping_interval {
        monoio::spawn(keepalive(Rc::clone(&me), interval, settings.ping_timeout));
    }
    let mut dec = Decoder::new(Role::Server, MAX_FRAME, MAX_FRAME as usize);
    let mut frame = Vec::with_capacity(256);
    // Members are many and mostly idle: 1 KiB to read into (it grows for larger messages).
    rbuf.shrink_to(1024);
    rbuf.reserve(1024usize.saturating_sub(rbuf.len()).max(256));
    'conn: while me.open.get() {
        loop {
            match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    match ev {
                        Some(Event::Message { opcode, payload }) => match &mode {
                            Mode::Raw { .. } => {
                                frame.clear();
                                encode_frame(&mut frame, true, opcode, None, payload);
                                broadcast(&keys[0], &frame);
                            }
                            Mode::Json { user } => on_json(&me, user, &mut keys, opcode == Opcode::Text, payload, &mut frame),
                        },
                        Some(Event::Ping(p)) => {
                            frame.clear();
                            encode_frame(&mut frame, true, Opcode::Pong, None, p);
                            me.push(&frame);
                        }
                        Some(Event::Pong(_)) => {
                            me.pongs.set(me.pongs.get() + 1);
                            if let Some(w) = me.ponged.take() {
                                w.wake();
                            }
                        }
                        None => {}
                        Some(Event::Close { code, .. }) => {
                            frame.clear();
                            encode_frame(&mut frame, true, Opcode::Close, None, &close_payload(code.unwrap_or(1000), ""));
                            me.push(&frame);
                            break 'conn;
                        }
                    }
                    rbuf.drain(..n);
                }
                Err(_) => {
                    frame.clear();
                    encode_frame(&mut frame, true, Opcode::Close, None, &close_payload(1002, ""));
                    me.push(&frame);
                    break 'conn;
                }
            }
        }
        if rbuf.len() == rbuf.capacity() {
            let grow = rbuf.capacity().min(MAX_FRAME as usize + 14);
            rbuf.reserve(grow);
        }
        // A member closed by its keepalive (or a failed write) stops reading at once.
        let read = monoio::select! {
            r = crate::net::read_more(&mut rd, rbuf) => Some(r),
            _ = Closed(&me) => None,
        };
        let Some((res, b)) = read else { break };
        rbuf = b;
        if !matches!(res, Ok(n) if n > 0) {
            break;
        }
    }
    for k in &keys {
        leave(k, &me);
    }
    me.close();
    let _ = writer.await;
}

/// One JSON chat frame from `user`: joins, leaves, relays (the envelope encoded once for the
/// whole group) or answers an error.
fn on_json(me: &Rc<Member>, user: &str, keys: &mut Vec<Key>, is_text: bool, payload: &[u8], frame: &mut Vec<u8>) {
    match chat_json::parse(is_text, payload) {
        Ask::Join(group) => {
            let key = (true, group);
            let n = join(&key, me);
            text(frame, &chat_json::joined(&key.1, n));
            if !keys.contains(&key) {
                keys.push(key);
            }
            me.push(frame);
        }
        Ask::Leave(group) => {
            let key = (true, group);
            let n = leave(&key, me);
            keys.retain(|k| *k != key);
            text(frame, &chat_json::left(&key.1, n));
            me.push(frame);
        }
        Ask::Message { group, content } => {
            let key = (true, group);
            if keys.contains(&key) {
                text(frame, &chat_json::envelope(&key.1, user, &content, chat_json::now_ms()));
                broadcast(&key, frame);
            } else {
                text(frame, &chat_json::error(&format!("not a member of {}", key.1)));
                me.push(frame);
            }
        }
        Ask::Bad(detail) => {
            text(frame, &chat_json::error(&detail));
            me.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_come_from_the_query() {
        assert_eq!(room_of("/ws/chat?room=7"), "7");
        assert_eq!(room_of("/ws/chat?x=1&room=lobby"), "lobby");
        assert_eq!(room_of("/ws/chat"), "default");
        assert_eq!(room_of("/ws/chat?room="), "default");
    }
}
