use super::*;

/// A deterministic PCM ramp of `frames` frames.
fn pcm(frames: usize, channels: u16) -> Vec<u8> {
    (0..frames * usize::from(channels)).flat_map(|i| ((i as i32 * 1237 - 20000) as i16).to_le_bytes()).collect()
}

fn audio(rate: u32, channels: u16, frames: usize) -> Audio {
    Audio { sample_rate: rate, channels, pcm: pcm(frames, channels) }
}

/// A plain `fmt ` body: tag, channels, rate, bits, block align (byte rate derived).
fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16, block_align: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b
}

fn fmt16(channels: u16, rate: u32) -> Vec<u8> {
    fmt_body(1, channels, rate, 16, channels * 2)
}

/// A WAVE_FORMAT_EXTENSIBLE body with the standard GUID for `subformat`.
fn extensible(subformat: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let mut b = fmt_body(0xFFFE, channels, rate, bits, channels * bits / 8);
    b.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    b.extend_from_slice(&bits.to_le_bytes()); // valid bits
    b.extend_from_slice(&(if channels == 1 { 4u32 } else { 3 }).to_le_bytes());
    b.extend_from_slice(&subformat.to_le_bytes());
    b.extend_from_slice(&SUBTYPE_GUID_TAIL);
    assert_eq!(b.len(), 40);
    b
}

/// A RIFF/WAVE file from chunks, with a correct RIFF size and pad bytes after odd chunks.
fn wav(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (id, data) in chunks {
        body.extend_from_slice(*id);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(body.len() as u32).to_le_bytes());
    w.extend_from_slice(&body);
    w
}

/// Overwrites the little-endian u32 at `at`.
fn set_u32(w: &mut [u8], at: usize, v: u32) {
    w[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn to_wav_round_trips_exactly() {
    for rate in [8000, 16000, 44100] {
        for channels in [1, 2] {
            for frames in [1, 7, 160, 4410] {
                let a = audio(rate, channels, frames);
                let w = a.to_wav();
                assert_eq!(w.len(), 44 + a.pcm.len());
                assert_eq!(&w[..4], b"RIFF");
                assert_eq!(&w[8..16], b"WAVEfmt ");
                assert_eq!(u32::from_le_bytes([w[4], w[5], w[6], w[7]]) as usize, w.len() - 8);
                assert_eq!(parse_wav(&w), Ok(a.clone()), "{rate} Hz x{channels} {frames}");
            }
        }
    }
}

#[test]
fn canonical_header_fields() {
    let w = audio(44100, 2, 10).to_wav();
    assert_eq!(&w[20..22], &1u16.to_le_bytes()); // PCM
    assert_eq!(&w[22..24], &2u16.to_le_bytes()); // channels
    assert_eq!(&w[24..28], &44100u32.to_le_bytes());
    assert_eq!(&w[28..32], &176400u32.to_le_bytes()); // byte rate
    assert_eq!(&w[32..34], &4u16.to_le_bytes()); // block align
    assert_eq!(&w[34..36], &16u16.to_le_bytes());
    assert_eq!(&w[36..40], b"data");
    assert_eq!(&w[40..44], &40u32.to_le_bytes());
}

#[test]
fn extra_chunks_are_skipped() {
    let p = pcm(50, 1);
    let list = b"INFOISFT\x0e\x00\x00\x00Lavf60.3.100\x00\x00".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("LIST before fmt", wav(&[(b"LIST", &list), (b"fmt ", &fmt16(1, 16000)), (b"data", &p)])),
        ("odd-sized chunk with pad byte", wav(&[(b"JUNK", b"abc"), (b"fmt ", &fmt16(1, 16000)), (b"data", &p)])),
        ("odd-sized chunk between fmt and data", wav(&[(b"fmt ", &fmt16(1, 16000)), (b"bext", b"12345"), (b"data", &p)])),
        ("fact chunk", wav(&[(b"fmt ", &fmt16(1, 16000)), (b"fact", &50u32.to_le_bytes()), (b"data", &p)])),
        ("fmt of 18 bytes (cbSize 0)", wav(&[(b"fmt ", &[fmt16(1, 16000), vec![0, 0]].concat()), (b"data", &p)])),
        ("chunks after data", wav(&[(b"fmt ", &fmt16(1, 16000)), (b"data", &p), (b"LIST", &list)])),
        ("data before fmt", wav(&[(b"data", &p), (b"fmt ", &fmt16(1, 16000))])),
        ("WAVE_FORMAT_EXTENSIBLE PCM", wav(&[(b"fmt ", &extensible(1, 1, 16000, 16)), (b"data", &p)])),
    ];
    for (name, w) in cases {
        let a = parse_wav(&w).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((a.sample_rate, a.channels), (16000, 1), "{name}");
        assert_eq!(a.pcm, p, "{name}");
    }
}

#[test]
fn extensible_stereo() {
    let p = pcm(33, 2);
    let w = wav(&[(b"fmt ", &extensible(1, 2, 48000, 16)), (b"data", &p)]);
    assert_eq!(parse_wav(&w), Ok(Audio { sample_rate: 48000, channels: 2, pcm: p }));
}

#[test]
fn streamed_data_sizes_take_the_rest_of_the_file() {
    let p = pcm(40, 2);
    for unknown in [0u32, u32::MAX] {
        let mut w = audio(22050, 2, 40).to_wav();
        set_u32(&mut w, 40, unknown);
        set_u32(&mut w, 4, unknown);
        assert_eq!(parse_wav(&w).map(|a| a.pcm), Ok(p.clone()), "{unknown:#x}");
        // A trailing partial frame (cut mid-stream) is dropped.
        w.extend_from_slice(&[1, 2, 3]);
        assert_eq!(parse_wav(&w).map(|a| a.pcm), Ok(p.clone()), "{unknown:#x}");
    }
}

#[test]
fn malformed_inputs_give_the_right_error_and_a_fix() {
    let p = pcm(10, 1);
    let good_fmt = fmt16(1, 16000);
    let mut truncated = wav(&[(b"fmt ", &good_fmt), (b"data", &p)]);
    truncated.truncate(truncated.len() - 1);
    let mut truncated_size = wav(&[(b"fmt ", &good_fmt), (b"data", &p)]);
    set_u32(&mut truncated_size, 40, 22);
    let mut rifx = audio(16000, 1, 4).to_wav();
    rifx[..4].copy_from_slice(b"RIFX");
    let mut avi = audio(16000, 1, 4).to_wav();
    avi[8..12].copy_from_slice(b"AVI ");
    let mut float_ext = extensible(3, 1, 16000, 32);
    float_ext[12..14].copy_from_slice(&4u16.to_le_bytes());
    let mut bad_guid = extensible(1, 1, 16000, 16);
    bad_guid[39] ^= 0xFF;
    let mut short_cb = extensible(1, 1, 16000, 16);
    short_cb[16] = 0;

    type Case<'a> = (&'a str, Vec<u8>, WavError, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        ("empty file", vec![], WavError::Empty, &["no audio"]),
        ("not RIFF", b"ID3\x04 some mp3 bytes ...".to_vec(), WavError::NotRiff, &["\"RIFF\"", "pcm_s16le"]),
        ("big-endian RIFX", rifx, WavError::NotRiff, &["\"RIFF\""]),
        ("not WAVE", avi, WavError::NotWave, &["\"WAVE\""]),
        ("no fmt", wav(&[(b"data", &p)]), WavError::NoFmt, &["no \"fmt \" chunk"]),
        ("no fmt before streamed data", wav(&[(b"data", &[])]), WavError::NoFmt, &["no \"fmt \" chunk"]),
        ("no data", wav(&[(b"fmt ", &good_fmt), (b"LIST", b"INFO")]), WavError::NoData, &["no \"data\" chunk"]),
        (
            "8-bit",
            wav(&[(b"fmt ", &fmt_body(1, 1, 8000, 8, 1)), (b"data", &p)]),
            WavError::UnsupportedBits(8),
            &["8-bit", "sox in.wav -b 16 out.wav", "ffmpeg -i in.wav -acodec pcm_s16le"],
        ),
        (
            "24-bit",
            wav(&[(b"fmt ", &fmt_body(1, 2, 48000, 24, 6)), (b"data", &p)]),
            WavError::UnsupportedBits(24),
            &["the WAV is 24-bit: stampede streams 16-bit PCM; convert it with: sox in.wav -b 16 out.wav"],
        ),
        ("24-bit extensible", wav(&[(b"fmt ", &extensible(1, 2, 48000, 24)), (b"data", &p)]), WavError::UnsupportedBits(24), &["24-bit"]),
        (
            "float (format 3)",
            wav(&[(b"fmt ", &fmt_body(3, 1, 16000, 32, 4)), (b"data", &p)]),
            WavError::UnsupportedFormat { format_tag: 3 },
            &["IEEE float", "0x0003", "16-bit integer PCM", "-e signed-integer"],
        ),
        ("float extensible", wav(&[(b"fmt ", &float_ext), (b"data", &p)]), WavError::UnsupportedFormat { format_tag: 3 }, &["IEEE float"]),
        (
            "mu-law",
            wav(&[(b"fmt ", &fmt_body(7, 1, 8000, 8, 1)), (b"data", &p)]),
            WavError::UnsupportedFormat { format_tag: 7 },
            &["mu-law"],
        ),
        (
            "extensible with an unknown GUID",
            wav(&[(b"fmt ", &bad_guid), (b"data", &p)]),
            WavError::UnsupportedFormat { format_tag: 0xFFFE },
            &["0xFFFE"],
        ),
        (
            "33 channels",
            wav(&[(b"fmt ", &fmt_body(1, 33, 16000, 16, 66)), (b"data", &p)]),
            WavError::UnsupportedChannels(33),
            &["33 channels", "1 to 32", "sox in.wav -c 1 out.wav", "-ac 1"],
        ),
        ("0 channels", wav(&[(b"fmt ", &fmt_body(1, 0, 16000, 16, 0)), (b"data", &p)]), WavError::UnsupportedChannels(0), &["0 channels"]),
        ("truncated data", truncated, WavError::Truncated, &["truncated"]),
        ("data size beyond the file", truncated_size, WavError::Truncated, &["truncated"]),
        (
            "empty data",
            {
                // A zero-size data chunk with nothing after it: no frame at all.
                wav(&[(b"fmt ", &good_fmt), (b"data", &[])])
            },
            WavError::Empty,
            &["no audio", "at least one"],
        ),
        ("block align mismatch", wav(&[(b"fmt ", &fmt_body(1, 2, 16000, 16, 2)), (b"data", &p)]), WavError::BadChunk, &["block align"]),
        ("sample rate 0", wav(&[(b"fmt ", &fmt_body(1, 1, 0, 16, 2)), (b"data", &p)]), WavError::BadChunk, &["sample rate of 0"]),
        ("fmt too short", wav(&[(b"fmt ", &good_fmt[..14]), (b"data", &p)]), WavError::BadChunk, &["too short"]),
        ("extensible cbSize too small", wav(&[(b"fmt ", &short_cb), (b"data", &p)]), WavError::BadChunk, &["malformed"]),
        ("data not whole frames", wav(&[(b"fmt ", &fmt16(2, 16000)), (b"data", &p[..6])]), WavError::BadChunk, &["whole number of frames"]),
    ];
    for (name, bytes, want, needles) in cases {
        let got = parse_wav(&bytes);
        assert_eq!(got, Err(want), "{name}");
        let msg = got.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("stampede"), "{name}: says what is accepted: {msg}");
        assert!(msg.contains("ffmpeg -i "), "{name}: suggests a fix: {msg}");
        for n in needles {
            assert!(msg.contains(n), "{name}: {msg:?} lacks {n:?}");
        }
    }
}

#[test]
fn every_strict_prefix_is_an_error() {
    let valid = [
        audio(8000, 1, 6).to_wav(),
        wav(&[(b"LIST", b"INFOabc"), (b"fmt ", &extensible(1, 2, 16000, 16)), (b"fact", &6u32.to_le_bytes()), (b"data", &pcm(6, 2))]),
    ];
    for w in valid {
        assert!(parse_wav(&w).is_ok());
        for cut in 0..w.len() {
            let r = parse_wav(&w[..cut]);
            assert!(r.is_err(), "prefix of {cut} bytes parsed: {r:?}");
            if cut >= 12 {
                assert!(matches!(r, Err(WavError::Truncated)), "prefix of {cut}: {r:?}");
            }
        }
    }
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Any `Ok` keeps the invariants the scenario relies on.
fn check_invariants(r: &Result<Audio, WavError>) {
    if let Ok(a) = r {
        assert!(a.sample_rate > 0);
        assert!((1..=2).contains(&a.channels));
        assert!(!a.pcm.is_empty());
        assert_eq!(a.pcm.len() % (usize::from(a.channels) * 2), 0);
        let total: usize = a.chunks(20).iter().map(|r| r.len()).sum();
        assert_eq!(total, a.pcm.len());
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let seeds = [
        audio(16000, 1, 20).to_wav(),
        wav(&[(b"LIST", b"INFOx"), (b"fmt ", &extensible(1, 2, 44100, 16)), (b"fact", &20u32.to_le_bytes()), (b"data", &pcm(20, 2))]),
    ];
    let mut rng = 0x1234_5678_9ABC_DEF1u64;
    let mut oks = 0;
    for round in 0..20_000 {
        let mut w = seeds[round % seeds.len()].clone();
        match xorshift(&mut rng) % 4 {
            0 => {
                // Flip a few bytes anywhere.
                for _ in 0..1 + xorshift(&mut rng) % 4 {
                    let at = (xorshift(&mut rng) as usize) % w.len();
                    w[at] = xorshift(&mut rng) as u8;
                }
            }
            1 => {
                // Overwrite a header or size field with an interesting value.
                let at = (xorshift(&mut rng) as usize) % (w.len() - 4);
                let v = [0, 1, 2, 15, 16, 17, 0x7FFF_FFFF, u32::MAX, u32::MAX - 7][(xorshift(&mut rng) % 9) as usize];
                set_u32(&mut w, at, v);
            }
            2 => {
                // Cut or extend.
                let len = (xorshift(&mut rng) as usize) % (w.len() + 16);
                w.resize(len, xorshift(&mut rng) as u8);
            }
            _ => {
                // Random bytes behind a valid RIFF/WAVE header.
                let len = (xorshift(&mut rng) % 96) as usize;
                w.truncate(12);
                w.extend((0..len).map(|_| xorshift(&mut rng) as u8));
            }
        }
        let r = parse_wav(&w);
        check_invariants(&r);
        if let Err(e) = &r {
            assert!(!e.to_string().is_empty());
        } else {
            oks += 1;
        }
        if round % 10 == 0 {
            // The shared invariants (what parses re-encodes to itself, its strict prefixes are
            // truncated, every error names a conversion command), as the fuzz target checks them.
            crate::invariants::wav(&w);
        }
    }
    // The mutations are mild enough that some inputs still parse.
    assert!(oks > 0);
}

/// Generated valid WAVs (any rate, mono or stereo, plain or extensible `fmt `, unknown chunks
/// of odd and even sizes before and between `fmt ` and `data`) parse to exactly their audio, and
/// every strict prefix is an error: `Empty` for no byte, `Truncated` for any other (needs more).
#[test]
fn every_strict_prefix_of_a_generated_wav_is_truncated() {
    let mut rng = 0x0057_4156_4546_494Cu64;
    for _ in 0..300 {
        let channels = 1 + (xorshift(&mut rng) % 2) as u16;
        let rate = [8000, 11025, 16000, 22050, 44100, 48000, 1, 96000][(xorshift(&mut rng) % 8) as usize];
        let frames = 1 + (xorshift(&mut rng) % 120) as usize;
        let want = audio(rate, channels, frames);
        let fmt = if xorshift(&mut rng) % 2 == 0 { fmt16(channels, rate) } else { extensible(1, channels, rate, 16) };
        let junk: Vec<Vec<u8>> = (0..3).map(|_| (0..xorshift(&mut rng) % 9).map(|_| xorshift(&mut rng) as u8).collect()).collect();
        let ids: [&[u8; 4]; 3] = [b"LIST", b"JUNK", b"fact"];
        let mut chunks: Vec<(&[u8; 4], &[u8])> = Vec::new();
        let before = (xorshift(&mut rng) % 3) as usize;
        chunks.extend((0..before).map(|i| (ids[i], &junk[i][..])));
        chunks.push((b"fmt ", &fmt));
        if xorshift(&mut rng) % 2 == 0 {
            chunks.push((ids[2], &junk[2][..]));
        }
        chunks.push((b"data", &want.pcm));
        let w = wav(&chunks);
        assert_eq!(parse_wav(&w), Ok(want.clone()));
        for cut in 0..w.len() {
            let e = parse_wav(&w[..cut]).unwrap_err();
            assert_eq!(e, if cut == 0 { WavError::Empty } else { WavError::Truncated }, "prefix {cut} of {}", w.len());
        }
        crate::invariants::wav(&w);
    }
}

#[test]
fn chunk_arithmetic() {
    assert_eq!(audio(16000, 1, 0).chunk_bytes(20), 640);
    assert_eq!(audio(44100, 2, 0).chunk_bytes(20), 3528);
    assert_eq!(audio(8000, 1, 0).chunk_bytes(100), 1600);
    // At least one frame.
    assert_eq!(audio(8000, 1, 0).chunk_bytes(0), 2);
    assert_eq!(audio(100, 2, 0).chunk_bytes(1), 4);
    // Whole frames, rounded down: 22050 Hz x 10 ms = 220.5 frames.
    assert_eq!(audio(22050, 2, 0).chunk_bytes(10), 880);

    let a = audio(16000, 2, 16000 + 123);
    assert_eq!(a.bytes_per_second(), 64000);
    assert_eq!(a.duration_ms(), 1007);
    assert_eq!(audio(44100, 1, 44100 * 3).duration_ms(), 3000);
    assert_eq!(audio(0, 1, 10).duration_ms(), 0);
}

#[test]
fn chunks_cover_the_data_once_in_order() {
    for (rate, channels, frames, ms) in [
        (16000, 1, 16000, 20),
        (16000, 1, 16001, 20),
        (44100, 2, 3000, 20),
        (8000, 1, 1, 20),
        (8000, 2, 0, 20),
        (22050, 2, 5000, 7),
        (16000, 1, 100, 0),
    ] {
        let a = audio(rate, channels, frames);
        let step = a.chunk_bytes(ms);
        let chunks = a.chunks(ms);
        let mut next = 0;
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.start, next, "contiguous");
            assert!(!c.is_empty());
            if i + 1 < chunks.len() {
                assert_eq!(c.len(), step);
            } else {
                assert!(c.len() <= step);
            }
            assert_eq!(c.len() % (usize::from(channels) * 2), 0, "whole frames");
            next = c.end;
        }
        assert_eq!(next, a.pcm.len(), "covers everything");
        assert_eq!(chunks.len(), a.pcm.len().div_ceil(step));
    }
}

#[test]
fn read_wav_names_the_path() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let missing = dir.join(format!("stampede-audio-missing-{pid}.wav"));
    let msg = read_wav(&missing).unwrap_err();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(msg.contains("cannot read"), "{msg}");

    let good = dir.join(format!("stampede-audio-good-{pid}.wav"));
    let a = audio(16000, 1, 321);
    std::fs::write(&good, a.to_wav()).unwrap();
    assert_eq!(read_wav(&good), Ok(a));

    let bad = dir.join(format!("stampede-audio-bad-{pid}.wav"));
    std::fs::write(&bad, wav(&[(b"fmt ", &fmt_body(1, 1, 16000, 24, 3)), (b"data", &[0; 6])])).unwrap();
    let msg = read_wav(&bad).unwrap_err();
    assert!(msg.contains(&bad.display().to_string()), "{msg}");
    assert!(msg.contains("24-bit"), "{msg}");
    let _ = std::fs::remove_file(&good);
    let _ = std::fs::remove_file(&bad);
}

fn samples(a: &Audio) -> Vec<f64> {
    a.pcm.chunks_exact(2).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]]))).collect()
}

fn rms(s: &[f64]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f64>() / s.len() as f64).sqrt()
}

#[test]
fn speech_like_is_deterministic_and_sized() {
    let a = speech_like(16000, 1.5);
    assert_eq!(a, speech_like(16000, 1.5));
    assert_eq!((a.sample_rate, a.channels), (16000, 1));
    assert_eq!(a.pcm.len(), 24000 * 2);
    assert_eq!(a.duration_ms(), 1500);
    assert_eq!(speech_like(8000, 0.5).pcm.len(), 4000 * 2);
    assert_eq!(speech_like(44100, 0.1).pcm.len(), 4410 * 2);
    // A prefix of a longer signal is the shorter signal.
    let long = speech_like(16000, 2.0);
    assert_eq!(&long.pcm[..a.pcm.len()], &a.pcm[..]);
    // Degenerate arguments give no samples, never a panic.
    assert!(speech_like(16000, 0.0).pcm.is_empty());
    assert!(speech_like(16000, -1.0).pcm.is_empty());
    assert!(speech_like(16000, f64::NAN).pcm.is_empty());
    assert!(speech_like(0, 1.0).pcm.is_empty());
    // It is a valid WAV once written.
    assert_eq!(parse_wav(&a.to_wav()), Ok(a));
}

#[test]
fn speech_like_has_loud_syllables_and_quiet_gaps() {
    for rate in [8000, 16000, 44100] {
        let a = speech_like(rate, 3.0);
        let s = samples(&a);
        let overall = rms(&s);
        assert!(overall > 1000.0, "{rate} Hz: rms {overall}");
        assert!(s.iter().all(|x| x.abs() < 32000.0), "{rate} Hz: no clipping");
        let window = (rate / 50) as usize; // 20 ms
        let windows: Vec<f64> = s.chunks_exact(window).map(rms).collect();
        let loud = windows.iter().cloned().fold(0.0, f64::max);
        assert!(loud > 3000.0, "{rate} Hz: loudest window {loud}");
        let quiet = windows.iter().filter(|&&w| w < loud / 50.0).count();
        let loud_ones = windows.iter().filter(|&&w| w > loud / 4.0).count();
        // ~4 syllables per second, each followed by a gap of at least 50 ms.
        assert!(quiet >= 10, "{rate} Hz: {quiet} quiet windows of {}", windows.len());
        assert!(loud_ones >= 30, "{rate} Hz: {loud_ones} loud windows");
        // The gaps are near-silence, not digital silence.
        assert!(windows.iter().all(|&w| w > 0.0), "{rate} Hz: noise floor present");
    }
}

#[test]
fn speech_like_pitch_is_in_the_voice_range() {
    // Zero crossings of the voiced parts: the fundamental dominates at 120-250 Hz, so a loud
    // 20 ms window has roughly 2 x 2.4..5 crossings (harmonics add a few).
    let a = speech_like(16000, 2.0);
    let s = samples(&a);
    let windows: Vec<&[f64]> = s.chunks_exact(320).collect();
    let loud = windows.iter().map(|w| rms(w)).fold(0.0, f64::max);
    let mut checked = 0;
    for w in windows.iter().filter(|w| rms(w) > loud / 3.0) {
        let crossings = w.windows(2).filter(|p| (p[0] < 0.0) != (p[1] < 0.0)).count();
        assert!((4..=60).contains(&crossings), "{crossings} crossings");
        checked += 1;
    }
    assert!(checked > 10);
}
