use super::*;

fn render(text: &str, names: &[&str], v: &Values<'_>) -> Result<String, TemplateError> {
    let t = Template::parse(text.as_bytes(), names)?;
    let (mut r, mut out) = (Rendered::default(), Vec::new());
    t.render_to(v, &mut Rng::new(1), &mut r, &mut out);
    assert_eq!(out.len(), r.len);
    Ok(String::from_utf8(out).unwrap())
}

fn plain(text: &str) -> String {
    render(text, &[], &Values::default()).unwrap()
}

#[test]
fn placeholders_render_their_values_exactly() {
    let names: [&[u8]; 2] = [b"ann", b"r\"1"];
    let v = Values { conn: 7, room: 12, seq: 18_446_744_073_709_551_615, names: &names, ..Values::default() };
    let got = render("c={conn} r={room} s={seq} u={user} x={other}", &["user", "other"], &v).unwrap();
    assert_eq!(got, "c=7 r=12 s=18446744073709551615 u=ann x=r\"1");
    assert_eq!(render("{rand:5:5}|{rand:-3:-3}|{payload:4}|{payload:0}.", &[], &v).unwrap(), "5|-3|abcd|.");
    assert_eq!(render("{user}{missing}", &["user"], &Values::default()).unwrap(), "{missing}", "a name without a value is empty");
}

#[test]
fn unknown_braces_and_json_stay_literal_and_double_braces_escape() {
    for lit in [r#"{"a":{"b":1}}"#, "{", "}", "{}", "{ seq }", "{SEQ}", "{nope}", "{seq", "a}}b", "{{}", "{\u{e9}}"] {
        let want = lit.replace("{{", "{");
        assert_eq!(plain(lit), want, "{lit:?}");
    }
    assert_eq!(
        render(r#"{"id":{seq},"x":{"y":"{conn}"}}"#, &[], &Values { seq: 42, conn: 3, ..Values::default() }).unwrap(),
        r#"{"id":42,"x":{"y":"3"}}"#
    );
    assert_eq!(plain("{{seq}}"), "{seq}}", "{{ is a literal brace, then seq}} is plain text");
    assert_eq!(plain("{{{seq}"), "{0");
}

#[test]
fn malformed_known_placeholders_are_errors_that_say_why() {
    for (text, why) in [
        ("{rand:5:1}", "MIN is above MAX"),
        ("{rand:1}", "{rand:MIN:MAX}"),
        ("{rand}", "{rand:MIN:MAX}"),
        ("{rand:a:2}", "integers"),
        ("{payload:x}", "write a size"),
        ("{payload:1G}", "write a size"),
        ("{payload}", "{payload:SIZE}"),
        ("{payload:65M}", "at most 64 MiB"),
        ("{seq:3}", "takes no argument"),
        ("{uuid:4}", "takes no argument"),
    ] {
        let e = Template::parse(text.as_bytes(), &[]).unwrap_err();
        assert!(e.0.contains(why) && e.0.contains(text), "{text}: {e}");
    }
    assert!(Template::parse(b"{seq}", &["seq"]).unwrap_err().0.contains("builtin"));
}

#[test]
fn payload_sizes_take_units_and_share_one_filler() {
    for (s, n) in [("5000", 5000), ("1k", 1024), ("1K", 1024), ("1KiB", 1024), ("2M", 2 << 20), ("1MiB", 1 << 20)] {
        let t = Template::parse(format!("{{payload:{s}}}").as_bytes(), &[]).unwrap();
        assert_eq!((t.min_len(), t.max_len()), (n, n), "{s}");
        assert_eq!(t.shared().len(), n, "{s}");
    }
    let t = Template::parse(b"<{payload:1k}|{payload:10}>", &[]).unwrap();
    assert!(t.is_fixed());
    assert_eq!(t.shared().len(), 3 + 1024, "one filler, as long as the largest payload");
    let (mut r, mut rng) = (Rendered::default(), Rng::new(0));
    t.render(&Values::default(), &mut rng, &mut r);
    assert_eq!(r.segs, [Seg::Own(0..1), Seg::Shared(3..1027), Seg::Own(1..2), Seg::Shared(3..13), Seg::Own(2..3)]);
    assert_eq!(r.bytes, b"<|>");
    assert!(t.shared()[3..].iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "JSON and URL safe");
}

#[test]
fn long_literals_are_shared_and_short_ones_copied() {
    let long = "x".repeat(SHARE_MIN);
    let t = Template::parse(format!("{long}{{seq}}ab{{conn}}").as_bytes(), &[]).unwrap();
    let (mut r, mut rng) = (Rendered::default(), Rng::new(0));
    t.render(&Values { seq: 5, conn: 6, ..Values::default() }, &mut rng, &mut r);
    assert_eq!(r.segs, [Seg::Shared(0..SHARE_MIN), Seg::Own(0..4)], "adjacent own bytes make one segment");
    assert_eq!((r.bytes.as_slice(), r.len), (&b"5ab6"[..], SHARE_MIN + 4));
    assert!(!t.is_fixed() && t.uses(Kind::Seq) && t.uses(Kind::Conn) && !t.uses(Kind::Rand));
}

#[test]
fn lengths_stay_within_min_and_max_and_reach_them() {
    let t = Template::parse(b"[{seq}|{rand:-50:7}|{rand:90:1000}|{uuid}|{mark}|{payload:3}]", &[]).unwrap();
    assert_eq!(t.min_len(), 7 + 1 + 1 + 2 + 36 + MARK_LEN + 3);
    assert_eq!(t.max_len(), 7 + 20 + 3 + 4 + 36 + MARK_LEN + 3);
    let (mut r, mut rng) = (Rendered::default(), Rng::new(9));
    let (mut lo, mut hi) = (usize::MAX, 0);
    for seq in [0, 9, u64::MAX] {
        for _ in 0..2000 {
            t.render(&Values { seq, ..Values::default() }, &mut rng, &mut r);
            assert!(r.len >= t.min_len() && r.len <= t.max_len(), "{}", r.len);
            (lo, hi) = (lo.min(r.len), hi.max(r.len));
        }
    }
    assert_eq!((lo, hi), (t.min_len(), t.max_len()), "both bounds are reached");
    let mut t = Template::parse(b"{a}-{b}", &["a", "b"]).unwrap();
    assert_eq!((t.min_len(), t.max_len()), (1, usize::MAX), "unbounded names");
    t.bound_name(0, 2, 5);
    t.bound_name(1, 0, 3);
    assert_eq!((t.min_len(), t.max_len()), (3, 9));
}

#[test]
fn rand_stays_in_range_and_covers_it_and_seeds_repeat() {
    let t = Template::parse(b"{rand:-2:2}", &[]).unwrap();
    let (mut r, mut rng) = (Rendered::default(), Rng::new(5));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..500 {
        t.render(&Values::default(), &mut rng, &mut r);
        seen.insert(String::from_utf8(r.bytes.clone()).unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [-2, -1, 0, 1, 2]);
    let full = (Rng::new(1).range(i64::MIN, i64::MAX), Rng::new(1).range(0, 0));
    assert_eq!(full.1, 0);
    let a: Vec<u64> = (0..4).scan(Rng::new(42), |r, _| Some(r.next_u64())).collect();
    let b: Vec<u64> = (0..4).scan(Rng::new(42), |r, _| Some(r.next_u64())).collect();
    let c: Vec<u64> = (0..4).scan(Rng::new(43), |r, _| Some(r.next_u64())).collect();
    assert!(a == b && a != c);
}

#[test]
fn uuids_are_version_4_text() {
    let t = Template::parse(b"{uuid}", &[]).unwrap();
    let (mut r, mut rng) = (Rendered::default(), Rng::new(3));
    let mut all = std::collections::HashSet::new();
    for _ in 0..100 {
        t.render(&Values::default(), &mut rng, &mut r);
        let u = String::from_utf8(r.bytes.clone()).unwrap();
        let dashes: Vec<usize> = u.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!((u.len(), dashes.as_slice(), &u[14..15]), (36, &[8, 13, 18, 23][..], "4"), "{u}");
        assert!("89ab".contains(&u[19..20]) && u.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()), "{u}");
        all.insert(u);
    }
    assert_eq!(all.len(), 100);
}

#[test]
fn rendering_allocates_nothing_once_warm() {
    let names: [&[u8]; 1] = [b"some value"];
    let t = Template::parse(
        b"{\"u\":\"{user}\",\"s\":{seq},\"r\":{rand:1:1000000},\"id\":\"{uuid}\",\"m\":\"{mark}\",\"p\":\"{payload:4k}\"}",
        &["user"],
    )
    .unwrap();
    let (mut r, mut rng) = (Rendered::default(), Rng::new(1));
    let v = |seq| Values {
        seq,
        mark: Mark { sender: 1, seq, intended_ns: seq.wrapping_mul(1000), epoch: seq as u32 },
        names: &names,
        ..Values::default()
    };
    t.render(&v(u64::MAX), &mut rng, &mut r);
    let caps = (r.bytes.capacity(), r.segs.capacity());
    let ptrs = (r.bytes.as_ptr(), r.segs.as_ptr());
    for seq in 0..1000 {
        t.render(&v(seq), &mut rng, &mut r);
    }
    assert_eq!((r.bytes.capacity(), r.segs.capacity()), caps);
    assert_eq!((r.bytes.as_ptr(), r.segs.as_ptr()), ptrs);
}

#[test]
fn marks_round_trip_and_are_found_in_json_escaped_and_binary_input() {
    let marks = [
        Mark { sender: 0, seq: 0, intended_ns: 0, epoch: 0 },
        Mark { sender: u32::MAX, seq: u64::MAX, intended_ns: u64::MAX, epoch: u32::MAX },
        Mark { sender: 17, seq: 123_456, intended_ns: 1_733_000_000_123_456_789, epoch: 70_001 },
    ];
    for m in marks {
        let mut b = Vec::new();
        m.encode(&mut b);
        assert_eq!(b.len(), MARK_LEN);
        assert!(b.starts_with(MARK_PREFIX) && b.iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(Mark::decode(&b), Some(m));
    }
    let t = Template::parse(b"{\"text\":\"{mark}\"}", &[]).unwrap();
    let (mut r, mut out) = (Rendered::default(), Vec::new());
    t.render_to(&Values { mark: marks[2], ..Values::default() }, &mut Rng::new(0), &mut r, &mut out);
    // The message echoed inside another JSON string (escaped), then inside binary.
    let escaped = String::from_utf8(out).unwrap().replace('"', "\\\"");
    let envelope = format!(
        "{{\"echo\":\"{escaped}\",\"also\":\"{}\"}}",
        String::from_utf8_lossy(&{
            let mut b = Vec::new();
            marks[0].encode(&mut b);
            b
        })
    );
    assert_eq!(find_marks(envelope.as_bytes()).collect::<Vec<_>>(), [marks[2], marks[0]]);
    let mut bin = vec![0u8, 0xff, b'Z', b'm'];
    marks[1].encode(&mut bin);
    bin.extend_from_slice(&[0x5a, 0, 1]);
    marks[2].encode(&mut bin);
    marks[0].encode(&mut bin);
    assert_eq!(find_marks(&bin).collect::<Vec<_>>(), [marks[1], marks[2], marks[0]]);
    let mut cut = Vec::new();
    marks[0].encode(&mut cut);
    assert_eq!(find_marks(&cut[..MARK_LEN - 1]).count(), 0, "a cut mark is none");
    cut[12] = if cut[12] == b'1' { b'2' } else { b'1' };
    assert_eq!(find_marks(&cut).count(), 0, "one changed char fails the check");
}

#[test]
fn random_bytes_and_random_text_hold_no_marks() {
    let mut rng = Rng::new(77);
    let mut buf = vec![0u8; 1 << 16];
    let mut false_marks = 0;
    for round in 0..64 {
        for b in buf.iter_mut() {
            *b = rng.next_u64() as u8;
        }
        assert_eq!(find_marks(&buf).count(), 0, "binary round {round}");
        // Alphanumeric text that starts with the prefix everywhere it can: only the check stops it.
        for (i, b) in buf.iter_mut().enumerate() {
            *b = if i % 40 < 4 {
                MARK_PREFIX[i % 40]
            } else {
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(rng.next_u64() % 62) as usize]
            };
        }
        false_marks += find_marks(&buf).count();
    }
    // 64 × 1638 candidates, each passing the two check chars with probability 1/3844: about 27.
    assert!(false_marks < 60, "{false_marks} false marks in 104832 prefixed candidates");
}

#[test]
fn the_word_scan_finds_the_first_byte_like_a_plain_search() {
    let mut rng = Rng::new(11);
    for len in 0..200usize {
        let hay: Vec<u8> = (0..len).map(|_| b"ZzY\x00\xffa"[(rng.next_u64() % 6) as usize]).collect();
        for b in [b'Z', b'z', 0, 0xff, 0x80, b'Y' + 1] {
            assert_eq!(super::super::template_mark::find_byte(&hay, b), hay.iter().position(|&x| x == b), "len {len} byte {b}");
        }
    }
}

#[test]
fn payload_sizes_read_decimal_units_as_the_command_line_does() {
    for (s, n) in [("1KB", 1000), ("1MB", 1_000_000), ("7B", 7)] {
        let t = Template::parse(format!("{{payload:{s}}}").as_bytes(), &[]).unwrap();
        assert_eq!((t.min_len(), t.max_len()), (n, n), "{s}");
        assert_eq!(crate::units::parse_size(s), Ok(n as u64), "{s}");
    }
}
