use super::*;
use crate::audio::parse_wav;

/// A WAV file's bytes written here, sample by sample: `channels` interleaved channels of
/// `f(channel, t)` (in [-1, 1]) at `rate` for `frames` frames.
fn wav(rate: u32, channels: u16, frames: usize, f: impl Fn(u16, f64) -> f64) -> Vec<u8> {
    let mut pcm = Vec::with_capacity(frames * usize::from(channels) * 2);
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        for c in 0..channels {
            pcm.extend_from_slice(&to_i16(f(c, t) * 0.999).to_le_bytes());
        }
    }
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&channels.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    w.extend_from_slice(&(channels * 2).to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    w.extend_from_slice(&pcm);
    w
}

fn samples(a: &Audio) -> Vec<i16> {
    a.pcm.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])).collect()
}

fn sine(hz: f64) -> impl Fn(u16, f64) -> f64 {
    move |_, t| 0.5 * (std::f64::consts::TAU * hz * t).sin()
}

/// Sign changes in `s` (a sine of f Hz over T seconds has about 2 f T).
fn zero_crossings(s: &[i16]) -> usize {
    s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

#[test]
fn stereo_44k1_becomes_the_right_number_of_mono_16k_samples() {
    // 2 s of stereo at 44.1 kHz: 88200 frames -> 32000 mono samples at 16 kHz.
    let audio = parse_wav(&wav(44_100, 2, 88_200, sine(440.0))).unwrap();
    assert_eq!((audio.sample_rate, audio.channels, audio.pcm.len()), (44_100, 2, 88_200 * 4));
    let (out, conv) = conform(audio, 16_000).unwrap();
    assert_eq!((out.sample_rate, out.channels), (16_000, 1));
    assert_eq!(out.pcm.len(), 32_000 * 2, "2 s at 16 kHz, 16-bit mono");
    assert_eq!(out.duration_ms(), 2000);
    let conv = conv.unwrap();
    assert!(conv.mixed_down() && conv.resampled());
    assert_eq!(conv.to_string(), "audio: 44.1 kHz stereo → 16 kHz mono (mixed down, resampled)");
}

#[test]
fn a_sines_frequency_survives_resampling() {
    for (from, to, hz) in [(44_100, 16_000, 440.0), (48_000, 16_000, 1000.0), (8_000, 16_000, 300.0), (22_050, 8_000, 250.0)] {
        let frames = from as usize; // 1 s
        let (out, _) = conform(parse_wav(&wav(from, 1, frames, sine(hz))).unwrap(), to).unwrap();
        let s = samples(&out);
        assert_eq!(s.len(), to as usize, "{from} -> {to}");
        // The middle 0.8 s (the edges carry the filter's ramp).
        let mid = &s[s.len() / 10..s.len() * 9 / 10];
        let want = 2.0 * hz * 0.8;
        let got = zero_crossings(mid) as f64;
        assert!((got - want).abs() <= 2.0, "{from} -> {to}: {got} crossings, want {want}");
        // The level is kept too (0.5 × 0.999 full scale).
        let peak = mid.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!((15_500..=17_200).contains(&peak), "{from} -> {to}: peak {peak}");
    }
}

#[test]
fn channels_are_averaged() {
    // Left a sine, right its negation: silence. Left and right equal: the same sine.
    let opposed = parse_wav(&wav(16_000, 2, 1600, |c, t| if c == 0 { 0.5 } else { -0.5 } * (t * 2000.0).sin())).unwrap();
    let (out, conv) = conform(opposed, 16_000).unwrap();
    assert!(samples(&out).iter().all(|s| s.abs() <= 1), "opposed channels cancel");
    assert_eq!(conv.unwrap().to_string(), "audio: 16 kHz stereo → 16 kHz mono (mixed down)");
    let four = parse_wav(&wav(16_000, 4, 1600, sine(500.0))).unwrap();
    let mono = parse_wav(&wav(16_000, 1, 1600, sine(500.0))).unwrap();
    let (out, conv) = conform(four, 16_000).unwrap();
    assert_eq!(out, mono, "equal channels mix down to the same samples");
    assert_eq!(conv.unwrap().to_string(), "audio: 16 kHz 4-channel → 16 kHz mono (mixed down)");
}

#[test]
fn audio_already_right_is_untouched() {
    let a = parse_wav(&wav(16_000, 1, 800, sine(300.0))).unwrap();
    assert_eq!(conform(a.clone(), 16_000), Ok((a, None)));
    let (_, conv) = conform(parse_wav(&wav(11_025, 1, 800, sine(300.0))).unwrap(), 16_000).unwrap();
    assert_eq!(conv.unwrap().to_string(), "audio: 11.025 kHz mono → 16 kHz mono (resampled)");
}

#[test]
fn impossible_conversions_name_the_command() {
    for rate in [0, 1, 3_999, 384_001] {
        let a = Audio { sample_rate: rate, channels: 1, pcm: vec![0; 64] };
        let e = conform(a, 16_000).unwrap_err().to_string();
        assert!(e.contains("sox in.wav -r 16000 -c 1 out.wav"), "{e}");
        assert!(e.contains("ffmpeg -i in.wav -ar 16000 -ac 1"), "{e}");
        assert!(e.contains(&format!("from {rate} Hz")), "{e}");
    }
    // A rate prime to the target (one FFT of 44101 points per second of audio) still works.
    let (out, _) = conform(parse_wav(&wav(44_101, 1, 44_101, sine(440.0))).unwrap(), 16_000).unwrap();
    assert_eq!(out.pcm.len(), 32_000);
}

#[test]
fn f32le_is_sample_over_32768() {
    let pcm: Vec<u8> = [0i16, 16384, -32768, 32767, -1].iter().flat_map(|s| s.to_le_bytes()).collect();
    let f: Vec<f32> = to_f32le(&pcm).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(f, [0.0, 0.5, -1.0, 32767.0 / 32768.0, -1.0 / 32768.0]);
    assert_eq!(to_f32le(&[1, 2, 3]).len(), 4, "a trailing odd byte is dropped");
    assert!(to_f32le(&[]).is_empty());
}
