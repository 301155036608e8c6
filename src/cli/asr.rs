//! `stampede asr` flags: the audio, the preset and its messages, the streams.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::units::{count, duration};
use super::{OutputArgs, TlsArgs};

#[derive(Args, Debug, Clone)]
pub struct AsrArgs {
    /// Target, e.g. ws://127.0.0.1:8080/asr or wss://HOST/asr
    pub url: String,
    /// 16-bit PCM WAV to stream (1 to 32 channels, any rate: mixed down to mono and resampled to
    /// the preset's rate once at start-up) [default: a generated speech-like signal].
    #[arg(long = "audio", value_name = "FILE.wav")]
    pub audio: Option<std::path::PathBuf>,
    /// Length of the generated signal when no --audio is given.
    #[arg(long = "signal-length", default_value = "5s", value_name = "TIME", value_parser = duration())]
    pub signal_length: Duration,
    /// Concurrent streams (sessions).
    #[arg(long = "streams", default_value = "10", value_name = "N", value_parser = count())]
    pub streams: u64,
    /// Start the streams evenly over this time instead of all at once.
    #[arg(long = "ramp", value_name = "TIME", value_parser = duration())]
    pub ramp: Option<Duration>,
    /// Audio per frame, in milliseconds [default: the preset's reference client: 60 for funasr, else 20].
    #[arg(long = "chunk-ms", value_name = "MS")]
    pub chunk_ms: Option<u32>,
    /// 1.0 = real time, 2.0 = twice as fast, 0 = as fast as possible.
    #[arg(long = "speed", default_value_t = 1.0)]
    pub speed: f64,
    /// Repeat the audio: each stream starts a new session when one ends (soak runs).
    #[arg(long = "loop")]
    pub loop_audio: bool,
    /// Protocol: vosk, funasr, whisperlive, sherpa or custom.
    #[arg(long = "preset", default_value = "vosk")]
    pub preset: String,
    /// funasr: the server's mode: 2pass, online or offline.
    #[arg(long = "funasr-mode", default_value = "2pass", value_name = "MODE")]
    pub funasr_mode: String,
    /// custom: first text message of a session (none when not given).
    #[arg(long = "start-message", value_name = "TEXT")]
    pub start_message: Option<String>,
    /// custom: audio waits for a server message containing TEXT.
    #[arg(long = "ready-message", value_name = "TEXT")]
    pub ready_message: Option<String>,
    /// custom: text message after the last audio frame.
    #[arg(long = "end-message", value_name = "TEXT")]
    pub end_message: Option<String>,
    /// custom: send the end message as a binary frame.
    #[arg(long = "end-binary")]
    pub end_binary: bool,
    /// custom: samples on the wire: s16le or f32le.
    #[arg(long = "sample-format", default_value = "s16le", value_name = "FORMAT")]
    pub sample_format: String,
    /// custom: after the end message, a server text message containing this is the final transcript.
    #[arg(long = "final-match", value_name = "TEXT")]
    pub final_match: Option<String>,
    /// Extra header on the upgrade request "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Subprotocol offered in Sec-WebSocket-Protocol (repeatable or a comma list); an answer
    /// naming one not offered fails the handshake, an answer without one is accepted.
    #[arg(long = "subprotocol", value_name = "NAME", value_delimiter = ',')]
    pub subprotocols: Vec<String>,
    /// custom: the final is match:TEXT (as --final-match), reply-to-end (the server answers every message), last-before-close, or close.
    #[arg(long = "final-rule", value_name = "RULE")]
    pub final_rule: Option<String>,
    /// custom: a mid-stream server message containing this is a segment (a completed result).
    #[arg(long = "segment-match", value_name = "TEXT")]
    pub segment_match: Option<String>,
    /// Save each session's final transcript (one JSON line per session) to FILE.
    #[arg(long = "transcripts", value_name = "FILE")]
    pub transcripts: Option<PathBuf>,
    /// Run length (default: until every stream finished its session, or 10 min with --loop).
    #[arg(short = 'd', long = "duration", value_name = "TIME", value_parser = duration())]
    pub duration: Option<Duration>,
    /// Time allowed for the final transcript after the last frame.
    #[arg(long = "timeout", default_value = "30s", value_name = "TIME", value_parser = duration())]
    pub timeout: Duration,
    /// Connect and handshake timeout.
    #[arg(long = "connect-timeout", default_value = "5s", value_name = "TIME", value_parser = duration())]
    pub connect_timeout: Duration,
    /// Worker threads [default: every CPU this process may use].
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}
