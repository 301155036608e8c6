use super::*;
use crate::proto::http::request::parse_request;

fn spec<'a>(method: &'a str, path: &'a str, headers: &'a [(String, String)], body: &'a [u8]) -> RequestSpec<'a> {
    RequestSpec { method, host: "h:1", path, headers, body }
}

fn render(t: &RequestTemplate, seq: u64, names: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    t.encode(&Values { seq, conn: 7, names, ..Values::default() }, &mut Rng::new(1), &mut Rendered::default(), &mut out);
    out
}

#[test]
fn a_request_without_placeholders_stays_fixed() {
    let h = vec![("X-A".to_string(), "{\"a\":1}".to_string())];
    for body in [&b""[..], b"{\"k\":[1,2]}", b"{payload:100}"] {
        assert_eq!(RequestTemplate::parse(&spec("POST", "/a?b", &h, body), &[]), Ok(None));
    }
}

#[test]
fn placeholders_render_in_path_headers_and_body_with_the_right_length() {
    let h = vec![("Authorization".to_string(), "Bearer {token}".to_string()), ("X-Conn".to_string(), "{conn}".to_string())];
    let t = RequestTemplate::parse(&spec("POST", "/items/{seq}", &h, b"{\"user\":\"{user}\",\"n\":{seq}}"), &["user", "token"])
        .unwrap()
        .unwrap();
    for (seq, user) in [(1u64, &b"al"[..]), (123456, b"bernadette")] {
        let r = render(&t, seq, &[user, b"tok"]);
        let got = parse_request(&r, 8192, 1 << 20).unwrap().unwrap();
        assert_eq!(got.consumed, r.len(), "{}", String::from_utf8_lossy(&r));
        assert_eq!(&r[got.path.clone()], format!("/items/{seq}").as_bytes());
        let body = format!("{{\"user\":\"{}\",\"n\":{seq}}}", String::from_utf8_lossy(user));
        assert_eq!(&r[got.body.clone()], body.as_bytes());
        let s = String::from_utf8_lossy(&r);
        assert!(s.contains("Authorization: Bearer tok\r\nX-Conn: 7\r\n"), "{s}");
        assert_eq!(s.matches("Content-Length").count(), 1, "{s}");
    }
}

#[test]
fn a_fixed_body_keeps_its_length_in_the_head_and_a_varying_get_has_none() {
    let t = RequestTemplate::parse(&spec("PUT", "/u/{seq}", &[], b"{payload:10}"), &[]).unwrap().unwrap();
    let r = render(&t, 5, &[]);
    assert_eq!(String::from_utf8_lossy(&r).matches("Content-Length: 10\r\n").count(), 1);
    assert!(r.ends_with(b"\r\n\r\nabcdefghij"));
    let t = RequestTemplate::parse(&spec("GET", "/u/{seq}", &[], b""), &[]).unwrap().unwrap();
    let r = render(&t, 5, &[]);
    assert!(r.starts_with(b"GET /u/5 HTTP/1.1\r\n") && r.ends_with(b"\r\n\r\n") && !String::from_utf8_lossy(&r).contains("Content-"));
    // The user's own length is kept (and trusted) as typed.
    let h = vec![("Content-Length".to_string(), "3".to_string())];
    let t = RequestTemplate::parse(&spec("POST", "/", &h, b"{rand:100:999}"), &[]).unwrap().unwrap();
    let r = render(&t, 1, &[]);
    assert_eq!(parse_request(&r, 8192, 100).unwrap().unwrap().consumed, r.len());
}

#[test]
fn bounds_hold_the_rendered_lengths_and_errors_name_the_part() {
    let mut t = RequestTemplate::parse(&spec("POST", "/{user}", &[], b"{seq}-{user}"), &["user"]).unwrap().unwrap();
    t.bound_name(0, 1, 10);
    let (lo, hi) = t.len_bounds();
    for (seq, user) in [(1u64, &b"a"[..]), (u64::MAX, b"0123456789")] {
        let n = render(&t, seq, &[user]).len();
        assert!(lo <= n && n <= hi, "{lo} <= {n} <= {hi}");
    }
    let e = RequestTemplate::parse(&spec("GET", "/", &[("X".into(), "{rand:9:1}".into())], b""), &[]).unwrap_err();
    assert_eq!(e.part, "-H 'X: {rand:9:1}'");
    let e = RequestTemplate::parse(&spec("GET", "/{seq:1}", &[], b""), &[]).unwrap_err();
    assert_eq!(e.part, "URL");
}

#[test]
fn a_fixed_request_renders_its_payload_once_as_the_templated_path_would() {
    let h = vec![("X-A".to_string(), "{\"a\":1}".to_string())];
    let body = b"{\"d\":\"{payload:70}\",\"x\":{{}";
    let fixed = RequestTemplate::encode_fixed(&spec("POST", "/a", &h, body)).unwrap();
    let filler: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz0123456789".iter().copied().cycle().take(70).collect();
    let want_body = [&b"{\"d\":\""[..], &filler, b"\",\"x\":{}"].concat();
    assert_eq!(fixed, encode_request(&spec("POST", "/a", &h, &want_body)), "byte for byte");
    // the same body with a {seq} goes the templated way: its body bytes are the same engine's
    let t = RequestTemplate::parse(&spec("POST", "/a", &h, b"{\"d\":\"{payload:70}\",\"x\":{{}{seq}"), &[]).unwrap().unwrap();
    let templated = render(&t, 5, &[]);
    assert!(templated.ends_with(&[&want_body[..], b"5"].concat()), "{}", String::from_utf8_lossy(&templated));
    assert!(RequestTemplate::encode_fixed(&spec("POST", "/a", &h, b"{seq}")).is_err());
    assert!(RequestTemplate::encode_fixed(&spec("POST", "/a", &h, b"{payload:zz}")).is_err());
}
