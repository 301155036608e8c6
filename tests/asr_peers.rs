//! End to end: `stampede asr` against ASR servers nobody here wrote (tests/peers/): a real Vosk
//! recognizer (Kaldi, Korean model) and servers written from the FunASR, WhisperLive and
//! sherpa-onnx sources. Each streams speech with a 2.5 s pause (`ko-pause.wav`, 11.83 s) in
//! real time and checks stampede's report against the server's own counts: every frame sent
//! and received, segments counted, a final latency that is positive and sane, a clean close
//! (the server saw our 1000), no session dropped.
//!
//! The peers come from `scripts/peers-asr.sh` (a cached venv and WAVs). Missing: SKIPPED here,
//! a failure naming that script under `CI=true` (tests/common/peer.rs).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{f, stampede, u};
use serde_json::Value;

const INSTALL: &str = "scripts/peers-asr.sh";

/// The peers' python and the pause WAV, or `None` (skipped) when the script cannot provide them.
fn peers() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/peers-asr.sh")).output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            common::peer::missing(&format!("the ASR peers are not installed ({})", String::from_utf8_lossy(&o.stderr).trim()), INSTALL);
            return None;
        }
        Err(e) => {
            common::peer::missing(&format!("{INSTALL} did not run: {e}"), INSTALL);
            return None;
        }
    };
    let value = |key: &str| out.lines().find_map(|l| l.strip_prefix(key)).map(|v| PathBuf::from(v.split("  #").next().unwrap_or(v).trim()));
    Some((value("PEERS_PYTHON=")?, value("PEERS_AUDIO_KO_PAUSE=")?))
}

/// A peer server on a free port; killed (by its own pid) when dropped.
struct Peer {
    child: Child,
    port: u16,
    stats: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stats);
    }
}

impl Peer {
    fn start(python: &Path, script: &str, args: &[&str]) -> Peer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let stats = std::env::temp_dir().join(format!("stampede-peer-{}-{script}-{}.jsonl", std::process::id(), args.join("_")));
        let _ = std::fs::remove_file(&stats);
        let mut child = Command::new(python)
            .arg(root.join("tests/peers").join(script))
            .args(["--port", "0", "--stats"])
            .arg(&stats)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the peer");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).expect("the peer's first line");
        // The peer prints a line per session: keep its stdout drained.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{script}: {e}: {line}"));
        let port = v["port"].as_u64().unwrap_or_else(|| panic!("{script} did not listen: {line}")) as u16;
        Peer { child, port, stats }
    }

    /// The sessions the server reported, waiting up to 5 s for `n` of them.
    fn sessions(&self, n: usize) -> Vec<Value> {
        for _ in 0..50 {
            let all: Vec<Value> = std::fs::read_to_string(&self.stats)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["event"] == "session")
                .collect();
            if all.len() >= n {
                return all;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the peer reported fewer than {n} sessions")
    }
}

/// Streams the WAV `streams` times at once with `preset_args`; checks the report against the
/// server's counts; returns stampede's JSON result.
fn run(peer: &Peer, wav: &Path, streams: u64, preset_args: &[&str], frame_ms: u64) -> Value {
    let url = format!("ws://127.0.0.1:{}/", peer.port);
    let n = streams.to_string();
    let mut args = vec!["asr", &url, "--audio", wav.to_str().unwrap(), "--streams", &n];
    args.extend_from_slice(preset_args);
    let r = stampede(&args);
    let v = r.json.clone().unwrap_or(Value::Null);
    assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.stderr, r.stdout);
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), streams, "no session dropped: {}", r.stdout);
    assert_eq!(u(&v, &["asr", "sessions", "failed"]), 0, "{}", r.stdout);
    // The whole audio: frames = audio length / frame length, per stream, as the server counted.
    let audio_ms = (f(&v, &["asr", "audio_seconds"]) * 1000.0 / streams as f64).round() as u64;
    let frames = u(&v, &["asr", "frames_sent"]);
    assert_eq!(frames, streams * audio_ms.div_ceil(frame_ms), "frames sent: {}", r.stdout);
    let sessions = peer.sessions(streams as usize);
    let server_frames: u64 = sessions.iter().map(|s| s["audio_frames"].as_u64().unwrap_or(0)).sum();
    assert_eq!(server_frames, frames, "the server received every frame: {sessions:?}");
    for s in &sessions {
        assert_eq!(s["close_rcvd"]["code"].as_u64(), Some(1000), "the server saw our close 1000: {s}");
    }
    // The final answers the end of audio: after it, and not long after on loopback.
    let p50 = f(&v, &["asr", "final_latency_ms", "corrected", "p50"]);
    let max = f(&v, &["asr", "final_latency_ms", "corrected", "max"]);
    assert!(p50 > 0.0 && max < 5000.0, "final latency p50 {p50} ms max {max} ms: {}", r.stdout);
    println!(
        "{preset_args:?}: {streams} streams, frames {frames} (server {server_frames}), segments {}, final p50 {p50:.1} ms corrected / {:.1} ms service, max {max:.1} ms, closes {}",
        u(&v, &["asr", "segments", "count"]),
        f(&v, &["asr", "final_latency_ms", "service", "p50"]),
        v["close_codes"]
    );
    v
}

fn segments(v: &Value) -> u64 {
    u(v, &["asr", "segments", "count"])
}

#[test]
fn vosk_real_recognizer_two_streams_with_a_pause() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "vosk_server.py", &[]);
    let v = run(&peer, &wav, 2, &["--preset", "vosk"], 20);
    // The first utterance's result comes mid-stream: a segment, not the final.
    assert!(segments(&v) >= 2, "one segment per stream at least: {v}");
    let sessions = peer.sessions(2);
    for s in &sessions {
        assert_eq!(s["eof"], true, "the eof went out: {s}");
        assert_eq!(s["finals"].as_array().map(Vec::len), Some(1), "one mid-stream result per session: {s}");
    }
}

#[test]
fn funasr_cpp_2pass() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "funasr_server.py", &["--flavour", "cpp-2pass"]);
    let v = run(&peer, &wav, 2, &["--preset", "funasr"], 60);
    assert!(segments(&v) >= 2, "the VAD-end 2pass-offline result is a segment: {v}");
}

#[test]
fn funasr_cpp_offline_final_says_false() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "funasr_server.py", &["--flavour", "cpp-offline"]);
    run(&peer, &wav, 2, &["--preset", "funasr", "--funasr-mode", "offline"], 60);
}

#[test]
fn funasr_python_2023_partials_say_final() {
    let Some((python, wav)) = peers() else { return };
    // That server closes every other connection when one opens: one stream.
    let peer = Peer::start(&python, "funasr_server.py", &["--flavour", "py-2023"]);
    let v = run(&peer, &wav, 1, &["--preset", "funasr"], 60);
    assert!(segments(&v) >= 1, "{v}");
}

#[test]
fn funasr_python_2026_wants_the_binary_subprotocol() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "funasr_server.py", &["--flavour", "py-2026"]);
    let v = run(&peer, &wav, 2, &["--preset", "funasr"], 60);
    assert!(segments(&v) >= 2, "{v}");
}

#[test]
fn whisperlive_float32_and_end_of_audio() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "whisperlive_server.py", &[]);
    let v = run(&peer, &wav, 2, &["--preset", "whisperlive"], 20);
    assert!(segments(&v) >= 2, "a segment completes in the pause: {v}");
}

#[test]
fn sherpa_float32_and_done() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "sherpa_onnx_server.py", &[]);
    let v = run(&peer, &wav, 2, &["--preset", "sherpa"], 20);
    assert!(segments(&v) >= 2, "an endpoint in the pause: {v}");
}

#[test]
fn vosk_alternatives_results_are_read() {
    let Some((python, wav)) = peers() else { return };
    let peer = Peer::start(&python, "vosk_server.py", &["--max-alternatives", "2"]);
    let v = run(&peer, &wav, 1, &["--preset", "vosk"], 20);
    assert!(segments(&v) >= 1, "the mid-stream result in the alternatives format is a segment: {v}");
}

/// A websockets server (the Python library, nobody here wrote its keepalive) that pings every
/// 100 ms and closes with 1011 when a pong is 300 ms late; it speaks the sherpa-onnx flow.
const KEEPALIVE_SERVER: &str = r#"
import asyncio, json, websockets
async def handler(ws):
    frames = 0
    async for m in ws:
        if m == "Done":
            await ws.send(json.dumps({"text": "w%d" % frames, "segment": 0}))
            break
        frames += 1
        if frames % 16 == 0:
            await ws.send(json.dumps({"text": "w%d" % frames, "segment": 0}))
async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.3) as server:
        print(json.dumps({"event": "listening", "port": server.sockets[0].getsockname()[1]}), flush=True)
        await asyncio.Future()
asyncio.run(main())
"#;

#[test]
fn pings_are_answered_while_audio_streams() {
    let Some((python, _)) = peers() else { return };
    let mut child =
        Command::new(&python).args(["-c", KEEPALIVE_SERVER]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start python");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the server's first line");
    let port = serde_json::from_str::<Value>(&line).ok().and_then(|v| v["port"].as_u64()).unwrap_or_else(|| panic!("{line}"));
    let url = format!("ws://127.0.0.1:{port}/");
    // 3 s of audio: about 30 pings, each to be answered within 300 ms.
    let r = stampede(&["asr", &url, "--preset", "sherpa", "--streams", "2", "--signal-length", "3s"]);
    let _ = child.kill();
    let _ = child.wait();
    let v = r.json.clone().unwrap_or(Value::Null);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(u(&v, &["asr", "sessions", "completed"]), 2, "no session closed by the keepalive: {}", r.stdout);
    assert!(v["close_codes"].get("1011").is_none(), "{}", r.stdout);
    assert_eq!(u(&v, &["asr", "frames_sent"]), 300, "{}", r.stdout);
}

/// A 16-bit mono WAV of `pcm`.
fn wav_bytes(rate: u32, pcm: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + pcm.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    for (v, n) in [(16u32, 4), (1, 2), (1, 2), (rate, 4), (rate * 2, 4), (2, 2), (16, 2)] {
        b.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    b.extend_from_slice(pcm);
    b
}

#[test]
fn vosk_keepalive_does_not_drop_a_long_session() {
    // vosk-server keeps websockets' keepalive (ping every 20 s, 20 s timeout): a session past
    // 40 s ends with 1011 unless its pings are answered. 4 × ko-pause.wav = 47.3 s.
    let Some((python, wav)) = peers() else { return };
    let audio = stampede::audio::read_wav(&wav).expect("the pause WAV");
    let mut pcm = audio.pcm.clone();
    pcm.truncate(pcm.len() / 2 * 2);
    let pcm = pcm.repeat(4);
    let long = std::env::temp_dir().join(format!("stampede-ko-long-{}.wav", std::process::id()));
    std::fs::write(&long, wav_bytes(audio.sample_rate, &pcm)).unwrap();
    let peer = Peer::start(&python, "vosk_server.py", &[]);
    let v = run(&peer, &long, 1, &["--preset", "vosk"], 20);
    let _ = std::fs::remove_file(&long);
    assert!(segments(&v) >= 4, "a result at each pause: {v}");
    assert!(v["close_codes"].get("1011").is_none(), "{v}");
}
