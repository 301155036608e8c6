//! The embedded server's chat rooms at `/ws/chat?room=NAME`: every message a member sends is
//! broadcast to every member of its room (the sender included), as chat servers do.
//!
//! Rooms live per worker thread (thread-per-core: no locks); run `stampede serve -t 1` for rooms
//! that span every connection. Each member has an outbox its writer task drains, so a slow
//! member never blocks the broadcast.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use monoio::io::AsyncWriteRentExt;

use super::ServerConn;
use crate::proto::ws::frame::{close_payload, encode_frame, Decoder, Event, Opcode, Role};

const MAX_FRAME: u64 = 1 << 20;

struct Member {
    out: RefCell<Vec<u8>>,
    waker: Cell<Option<Waker>>,
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
        if let Some(w) = self.waker.take() {
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

thread_local! {
    static ROOMS: RefCell<HashMap<String, Vec<Rc<Member>>>> = RefCell::new(HashMap::new());
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

pub(crate) async fn session<S: ServerConn>(stream: S, mut rbuf: Vec<u8>, room: String) {
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
    let me = Rc::new(Member { out: RefCell::new(Vec::with_capacity(4096)), waker: Cell::new(None), open: Cell::new(true) });
    ROOMS.with(|r| r.borrow_mut().entry(room.clone()).or_default().push(Rc::clone(&me)));
    let writer = {
        let me = Rc::clone(&me);
        monoio::spawn(async move {
            let mut spare = Vec::with_capacity(4096);
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
                    me.open.set(false);
                    return;
                }
            }
        })
    };
    let mut dec = Decoder::new(Role::Server, MAX_FRAME, MAX_FRAME as usize);
    let mut frame = Vec::with_capacity(4096);
    rbuf.reserve(4096);
    'conn: while me.open.get() {
        loop {
            match dec.decode(&rbuf) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    match ev {
                        Some(Event::Message { opcode, payload }) => {
                            frame.clear();
                            encode_frame(&mut frame, true, opcode, None, payload);
                            ROOMS.with(|r| {
                                for m in r.borrow().get(&room).into_iter().flatten().filter(|m| m.open.get()) {
                                    m.push(&frame);
                                }
                            });
                        }
                        Some(Event::Ping(p)) => {
                            frame.clear();
                            encode_frame(&mut frame, true, Opcode::Pong, None, p);
                            me.push(&frame);
                        }
                        Some(Event::Pong(_)) | None => {}
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
        let (res, b) = crate::net::read_more(&mut rd, rbuf).await;
        rbuf = b;
        if !matches!(res, Ok(n) if n > 0) {
            break;
        }
    }
    ROOMS.with(|r| {
        let mut rooms = r.borrow_mut();
        if let Some(members) = rooms.get_mut(&room) {
            members.retain(|m| !Rc::ptr_eq(m, &me));
            if members.is_empty() {
                rooms.remove(&room);
            }
        }
    });
    me.close();
    let _ = writer.await;
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
