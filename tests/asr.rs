//! End to end: `stampede asr` streaming audio to the embedded mock recogniser.

mod common;

use common::{f, stampede, stampede_raw, u};
use stampede::server::AsrMock;

fn asr_url(addr: std::net::SocketAddr) -> String {
    format!("ws://{addr}/asr")
}

#[test]
fn latencies_follow_the_mock_recognisers_known_cost() {
    // 1 s of audio; partial every 200 ms of audio; final after 0.5 × 1 s = 500 ms.
    let srv = common::embedded_asr(AsrMock { partial_ms: 200, rtf: 0.5, max_sessions: None });
    let transcripts = std::env::temp_dir().join(format!("stampede-transcripts-{}.jsonl", std::process::id()));
    let r = stampede(&[
        "asr",
        &asr_url(srv.local_addr()),
        "--streams",
        "4",
        "-t",
        "1",
        "--signal-length",
        "1s",
        "--transcripts",
        transcripts.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = std::fs::read_to_string(&transcripts).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(lines.lines().all(|l| l.contains("ms of audio")), "each line holds the mock's final text: {lines}");
    let _ = std::fs::remove_file(&transcripts);
    let v = r.json.unwrap();
    assert_eq!(v["scenario"], "asr");
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 4, "{v}");
    let final_ms = f(&v, &["asr", "final_latency_ms", "corrected", "p50"]);
    assert!((480.0..800.0).contains(&final_ms), "final latency {final_ms} ms for a 500 ms processing cost: {v}");
    // the first partial needs 200 ms of audio, which takes 180-200 ms to send in real time
    let ttfp = f(&v, &["asr", "time_to_first_partial_ms", "p50"]);
    assert!((170.0..400.0).contains(&ttfp), "first partial after {ttfp} ms: {v}");
    assert_eq!(u(&v, &["asr", "frames_sent"]), 4 * 50, "1 s in 20 ms frames, 4 streams: {v}");
    assert!(f(&v, &["asr", "partials_per_session"]) >= 4.0, "{v}");
    let rtf = f(&v, &["asr", "rtf", "p50"]);
    assert!(rtf > 1.3, "a session takes the audio's length plus the processing: rtf {rtf}: {v}");
    srv.stop();
}

#[test]
fn sessions_over_the_limit_are_closed_and_classified() {
    let srv = common::embedded_asr(AsrMock { partial_ms: 200, rtf: 0.1, max_sessions: Some(2) });
    let r = stampede(&["asr", &asr_url(srv.local_addr()), "--streams", "4", "-t", "1", "--signal-length", "1s"]);
    let v = r.json.expect("json");
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 2, "{v}");
    assert_eq!(u(&v, &["errors", "closed_early"]), 2, "the 1013 close fails the others: {v}");
    assert_eq!(u(&v, &["close_codes", "1013"]), 2, "{v}");
    srv.stop();
}

#[test]
fn a_wav_file_and_the_custom_preset() {
    let srv = common::embedded_asr(AsrMock::default());
    let wav = std::env::temp_dir().join(format!("stampede-asr-{}.wav", std::process::id()));
    std::fs::write(&wav, stampede::audio::speech_like(8000, 0.6).to_wav()).unwrap();
    let r = stampede(&[
        "asr",
        &asr_url(srv.local_addr()),
        "--streams",
        "2",
        "-t",
        "1",
        "--audio",
        wav.to_str().unwrap(),
        "--preset",
        "custom",
        "--start-message",
        r#"{"config": {"sample_rate": 8000}}"#,
        "--end-message",
        r#"{"eof" : 1}"#,
        "--final-match",
        r#""text""#,
        "--speed",
        "2",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 2, "{v}");
    assert_eq!(u(&v, &["asr", "frames_sent"]), 2 * 30, "0.6 s in 20 ms frames: {v}");
    let _ = std::fs::remove_file(&wav);
    srv.stop();
}

#[test]
fn a_wav_in_the_wrong_format_is_refused_clearly() {
    let wav = std::env::temp_dir().join(format!("stampede-asr-8bit-{}.wav", std::process::id()));
    // RIFF/WAVE, fmt: PCM, 1 channel, 8000 Hz, 8 bits; 4 data bytes
    let mut b =
        b"RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data\x04\x00\x00\x00"
            .to_vec();
    b.extend_from_slice(&[128; 4]);
    std::fs::write(&wav, b).unwrap();
    let r = stampede_raw(&["asr", "ws://127.0.0.1:9/asr", "--audio", wav.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("16-bit") && r.stderr.contains("sox"), "{}", r.stderr);
    let _ = std::fs::remove_file(&wav);
    for (args, needle) in [
        (vec!["asr", "ws://127.0.0.1:9/asr", "--preset", "kaldi"], "vosk, funasr or custom"),
        (vec!["asr", "ws://127.0.0.1:9/asr", "--preset", "custom"], "--final-match"),
        (vec!["asr", "ws://127.0.0.1:9/asr", "--chunk-ms", "0"], "--chunk-ms"),
        (vec!["asr", "ws://127.0.0.1:9/asr", "--speed=-1"], "--speed"),
    ] {
        let r = stampede_raw(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_plan_drives_the_number_of_streams_by_stage() {
    // Sessions of 0.5 s of audio back to back: 1 stream, then 4.
    let srv = common::embedded_asr(AsrMock { partial_ms: 100, rtf: 0.1, max_sessions: None });
    let plan = std::env::temp_dir().join(format!("stampede-asr-plan-{}.toml", std::process::id()));
    std::fs::write(
        &plan,
        format!(
            "scenario = \"asr\"\nurl = \"{}\"\n[options]\nthreads = 1\nsignal-length = \"500ms\"\n\
             [[stage]]\nname = \"one\"\nduration = \"2s\"\nstreams = 1\n\
             [[stage]]\nname = \"four\"\nduration = \"2s\"\nstreams = 4\n",
            asr_url(srv.local_addr())
        ),
    )
    .unwrap();
    let r = stampede(&["run", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json.unwrap();
    let stages = v["stages"].as_array().unwrap();
    let ok = |i: usize| stages[i]["ok"].as_u64().unwrap();
    // ~0.56 s per session: about 3 sessions in stage one, about 4 × 3 in stage four.
    assert!(ok(0) >= 2 && ok(0) <= 4, "{}", stages[0]);
    assert!(ok(1) >= 3 * ok(0), "four streams do about four times the sessions: {} vs {}", ok(1), ok(0));
    assert_eq!(u(&v, &["connections", "planned"]), 4, "{v}");
    let _ = std::fs::remove_file(plan);
    srv.stop();
}

#[test]
fn asr_streams_split_over_processes_and_merge() {
    let srv = common::embedded_asr(AsrMock { partial_ms: 200, rtf: 0.1, max_sessions: None });
    let r = stampede(&["asr", &asr_url(srv.local_addr()), "--streams", "5", "-t", "1", "--signal-length", "600ms", "--processes", "2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("running as 2 processes"), "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 5, "3 + 2 streams, one session each: {v}");
    assert_eq!(u(&v, &["connections", "planned"]), 5, "{v}");
    srv.stop();
}

/// A 16-bit mono WAV of `pcm`.
fn wav(rate: u32, pcm: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + pcm.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    b.extend_from_slice(pcm);
    b
}

#[test]
fn a_pause_mid_stream_is_a_segment_and_the_audio_goes_on_to_the_final() {
    // 1 s of speech, 1 s of silence, 1 s of speech: the mock (as vosk-server) answers the pause
    // with a result; stampede counts it as a segment and streams the rest of the audio.
    let srv = common::embedded_asr(AsrMock { partial_ms: 200, rtf: 0.1, max_sessions: None });
    let speech = stampede::audio::speech_like(16_000, 1.0).pcm;
    let mut pcm = speech.clone();
    pcm.extend(std::iter::repeat_n(0u8, 32_000));
    pcm.extend_from_slice(&speech);
    let path = std::env::temp_dir().join(format!("stampede-pause-{}.wav", std::process::id()));
    std::fs::write(&path, wav(16_000, &pcm)).unwrap();
    let r = stampede(&["asr", &asr_url(srv.local_addr()), "--streams", "2", "-t", "1", "--audio", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 2, "{}", r.stdout);
    assert_eq!(u(&v, &["asr", "frames_sent"]), 300, "the whole audio, both streams: {}", r.stdout);
    assert_eq!(u(&v, &["asr", "segments", "count"]), 2, "one segment per stream: {}", r.stdout);
    let seg = f(&v, &["asr", "segments", "latency_ms", "p50"]);
    assert!(seg > 400.0 && seg < 1500.0, "the segment comes after 500 ms of silence: {seg} ms");
    let fin = f(&v, &["asr", "final_latency_ms", "corrected", "p50"]);
    assert!(fin > 250.0 && fin < 800.0, "final after 0.1 × 3 s: {fin} ms");
    assert_eq!(v["close_codes"]["1000"], 2, "the mock closes after the final as vosk-server: {v}");
}

#[test]
fn the_funasr_preset_against_each_funasr_flavour_of_the_mock() {
    // 1 s of speech, 1 s of silence, 1 s of speech in 60 ms frames, to /asr/funasr/FLAVOUR: the
    // four servers' is_final conventions all end in a final that answers the end of audio.
    let srv = common::embedded_asr(AsrMock { partial_ms: 200, rtf: 0.1, max_sessions: None });
    let speech = stampede::audio::speech_like(16_000, 1.0).pcm;
    let mut pcm = speech.clone();
    pcm.extend(std::iter::repeat_n(0u8, 32_000));
    pcm.extend_from_slice(&speech);
    let path = std::env::temp_dir().join(format!("stampede-funasr-{}.wav", std::process::id()));
    std::fs::write(&path, wav(16_000, &pcm)).unwrap();
    for (flavour, segments) in [("cpp-2pass", 2), ("cpp-offline", 0), ("py-2023", 2), ("py-2026", 2)] {
        let url = format!("ws://{}/asr/funasr/{flavour}", srv.local_addr());
        let r = stampede(&["asr", &url, "--preset", "funasr", "--streams", "2", "-t", "1", "--audio", path.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{flavour}: {}", r.stderr);
        let v = r.json.unwrap();
        assert_eq!(u(&v, &["asr", "sessions", "completed"]), 2, "{flavour}: {}", r.stdout);
        assert_eq!(u(&v, &["asr", "frames_sent"]), 100, "{flavour}: 3 s in 60 ms frames, both streams: {}", r.stdout);
        assert_eq!(u(&v, &["asr", "segments", "count"]), segments, "{flavour}: {}", r.stdout);
        let fin = f(&v, &["asr", "final_latency_ms", "corrected", "p50"]);
        assert!(fin > 250.0 && fin < 800.0, "{flavour}: final after 0.1 × 3 s: {fin} ms: {}", r.stdout);
        assert!(f(&v, &["asr", "final_latency_ms", "service", "p50"]) > 0.0, "{flavour}: {}", r.stdout);
    }
    let _ = std::fs::remove_file(&path);
    srv.stop();
}
