//! The parts of a [`Shard`](super::Shard) that only some runs have: TLS handshakes (any
//! scenario over TLS), WebSocket closes, and the scenario's own figures as one enum
//! ([`ScenarioStats`]): streaming sessions (ASR) or chat fan-out, nothing for the rest.
//!
//! Owned by one worker like the shard (no `Arc`, no atomics). A shard made for its scenario
//! ([`super::Shard::for_kind`]) has its part allocated at set-up; a plain shard that records a
//! scenario's figure gets the part on that first record (once per shard, never per request).

use hdrhistogram::Histogram;

use super::result::ScenarioKind;
use super::{new_histogram, record};

/// Slots of [`WsStats::close_codes`].
pub const CLOSE_SLOTS: usize = 18;

/// The slot of a close code in [`WsStats::close_codes`], and back.
pub fn close_slot(code: Option<u16>) -> usize {
    match code {
        Some(c @ 1000..=1015) => (c - 1000) as usize,
        None => 16,
        Some(_) => 17,
    }
}

/// The name of a close-code slot in reports: the code, "none" or "other".
pub fn close_slot_name(slot: usize) -> String {
    match slot {
        0..=15 => (1000 + slot).to_string(),
        16 => "none".to_string(),
        _ => "other".to_string(),
    }
}

/// Open loop: requests that came due before any connection was free to claim them (free ones
/// claim ahead), every one waiting for an answer (`busy`) or, for a connection's first batch,
/// still opening (`opening`). Their lateness is, at least in part, that wait, not the timer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueUnsent {
    pub busy: u64,
    pub opening: u64,
    /// False for a result written before these were counted: its counts are unknown, not 0.
    pub known: bool,
}

impl Default for DueUnsent {
    fn default() -> Self {
        DueUnsent { busy: 0, opening: 0, known: true }
    }
}

impl DueUnsent {
    /// `n` requests came due before a connection was free: the claimer came free from an
    /// answer (`answered`), or from its connect.
    pub fn record(&mut self, n: u64, answered: bool) {
        if answered {
            self.busy += n;
        } else {
            self.opening += n;
        }
    }

    pub fn merge(&mut self, o: &DueUnsent) {
        self.busy += o.busy;
        self.opening += o.opening;
        self.known &= o.known;
    }
}

/// TLS handshakes (after the TCP connect, before the protocol's opening).
#[derive(Clone, Debug)]
pub struct TlsStats {
    pub handshakes: Histogram<u64>,
    /// Handshakes that resumed an earlier session.
    pub resumed: u64,
}

impl Default for TlsStats {
    fn default() -> Self {
        TlsStats::new()
    }
}

impl TlsStats {
    pub fn new() -> TlsStats {
        TlsStats { handshakes: new_histogram(), resumed: 0 }
    }

    pub fn merge(&mut self, o: &TlsStats) {
        let _ = self.handshakes.add(&o.handshakes);
        self.resumed += o.resumed;
    }
}

/// WebSocket close frames received from the server, by code (index: code − 1000 for
/// 1000..=1015; slot 16: no code; slot 17: any other code).
#[derive(Clone, Debug, Default)]
pub struct WsStats {
    pub close_codes: [u64; CLOSE_SLOTS],
}

impl WsStats {
    pub fn merge(&mut self, o: &WsStats) {
        for (a, b) in self.close_codes.iter_mut().zip(o.close_codes.iter()) {
            *a += b;
        }
    }
}

/// Streaming sessions (ASR).
#[derive(Clone, Debug)]
pub struct AsrStats {
    /// Send lag of every frame against its deadline.
    pub frame_lag: Histogram<u64>,
    /// First audio byte sent → first partial result.
    pub first_partial: Histogram<u64>,
    /// Real-time factor × 1000 (first audio → final, over audio length).
    pub rtf_permille: Histogram<u64>,
    /// Transcript updates (a partial with new text, or a segment) in completed sessions.
    pub partials: u64,
    /// Segments (completed mid-stream results) in completed sessions.
    pub segments: u64,
    /// Segment arrival − the due time of its last audio (where the server gives timings).
    pub segment_latency: Histogram<u64>,
    /// Audio of the completed sessions, in milliseconds (for CPU per audio-second).
    pub audio_ms: u64,
}

impl Default for AsrStats {
    fn default() -> Self {
        AsrStats::new()
    }
}

impl AsrStats {
    pub fn new() -> AsrStats {
        AsrStats {
            frame_lag: new_histogram(),
            first_partial: new_histogram(),
            rtf_permille: new_histogram(),
            partials: 0,
            segments: 0,
            segment_latency: new_histogram(),
            audio_ms: 0,
        }
    }

    pub fn merge(&mut self, o: &AsrStats) {
        let _ = self.frame_lag.add(&o.frame_lag);
        let _ = self.first_partial.add(&o.first_partial);
        let _ = self.rtf_permille.add(&o.rtf_permille);
        self.partials += o.partials;
        self.segments += o.segments;
        let _ = self.segment_latency.add(&o.segment_latency);
        self.audio_ms += o.audio_ms;
    }

    /// A session completed: `partials` received, `elapsed_ns` from the first audio byte to
    /// the final, for `audio_ns` of audio.
    pub fn on_session(&mut self, partials: u64, elapsed_ns: u64, audio_ns: u64) {
        self.partials += partials;
        self.audio_ms += audio_ns / 1_000_000;
        if audio_ns > 0 {
            record(&mut self.rtf_permille, (elapsed_ns as u128 * 1000 / audio_ns as u128) as u64);
        }
    }
}

/// Chat rooms: messages broadcast (no answer is expected) and their deliveries, matched to their
/// sends by the mark each message carries.
#[derive(Clone, Debug)]
pub struct ChatStats {
    pub broadcasts: u64,
    /// Frames carrying a valid mark, delivered to this generator's members (the sender's own
    /// copy included, as results before the accounting counted them).
    pub deliveries: u64,
    /// Fan-out latency of the deliveries to other members: delivery − the sender's intended
    /// send time (corrected).
    pub delivery: Histogram<u64>,
    /// The same deliveries from the actual send (service).
    pub delivery_service: Histogram<u64>,
    /// Deliveries the sends should have made: the other live members of the room of each message.
    pub expected: u64,
    /// First copies delivered to another member within `--timeout`.
    pub delivered: u64,
    /// First copies delivered to another member after `--timeout`.
    pub late: u64,
    /// Copies of a message a member had already received.
    pub duplicated: u64,
    /// A member's own message coming back to it (servers differ: counted apart).
    pub self_deliveries: u64,
    /// Copies of messages sent before the member had joined (not expected of it).
    pub before_join: u64,
    /// Frames with no valid mark (acks, notices, error replies): never deliveries.
    pub unmarked: u64,
    /// Whether the run could match deliveries (its messages carry a mark).
    pub marked: bool,
}

impl Default for ChatStats {
    fn default() -> Self {
        ChatStats::new()
    }
}

impl ChatStats {
    pub fn new() -> ChatStats {
        ChatStats {
            broadcasts: 0,
            deliveries: 0,
            delivery: new_histogram(),
            delivery_service: new_histogram(),
            expected: 0,
            delivered: 0,
            late: 0,
            duplicated: 0,
            self_deliveries: 0,
            before_join: 0,
            unmarked: 0,
            marked: false,
        }
    }

    pub fn merge(&mut self, o: &ChatStats) {
        self.broadcasts += o.broadcasts;
        self.deliveries += o.deliveries;
        let _ = self.delivery.add(&o.delivery);
        let _ = self.delivery_service.add(&o.delivery_service);
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.late += o.late;
        self.duplicated += o.duplicated;
        self.self_deliveries += o.self_deliveries;
        self.before_join += o.before_join;
        self.unmarked += o.unmarked;
        self.marked |= o.marked;
    }

    /// Expected deliveries that never came (neither in time nor late).
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered + self.late)
    }

    /// Delivered in time over expected, in % (`None` with nothing expected).
    pub fn delivered_pct(&self) -> Option<f64> {
        (self.expected > 0).then(|| 100.0 * self.delivered as f64 / self.expected as f64)
    }
}

/// What a frame a chat member received was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy of another member's message: its fan-out latency from the sender's
    /// intended time (corrected) and actual send (service); late when past `--timeout`.
    Other { corrected_ns: u64, service_ns: u64, late: bool },
    /// A copy of a message this member had already received.
    Duplicate,
    /// The member's own message, back from the server.
    ToSelf,
    /// A copy of a message sent before this member had joined: not expected of it.
    BeforeJoin,
    /// A frame with no valid mark (an ack, a notice, an error reply).
    Unmarked,
}

/// The scenario's own figures.
#[derive(Clone, Debug)]
pub enum ScenarioStats {
    /// Request/response runs (HTTP, WebSocket echo, raw): nothing beyond the shard's core.
    Plain,
    Asr(Box<AsrStats>),
    Chat(Box<ChatStats>),
}

impl ScenarioStats {
    /// The part a run of `kind` records into, allocated now.
    pub fn for_kind(kind: Option<ScenarioKind>) -> ScenarioStats {
        match kind {
            Some(ScenarioKind::Asr) => ScenarioStats::Asr(Box::default()),
            Some(ScenarioKind::WsChat) => ScenarioStats::Chat(Box::default()),
            Some(ScenarioKind::Http | ScenarioKind::Ws | ScenarioKind::Raw) | None => ScenarioStats::Plain,
        }
    }

    /// A fresh part of the same kind (the next stage of the same worker).
    pub fn empty_like(&self) -> ScenarioStats {
        match self {
            ScenarioStats::Plain => ScenarioStats::Plain,
            ScenarioStats::Asr(_) => ScenarioStats::Asr(Box::default()),
            ScenarioStats::Chat(_) => ScenarioStats::Chat(Box::default()),
        }
    }

    /// The streaming part, made on first use by a plain shard.
    pub fn asr_mut(&mut self) -> &mut AsrStats {
        match self {
            ScenarioStats::Asr(a) => a,
            // A chat run never streams audio: the two parts never meet in one shard.
            ScenarioStats::Plain | ScenarioStats::Chat(_) => {
                *self = ScenarioStats::Asr(Box::default());
                self.asr_mut()
            }
        }
    }

    /// The chat part, made on first use by a plain shard.
    pub fn chat_mut(&mut self) -> &mut ChatStats {
        match self {
            ScenarioStats::Chat(c) => c,
            ScenarioStats::Plain | ScenarioStats::Asr(_) => {
                *self = ScenarioStats::Chat(Box::default());
                self.chat_mut()
            }
        }
    }

    /// Adds another shard's part. Parts of different scenarios never meet (results of
    /// different scenarios are refused before their shards merge); a plain part takes the
    /// other's kind.
    pub fn merge(&mut self, o: &ScenarioStats) {
        match (&mut *self, o) {
            (_, ScenarioStats::Plain) => {}
            (ScenarioStats::Asr(a), ScenarioStats::Asr(b)) => a.merge(b),
            (ScenarioStats::Chat(a), ScenarioStats::Chat(b)) => a.merge(b),
            (ScenarioStats::Plain, ScenarioStats::Asr(_) | ScenarioStats::Chat(_)) => *self = o.clone(),
            (ScenarioStats::Asr(_), ScenarioStats::Chat(_)) | (ScenarioStats::Chat(_), ScenarioStats::Asr(_)) => {}
        }
    }
}
