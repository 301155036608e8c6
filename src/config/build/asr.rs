//! `stampede asr` flags -> [`AsrConfig`]: the audio, the preset, streams as connections.

use std::time::Duration;

use crate::cli::{AsrArgs, LoadArgs};
use crate::config::{parse_url, AsrConfig, AsrPreset, CustomAsr, EndMessage, FinalRule, FunAsrMode, SampleFormat, ASR_LOOP_DEFAULT};
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
    let preset = preset(a)?;
    let chunk_ms = a.chunk_ms.unwrap_or_else(|| preset.default_chunk_ms());
    if chunk_ms == 0 || chunk_ms > 10_000 {
        return Err(Error::usage("--chunk-ms must be between 1 and 10000"));
    }
    if !(a.speed.is_finite() && (0.0..=1000.0).contains(&a.speed)) {
        return Err(Error::usage("--speed must be between 0 (as fast as possible) and 1000"));
    }
    let (headers, mut protocols) = upgrade_headers(&a.headers, &a.subprotocols)?;
    if protocols.is_empty() && matches!(preset, AsrPreset::FunAsr { .. }) {
        // FunASR's current Python server accepts only clients offering `binary` (its other
        // servers answer without a subprotocol, which is accepted too): the reference client's offer.
        protocols.push("binary".to_string());
    }
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
        think: None,
        pipeline: 1,
        connect_rate: None,
        timeout: a.timeout,
        connect_timeout: a.connect_timeout,
        source: None,
        unix_socket: None,
        linger_zero: false,
        close_rate: None,
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
        chunk_ms,
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

/// The preset and, for `custom`, its messages and rules.
fn preset(a: &AsrArgs) -> Result<AsrPreset> {
    Ok(match a.preset.as_str() {
        "vosk" => AsrPreset::Vosk,
        "funasr" => AsrPreset::FunAsr {
            mode: match a.funasr_mode.as_str() {
                "2pass" => FunAsrMode::TwoPass,
                "online" => FunAsrMode::Online,
                "offline" => FunAsrMode::Offline,
                other => return Err(Error::usage(format!("--funasr-mode '{other}': choose 2pass, online or offline"))),
            },
        },
        "whisperlive" => AsrPreset::WhisperLive,
        "sherpa" => AsrPreset::Sherpa,
        "custom" => AsrPreset::Custom(custom(a)?),
        other => return Err(Error::usage(format!("--preset '{other}': choose vosk, funasr or custom, whisperlive or sherpa"))),
    })
}

fn custom(a: &AsrArgs) -> Result<CustomAsr> {
    let need = "--preset custom needs --end-message and a final rule (--final-match TEXT or --final-rule RULE)";
    let final_rule = match (a.final_rule.as_deref(), a.final_match.as_deref()) {
        (None, Some(m)) if !m.is_empty() => FinalRule::Match(m.to_string()),
        (Some(r), None) => match r.split_once(':') {
            Some(("match", m)) if !m.is_empty() => FinalRule::Match(m.to_string()),
            None if r == "reply-to-end" => FinalRule::ReplyToEnd,
            None if r == "last-before-close" => FinalRule::LastBeforeClose,
            None if r == "close" => FinalRule::Close,
            Some(_) | None => {
                return Err(Error::usage(format!("--final-rule '{r}': choose match:TEXT, reply-to-end, last-before-close or close")))
            }
        },
        (Some(_), Some(_)) => return Err(Error::usage("give --final-match or --final-rule, not both")),
        (None, Some(_) | None) => return Err(Error::usage(need)),
    };
    let end = match &a.end_message {
        Some(e) if a.end_binary => EndMessage::Binary(e.as_bytes().to_vec()),
        Some(e) => EndMessage::Text(e.clone()),
        None => return Err(Error::usage(need)),
    };
    let sample_format = match a.sample_format.as_str() {
        "s16le" => SampleFormat::S16le,
        "f32le" => SampleFormat::F32le,
        other => return Err(Error::usage(format!("--sample-format '{other}': choose s16le or f32le"))),
    };
    Ok(CustomAsr {
        start: a.start_message.clone().unwrap_or_default(),
        ready: a.ready_message.clone().filter(|r| !r.is_empty()),
        end,
        sample_format,
        final_rule,
        segment_match: a.segment_match.clone().filter(|m| !m.is_empty()),
    })
}

/// The sample rate a preset declares to its server (the models behind vosk-server, FunASR's,
/// WhisperLive's and sherpa-onnx's servers are 16 kHz); `None`: the file's own rate (custom).
fn preset_rate(preset: &AsrPreset) -> Option<u32> {
    match preset {
        AsrPreset::Vosk | AsrPreset::FunAsr { .. } | AsrPreset::WhisperLive | AsrPreset::Sherpa => Some(16_000),
        AsrPreset::Custom(_) => None,
    }
}
