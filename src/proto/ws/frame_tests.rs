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

#[test]
fn random_and_mutated_frames_never_panic() {
    let mut x: u64 = 0x005E_ED0F_F00D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let valid = [
        frame(true, Opcode::Text, Some(K), b"hello"),
        frame(false, Opcode::Binary, Some(K), &[9; 300]),
        frame(true, Opcode::Close, Some(K), &close_payload(1000, "x")),
    ];
    for i in 0..20_000 {
        let mut input: Vec<u8> =
            if i % 2 == 0 { (0..next() % 40).map(|_| next() as u8).collect() } else { valid[(next() % 3) as usize].clone() };
        if i % 4 == 1 && !input.is_empty() {
            let at = (next() as usize) % input.len();
            input[at] = next() as u8;
        }
        if i % 4 == 3 {
            input.truncate((next() as usize) % (input.len() + 1));
        }
        let role = if i % 3 == 0 { Role::Client } else { Role::Server };
        let mut d = Decoder::new(role, 1000, 2000);
        let mut rest = &input[..];
        for _ in 0..16 {
            match d.decode(rest) {
                Ok((0, _)) | Err(_) => break,
                Ok((n, _)) => {
                    assert!(n <= rest.len());
                    rest = &rest[n..];
                }
            }
        }
    }
}
