//! Frame codec tables: every case fed whole, byte by byte, and split at every offset.

use super::*;

const K: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// What a stream of frames decodes to, as owned values.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Got {
    Message(Opcode, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn own(ev: Event<'_>) -> Got {
    match ev {
        Event::Message { opcode, payload } => Got::Message(opcode, payload.to_vec()),
        Event::Ping(p) => Got::Ping(p.to_vec()),
        Event::Pong(p) => Got::Pong(p.to_vec()),
        Event::Close { code, reason } => Got::Close(code, reason.to_string()),
    }
}

/// Feeds `pieces` through a caller buffer; returns the events and the first error.
fn drive(role: Role, pieces: &[&[u8]]) -> (Vec<Got>, Option<DecodeError>) {
    let mut d = Decoder::new(role, 1 << 20, 1 << 20);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match d.decode(&buf) {
                Ok((0, _)) => break,
                Ok((n, ev)) => {
                    if let Some(ev) = ev {
                        out.push(own(ev));
                    }
                    assert!(n <= buf.len());
                    buf.drain(..n);
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn check_all_splits(name: &str, role: Role, input: &[u8], want: &[Got], err: Option<DecodeError>) {
    assert_eq!(drive(role, &[input]), (want.to_vec(), err), "{name}: whole");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(drive(role, &bytes), (want.to_vec(), err), "{name}: byte by byte");
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(drive(role, &[a, b]), (want.to_vec(), err), "{name}: split at {at}");
    }
}

fn frame(fin: bool, op: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_frame(&mut v, fin, op, mask, payload);
    v
}

#[test]
fn rfc_6455_examples() {
    let hello = b"\x81\x05\x48\x65\x6c\x6c\x6f";
    assert_eq!(frame(true, Opcode::Text, None, b"Hello"), hello);
    check_all_splits("unmasked hello", Role::Client, hello, &[Got::Message(Opcode::Text, b"Hello".to_vec())], None);
    let masked = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    assert_eq!(frame(true, Opcode::Text, Some(K), b"Hello"), masked);
    check_all_splits("masked hello", Role::Server, masked, &[Got::Message(Opcode::Text, b"Hello".to_vec())], None);
    let frag = b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f";
    check_all_splits("fragmented", Role::Client, frag, &[Got::Message(Opcode::Text, b"Hello".to_vec())], None);
    let ping = b"\x89\x05\x48\x65\x6c\x6c\x6f";
    check_all_splits("ping", Role::Client, ping, &[Got::Ping(b"Hello".to_vec())], None);
    let pong = b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    check_all_splits("masked pong", Role::Server, pong, &[Got::Pong(b"Hello".to_vec())], None);
    assert_eq!(&frame(true, Opcode::Binary, None, &[0; 256])[..4], b"\x82\x7E\x01\x00");
    assert_eq!(&frame(true, Opcode::Binary, None, &[0; 65536])[..10], b"\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00");
}

#[test]
fn lengths_round_trip_masked_and_unmasked() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        for (role, mask) in [(Role::Client, None), (Role::Server, Some(K))] {
            let f = frame(true, Opcode::Binary, mask, &payload);
            let h = FrameHeader { fin: true, opcode: Opcode::Binary, mask, payload_len: len as u64 };
            assert_eq!(f.len(), h.encoded_len() + len, "len {len}");
            let (got, err) = drive(role, &[&f]);
            assert_eq!(err, None);
            assert_eq!(got, vec![Got::Message(Opcode::Binary, payload.clone())], "len {len} {role:?}");
            // every strict prefix needs more and consumes nothing
            let mut d = Decoder::new(role, 1 << 20, 1 << 20);
            for cut in [0, 1, h.encoded_len() - 1, f.len() - 1] {
                assert_eq!(d.decode(&f[..cut]).unwrap().0, 0, "len {len} cut {cut}");
            }
        }
    }
}

#[test]
fn control_frames_interleave_with_fragments_and_close_parses() {
    let mut s = frame(false, Opcode::Binary, None, b"ab");
    s.extend(frame(true, Opcode::Ping, None, b"p"));
    s.extend(frame(false, Opcode::Continuation, None, b"cd"));
    s.extend(frame(true, Opcode::Continuation, None, b"e"));
    s.extend(frame(true, Opcode::Close, None, &close_payload(1001, "bye")));
    s.extend(frame(true, Opcode::Close, None, b""));
    check_all_splits(
        "interleaved",
        Role::Client,
        &s,
        &[
            Got::Ping(b"p".to_vec()),
            Got::Message(Opcode::Binary, b"abcde".to_vec()),
            Got::Close(Some(1001), "bye".into()),
            Got::Close(None, String::new()),
        ],
        None,
    );
    // valid UTF-8 split inside a code point across fragments
    let euro = "€".as_bytes();
    let mut t = frame(false, Opcode::Text, None, &euro[..1]);
    t.extend(frame(true, Opcode::Continuation, None, &euro[1..]));
    check_all_splits("utf8 across fragments", Role::Client, &t, &[Got::Message(Opcode::Text, euro.to_vec())], None);
}

#[test]
fn malformed_frames_give_the_right_error() {
    let fe = |e| Some(DecodeError::Frame(e));
    let cases: Vec<(&str, Role, Vec<u8>, Option<DecodeError>)> = vec![
        ("reserved bit", Role::Client, b"\xc1\x00".to_vec(), fe(FrameError::ReservedBits)),
        ("opcode 3", Role::Client, b"\x83\x00".to_vec(), fe(FrameError::BadOpcode)),
        ("opcode 0xB", Role::Client, b"\x8b\x00".to_vec(), fe(FrameError::BadOpcode)),
        ("control too long", Role::Client, [b"\x89\x7e\x00\x7e".to_vec(), vec![0; 126]].concat(), fe(FrameError::ControlTooLong)),
        ("fragmented control", Role::Client, b"\x09\x00".to_vec(), fe(FrameError::FragmentedControl)),
        ("unmasked from client", Role::Server, b"\x81\x02hi".to_vec(), fe(FrameError::MaskExpected)),
        ("masked from server", Role::Client, frame(true, Opcode::Text, Some(K), b"hi"), fe(FrameError::MaskUnexpected)),
        ("64-bit length msb", Role::Client, b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00".to_vec(), fe(FrameError::BadLength)),
        ("continuation first", Role::Client, b"\x80\x00".to_vec(), Some(DecodeError::UnexpectedContinuation)),
        (
            "new message while fragmented",
            Role::Client,
            [frame(false, Opcode::Text, None, b"a"), frame(true, Opcode::Text, None, b"b")].concat(),
            Some(DecodeError::ExpectedContinuation),
        ),
        ("bad utf8", Role::Client, frame(true, Opcode::Text, None, b"\xff\xfe"), Some(DecodeError::BadUtf8)),
        ("bad close code", Role::Client, frame(true, Opcode::Close, None, &close_payload(999, "")), Some(DecodeError::BadClosePayload)),
        ("one-byte close", Role::Client, frame(true, Opcode::Close, None, b"x"), Some(DecodeError::BadClosePayload)),
    ];
    for (name, role, input, err) in cases {
        check_all_splits(name, role, &input, &[], err);
    }
    // size limits are checked from the header alone
    let mut d = Decoder::new(Role::Client, 100, 150);
    assert_eq!(d.decode(b"\x82\x7e\x01\x00").map(|r| r.0), Err(DecodeError::Frame(FrameError::TooLarge)));
    let mut d = Decoder::new(Role::Client, 100, 150);
    let two = [frame(false, Opcode::Binary, None, &[1; 100]), frame(true, Opcode::Continuation, None, &[2; 100])].concat();
    assert_eq!(d.decode(&two).unwrap().0, 102);
    assert_eq!(d.decode(&two[102..]).map(|r| r.0), Err(DecodeError::MessageTooLarge));
}

#[test]
fn fast_mask_matches_the_simple_loop() {
    let data: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37)).collect();
    for align in 0..4 {
        for len in 0..=64 {
            for offset in 0..4 {
                let mut a = data.clone();
                let mut b = data.clone();
                apply_mask(&mut a[align..align + len], K, offset);
                apply_mask_simple(&mut b[align..align + len], K, offset);
                assert_eq!(a, b, "align {align} len {len} offset {offset}");
            }
        }
    }
}

/// xorshift64: deterministic inputs for the property tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random bytes, mutated and truncated valid frames, both roles, small limits: the shared
/// invariants (`crate::invariants::ws_frames`: consumed ≤ input, the same events and error
/// whole / split / byte by byte, sticky header errors, partial prefixes, round trips) hold.
#[test]
fn random_mutated_and_truncated_frames_keep_the_invariants() {
    let mut rng = Rng(0x005E_ED0F_F00D);
    let valid = [
        frame(true, Opcode::Text, Some(K), b"hello"),
        frame(false, Opcode::Binary, Some(K), &[9; 300]),
        frame(true, Opcode::Close, Some(K), &close_payload(1000, "x")),
        [frame(false, Opcode::Text, None, b"he"), frame(true, Opcode::Ping, None, b""), frame(true, Opcode::Continuation, None, b"llo")]
            .concat(),
    ];
    for i in 0..4_000 {
        let mut input: Vec<u8> =
            if i % 2 == 0 { (0..rng.below(40)).map(|_| rng.next() as u8).collect() } else { valid[rng.below(valid.len())].clone() };
        if i % 4 == 1 && !input.is_empty() {
            let at = rng.below(input.len());
            input[at] = rng.next() as u8;
        }
        if i % 4 == 3 {
            input.truncate(rng.below(input.len() + 1));
        }
        let role = if i % 3 == 0 { Role::Client } else { Role::Server };
        let cuts = [rng.below(input.len() + 1), rng.below(input.len() + 1)];
        crate::invariants::ws_frames(&input, role, 1000, 2000, &cuts);
    }
}

/// A random valid stream for `role` to decode: messages of 1..=3 fragments (text or binary,
/// UTF-8 split anywhere), pings and pongs between fragments, a close at the end sometimes;
/// returns it with the events it decodes to.
fn valid_stream(rng: &mut Rng, role: Role) -> (Vec<u8>, Vec<Got>) {
    let mask = |rng: &mut Rng| (role == Role::Server).then(|| (rng.next() as u32).to_be_bytes());
    let (mut out, mut want) = (Vec::new(), Vec::new());
    for _ in 0..1 + rng.below(3) {
        let text = rng.below(2) == 0;
        let payload: Vec<u8> = if text {
            "héllo wörld €".repeat(1 + rng.below(30)).into_bytes()
        } else {
            (0..rng.below(400)).map(|_| rng.next() as u8).collect()
        };
        let parts = 1 + rng.below(3);
        let mut at = 0;
        for p in 0..parts {
            let end = if p + 1 == parts { payload.len() } else { at + rng.below(payload.len() - at + 1) };
            let op = if p > 0 {
                Opcode::Continuation
            } else if text {
                Opcode::Text
            } else {
                Opcode::Binary
            };
            let m = mask(rng);
            out.extend(frame(p + 1 == parts, op, m, &payload[at..end]));
            at = end;
            if p + 1 < parts && rng.below(2) == 0 {
                let ping: Vec<u8> = (0..rng.below(126)).map(|_| rng.next() as u8).collect();
                let m = mask(rng);
                out.extend(frame(true, Opcode::Ping, m, &ping));
                want.push(Got::Ping(ping));
            }
        }
        want.push(Got::Message(if text { Opcode::Text } else { Opcode::Binary }, payload));
    }
    if rng.below(2) == 0 {
        let code = 1000 + rng.below(4) as u16;
        let m = mask(rng);
        out.extend(frame(true, Opcode::Close, m, &close_payload(code, "bye")));
        want.push(Got::Close(Some(code), "bye".into()));
    }
    (out, want)
}

/// Generated valid streams decode to exactly their events, keep the shared invariants, and
/// every strict prefix gives a strict prefix of the events and never an error (needs more).
#[test]
fn every_strict_prefix_of_a_valid_stream_is_partial() {
    let mut rng = Rng(0x0DDB_A11C_AFE5);
    for i in 0..150 {
        let role = if i % 2 == 0 { Role::Client } else { Role::Server };
        let (stream, want) = valid_stream(&mut rng, role);
        assert_eq!(drive(role, &[&stream]), (want.clone(), None));
        crate::invariants::ws_frames(&stream, role, 1 << 20, 1 << 20, &[rng.below(stream.len()), rng.below(stream.len())]);
        for cut in 0..stream.len() {
            let (got, err) = drive(role, &[&stream[..cut]]);
            assert_eq!(err, None, "prefix {cut}");
            assert!(got.len() < want.len() && got[..] == want[..got.len()], "prefix {cut}: {got:?}");
        }
    }
}
