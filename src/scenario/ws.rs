//! WebSocket load: the [`Wire`] for `stampede ws` (echo and ping modes).
//!
//! The upgrade request and the message frames are encoded and masked once per run into one
//! [`Shared`] buffer: every connection writes slices of it (RFC 6455 lets a client reuse a masking key;
//! the key only has to be unpredictable to intermediaries, which a fixed per-run random key
//! is). Answers are framed by `proto::ws::frame::Decoder`: in echo mode the answer is the
//! echoed message, in ping mode it is the pong. Server pings are answered with pongs; a server
//! close is answered and ends the connection.

use std::ops::Range;

use crate::config::{LoadConfig, Target, WsConfig, WsMode};
use crate::net::Shared;
use crate::proto::ws::frame::{close_payload, encode_frame, Decoder, Event, Opcode, Role};
use crate::proto::ws::handshake::{encode_request, parse_answer, HandshakeError};
use crate::scenario::exchange::{Exchange, Fed, Wire};
use crate::stats::{ErrorClass, ProtocolReason};

/// Largest frame and message accepted from the server.
pub const MAX_FRAME: u64 = 16 * 1024;
pub const MAX_MESSAGE: usize = 1 << 20;
const MAX_HANDSHAKE_HEAD: usize = 16 * 1024;

pub struct WsWire {
    cfg: WsConfig,
    key: String,
    mask: [u8; 4],
    /// The upgrade request, then `pipeline` copies of the masked frame, back to back.
    shared: Shared,
    /// The length of the upgrade request: where the frames start.
    opening_len: usize,
    frame_len: usize,
}

pub type WsScenario = Exchange<WsWire>;

pub struct WsParser {
    decoder: Decoder,
    /// `--heartbeat`: this connection's pings.
    hb: Option<Beat>,
    /// The connection's batches when they are encoded per connection (with a heartbeat).
    out: Vec<u8>,
}

/// A connection's heartbeat: when the next ping is due, and the one waiting for its pong.
#[derive(Clone, Copy, Debug, Default)]
struct Beat {
    next_ns: u64,
    /// When the unanswered ping went out.
    waiting: Option<u64>,
    /// Its pong did not come in time: the next frame read ends the connection.
    missed: bool,
}

impl WsScenario {
    pub fn ws(cfg: WsConfig, nonce: [u8; 16]) -> WsScenario {
        let key = crate::proto::ws::handshake::client_key(nonce);
        let mask = [nonce[3], nonce[7], nonce[11], nonce[15]];
        let mut shared = encode_request(&cfg.target.host_header, &cfg.target.path, &key, &cfg.headers, &cfg.protocols);
        let opening_len = shared.len();
        let mut frame = Vec::with_capacity(cfg.payload.len() + 14);
        let opcode = match cfg.mode {
            WsMode::Echo { text: true } => Opcode::Text,
            WsMode::Echo { text: false } => Opcode::Binary,
            WsMode::Ping => Opcode::Ping,
            WsMode::Chat { .. } => Opcode::Binary,
        };
        encode_frame(&mut frame, true, opcode, Some(mask), &cfg.payload);
        let frame_len = frame.len();
        shared.extend_from_slice(&frame.repeat(cfg.load.pipeline.max(1) as usize));
        Exchange::new(WsWire { key, mask, shared: crate::net::shared(shared), opening_len, frame_len, cfg })
    }
}

impl WsWire {
    /// Frames up to the echoed message's size are accepted, whatever the default limit.
    fn max_frame(&self) -> u64 {
        MAX_FRAME.max(self.cfg.payload.len() as u64)
    }

    /// Appends a masked frame to `out`.
    fn masked(&self, out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
        encode_frame(out, true, opcode, Some(self.mask), payload);
    }
}

impl Wire for WsWire {
    type Parser = WsParser;

    fn name(&self) -> &'static str {
        "ws"
    }

    fn target(&self) -> &Target {
        &self.cfg.target
    }

    fn load(&self) -> &LoadConfig {
        &self.cfg.load
    }

    fn new_parser(&self) -> WsParser {
        let hb = self
            .cfg
            .heartbeat
            .map(|h| Beat { next_ns: crate::clock::now_ns().saturating_add(h.every.as_nanos() as u64), ..Beat::default() });
        WsParser { decoder: Decoder::new(Role::Client, self.max_frame(), MAX_MESSAGE.max(self.cfg.payload.len())), hb, out: Vec::new() }
    }

    /// With `--heartbeat`, batches are encoded per connection: a due ping goes out before them.
    fn per_request(&self) -> bool {
        self.cfg.heartbeat.is_some()
    }

    fn encode(&self, _ctx: &crate::scenario::WorkerCtx, p: &mut WsParser, k: usize) -> Vec<u8> {
        let mut out = std::mem::take(&mut p.out);
        out.clear();
        if let (Some(b), Some(h)) = (p.hb.as_mut(), self.cfg.heartbeat) {
            let now = crate::clock::now_ns();
            if let Some(sent) = b.waiting {
                b.missed |= now.saturating_sub(sent) >= h.pong_timeout.as_nanos() as u64;
            }
            if now >= b.next_ns {
                self.masked(&mut out, Opcode::Ping, b"stampede");
                b.waiting = b.waiting.or(Some(now));
                b.next_ns = now.saturating_add(h.every.as_nanos() as u64);
            }
        }
        out.extend_from_slice(&self.shared[self.batch(k)]);
        out
    }

    fn encoded(&self, p: &mut WsParser, buf: Vec<u8>) {
        p.out = buf;
    }

    fn solicited_only(&self) -> bool {
        false
    }

    fn read_buf(&self) -> usize {
        crate::scenario::exchange::READ_BUF.max(self.max_frame() as usize + 14)
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn batch(&self, k: usize) -> Range<usize> {
        self.opening_len..self.opening_len + k * self.frame_len
    }

    fn opening(&self) -> Option<Range<usize>> {
        Some(0..self.opening_len)
    }

    fn opened(&self, _p: &mut WsParser, input: &[u8]) -> Result<Option<usize>, ErrorClass> {
        let accepted = parse_answer(input, &self.key, MAX_HANDSHAKE_HEAD, &self.cfg.protocols).map_err(|e| match e {
            HandshakeError::HeadTooLarge => ErrorClass::Protocol(ProtocolReason::HeadTooLarge),
            HandshakeError::BadHead => ErrorClass::Protocol(ProtocolReason::BadStatusLine),
            HandshakeError::NotSwitching(_)
            | HandshakeError::MissingUpgrade
            | HandshakeError::BadAccept
            | HandshakeError::UnofferedProtocol => ErrorClass::Handshake,
        })?;
        Ok(accepted.map(|a| a.head))
    }

    fn feed(&self, p: &mut WsParser, input: &[u8], reply: &mut Vec<u8>) -> Result<Fed, ErrorClass> {
        let ping_mode = matches!(self.cfg.mode, WsMode::Ping);
        if p.hb.is_some_and(|b| b.missed) {
            return Err(ErrorClass::Protocol(ProtocolReason::NoPong));
        }
        let (consumed, event) = p.decoder.decode(input).map_err(|_| ErrorClass::Protocol(ProtocolReason::BadFrame))?;
        if let (Some(Event::Pong(_)), Some(b)) = (&event, p.hb.as_mut()) {
            b.waiting = None;
        }
        Ok(match event {
            None if consumed == 0 => Fed::Partial { consumed },
            None => Fed::Skipped { consumed },
            // An echo that differs from what was sent is a protocol failure of the target (the
            // framing is intact: the connection goes on); with nothing in flight, a push.
            Some(Event::Message { payload, .. }) if !ping_mode && payload != self.cfg.payload.as_slice() => {
                Fed::Failed { consumed, class: ErrorClass::Protocol(ProtocolReason::EchoMismatch) }
            }
            Some(Event::Message { .. }) if !ping_mode => Fed::Answer { consumed, status: 0, keep_alive: true },
            Some(Event::Pong(_)) if ping_mode => Fed::Answer { consumed, status: 0, keep_alive: true },
            // A message in ping mode was pushed by the server; a pong in echo mode is a heartbeat.
            Some(Event::Message { .. }) => Fed::Pushed { consumed },
            Some(Event::Pong(_)) => Fed::Skipped { consumed },
            Some(Event::Ping(payload)) => {
                self.masked(reply, Opcode::Pong, payload);
                Fed::Reply { consumed }
            }
            Some(Event::Close { code, .. }) => {
                self.masked(reply, Opcode::Close, &close_payload(code.unwrap_or(1000), ""));
                Fed::Closing { consumed, code }
            }
        })
    }

    fn eof(&self, _p: &mut WsParser) -> Option<u16> {
        None
    }

    fn closing(&self, buf: &mut Vec<u8>) -> bool {
        self.masked(buf, Opcode::Close, &close_payload(1000, ""));
        true
    }

    fn reset(&self, p: &mut WsParser) {
        *p = self.new_parser();
    }
}
