//! The `[[setup]]` phase's HTTP/1.1 client: blocking std TCP (TLS through rustls's blocking
//! stream), one keep-alive connection reused while the server keeps it open, on the calling
//! thread. Not the hot path: simple and strict. Requests come encoded; answers are framed by
//! `proto::http::response` and their bodies handed back whole (chunked ones decoded).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Target;
use crate::proto::http::response::{Eof, Limits, Progress, ResponseParser};

/// Largest answer the setup reads (head and body).
const MAX_ANSWER: usize = 16 << 20;

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf),
            Stream::Tls(s) => s.write_all(buf).and_then(|()| s.flush()),
        }
    }
}

/// A failed exchange, as the setup's error class says it (`refused`, `timeout`, `reset`,
/// `bad answer`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// One server's client: the target, its TLS set-up and the open connection, if any.
pub struct Client {
    target: Target,
    tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    timeout: Duration,
    conn: Option<Stream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(
        target: Target,
        tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
        timeout: Duration,
    ) -> Client {
        Client { target, tls, timeout, conn: None, buf: Vec::new() }
    }

    /// Sends `request` and reads its answer: `(status, body)`. A reused connection the server
    /// closed meanwhile is reopened once.
    pub fn exchange(&mut self, request: &[u8], head_request: bool) -> Result<(u16, Vec<u8>), Failure> {
        let reused = self.conn.is_some();
        match self.try_exchange(request, head_request) {
            Err(Failure(why)) if reused && why == "closed" => {
                self.conn = None;
                self.try_exchange(request, head_request)
            }
            other => other,
        }
    }

    fn connect(&self) -> Result<Stream, Failure> {
        let tcp = TcpStream::connect_timeout(&self.target.addr, self.timeout).map_err(|e| Failure(io_class(&e)))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .map_err(|e| Failure(io_class(&e)))?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some((config, name)) => {
                let c = rustls::ClientConnection::new(Arc::clone(config), name.clone()).map_err(|e| Failure(format!("tls: {e}")))?;
                Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(c, tcp))))
            }
        }
    }

    fn try_exchange(&mut self, request: &[u8], head_request: bool) -> Result<(u16, Vec<u8>), Failure> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        conn.write_all(request)
            .map_err(|e| Failure(if e.kind() == std::io::ErrorKind::BrokenPipe { "closed".into() } else { io_class(&e) }))?;
        let mut parser = ResponseParser::new(Limits { max_head_bytes: 64 << 10, max_headers: 256 });
        self.buf.clear();
        let mut pos = 0;
        let mut chunk = [0u8; 16 << 10];
        loop {
            match parser.feed(&self.buf[pos..], head_request) {
                Ok(Progress::Complete { consumed, response }) => {
                    let end = pos + consumed;
                    let body = body_of(&self.buf[response.head_len..end], response.body_len);
                    if response.keep_alive && end == self.buf.len() {
                        self.conn = Some(conn);
                    }
                    return Ok((response.status, body));
                }
                Ok(Progress::Partial { consumed }) => pos += consumed,
                Err(e) => return Err(Failure(format!("bad answer ({e:?})"))),
            }
            if self.buf.len() > MAX_ANSWER {
                return Err(Failure("answer larger than 16 MiB".into()));
            }
            let n = conn.read(&mut chunk).map_err(|e| Failure(io_class(&e)))?;
            if n == 0 {
                return match parser.eof() {
                    Eof::Complete(r) => Ok((r.status, body_of(&self.buf[r.head_len..], r.body_len))),
                    Eof::Idle if self.buf.is_empty() => Err(Failure("closed".into())),
                    Eof::Idle | Eof::Truncated => Err(Failure("truncated answer".into())),
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The body from its bytes on the wire: as they are, or chunks decoded when their count differs
/// from the decoded length the parser found.
fn body_of(raw: &[u8], body_len: u64) -> Vec<u8> {
    if raw.len() as u64 == body_len {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(body_len as usize);
    let mut rest = raw;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = std::str::from_utf8(&rest[..eol]).unwrap_or("0");
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let data = &rest[eol + 2..];
        out.extend_from_slice(&data[..size.min(data.len())]);
        rest = &data[(size + 2).min(data.len())..];
    }
    out
}

fn io_class(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "refused".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout".into(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "reset".into(),
        _ => format!("io: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_bodies_are_decoded_and_plain_ones_kept() {
        assert_eq!(super::body_of(b"{\"a\":1}", 7), b"{\"a\":1}");
        assert_eq!(super::body_of(b"3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n", 7), b"{\"a\":1}");
    }
}
