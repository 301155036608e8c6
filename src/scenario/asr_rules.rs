//! What an ASR server's messages mean, per preset: transcript updates, segments (mid-stream
//! completed results) and the final (the answer to the end of audio). Pure: a [`Judge`] per
//! session is fed each text message with whether the end message has gone out, and keeps the
//! little it must remember (replies counted, the last text, the `is_final` values seen).
//!
//! The final is only ever looked for after the end message: a mid-stream result is a segment,
//! whatever it says. Per preset (sources read: see `tests/peers/README.md`):
//! - vosk (`asr_server.py`): one answer per message after the config, so the answer to the eof
//!   is answer number frames + 1; a `{"text"}`/`{"alternatives"}` result after the eof is also
//!   taken when the server closes first.
//! - funasr: the four servers disagree on `is_final` (C++ 2pass: partials false, final true;
//!   C++ offline: one `offline` message saying false; Python 2023: partials true, final false;
//!   Python 2026: partials false, VAD-end results and the final true, then the `is_end` ack).
//!   So the judge learns the server's mid-stream `is_final`: after the end, a message saying
//!   the other value is the final; with none seen, the first message; with both seen (Python
//!   2026), the last offline result before the `is_end` acknowledgement.
//! - whisperlive: no final message; the server's close after `END_OF_AUDIO` is the final.
//! - sherpa: the last `{"text", "segment"}` before the server's close.

use serde_json::Value;

use crate::config::{AsrPreset, FinalRule};

/// What one server message means.
#[derive(Clone, Debug, PartialEq)]
pub enum Heard {
    /// Nothing new (an empty partial, the same text again, a status message).
    Nothing,
    /// The transcript changed.
    Update,
    /// A completed mid-stream result; with the end of its audio (ms from the first frame)
    /// where the server gives word timings.
    Segment(Option<f64>),
    /// This message is the final.
    Final,
    /// May be the final: the last candidate before the server's close (or an ack) is.
    Candidate,
    /// The end is acknowledged: the last candidate, or this message, is the final.
    Ack,
}

/// What a server close after the end message means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtClose {
    /// The close itself is the final (WhisperLive).
    IsFinal,
    /// The last candidate is the final; without one the session failed.
    SettlesCandidate,
}

/// The reading of one session's messages.
#[derive(Debug)]
pub struct Judge {
    preset: AsrPreset,
    /// Audio frames of the session (vosk: the eof's answer is number frames + 1).
    frames: u64,
    replies: u64,
    last_text: String,
    /// FunASR: the `is_final` values of mid-stream results (false seen, true seen).
    is_final_seen: (bool, bool),
    /// WhisperLive: completed segments already counted (their start times).
    completed: Vec<String>,
    /// Sherpa: the segment number of the last message.
    segment: Option<u64>,
}

impl Judge {
    pub fn new(preset: AsrPreset, frames: u64) -> Judge {
        Judge { preset, frames, replies: 0, last_text: String::new(), is_final_seen: (false, false), completed: Vec::new(), segment: None }
    }

    pub fn at_close(&self) -> AtClose {
        match &self.preset {
            AsrPreset::WhisperLive => AtClose::IsFinal,
            AsrPreset::Custom(c) if c.final_rule == FinalRule::Close => AtClose::IsFinal,
            AsrPreset::Vosk | AsrPreset::FunAsr { .. } | AsrPreset::Sherpa | AsrPreset::Custom(_) => AtClose::SettlesCandidate,
        }
    }

    /// Whether `text` is the ready message audio waits for.
    pub fn is_ready(&self, text: &str) -> bool {
        self.preset.ready().is_some_and(|r| text.contains(r))
    }

    /// One text message; `ended`: the end message has gone out.
    pub fn hear(&mut self, text: &str, ended: bool) -> Heard {
        self.replies += 1;
        match self.preset.clone() {
            AsrPreset::Vosk => self.vosk(text, ended),
            AsrPreset::FunAsr { .. } => self.funasr(text, ended),
            AsrPreset::WhisperLive => self.whisperlive(text),
            AsrPreset::Sherpa => self.sherpa(text, ended),
            AsrPreset::Custom(c) => {
                if ended {
                    match &c.final_rule {
                        FinalRule::Match(m) if text.contains(m.as_str()) => return Heard::Final,
                        FinalRule::ReplyToEnd if self.replies == self.frames + 1 => return Heard::Final,
                        FinalRule::LastBeforeClose => return Heard::Candidate,
                        FinalRule::Match(_) | FinalRule::ReplyToEnd | FinalRule::Close => {}
                    }
                }
                if c.segment_match.as_deref().is_some_and(|m| text.contains(m)) {
                    self.last_text.clear();
                    Heard::Segment(None)
                } else {
                    self.update(text)
                }
            }
        }
    }

    fn update(&mut self, text: &str) -> Heard {
        if text.is_empty() || text == self.last_text {
            return Heard::Nothing;
        }
        self.last_text = text.to_string();
        Heard::Update
    }

    fn vosk(&mut self, text: &str, ended: bool) -> Heard {
        if ended && self.replies == self.frames + 1 {
            return Heard::Final;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else { return Heard::Nothing };
        // A result is {"text", "result"} or, with max_alternatives, {"alternatives": [...]}.
        let best = v.get("alternatives").and_then(|a| a.get(0)).unwrap_or(&v);
        if best.get("text").is_some() {
            if ended {
                return Heard::Candidate;
            }
            self.last_text.clear();
            let end =
                best.get("result").and_then(Value::as_array).and_then(|r| r.last()).and_then(|w| w.get("end")).and_then(Value::as_f64);
            return Heard::Segment(end.map(|s| s * 1000.0));
        }
        match v.get("partial").and_then(Value::as_str) {
            Some(p) => {
                let p = p.to_string();
                self.update(&p)
            }
            None => Heard::Nothing,
        }
    }

    fn funasr(&mut self, text: &str, ended: bool) -> Heard {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return Heard::Nothing };
        if v.get("is_end").and_then(Value::as_bool) == Some(true) {
            return Heard::Ack;
        }
        let is_final = v.get("is_final").and_then(Value::as_bool).unwrap_or(false);
        let mode = v.get("mode").and_then(Value::as_str).unwrap_or("");
        let offline = mode == "offline" || mode == "2pass-offline";
        if ended {
            let verdict = match self.is_final_seen {
                (false, false) => Some(Heard::Final),
                (true, false) if is_final => Some(Heard::Final),
                (false, true) if !is_final => Some(Heard::Final),
                (true, true) if offline => Some(Heard::Candidate),
                (true, false) | (false, true) | (true, true) => None,
            };
            if let Some(h) = verdict {
                return h;
            }
        } else if !v.get("text").and_then(Value::as_str).unwrap_or("").is_empty() {
            if is_final {
                self.is_final_seen.1 = true;
            } else {
                self.is_final_seen.0 = true;
            }
        }
        let words = v.get("text").and_then(Value::as_str).unwrap_or("").to_string();
        if offline && !words.is_empty() {
            self.last_text.clear();
            return Heard::Segment(v.get("end_time").and_then(Value::as_f64));
        }
        self.update(&words)
    }

    fn whisperlive(&mut self, text: &str) -> Heard {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return Heard::Nothing };
        let Some(segments) = v.get("segments").and_then(Value::as_array) else { return Heard::Nothing };
        let mut out = Heard::Nothing;
        for s in segments {
            let start = s.get("start").map(|x| x.to_string()).unwrap_or_default();
            let done = s.get("completed").and_then(Value::as_bool) == Some(true);
            if done && !self.completed.contains(&start) {
                self.completed.push(start);
                let end = s.get("end").and_then(|e| e.as_str().and_then(|e| e.parse::<f64>().ok()).or_else(|| e.as_f64()));
                out = Heard::Segment(end.map(|e| e * 1000.0));
            } else if !done && matches!(out, Heard::Nothing) {
                let words = s.get("text").and_then(Value::as_str).unwrap_or("").to_string();
                out = self.update(&words);
            }
        }
        out
    }

    fn sherpa(&mut self, text: &str, ended: bool) -> Heard {
        if ended {
            return Heard::Candidate;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else { return Heard::Nothing };
        let segment = v.get("segment").and_then(Value::as_u64);
        let before = std::mem::replace(&mut self.segment, segment);
        if matches!((before, segment), (Some(b), Some(s)) if s > b) {
            self.last_text.clear();
            return Heard::Segment(None);
        }
        let words = v.get("text").and_then(Value::as_str).unwrap_or("").to_string();
        self.update(&words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FunAsrMode;

    fn run(preset: AsrPreset, frames: u64, msgs: &[(&str, bool)]) -> Vec<Heard> {
        let mut j = Judge::new(preset, frames);
        msgs.iter().map(|(m, ended)| j.hear(m, *ended)).collect()
    }

    #[test]
    fn vosk_final_is_the_answer_to_the_eof_and_results_before_it_are_segments() {
        let h = run(
            AsrPreset::Vosk,
            3,
            &[
                (r#"{"partial" : "an"}"#, false),
                (r#"{"text" : "annyeong", "result" : [{"word": "annyeong", "end": 1.25}]}"#, false),
                (r#"{"partial" : ""}"#, false),
                (r#"{"text" : "haseyo"}"#, true),
            ],
        );
        assert_eq!(h, vec![Heard::Update, Heard::Segment(Some(1250.0)), Heard::Nothing, Heard::Final]);
        let h = run(AsrPreset::Vosk, 1, &[(r#"{"alternatives" : [{"text": "a", "result": [{"end": 0.5}]}]}"#, false), ("{}", true)]);
        assert_eq!(h, vec![Heard::Segment(Some(500.0)), Heard::Final]);
    }

    #[test]
    fn funasr_final_rule_fits_all_four_servers() {
        let fun = AsrPreset::FunAsr { mode: FunAsrMode::TwoPass };
        // C++ 2pass: partials and VAD-end results false, the final true.
        let h = run(
            fun.clone(),
            9,
            &[
                (r#"{"mode": "2pass-online", "text": "w1", "is_final": false}"#, false),
                (r#"{"mode": "2pass-offline", "text": "w1 w2", "end_time": 1500, "is_final": false}"#, false),
                (r#"{"mode": "2pass-online", "text": "w3", "is_final": false}"#, true),
                (r#"{"mode": "2pass-offline", "text": "w3 w4", "is_final": true}"#, true),
            ],
        );
        assert_eq!(h, vec![Heard::Update, Heard::Segment(Some(1500.0)), Heard::Update, Heard::Final]);
        // C++ offline: one message saying false.
        assert_eq!(run(fun.clone(), 9, &[(r#"{"mode": "offline", "text": "w1", "is_final": false}"#, true)]), vec![Heard::Final]);
        // Python 2023: partials true, the final false.
        let h = run(
            fun.clone(),
            9,
            &[
                (r#"{"mode": "2pass-online", "text": "w1", "is_final": true}"#, false),
                (r#"{"mode": "2pass-online", "text": "w2", "is_final": true}"#, true),
                (r#"{"mode": "2pass-offline", "text": "w1 w2", "is_final": false}"#, true),
            ],
        );
        assert_eq!(h, vec![Heard::Update, Heard::Update, Heard::Final]);
        // Python 2026: partials false, VAD-end results true, final true, then the ack.
        let h = run(
            fun,
            9,
            &[
                (r#"{"mode": "2pass-online", "text": "w1", "is_final": false}"#, false),
                (r#"{"mode": "2pass-offline", "text": "w1", "is_final": true}"#, false),
                (r#"{"mode": "2pass-offline", "text": "w2", "is_final": true}"#, true),
                (r#"{"mode": "2pass", "is_final": true, "is_end": true}"#, true),
            ],
        );
        assert_eq!(h, vec![Heard::Update, Heard::Segment(None), Heard::Candidate, Heard::Ack]);
    }

    #[test]
    fn whisperlive_and_sherpa_segments() {
        let h = run(
            AsrPreset::WhisperLive,
            9,
            &[
                (r#"{"uid": "s", "message": "SERVER_READY"}"#, false),
                (r#"{"segments": [{"start": "0.000", "end": "1.0", "text": "w1", "completed": false}]}"#, false),
                (r#"{"segments": [{"start": "0.000", "end": "1.5", "text": "w1 w2", "completed": true}]}"#, false),
                (r#"{"segments": [{"start": "0.000", "end": "1.5", "text": "w1 w2", "completed": true}]}"#, false),
            ],
        );
        assert_eq!(h, vec![Heard::Nothing, Heard::Update, Heard::Segment(Some(1500.0)), Heard::Nothing]);
        let h = run(
            AsrPreset::Sherpa,
            9,
            &[
                (r#"{"text": "", "segment": 0}"#, false),
                (r#"{"text": "w1", "segment": 0}"#, false),
                (r#"{"text": "", "segment": 1}"#, false),
                (r#"{"text": "w2", "segment": 1}"#, true),
            ],
        );
        assert_eq!(h, vec![Heard::Nothing, Heard::Update, Heard::Segment(None), Heard::Candidate]);
    }
}
