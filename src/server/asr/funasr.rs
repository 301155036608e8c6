//! The mock recogniser speaking FunASR's WebSocket protocol at `/asr/funasr/FLAVOUR`, in the four
//! `is_final` flavours of the real servers (see `tests/peers/README.md` for the sources read):
//! - `cpp-2pass` (`websocket-server-2pass`): `2pass-online` partials and VAD-end `2pass-offline`
//!   segments say `is_final: false`; the answer to `is_speaking: false` says `true`.
//! - `cpp-offline` (`websocket-server`): nothing while streaming; one `offline` message saying
//!   `is_final: false` answers the end.
//! - `py-2023` (`funasr_wss_server.py`, Nov 2023): partials and segments say `true`, the final
//!   `false`.
//! - `py-2026` (same file, 2026): partials `false`, segments and the final `true`, then the
//!   `{"is_end": true}` acknowledgement when the end message asked for it.
//!
//! Client: a JSON start message (`wav_name`, `audio_fs`), binary PCM16, `{"is_speaking": false}`.
//! No server sends pings or closes by itself: the session ends with the client's close.

use std::time::Duration;

use super::{bytes_for, Pause, LEND, MAX_FRAME};
use crate::net::Loan;
use crate::proto::ws::frame::{encode_frame, Decoder, Event, Opcode, Role};
use crate::server::{AsrMock, ServerConn};

/// Which FunASR server the mock behaves as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Cpp2Pass,
    CppOffline,
    Py2023,
    Py2026,
}

impl Flavour {
    /// The flavour named by the last segment of `/asr/funasr/FLAVOUR`.
    pub fn from_name(name: &str) -> Option<Flavour> {
        match name {
            "cpp-2pass" => Some(Flavour::Cpp2Pass),
            "cpp-offline" => Some(Flavour::CppOffline),
            "py-2023" => Some(Flavour::Py2023),
            "py-2026" => Some(Flavour::Py2026),
            _ => None,
        }
    }

    /// `is_final` of a partial, of a VAD-end segment and of the final; `None`: not sent.
    fn is_final(self) -> (Option<bool>, Option<bool>, bool) {
        match self {
            Flavour::Cpp2Pass => (Some(false), Some(false), true),
            Flavour::CppOffline => (None, None, false),
            Flavour::Py2023 => (Some(true), Some(true), false),
            Flavour::Py2026 => (Some(false), Some(true), true),
        }
    }
}

/// What the session has heard so far.
struct Heard {
    wav_name: String,
    rate: u64,
    audio: u64,
    words: u64,
    /// Words not yet sent in a partial; words of the current utterance.
    online: Vec<String>,
    utterance: Vec<String>,
    utterance_from_ms: u64,
}

impl Heard {
    fn ms(&self) -> u64 {
        self.audio * 1000 / (self.rate * 2)
    }

    /// One result message as the flavour's server shapes it.
    fn message(&self, flavour: Flavour, mode: &str, text: &str, is_final: bool, segment_end_ms: Option<u64>) -> String {
        let mut m = serde_json::json!({ "mode": mode, "text": text, "wav_name": self.wav_name, "is_final": is_final });
        match (flavour, segment_end_ms) {
            (Flavour::Cpp2Pass, Some(end)) => {
                m["start_time"] = self.utterance_from_ms.into();
                m["end_time"] = end.into();
                m["timestamp"] = format!("[[{},{end}]]", self.utterance_from_ms).into();
            }
            (Flavour::CppOffline, _) => m["timestamp"] = format!("[[0,{}]]", self.ms()).into(),
            (Flavour::Py2026, Some(_)) => {
                m["spk_name"] = "unknown".into();
                m["spk_score"] = 0.0.into();
            }
            (Flavour::Cpp2Pass | Flavour::Py2023 | Flavour::Py2026, _) => {}
        }
        m.to_string()
    }
}

pub(super) async fn session<S: ServerConn>(mut stream: S, mut rbuf: Loan<'_>, mock: AsrMock, flavour: Flavour) {
    let mut wbuf = Loan::new(rbuf.lender());
    wbuf.lend(LEND);
    let mut dec = Decoder::new(Role::Server, MAX_FRAME, MAX_FRAME as usize);
    let mut h = Heard {
        wav_name: "wav-default-id".into(),
        rate: 16_000,
        audio: 0,
        words: 0,
        online: Vec::new(),
        utterance: Vec::new(),
        utterance_from_ms: 0,
    };
    let mut next_word = bytes_for(u64::from(mock.partial_ms), h.rate);
    let mut pause = Pause::default();
    let (partial_final, segment_final, final_final) = flavour.is_final();
    loop {
        let mut pos = 0;
        let mut end: Option<bool> = None; // the end message, with whether it asked for the ack
        loop {
            match dec.decode(&rbuf[pos..]) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        Some(Event::Message { opcode: Opcode::Text, payload }) => {
                            let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
                            if let Some(w) = v.get("wav_name").and_then(|w| w.as_str()) {
                                h.wav_name = w.to_string();
                            }
                            if let Some(r) = v.get("audio_fs").and_then(|r| r.as_f64()) {
                                h.rate = (r as u64).clamp(1000, 384_000);
                                next_word = h.audio + bytes_for(u64::from(mock.partial_ms), h.rate);
                            }
                            if v.get("is_speaking").and_then(|s| s.as_bool()) == Some(false) {
                                end = Some(v.get("is_end").and_then(|e| e.as_bool()) == Some(true));
                            }
                        }
                        Some(Event::Message { payload, .. }) => {
                            if h.utterance.is_empty() && h.online.is_empty() {
                                h.utterance_from_ms = h.ms();
                            }
                            h.audio += payload.len() as u64;
                            while h.audio >= next_word {
                                h.words += 1;
                                h.online.push(format!("w{}", h.words));
                                h.utterance.push(format!("w{}", h.words));
                                next_word += bytes_for(u64::from(mock.partial_ms), h.rate);
                            }
                            if let Some(is_final) = partial_final.filter(|_| !h.online.is_empty()) {
                                let text = std::mem::take(&mut h.online).join(" ");
                                let msg = h.message(flavour, "2pass-online", &text, is_final, None);
                                encode_frame(&mut wbuf, true, Opcode::Text, None, msg.as_bytes());
                            }
                            if let Some(end_s) = pause.feed(payload, h.audio, h.rate) {
                                if let Some(is_final) = segment_final.filter(|_| !h.utterance.is_empty()) {
                                    let text = std::mem::take(&mut h.utterance).join(" ");
                                    let msg = h.message(flavour, "2pass-offline", &text, is_final, Some((end_s * 1000.0) as u64));
                                    encode_frame(&mut wbuf, true, Opcode::Text, None, msg.as_bytes());
                                }
                            }
                        }
                        Some(Event::Ping(p)) => encode_frame(&mut wbuf, true, Opcode::Pong, None, p),
                        Some(Event::Pong(_)) | None => {}
                        Some(Event::Close { code, .. }) => {
                            crate::server::ws::close_with(&mut stream, std::mem::take(&mut *wbuf), code.unwrap_or(1000)).await;
                            return;
                        }
                    }
                }
                Err(_) => {
                    crate::server::ws::close_with(&mut stream, std::mem::take(&mut *wbuf), 1002).await;
                    return;
                }
            }
        }
        rbuf.drain(..pos);
        if !crate::server::flush(&mut stream, &mut wbuf).await {
            return;
        }
        if let Some(ack) = end {
            monoio::time::sleep(Duration::from_secs_f64(h.ms() as f64 / 1000.0 * mock.rtf)).await;
            let (mode, text) = match flavour {
                Flavour::CppOffline => ("offline", (1..=h.words).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")),
                Flavour::Cpp2Pass | Flavour::Py2023 | Flavour::Py2026 => ("2pass-offline", std::mem::take(&mut h.utterance).join(" ")),
            };
            h.online.clear();
            let msg = h.message(flavour, mode, &text, final_final, None);
            encode_frame(&mut wbuf, true, Opcode::Text, None, msg.as_bytes());
            if ack && flavour == Flavour::Py2026 {
                let a = serde_json::json!({ "mode": "2pass", "wav_name": h.wav_name, "is_final": true, "is_end": true });
                encode_frame(&mut wbuf, true, Opcode::Text, None, a.to_string().as_bytes());
            }
            // The servers never close by themselves: the session goes on until the client closes.
            if !crate::server::flush(&mut stream, &mut wbuf).await {
                return;
            }
        }
        wbuf.settle();
        if !crate::server::read_lent(&mut stream, &mut rbuf, LEND, crate::server::ws::READ_MAX).await {
            return;
        }
        wbuf.lend(LEND);
    }
}
