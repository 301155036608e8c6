//! An independent WebSocket server for the e2e tests, built with tungstenite (blocking, one
//! thread per connection). Behaviours: plain echo, echo with a server ping before each echo,
//! close (1001) after N messages, or answer with a different payload.

use std::net::{SocketAddr, TcpListener};
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
}

/// The server stops accepting after this long: it ends by itself.
const LIFETIME: Duration = Duration::from_secs(60);

pub fn start(behaviour: Behaviour) -> SocketAddr {
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
                    std::thread::spawn(move || serve(sock, behaviour));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    addr
}

fn serve(sock: std::net::TcpStream, behaviour: Behaviour) {
    let Ok(mut ws) = tungstenite::accept(sock) else { return };
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
            Behaviour::Echo => msg,
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
