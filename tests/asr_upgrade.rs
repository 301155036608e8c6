//! End to end: `stampede asr` upgrade flags (-H, --subprotocol) and the audio conversion, against
//! the independent tungstenite server of `common::ws_server` (vosk-server's message flow) and
//! the Python `websockets` FunASR peer of tests/peers/ (py-2026: `binary` required).

mod common;

use common::pypeer::{python_peer, sessions};
use common::ws_server::{self, Behaviour};
use common::{stampede, u};

/// A WAV file's bytes, written here: `seconds` of a 440 Hz sine on every one of `channels`
/// channels at `rate`, 16-bit.
fn wav(rate: u32, channels: u16, seconds: u32) -> Vec<u8> {
    let frames = rate * seconds;
    let mut pcm = Vec::new();
    for i in 0..frames {
        let s = (0.4 * (std::f64::consts::TAU * 440.0 * f64::from(i) / f64::from(rate)).sin() * 32767.0) as i16;
        for _ in 0..channels {
            pcm.extend_from_slice(&s.to_le_bytes());
        }
    }
    let mut w = b"RIFF".to_vec();
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

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("stampede-asr-upgrade-{}-{name}", std::process::id()))
}

#[test]
fn stereo_44k1_arrives_as_16k_mono_and_the_report_says_so() {
    let (addr, _) = ws_server::start_recording(Behaviour::CountAudio);
    let audio = temp("stereo.wav");
    std::fs::write(&audio, wav(44_100, 2, 2)).unwrap();
    let transcripts = temp("stereo.jsonl");
    let r = stampede(&[
        "asr",
        &format!("ws://{addr}/"),
        "--streams",
        "2",
        "-t",
        "1",
        "--speed",
        "0",
        "--audio",
        audio.to_str().unwrap(),
        "--transcripts",
        transcripts.to_str().unwrap(),
    ]);
    let lines = std::fs::read_to_string(&transcripts).unwrap_or_default();
    let _ = (std::fs::remove_file(&audio), std::fs::remove_file(&transcripts));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 2 s of 16 kHz 16-bit mono: 64000 bytes per session, declared as 16000 Hz.
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.lines().all(|l| l.contains("64000 bytes at 16000 Hz")), "{lines}");
    assert!(r.stderr.contains("audio: 44.1 kHz stereo → 16 kHz mono (mixed down, resampled)"), "{}", r.stderr);
    assert_eq!(u(r.json.as_ref().unwrap(), &["asr", "sessions", "completed"]), 2);
    // The result carries it too: JSON and the text report's streaming section.
    let said = "audio: 44.1 kHz stereo → 16 kHz mono (mixed down, resampled)";
    assert_eq!(r.json.as_ref().unwrap()["asr"]["audio_conversion"], said, "{:?}", r.json);
    assert!(r.stdout.lines().any(|l| l.trim() == said), "{}", r.stdout);
}

#[test]
fn mono_16k_is_sent_as_is() {
    let (addr, _) = ws_server::start_recording(Behaviour::CountAudio);
    let audio = temp("mono.wav");
    std::fs::write(&audio, wav(16_000, 1, 1)).unwrap();
    let transcripts = temp("mono.jsonl");
    let r = stampede(&[
        "asr",
        &format!("ws://{addr}/"),
        "--streams",
        "1",
        "-t",
        "1",
        "--speed",
        "0",
        "--audio",
        audio.to_str().unwrap(),
        "--transcripts",
        transcripts.to_str().unwrap(),
    ]);
    let lines = std::fs::read_to_string(&transcripts).unwrap_or_default();
    let _ = (std::fs::remove_file(&audio), std::fs::remove_file(&transcripts));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines.contains("32000 bytes at 16000 Hz"), "{lines}");
    assert!(!r.stderr.contains("audio: "), "no conversion to report: {}", r.stderr);
    assert!(r.json.as_ref().unwrap()["asr"].get("audio_conversion").is_none(), "{:?}", r.json);
}

#[test]
fn asr_offers_subprotocols_and_headers() {
    let (addr, seen) = ws_server::start_recording(Behaviour::Subprotocol { require: "binary", answer: None });
    let url = format!("ws://{addr}/");
    // Without the offer: refused, a handshake error.
    let r = stampede(&["asr", &url, "--streams", "1", "-t", "1", "--signal-length", "200ms", "-d", "1s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(u(r.json.as_ref().unwrap(), &["errors", "handshake"]) >= 1, "{:?}", r.json);
    // With it: the echo server answers nothing, so the session times out, but the upgrade
    // went through and carried the header.
    let before = seen.lock().unwrap().len();
    let r = stampede(&[
        "asr",
        &url,
        "--streams",
        "1",
        "-t",
        "1",
        "--signal-length",
        "200ms",
        "--timeout",
        "300ms",
        "--subprotocol",
        "binary",
        "-H",
        "Authorization: Bearer t0ken",
    ]);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["errors", "handshake"]), 0, "{v}");
    assert_eq!(u(&v, &["connections", "established"]), 1, "{v}");
    let seen = seen.lock().unwrap();
    let last = &seen[before..];
    assert!(last.iter().any(|h| h.contains(&("sec-websocket-protocol".into(), "binary".into()))), "{last:?}");
    assert!(last.iter().any(|h| h.contains(&("authorization".into(), "Bearer t0ken".into()))), "{last:?}");
}

#[test]
fn an_asr_plan_sends_its_headers_and_subprotocols() {
    let (addr, seen) = ws_server::start_recording(Behaviour::CountAudio);
    let plan = temp("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "scenario = \"asr\"\nurl = \"ws://{addr}/\"\n[options]\nthreads = 1\nsignal-length = \"300ms\"\n\
             header = [\"X-Tenant: blue\"]\nsubprotocol = \"binary\"\n\
             [[stage]]\nduration = \"1s\"\nstreams = 2\n"
        ),
    )
    .unwrap();
    let r = stampede(&["run", plan.to_str().unwrap()]);
    let _ = std::fs::remove_file(&plan);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for h in seen.iter() {
        assert!(h.contains(&("sec-websocket-protocol".into(), "binary".into())), "{h:?}");
        assert!(h.contains(&("x-tenant".into(), "blue".into())), "{h:?}");
    }
}

#[test]
fn funasr_py2026_in_python_websockets_accepts_the_presets_binary_offer_only_and_hears_16k_mono() {
    let stats = temp("funasr.jsonl");
    let _ = std::fs::remove_file(&stats);
    let root = env!("CARGO_MANIFEST_DIR");
    let server = format!("{root}/tests/peers/funasr_server.py");
    let Some((mut peer, port)) = python_peer(&[&server, "--flavour", "py-2026"], &stats) else { return };
    let url = format!("ws://127.0.0.1:{port}/");
    // Offering something else than `binary`: websockets answers 400, a handshake error.
    let r = stampede(&[
        "asr",
        &url,
        "--preset",
        "funasr",
        "--subprotocol",
        "v2.asr",
        "--streams",
        "1",
        "-t",
        "1",
        "--signal-length",
        "200ms",
        "-d",
        "1s",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(u(r.json.as_ref().unwrap(), &["errors", "handshake"]) >= 1, "{:?}", r.json);
    assert!(sessions(&stats, 0).is_empty(), "no session was opened");
    // The preset's own offer (`binary`, as FunASR's reference client): accepted, and 1 s of
    // 44.1 kHz stereo reaches the server as 1 s of 16 kHz mono.
    let audio = temp("funasr.wav");
    std::fs::write(&audio, wav(44_100, 2, 1)).unwrap();
    let r = stampede(&[
        "asr",
        &url,
        "--preset",
        "funasr",
        "--streams",
        "1",
        "-t",
        "1",
        "--speed",
        "0",
        "--timeout",
        "3s",
        "--audio",
        audio.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&audio);
    let found = sessions(&stats, 1);
    let _ = peer.kill();
    let _ = peer.wait();
    let _ = std::fs::remove_file(&stats);
    let v = r.json.unwrap();
    assert_eq!(u(&v, &["errors", "handshake"]), 0, "{v}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["subprotocol"], "binary", "{found:?}");
    assert_eq!(found[0]["audio_bytes"], 32_000, "1 s of 16 kHz 16-bit mono: {found:?}");
}

#[test]
fn audio_that_cannot_be_resampled_is_refused_with_the_command() {
    let audio = temp("2k.wav");
    std::fs::write(&audio, wav(2_000, 2, 1)).unwrap();
    let r = common::stampede_raw(&["asr", "ws://127.0.0.1:1/", "--audio", audio.to_str().unwrap()]);
    let _ = std::fs::remove_file(&audio);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("sox in.wav -r 16000 -c 1 out.wav"), "{}", r.stderr);
}
