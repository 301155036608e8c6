//! Making the audio what the server is told it is: every channel mixed down to mono, the rate
//! resampled to the one declared to the server (rubato's FFT resampler: a fixed ratio, the whole
//! clip at once, its start-up delay trimmed), and 16-bit samples turned into 32-bit floats for the
//! servers that want them (WhisperLive, sherpa-onnx).
//!
//! Done once at set-up, never per connection. Must never: touch a socket, the runtime or the
//! clock; panic on any audio.

use std::fmt;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::Audio;

/// What [`conform`] did to the audio, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    pub from_rate: u32,
    pub from_channels: u16,
    pub to_rate: u32,
}

impl Conversion {
    pub fn mixed_down(&self) -> bool {
        self.from_channels != 1
    }

    pub fn resampled(&self) -> bool {
        self.from_rate != self.to_rate
    }
}

/// `44100` -> `44.1 kHz`, `16000` -> `16 kHz`, `11025` -> `11.025 kHz`.
fn khz(rate: u32) -> String {
    let whole = rate / 1000;
    let frac = format!("{:03}", rate % 1000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole} kHz")
    } else {
        format!("{whole}.{frac} kHz")
    }
}

fn channels_name(n: u16) -> String {
    match n {
        1 => "mono".into(),
        2 => "stereo".into(),
        n => format!("{n}-channel"),
    }
}

/// `audio: 44.1 kHz stereo → 16 kHz mono (mixed down, resampled)`.
impl fmt::Display for Conversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.mixed_down(), self.resampled()) {
            (true, true) => "mixed down, resampled",
            (true, false) => "mixed down",
            (false, true) => "resampled",
            (false, false) => "as is",
        };
        write!(f, "audio: {} {} → {} mono ({what})", khz(self.from_rate), channels_name(self.from_channels), khz(self.to_rate))
    }
}

/// Why the audio cannot be made what the server is told: the message carries the command that
/// converts the file by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    pub from_rate: u32,
    pub to_rate: u32,
    pub why: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = self.to_rate;
        write!(
            f,
            "cannot resample the audio from {} Hz to {to} Hz ({}); convert it with: sox in.wav -r {to} -c 1 out.wav \
             (or: ffmpeg -i in.wav -ar {to} -ac 1 -acodec pcm_s16le out.wav)",
            self.from_rate, self.why
        )
    }
}

impl std::error::Error for ConvertError {}

/// Mono 16-bit PCM at `rate`: channels averaged, then resampled when the rates differ. Audio
/// that already is mono at `rate` comes back untouched with no conversion.
pub fn conform(audio: Audio, rate: u32) -> Result<(Audio, Option<Conversion>), ConvertError> {
    let conversion = Conversion { from_rate: audio.sample_rate, from_channels: audio.channels, to_rate: rate };
    if !conversion.mixed_down() && !conversion.resampled() {
        return Ok((audio, None));
    }
    let mono = mix_down(&audio.pcm, audio.channels);
    let samples = if conversion.resampled() { resample(&mono, audio.sample_rate, rate)? } else { mono };
    let pcm = samples.iter().flat_map(|s| to_i16(*s).to_le_bytes()).collect();
    Ok((Audio { sample_rate: rate, channels: 1, pcm }, Some(conversion)))
}

/// Interleaved s16le frames -> one f64 sample per frame (the channels' mean, in [-1, 1)).
fn mix_down(pcm: &[u8], channels: u16) -> Vec<f64> {
    let n = usize::from(channels.max(1));
    pcm.chunks_exact(2 * n)
        .map(|frame| {
            let sum: i32 = frame.chunks_exact(2).map(|s| i32::from(i16::from_le_bytes([s[0], s[1]]))).sum();
            f64::from(sum) / n as f64 / 32768.0
        })
        .collect()
}

fn to_i16(s: f64) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// The rates the resampler takes: outside, the FFT sizes (up to `rate / gcd` × 1024 frames)
/// would be absurd, and no speech server runs there.
const RESAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;

/// The whole clip through rubato's synchronous FFT resampler (fixed ratio `to / from`).
fn resample(samples: &[f64], from: u32, to: u32) -> Result<Vec<f64>, ConvertError> {
    let fail = |why: String| ConvertError { from_rate: from, to_rate: to, why };
    for rate in [from, to] {
        if !RESAMPLE_RATES.contains(&rate) {
            return Err(fail(format!("{rate} Hz is outside {} to {} Hz", RESAMPLE_RATES.start(), RESAMPLE_RATES.end())));
        }
    }
    let mut fft = Fft::<f64>::new(from as usize, to as usize, 1024, 1, FixedSync::Both).map_err(|e| fail(e.to_string()))?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| fail(e.to_string()))?;
    let out = fft.process_all(&input, samples.len(), None).map_err(|e| fail(e.to_string()))?;
    Ok(out.take_data())
}

/// 16-bit little-endian PCM -> 32-bit little-endian floats in [-1, 1) (sample / 32768), the
/// format WhisperLive's and sherpa-onnx's clients send. A trailing odd byte is dropped.
pub fn to_f32le(pcm_s16le: &[u8]) -> Vec<u8> {
    pcm_s16le.chunks_exact(2).flat_map(|s| (f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0).to_le_bytes()).collect()
}

#[cfg(test)]
mod tests;
