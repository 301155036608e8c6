//! What one server connection says: routes, pipelined responses, throttling answers.
//!
//! One task per connection; its read and write buffers are lent by the worker while it has
//! bytes to read or answer (an idle keep-alive connection holds none); every
//! complete request in the read buffer is answered into the write buffer, then one write goes
//! out (pipelining). Large bodies are written as slices of one static pattern, never built per
//! request. Routes: `/`, `/bytes/N`, `/delay/MS`, `/status/CODE`, `POST /echo`, `/chunked/N`,
//! `/eof/N` (close-delimited body), `/close`, and `/fault/KIND` (see `server::fault`); `/delay/MS`
//! also takes POST and PUT (the body is read and dropped).

use std::cell::Cell;
use std::io::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;

use super::fault::{self, Fault};
use super::limit::{Limiter, OverLimit, Refusal};
use super::{Establish, Listener, ServerConn, Shared, Worker};
use crate::clock;
use crate::net::Loan;
use crate::proto::http::request::{parse_request, Method, RequestError, RequestHead};

pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_BODY: usize = 1 << 20;
/// Largest body `/bytes/N`, `/chunked/N` and `/eof/N` will send.
pub const MAX_GENERATED: u64 = 64 << 20;
pub const MAX_DELAY_MS: u64 = 60_000;
pub(crate) const PATTERN_LEN: usize = 64 * 1024;
pub(crate) static PATTERN: [u8; PATTERN_LEN] = [b'x'; PATTERN_LEN];
const ROOT_BODY: &[u8] = b"Hello from stampede\n";

/// Accepts until the runtime is dropped. Accept errors (EMFILE...) pause briefly, never spin.
/// A worker's accept loops (TCP, Unix socket) share its rate window and fault draws.
pub(crate) async fn accept_loop<L: Listener, E: Establish<L::Conn>>(listener: L, worker: Rc<Worker>, establish: E) {
    let establish = Rc::new(establish);
    loop {
        match listener.accept_conn().await {
            Ok(stream) if worker.faults.close_at_accept() => drop(stream),
            Ok(stream) => {
                let guard = ConnGuard::new(Arc::clone(&worker.shared));
                let over = worker.shared.max_connections.is_some_and(|m| guard.count > m);
                let worker = Rc::clone(&worker);
                let establish = Rc::clone(&establish);
                let task = async move {
                    match establish.establish(stream).await {
                        Some(conn) if over => reject(conn).await,
                        Some(conn) => serve(conn, &worker).await,
                        None => {}
                    }
                    drop(guard);
                };
                monoio::spawn(task);
            }
            // Stopped: the listener was shut down (`stop_listening`); drop it.
            Err(_) if worker.shared.stop.load(Ordering::Relaxed) => return,
            Err(_) => monoio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Counts an open connection for `max_connections`; uncounts it on drop.
struct ConnGuard {
    shared: Arc<Shared>,
    count: u64,
}

impl ConnGuard {
    fn new(shared: Arc<Shared>) -> ConnGuard {
        let count = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
        ConnGuard { shared, count }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Per-worker requests-per-second window for `max_rps`.
#[derive(Default)]
pub(crate) struct RateWindow {
    second: Cell<u64>,
    used: Cell<u64>,
}

impl RateWindow {
    /// True when one more request fits this second's share.
    fn admit(&self, now_ns: u64, share: u64) -> bool {
        let sec = now_ns / 1_000_000_000;
        if self.second.get() != sec {
            self.second.set(sec);
            self.used.set(0);
        }
        let used = self.used.get();
        self.used.set(used + 1);
        used < share
    }
}

async fn reject<S: ServerConn>(mut stream: S) {
    let mut w = Vec::with_capacity(128);
    head(&mut w, 503, Some(0), true, "Retry-After: 1\r\n");
    let _ = stream.write_all(w).await;
}

/// What to do after answering the requests parsed so far.
enum Next {
    /// Read more requests.
    Read,
    /// Close after the write.
    Close,
    /// Send the buffered responses, sleep, then answer this `/delay` request.
    Delay { ms: u64, keep_alive: bool, head_only: bool },
    /// Send the buffered responses, then `n` pattern bytes (a large body).
    Stream { n: u64, then_close: bool },
    /// Send the buffered responses, then answer with this fault.
    Fault(fault::HttpFault),
    /// The 101 is buffered: after it, the connection speaks WebSocket (echo), every message
    /// meeting this fault when one is given (the `/fault/ws-*` routes).
    WsEcho(Option<fault::WsFault>),
    /// The 101 is buffered: after it, the mock recogniser (FunASR's protocol in this flavour).
    WsAsr(Option<super::asr::Flavour>),
    /// The 101 is buffered: after it, a chat member (raw room or JSON groups).
    WsChat(super::chat::Mode),
}

/// Requests of one connection in progress under `--max-concurrent`: released once their
/// answers are written, and all of them when the connection ends.
struct InProgress<'a> {
    limiter: &'a Limiter,
    n: u64,
}

impl InProgress<'_> {
    /// Keeps `keep` (at most what is held) in progress, releases the rest.
    fn release_to(&mut self, keep: u64) {
        let keep = keep.min(self.n);
        self.limiter.release(self.n - keep);
        self.n = keep;
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.limiter.release(self.n);
    }
}

/// Serves one connection. Its read and write buffers are lent by the worker while it has
/// something to read or answer; waiting for the next request it holds none (`read_lent`).
async fn serve<S: ServerConn>(mut stream: S, worker: &Worker) {
    let (shared, window, faults) = (&*worker.shared, &worker.window, &worker.faults);
    let mut rbuf = Loan::new(&worker.lender);
    let mut wbuf = Loan::new(&worker.lender);
    let mut held = InProgress { limiter: &shared.limiter, n: 0 };
    loop {
        wbuf.lend(super::LEND);
        let mut pos = 0;
        let now = clock::now_ns();
        let mut next = Next::Read;
        while matches!(next, Next::Read) {
            match parse_request(&rbuf[pos..], MAX_HEAD, MAX_BODY) {
                Ok(Some(req)) => {
                    let input = &rbuf[pos..];
                    let admitted = shared.rps_share.is_none_or(|share| window.admit(now, share));
                    let limited = if admitted && shared.limiter.active() {
                        let outcome = shared.limiter.admit(now);
                        worker.counts.count(outcome);
                        outcome.map(|permit| held.n += permit).err()
                    } else {
                        None
                    };
                    next = if !admitted {
                        throttled(&req, &mut wbuf)
                    } else if let Some(refusal) = limited {
                        refused(refusal, shared.limiter.limits.over_limit_status, &req, &mut wbuf)
                    } else if let Some(f) = faults.for_request(&input[req.path.clone()], req.ws_key.is_some()) {
                        faulty(f, &req, input, &mut wbuf)
                    } else {
                        respond(&req, input, &mut wbuf)
                    };
                    pos += req.consumed;
                }
                Ok(None) => break,
                Err(e) => {
                    bad_request(e, &mut wbuf);
                    next = Next::Close;
                }
            }
        }
        rbuf.drain(..pos);
        if !super::flush(&mut stream, &mut wbuf).await {
            return;
        }
        // Answers written: those requests are done; a delayed or streamed one is not yet.
        held.release_to(u64::from(matches!(next, Next::Delay { .. } | Next::Stream { .. })));
        wbuf.settle(); // written: the buffer goes back (a WebSocket session after this holds none)
        match next {
            Next::Read => {}
            Next::Close => return,
            // Boxed (here and below): what a connection does once, or rarely, stays out of every
            // idle connection's task (a timer inline makes it 128-aligned and kilobytes large).
            Next::Fault(f) => match Box::pin(fault::http(&mut stream, f)).await {
                fault::After::Read => continue, // answer what is buffered, then read
                fault::After::Close => return,
            },
            Next::WsEcho(f) => return Box::pin(super::ws::echo(stream, rbuf, faults, f)).await,
            Next::WsAsr(f) => return Box::pin(super::asr::session(stream, rbuf, shared, f)).await,
            Next::WsChat(mode) => {
                // A member may live long: it keeps only its own small buffers, none lent.
                let first = rbuf.to_vec();
                drop((rbuf, wbuf));
                return Box::pin(super::chat::session(stream, first, mode, shared.chat)).await;
            }
            Next::Delay { ms, keep_alive, head_only } => {
                Box::pin(monoio::time::sleep(Duration::from_millis(ms))).await;
                let body = b"delayed\n";
                wbuf.lend(super::LEND);
                head(&mut wbuf, 200, Some(body.len() as u64), !keep_alive, "");
                if !head_only {
                    wbuf.extend_from_slice(body);
                }
                if !keep_alive {
                    let _ = stream.write_all(std::mem::take(&mut *wbuf)).await;
                    return;
                }
                continue; // write it with the next batch (or right away: the loop writes first)
            }
            Next::Stream { mut n, then_close } => {
                while n > 0 {
                    let k = n.min(PATTERN_LEN as u64) as usize;
                    let (res, _) = stream.write_all(&PATTERN[..k]).await;
                    if res.is_err() {
                        return;
                    }
                    n -= k as u64;
                }
                held.release_to(0);
                if then_close {
                    return;
                }
                continue;
            }
        }
        if !super::read_lent(&mut stream, &mut rbuf, super::LEND, MAX_HEAD + MAX_BODY + super::LEND).await {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Writes a response head. `len: None` means no Content-Length (chunked or close-delimited:
/// the caller adds what it needs in `extra`).
fn head(w: &mut Vec<u8>, status: u16, len: Option<u64>, close: bool, extra: &str) {
    let _ = write!(w, "HTTP/1.1 {status} {}\r\n", reason(status));
    if let Some(n) = len {
        let _ = write!(w, "Content-Length: {n}\r\n");
    }
    if close {
        w.extend_from_slice(b"Connection: close\r\n");
    }
    w.extend_from_slice(extra.as_bytes());
    w.extend_from_slice(b"\r\n");
}

fn simple(w: &mut Vec<u8>, status: u16, body: &[u8], req: &RequestHead) -> Next {
    head(w, status, Some(body.len() as u64), !req.keep_alive, "");
    if req.method != Method::Head {
        w.extend_from_slice(body);
    }
    if req.keep_alive {
        Next::Read
    } else {
        Next::Close
    }
}

fn throttled(req: &RequestHead, w: &mut Vec<u8>) -> Next {
    head(w, 429, Some(0), !req.keep_alive, "Retry-After: 1\r\n");
    if req.keep_alive {
        Next::Read
    } else {
        Next::Close
    }
}

/// A request refused by `--max-concurrent` (429 or 503) or `--max-rate` (429).
fn refused(why: Refusal, over: OverLimit, req: &RequestHead, w: &mut Vec<u8>) -> Next {
    let status = match why {
        Refusal::Concurrent => over.status(),
        Refusal::Rate => 429,
    };
    head(w, status, Some(0), !req.keep_alive, "Retry-After: 1\r\n");
    close_after(req)
}

fn bad_request(e: RequestError, w: &mut Vec<u8>) {
    let status = match e {
        RequestError::BodyTooLarge => 413,
        RequestError::ChunkedUnsupported => 411,
        RequestError::HeadTooLarge => 431,
        RequestError::TooManyHeaders => 431,
        RequestError::BadHead | RequestError::BadContentLength => 400,
    };
    head(w, status, Some(0), true, "");
}

/// The number after a route prefix, when it is one and at most `max`.
fn number(rest: &str, max: u64) -> Option<u64> {
    rest.parse::<u64>().ok().filter(|n| *n <= max)
}

/// The request's path without its query.
fn path_of<'a>(req: &RequestHead, input: &'a [u8]) -> &'a str {
    std::str::from_utf8(&input[req.path.clone()]).unwrap_or("").split('?').next().unwrap_or("")
}

/// Writes the 101 of a WebSocket upgrade; false (and a 426 written) when it is not one.
fn upgrade(req: &RequestHead, input: &[u8], w: &mut Vec<u8>) -> bool {
    let Some(key) = req.ws_key.clone() else {
        simple(w, 426, b"WebSocket only: send an Upgrade: websocket request\n", req);
        return false;
    };
    let key = std::str::from_utf8(&input[key]).unwrap_or("");
    w.extend_from_slice(&crate::proto::ws::handshake::server_response(key));
    true
}

/// A request that meets a fault (a `/fault/KIND` route or a `--fault` draw).
fn faulty(f: Fault, req: &RequestHead, input: &[u8], w: &mut Vec<u8>) -> Next {
    match f {
        Fault::Http(k) => Next::Fault(k),
        Fault::Conn(fault::ConnFault::AcceptClose) => Next::Close, // as a route: closed unanswered
        Fault::Conn(fault::ConnFault::NoAccept) => simple(w, 400, b"no-accept is a listener fault: serve --fault no-accept\n", req),
        Fault::Ws(k) if upgrade(req, input, w) => Next::WsEcho(Some(k)),
        Fault::Ws(_) => close_after(req),
    }
}

fn close_after(req: &RequestHead) -> Next {
    if req.keep_alive {
        Next::Read
    } else {
        Next::Close
    }
}

/// Answers one request into `w`; says what the connection does next.
fn respond(req: &RequestHead, input: &[u8], w: &mut Vec<u8>) -> Next {
    let raw = std::str::from_utf8(&input[req.path.clone()]).unwrap_or("");
    let path = path_of(req, input);
    let getlike = matches!(req.method, Method::Get | Method::Head);
    let funasr = path.strip_prefix("/asr/funasr/").and_then(super::asr::Flavour::from_name);
    let chat_user = super::chat_json::user_of(path, raw);
    if path == "/ws/echo" || path == "/asr" || path == "/ws/chat" || funasr.is_some() || chat_user.is_some() {
        if !upgrade(req, input, w) {
            return close_after(req);
        }
        return match path {
            "/asr" => Next::WsAsr(None),
            _ if funasr.is_some() => Next::WsAsr(funasr),
            "/ws/chat" => Next::WsChat(super::chat::Mode::Raw { room: super::chat::room_of(raw) }),
            _ => match chat_user {
                Some(user) => Next::WsChat(super::chat::Mode::Json { user }),
                None => Next::WsEcho(None),
            },
        };
    }
    let head_only = req.method == Method::Head;
    if path == "/echo" {
        return match req.method {
            Method::Post | Method::Put => simple(w, 200, &input[req.body.clone()], req),
            Method::Get | Method::Head | Method::Delete | Method::Other => method_not_allowed(w, req, "POST, PUT"),
        };
    }
    // A body may go to /delay/MS (a slow daemon taking uploads: the throttle preset's payloads).
    let upload = matches!(req.method, Method::Post | Method::Put) && path.starts_with("/delay/");
    if !getlike && !upload {
        return method_not_allowed(w, req, "GET, HEAD");
    }
    if path == "/" {
        return simple(w, 200, ROOT_BODY, req);
    }
    if path == "/close" {
        head(w, 200, Some(4), true, "");
        if !head_only {
            w.extend_from_slice(b"bye\n");
        }
        return Next::Close;
    }
    if let Some(rest) = path.strip_prefix("/bytes/") {
        let Some(n) = number(rest, MAX_GENERATED) else {
            return simple(w, 400, b"bytes: give 0..=67108864\n", req);
        };
        head(w, 200, Some(n), !req.keep_alive, "");
        if head_only {
            return if req.keep_alive { Next::Read } else { Next::Close };
        }
        if n as usize <= PATTERN_LEN {
            w.extend_from_slice(&PATTERN[..n as usize]);
            return if req.keep_alive { Next::Read } else { Next::Close };
        }
        return Next::Stream { n, then_close: !req.keep_alive };
    }
    if let Some(rest) = path.strip_prefix("/delay/") {
        let Some(ms) = number(rest, MAX_DELAY_MS) else {
            return simple(w, 400, b"delay: give 0..=60000 ms\n", req);
        };
        return Next::Delay { ms, keep_alive: req.keep_alive, head_only };
    }
    if let Some(rest) = path.strip_prefix("/status/") {
        return match number(rest, 599).filter(|c| *c >= 200) {
            Some(code) => simple(w, code as u16, b"", req),
            None => simple(w, 400, b"status: give 200..=599\n", req),
        };
    }
    if let Some(rest) = path.strip_prefix("/chunked/") {
        let Some(n) = number(rest, MAX_GENERATED) else {
            return simple(w, 400, b"chunked: give 0..=67108864\n", req);
        };
        head(w, 200, None, !req.keep_alive, "Transfer-Encoding: chunked\r\n");
        if !head_only {
            let mut left = n as usize;
            while left > 0 {
                let k = left.min(4096);
                let _ = write!(w, "{k:x}\r\n");
                w.extend_from_slice(&PATTERN[..k]);
                w.extend_from_slice(b"\r\n");
                left -= k;
            }
            w.extend_from_slice(b"0\r\n\r\n");
        }
        return if req.keep_alive { Next::Read } else { Next::Close };
    }
    if let Some(rest) = path.strip_prefix("/eof/") {
        let Some(n) = number(rest, MAX_GENERATED) else {
            return simple(w, 400, b"eof: give 0..=67108864\n", req);
        };
        head(w, 200, None, true, "");
        if head_only {
            return Next::Close;
        }
        return Next::Stream { n, then_close: true };
    }
    simple(w, 404, b"not found; routes: /, /bytes/N, /delay/MS, /status/CODE, POST /echo, /chunked/N, /eof/N, /close, /fault/KIND\n", req)
}

fn method_not_allowed(w: &mut Vec<u8>, req: &RequestHead, allow: &str) -> Next {
    head(w, 405, Some(0), !req.keep_alive, &format!("Allow: {allow}\r\n"));
    if req.keep_alive {
        Next::Read
    } else {
        Next::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(raw: &[u8]) -> (String, bool) {
        let req = parse_request(raw, MAX_HEAD, MAX_BODY).unwrap().unwrap();
        let mut w = Vec::new();
        let next = respond(&req, raw, &mut w);
        (String::from_utf8_lossy(&w).into_owned(), matches!(next, Next::Read))
    }

    #[test]
    fn routes_answer_with_the_right_status_and_framing() {
        let (r, keep) = answer(b"GET / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nHello from stampede"), "{r}");
        assert!(keep);
        let (r, _) = answer(b"HEAD /bytes/10 HTTP/1.1\r\n\r\n");
        assert!(r.ends_with("Content-Length: 10\r\n\r\n"), "{r}");
        let (r, _) = answer(b"GET /bytes/3 HTTP/1.1\r\n\r\n");
        assert!(r.ends_with("\r\n\r\nxxx"), "{r}");
        let (r, _) = answer(b"GET /status/418 HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 418 "), "{r}");
        let (r, _) = answer(b"GET /status/99 HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        let (r, _) = answer(b"POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nping");
        assert!(r.ends_with("Content-Length: 4\r\n\r\nping"), "{r}");
        let (r, _) = answer(b"GET /echo HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: POST"), "{r}");
        let (r, _) = answer(b"GET /chunked/5000 HTTP/1.1\r\n\r\n");
        assert!(
            r.contains("Transfer-Encoding: chunked\r\n\r\n1000\r\n") && r.contains("\r\n388\r\n") && r.ends_with("\r\n0\r\n\r\n"),
            "{r}"
        );
        let (r, keep) = answer(b"GET /close HTTP/1.1\r\n\r\n");
        assert!(r.contains("Connection: close") && !keep, "{r}");
        let (r, keep) = answer(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(r.contains("Connection: close") && !keep, "{r}");
        let (r, _) = answer(b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let (r, _) = answer(b"GET /?q=1 HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    }

    #[test]
    fn rate_window_admits_its_share_per_second() {
        let w = RateWindow { second: Cell::new(0), used: Cell::new(0) };
        let admitted = (0..10).filter(|_| w.admit(5_000_000_000, 3)).count();
        assert_eq!(admitted, 3);
        assert!(w.admit(6_000_000_000, 3), "a new second starts a new window");
    }
}
