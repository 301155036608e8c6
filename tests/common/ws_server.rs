//! An independent WebSocket server for the e2e tests, built with tungstenite (blocking, one
//! thread per connection). Behaviours: plain echo, echo with a server ping before each echo,
//! close (1001) after N messages, or answer with a different payload. [`start_recording`] also
//! keeps every upgrade request's headers, and [`Behaviour::Subprotocol`] refuses (HTTP 400) an
//! upgrade that does not offer the protocol it requires, as FunASR's current Python server does.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Echo,
    PingThenEcho,
    CloseAfter(u32),
    Corrupt,
    /// Pings once after the upgrade and echoes only after the pong came back (a server that
    /// drops clients that do not answer its pings).
    RequirePong,
    /// Echo, after an upgrade that must offer `require` (else 400); the 101 names `answer`
    /// (which may be a protocol nobody offered) or no protocol at all.
    Subprotocol {
        require: &'static str,
        answer: Option<&'static str>,
    },
    /// vosk-server's message flow, counting: `{"config": {"sample_rate": R}}`, binary audio,
    /// `{"eof" : 1}` answered with `{"text" : "B bytes at R Hz"}` (B the audio bytes received),
    /// then a close (1000).
    CountAudio,
}

/// Every upgrade request's headers (lowercased names), in arrival order.
pub type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// The server stops accepting after this long: it ends by itself.
const LIFETIME: Duration = Duration::from_secs(60);

pub fn start(behaviour: Behaviour) -> SocketAddr {
    start_recording(behaviour).0
}

/// As [`start`], and the headers of every upgrade request the server saw.
pub fn start_recording(behaviour: Behaviour) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + LIFETIME;
        while Instant::now() < until {
            match listener.accept() {
                Ok((sock, _)) => {
                    let _ = sock.set_nonblocking(false);
                    let _ = sock.set_read_timeout(Some(Duration::from_secs(20)));
                    let _ = sock.set_nodelay(true);
                    let record = Arc::clone(&record);
                    std::thread::spawn(move || serve(sock, behaviour, record));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    (addr, seen)
}

type Request = tungstenite::handshake::server::Request;
type Response = tungstenite::handshake::server::Response;
type Refusal = tungstenite::handshake::server::ErrorResponse;

/// Records the request's headers; for [`Behaviour::Subprotocol`], refuses an upgrade without the
/// required protocol and names the configured one in the answer.
#[allow(clippy::result_large_err)] // the shape tungstenite's accept_hdr callback returns
fn upgrade(req: &Request, mut resp: Response, behaviour: Behaviour, seen: &Seen) -> Result<Response, Refusal> {
    let headers = req.headers().iter().map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    seen.lock().unwrap().push(headers);
    if let Behaviour::Subprotocol { require, answer } = behaviour {
        let offered = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>())
            .any(|p| p == require);
        if !offered {
            let mut refusal = Refusal::new(Some(format!("offer the {require} subprotocol")));
            *refusal.status_mut() = tungstenite::http::StatusCode::BAD_REQUEST;
            return Err(refusal);
        }
        if let Some(name) = answer {
            resp.headers_mut().insert("sec-websocket-protocol", name.parse().unwrap());
        }
    }
    Ok(resp)
}

#[allow(clippy::result_large_err)] // the accept_hdr callback (see `upgrade`)
fn serve(sock: std::net::TcpStream, behaviour: Behaviour, record: Seen) {
    let Ok(mut ws) = tungstenite::accept_hdr(sock, |req: &Request, resp| upgrade(req, resp, behaviour, &record)) else { return };
    if matches!(behaviour, Behaviour::CountAudio) {
        return count_audio(ws);
    }
    let mut seen = 0u32;
    let mut ponged = false;
    if matches!(behaviour, Behaviour::RequirePong) && ws.send(Message::Ping(b"still there?".to_vec())).is_err() {
        return;
    }
    while let Ok(msg) = ws.read() {
        if let Message::Pong(payload) = &msg {
            ponged |= payload == b"still there?";
        }
        if !(msg.is_text() || msg.is_binary()) {
            continue; // pongs, pings (answered by tungstenite), close (handled by read)
        }
        seen += 1;
        let reply = match behaviour {
            Behaviour::Echo | Behaviour::Subprotocol { .. } | Behaviour::CountAudio => msg,
            Behaviour::PingThenEcho => {
                if ws.send(Message::Ping(b"are you there".to_vec())).is_err() {
                    return;
                }
                msg
            }
            Behaviour::CloseAfter(n) if seen > n => {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "going away".into() }));
                let _ = ws.flush();
                // drain until the client answers the close
                while ws.read().is_ok() {}
                return;
            }
            Behaviour::CloseAfter(_) => msg,
            Behaviour::Corrupt => Message::Binary(b"not what you sent".to_vec()),
            Behaviour::RequirePong if !ponged => continue,
            Behaviour::RequirePong => msg,
        };
        if ws.send(reply).is_err() {
            return;
        }
    }
}

/// [`Behaviour::CountAudio`]: one session.
fn count_audio(mut ws: tungstenite::WebSocket<std::net::TcpStream>) {
    let (mut bytes, mut rate) = (0usize, String::from("?"));
    while let Ok(msg) = ws.read() {
        match msg {
            Message::Binary(b) => bytes += b.len(),
            Message::Text(t) if t.contains("\"eof\"") => {
                let reply = format!("{{\"text\" : \"{bytes} bytes at {rate} Hz\"}}");
                if ws.send(Message::Text(reply)).is_err() {
                    return;
                }
                let _ = ws.close(None);
                while ws.read().is_ok() {}
                return;
            }
            Message::Text(t) => {
                if let Some(at) = t.find("\"sample_rate\"") {
                    rate = t[at + 13..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
                }
            }
            _ => {}
        }
    }
}
