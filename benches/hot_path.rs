//! Benchmarks of the pure hot-path pieces (issue 19 point 3): the HTTP response parser, the
//! WebSocket decoder and mask, the open-loop pacer, stats recording and shard merging, template
//! rendering and mark finding. `cargo bench` measures them (divan); `cargo test --all-targets`
//! runs each body once as a test, so they stay cheap there. Figures: README, "Performance".

use std::hint::black_box;

use divan::counter::BytesCount;
use divan::Bencher;
use stampede::engine::pacer::Pacer;
use stampede::proto::http::response::{Limits, Progress, ResponseParser};
use stampede::proto::template::{find_marks, Mark, Rendered, Rng, Template, Values};
use stampede::proto::ws::frame::{apply_mask, encode_frame, Decoder, Event, Opcode, Role};
use stampede::stats::Shard;

fn main() {
    // `scripts/test.sh` runs `cargo test --all-targets -- --test-threads=1`: libtest's flag,
    // which divan's parser refuses. Run each benchmark once then, as `--test` does.
    if std::env::args().any(|a| a.starts_with("--test-threads")) {
        divan::Divan::default().test_benches();
    } else {
        divan::main();
    }
}

const SMALL: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 15:00:00 GMT\r\n\
Content-Type: text/plain\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\nhello from nginx\n";

fn chunked() -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        r.extend_from_slice(b"100\r\n");
        r.extend_from_slice(&[b'x'; 256]);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// Feeds `input` to the parser until one response completes; returns its status.
fn parse_one(p: &mut ResponseParser, mut input: &[u8]) -> u16 {
    loop {
        match p.feed(input, false).expect("valid response") {
            Progress::Complete { response, .. } => return response.status,
            Progress::Partial { consumed } => {
                assert!(consumed > 0, "the whole response is in the input");
                input = &input[consumed..];
            }
        }
    }
}

mod http_response {
    use super::*;

    /// nginx's 200 with a 17-byte body, as one read.
    #[divan::bench]
    fn small(b: Bencher) {
        let mut p = ResponseParser::new(Limits::default());
        b.counter(BytesCount::of_slice(SMALL)).bench_local(|| parse_one(&mut p, black_box(SMALL)));
    }

    /// A chunked 1 KiB body in four chunks, as one read.
    #[divan::bench]
    fn chunked_1k(b: Bencher) {
        let input = chunked();
        let mut p = ResponseParser::new(Limits::default());
        b.counter(BytesCount::of_slice(&input)).bench_local(|| parse_one(&mut p, black_box(&input)));
    }
}

mod ws {
    use super::*;

    const SIZES: [usize; 3] = [125, 4096, 65536];

    /// Decoding one unmasked binary frame from the server (what the client does per answer).
    #[divan::bench(args = SIZES)]
    fn decode(b: Bencher, size: usize) {
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, Opcode::Binary, None, &vec![b'a'; size]);
        let mut d = Decoder::new(Role::Client, 1 << 20, 1 << 20);
        b.counter(BytesCount::new(size)).bench_local(|| match d.decode(black_box(&frame)) {
            Ok((n, Some(Event::Message { payload, .. }))) => n + payload.len(),
            other => panic!("one message expected, got {other:?}"),
        });
    }

    /// Masking a payload in place (what the client does per message sent).
    #[divan::bench(args = SIZES)]
    fn mask(b: Bencher, size: usize) {
        let mut buf = vec![b'a'; size];
        b.counter(BytesCount::new(size)).bench_local(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0));
    }
}

mod pacer {
    use super::*;

    /// The next intended send time at a constant rate (open loop, per request).
    #[divan::bench]
    fn claim_constant(b: Bencher) {
        let mut p = Pacer::new(1_000_000, 123_457.0, 2, 1);
        b.bench_local(|| p.claim());
    }

    /// `claim_due` when the next request is not yet due (the common poll).
    #[divan::bench]
    fn claim_due_not_yet(b: Bencher) {
        let mut p = Pacer::new(1_000_000_000, 1000.0, 1, 0);
        b.bench_local(|| p.claim_due(black_box(0)));
    }
}

mod stats {
    use super::*;

    /// One response recorded (status, corrected, service, lateness, interval histograms).
    #[divan::bench]
    fn on_response(b: Bencher) {
        let mut s = Shard::new();
        let mut t = 1_000_000u64;
        b.bench_local(|| {
            t += 7_919;
            s.on_response(200, t, t + 1_000, t + 40_000 + (t & 0xffff));
        });
    }

    /// Two shards with 10k responses each merged (once per worker at the end of a run).
    #[divan::bench]
    fn merge_shards(b: Bencher) {
        let mut other = Shard::new();
        for i in 0..10_000u64 {
            other.on_response(200, i * 1000, i * 1000 + 10, i * 1000 + 30_000 + i * 37);
        }
        b.with_inputs(Shard::new).bench_local_refs(|s| s.merge(&other));
    }
}

mod template {
    use super::*;

    fn render(b: Bencher, text: &[u8]) {
        let t = Template::parse(text, &[]).expect("valid template");
        let (mut scratch, mut out, mut rng) = (Rendered::default(), Vec::new(), Rng::new(7));
        let mut seq = 0u64;
        b.bench_local(|| {
            seq += 1;
            let v = Values { conn: 3, seq, mark: Mark { sender: 1, seq, intended_ns: seq * 1000, epoch: 7 }, ..Values::default() };
            out.clear();
            t.render_to(&v, &mut rng, &mut scratch, &mut out);
            out.len()
        });
    }

    #[divan::bench]
    fn fixed(b: Bencher) {
        render(b, b"{\"type\":\"message\",\"text\":\"hello\"}");
    }

    #[divan::bench]
    fn seq(b: Bencher) {
        render(b, b"{\"type\":\"message\",\"seq\":{seq}}");
    }

    /// A chat message: JSON with a mark and a 5000-byte payload.
    #[divan::bench]
    fn json_mark_payload_5000(b: Bencher) {
        render(b, b"{\"type\":\"message\",\"id\":\"{mark}\",\"text\":\"{payload:5000}\"}");
    }

    /// Finding the one mark in a rendered 5 KiB frame (what a chat receiver does per message).
    #[divan::bench]
    fn find_mark_5k(b: Bencher) {
        let t = Template::parse(b"{\"type\":\"message\",\"text\":\"{payload:5000}\",\"id\":\"{mark}\"}", &[]).unwrap();
        let (mut scratch, mut out) = (Rendered::default(), Vec::new());
        let v = Values { mark: Mark { sender: 9, seq: 42, intended_ns: 123_456_789, epoch: 7 }, ..Values::default() };
        t.render_to(&v, &mut Rng::new(1), &mut scratch, &mut out);
        b.counter(BytesCount::of_slice(&out)).bench_local(|| {
            let found = find_marks(black_box(&out)).count();
            assert_eq!(found, 1);
            found
        });
    }
}
