//! WebSocket framing (RFC 6455 §5): header codec, masking, and a message decoder that
//! reassembles fragments (§5.4) and surfaces control frames (§5.5).
//!
//! Owns: the bytes of frames. Push-driven like the HTTP parser: `decode_header` and
//! `Decoder::decode` take `&[u8]`, consume whole frames only, and say "need more" without
//! consuming anything. Limits (frame size, message size) are checked as soon as the header says
//! the length. Never touches a socket and never answers by itself: a ping comes out as an
//! event and the caller writes the pong.

/// Frame opcodes (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }

    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }
}

/// Who is decoding: a server requires masked frames, a client requires unmasked ones (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    ReservedBits,
    BadOpcode,
    ControlTooLong,
    FragmentedControl,
    BadLength,
    TooLarge,
    MaskExpected,
    MaskUnexpected,
}

impl FrameHeader {
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the header (minimal length form) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.fin) << 7 | self.opcode.bits());
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        match self.payload_len {
            n @ 0..=125 => out.push(m | n as u8),
            n @ 126..=0xFFFF => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        if let Some(k) = self.mask {
            out.extend_from_slice(&k);
        }
    }
}

/// Decodes a frame header. `Ok(None)`: incomplete (nothing consumed). The length limit is
/// checked as soon as the length is known.
pub fn decode_header(input: &[u8], role: Role, max_payload: u64) -> Result<Option<(FrameHeader, usize)>, FrameError> {
    let [b0, b1, ..] = *input else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::BadOpcode)?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(FrameError::MaskExpected),
        (Role::Client, true) => return Err(FrameError::MaskUnexpected),
        (Role::Server, true) | (Role::Client, false) => {}
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => match input.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match input.get(2..10) {
            Some(b) => {
                let n = u64::from_be_bytes(b.try_into().unwrap_or([0xFF; 8]));
                if n >> 63 != 0 {
                    return Err(FrameError::BadLength);
                }
                (n, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() {
        if len > 125 {
            return Err(FrameError::ControlTooLong);
        }
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
    }
    if len > max_payload {
        return Err(FrameError::TooLarge);
    }
    let mask = if masked {
        let Some(k) = input.get(at..at + 4) else { return Ok(None) };
        at += 4;
        Some([k[0], k[1], k[2], k[3]])
    } else {
        None
    };
    Ok(Some((FrameHeader { fin, opcode, mask, payload_len: len }, at)))
}

/// XORs `buf` with the mask; `offset` is the position of `buf[0]` within the payload.
/// Eight bytes at a time; checked against [`apply_mask_simple`] in the tests.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let rot = [key[offset % 4], key[(offset + 1) % 4], key[(offset + 2) % 4], key[(offset + 3) % 4]];
    let wide = u64::from_ne_bytes([rot[0], rot[1], rot[2], rot[3], rot[0], rot[1], rot[2], rot[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rot[i % 4];
    }
}

/// The obvious byte loop, for tests.
pub fn apply_mask_simple(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

/// Appends a whole frame (header + payload, masked with `mask` when given) to `out`.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) {
    FrameHeader { fin, opcode, mask, payload_len: payload.len() as u64 }.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
}

/// A close frame's payload: status code and reason (§5.5.1).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Close codes a peer may send (§7.4.1, §7.4.2).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a close payload: `None` for an empty one (no status).
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::BadLength),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let reason = std::str::from_utf8(rest).map_err(|_| FrameError::BadLength)?;
            if valid_close_code(code) {
                Ok(Some((code, reason)))
            } else {
                Err(FrameError::BadLength)
            }
        }
    }
}

/// A decoded message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Message { opcode: Opcode, payload: &'a [u8] },
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Close { code: Option<u16>, reason: &'a str },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Frame(FrameError),
    MessageTooLarge,
    BadUtf8,
    UnexpectedContinuation,
    ExpectedContinuation,
    BadClosePayload,
}

/// Message decoder: reassembles fragmented messages, unmasks, validates text.
pub struct Decoder {
    role: Role,
    max_frame: u64,
    max_message: usize,
    /// Opcode of the message being reassembled, if fragmented.
    partial: Option<Opcode>,
    /// Payload buffer, reused: the current message, or the last control frame.
    buf: Vec<u8>,
    control: Vec<u8>,
}

impl Decoder {
    pub fn new(role: Role, max_frame: u64, max_message: usize) -> Decoder {
        Decoder { role, max_frame, max_message, partial: None, buf: Vec::new(), control: Vec::with_capacity(125) }
    }

    /// Decodes at most one whole frame from `input`. Returns bytes consumed (0: need more) and
    /// the event it completed, if any (a non-final fragment completes none).
    pub fn decode<'a>(&'a mut self, input: &[u8]) -> Result<(usize, Option<Event<'a>>), DecodeError> {
        let Some((h, head)) = decode_header(input, self.role, self.max_frame).map_err(DecodeError::Frame)? else { return Ok((0, None)) };
        let total = head + h.payload_len as usize;
        let Some(payload) = input.get(head..total) else { return Ok((0, None)) };
        let control = |this: &'a mut Decoder| -> &'a [u8] {
            this.control.clear();
            this.control.extend_from_slice(payload);
            if let Some(k) = h.mask {
                apply_mask(&mut this.control, k, 0);
            }
            &this.control
        };
        match (h.opcode, self.partial) {
            (Opcode::Ping, _) => return Ok((total, Some(Event::Ping(control(self))))),
            (Opcode::Pong, _) => return Ok((total, Some(Event::Pong(control(self))))),
            (Opcode::Close, _) => {
                let ev = match parse_close(control(self)).map_err(|_| DecodeError::BadClosePayload)? {
                    Some((code, reason)) => Event::Close { code: Some(code), reason },
                    None => Event::Close { code: None, reason: "" },
                };
                return Ok((total, Some(ev)));
            }
            (Opcode::Continuation, None) => return Err(DecodeError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(DecodeError::ExpectedContinuation),
            (Opcode::Text | Opcode::Binary, None) => self.buf.clear(),
            (Opcode::Continuation, Some(_)) => {}
        }
        if self.buf.len() + payload.len() > self.max_message {
            return Err(DecodeError::MessageTooLarge);
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        if let Some(k) = h.mask {
            apply_mask(&mut self.buf[start..], k, 0);
        }
        let opcode = match h.opcode {
            Opcode::Continuation => self.partial.unwrap_or(Opcode::Binary),
            op => op,
        };
        if !h.fin {
            self.partial = Some(opcode);
            return Ok((total, None));
        }
        self.partial = None;
        if opcode == Opcode::Text && std::str::from_utf8(&self.buf).is_err() {
            return Err(DecodeError::BadUtf8);
        }
        Ok((total, Some(Event::Message { opcode, payload: &self.buf })))
    }

    /// Forgets a partial message (new connection).
    pub fn reset(&mut self) {
        self.partial = None;
        self.buf.clear();
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
