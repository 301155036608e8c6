//! Servers that misbehave on purpose, written here apart from the project's own server and
//! parser (plain `std::net`, one thread per connection), each counting what it really did so
//! that a test can hold stampede's report to the server's own numbers.
//!
//! Every server reads requests by their head only (`\r\n\r\n`; the tests send no bodies),
//! answers according to its [`Behaviour`], and stops by itself after [`LIFETIME`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a hostile server lives at most: it stops by itself.
const LIFETIME: Duration = Duration::from_secs(60);

/// What the server does with each request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Two complete responses per request: `200` then one with this status.
    TwoAnswers { second: u16 },
    /// A `200` with this many `Set-Cookie` header fields.
    ManyHeaders { fields: usize },
    /// A `200` with a chunked body whose chunk sizes carry `zeros` leading zeros.
    LeadingZeroChunks { zeros: usize },
    /// `101 Switching Protocols` to a plain GET, then nothing.
    Upgrade101,
    /// A `200` to each request, then `pushes` unsolicited responses after `after` of silence.
    PushAfterIdle { after: Duration, pushes: u32 },
    /// A plain `200`; the heads received are kept (see [`Hostile::heads`]).
    Record,
    /// Accept, read, answer nothing and keep the connection open (a handshake that never ends).
    Silent,
    /// `400 Bad Request` to every request (a refused WebSocket upgrade), then close.
    Refuse,
    /// A WebSocket server (tungstenite): answers each ping with its pong and pushes one text
    /// message after it. Counts pings as requests and pushes as responses.
    WsPushOnPing,
    /// A WebSocket echo server (tungstenite) that pushes one text message after each spell of
    /// `after` without a message. Counts messages as requests and pushes as responses.
    WsPushWhileIdle { after: Duration },
}

/// A running hostile server and its own counts.
pub struct Hostile {
    pub addr: SocketAddr,
    /// Requests read (complete heads).
    requests: Arc<AtomicU64>,
    /// Complete responses written, extra ones included.
    responses: Arc<AtomicU64>,
    /// Bytes of requests read.
    bytes_in: Arc<AtomicU64>,
    /// Connections accepted.
    accepted: Arc<AtomicU64>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn responses(&self) -> u64 {
        self.responses.load(Ordering::SeqCst)
    }
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::SeqCst)
    }
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
    /// The request heads received, in order (only with [`Behaviour::Record`]).
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Starts a hostile server on 127.0.0.1:0.
pub fn start(behaviour: Behaviour) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let h = Hostile {
        addr,
        requests: Arc::default(),
        responses: Arc::default(),
        bytes_in: Arc::default(),
        accepted: Arc::default(),
        heads: Arc::default(),
    };
    let shared =
        Counts { requests: h.requests.clone(), responses: h.responses.clone(), bytes_in: h.bytes_in.clone(), heads: h.heads.clone() };
    let accepted = h.accepted.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + LIFETIME;
        while Instant::now() < end {
            match listener.accept() {
                Ok((s, _)) => {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (b, c) = (behaviour.clone(), shared.clone());
                    std::thread::spawn(move || serve(s, b, c, end));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    h
}

#[derive(Clone)]
struct Counts {
    requests: Arc<AtomicU64>,
    responses: Arc<AtomicU64>,
    bytes_in: Arc<AtomicU64>,
    heads: Arc<Mutex<Vec<String>>>,
}

fn response(status: u16, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// What to write for one request.
fn answer(b: &Behaviour) -> (Vec<u8>, u64) {
    match b {
        Behaviour::TwoAnswers { second } => {
            let mut out = response(200, "first");
            out.extend_from_slice(&response(*second, "extra"));
            (out, 2)
        }
        Behaviour::ManyHeaders { fields } => {
            let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..*fields {
                out.extend_from_slice(format!("Set-Cookie: c{i}=v{i}; Path=/\r\n").as_bytes());
            }
            out.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
            (out, 1)
        }
        Behaviour::LeadingZeroChunks { zeros } => {
            let z = "0".repeat(*zeros);
            let out = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{z}5\r\nhello\r\n{z}0\r\n\r\n");
            (out.into_bytes(), 1)
        }
        Behaviour::Upgrade101 => (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(), 1),
        Behaviour::PushAfterIdle { .. } | Behaviour::Record => (response(200, "ok"), 1),
        Behaviour::Silent => (Vec::new(), 0),
        Behaviour::WsPushOnPing | Behaviour::WsPushWhileIdle { .. } => (Vec::new(), 0),
        Behaviour::Refuse => (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(), 1),
    }
}

fn serve(mut s: TcpStream, b: Behaviour, c: Counts, end: Instant) {
    // Accepted sockets inherit O_NONBLOCK from the listener on some systems: reads here block
    // (with a timeout), they must not spin.
    let _ = s.set_nonblocking(false);
    match b {
        Behaviour::WsPushOnPing => return push_on_ping(s, c, end),
        Behaviour::WsPushWhileIdle { after } => return push_while_idle(s, c, end, after),
        _ => {}
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut pushes_left = match b {
        Behaviour::PushAfterIdle { pushes, .. } => pushes,
        _ => 0,
    };
    let mut last_answer: Option<Instant> = None;
    while Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                c.bytes_in.fetch_add(n as u64, Ordering::SeqCst);
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        while let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..at + 4).collect();
            c.requests.fetch_add(1, Ordering::SeqCst);
            if matches!(b, Behaviour::Record) {
                c.heads.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
            }
            let (bytes, count) = answer(&b);
            if !bytes.is_empty() {
                if s.write_all(&bytes).is_err() {
                    return;
                }
                c.responses.fetch_add(count, Ordering::SeqCst);
            }
            if matches!(b, Behaviour::Refuse) {
                return; // Connection: close
            }
            last_answer = Some(Instant::now());
        }
        if let (Behaviour::PushAfterIdle { after, .. }, Some(t)) = (&b, last_answer) {
            if pushes_left > 0 && buf.is_empty() && t.elapsed() >= *after {
                if s.write_all(&response(200, "pushed")).is_err() {
                    return;
                }
                c.responses.fetch_add(1, Ordering::SeqCst);
                pushes_left -= 1;
                last_answer = Some(Instant::now());
            }
        }
    }
}

/// [`Behaviour::WsPushOnPing`]: tungstenite answers each ping (its pong goes out with the next
/// write), then one text message nobody asked for.
fn push_on_ping(s: TcpStream, c: Counts, end: Instant) {
    use tungstenite::Message;
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = s.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(s) else { return };
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Ping(_)) => {
                c.requests.fetch_add(1, Ordering::SeqCst);
                if ws.send(Message::Text("pushed".into())).is_err() {
                    return;
                }
                c.responses.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// [`Behaviour::WsPushWhileIdle`]: echoes, and once per idle spell of `after` pushes a message.
fn push_while_idle(s: TcpStream, c: Counts, end: Instant, after: Duration) {
    use tungstenite::Message;
    let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = s.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(s) else { return };
    let (mut last, mut pushed) = (Instant::now(), true);
    while Instant::now() < end {
        match ws.read() {
            Ok(msg) if msg.is_text() || msg.is_binary() => {
                c.requests.fetch_add(1, Ordering::SeqCst);
                if ws.send(msg).is_err() {
                    return;
                }
                (last, pushed) = (Instant::now(), false);
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        if !pushed && last.elapsed() >= after {
            if ws.send(Message::Text("pushed".into())).is_err() {
                return;
            }
            c.responses.fetch_add(1, Ordering::SeqCst);
            pushed = true;
        }
    }
}
