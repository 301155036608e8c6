//! `stampede asr` flags -> [`AsrConfig`]: the audio, the preset, streams as connections.

use std::time::Duration;

use crate::cli::{AsrArgs, LoadArgs};
use crate::config::{parse_url, AsrConfig, AsrPreset, ASR_LOOP_DEFAULT};
use crate::error::{Error, Result};

use super::load::{attach_tls, load_config};
use super::ws::upgrade_headers;

pub fn asr_config(a: &AsrArgs) -> Result<AsrConfig> {
    let target = parse_url(&a.url, "ws")?;
    let audio = match &a.audio {
        Some(p) => crate::audio::read_wav(p).map_err(Error::usage)?,
        None => {
            let len = a.signal_length;
            if len < Duration::from_millis(1) || len > Duration::from_secs(3600) {
                return Err(Error::usage("--signal-length must be between 1 ms and 1 h"));
            }
            crate::audio::speech_like(16_000, len.as_secs_f64())
        }
    };
    if audio.pcm.is_empty() {
        return Err(Error::usage("the audio is empty"));
    }
    if a.chunk_ms == 0 || a.chunk_ms > 10_000 {
        return Err(Error::usage("--chunk-ms must be between 1 and 10000"));
    }
    if !(a.speed.is_finite() && (0.0..=1000.0).contains(&a.speed)) {
        return Err(Error::usage("--speed must be between 0 (as fast as possible) and 1000"));
    }
    let (headers, protocols) = upgrade_headers(&a.headers, &a.subprotocols)?;
    let preset = match a.preset.as_str() {
        "vosk" => AsrPreset::Vosk,
        "funasr" => AsrPreset::FunAsr,
        "custom" => match (&a.start_message, &a.end_message, &a.final_match) {
            (Some(s), Some(e), Some(f)) if !f.is_empty() => AsrPreset::Custom { start: s.clone(), end: e.clone(), final_match: f.clone() },
            _ => return Err(Error::usage("--preset custom needs --start-message, --end-message and --final-match")),
        },
        other => return Err(Error::usage(format!("--preset '{other}': choose vosk, funasr or custom"))),
    };
    // Audio is what the server is told it is: mono at the preset's rate, converted once here.
    let rate = preset_rate(&preset).unwrap_or(audio.sample_rate);
    let (audio, conversion) = crate::audio::conform(audio, rate).map_err(|e| Error::usage(e.to_string()))?;
    let streams = a.streams;
    if streams == 0 {
        return Err(Error::usage("--streams must be at least 1"));
    }
    let load_args = LoadArgs {
        connections: streams,
        duration: a.duration,
        requests: None,
        threads: a.threads,
        rate: None,
        pipeline: 1,
        connect_rate: None,
        timeout: a.timeout,
        connect_timeout: a.connect_timeout,
        source: None,
        unix_socket: None,
        linger_zero: false,
        tls: a.tls.clone(),
        out: a.out.clone(),
    };
    let mut load = load_config(&load_args)?;
    attach_tls(&target, &mut load)?;
    if a.duration.is_none() {
        // Without -d: one session per stream (its budget), or a bounded soak with --loop.
        load.duration = a.loop_audio.then_some(ASR_LOOP_DEFAULT);
        load.requests = (!a.loop_audio).then_some(load.connections); // this part's streams
    }
    if let Some(ramp) = a.ramp {
        if !ramp.is_zero() {
            load.connect_rate = Some(load.connections as f64 / ramp.as_secs_f64());
        }
    }
    Ok(AsrConfig {
        target,
        audio,
        chunk_ms: a.chunk_ms,
        speed: a.speed,
        loop_audio: a.loop_audio,
        preset,
        transcripts: a.transcripts.clone(),
        headers,
        protocols,
        conversion,
        load,
    })
}

/// The sample rate a preset declares to its server (the models behind vosk-server and FunASR's
/// servers are 16 kHz); `None`: the file's own rate is declared (custom).
fn preset_rate(preset: &AsrPreset) -> Option<u32> {
    match preset {
        AsrPreset::Vosk | AsrPreset::FunAsr => Some(16_000),
        AsrPreset::Custom { .. } => None,
    }
}
