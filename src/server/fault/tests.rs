//! The fault parser, the lottery and every answer checked against our own decoders.

use super::answer::*;
use super::*;
use crate::proto::http::response::{Limits, ParseError, ResponseParser};
use crate::proto::ws::frame::{DecodeError, Decoder, FrameError, Opcode, Role};

fn plan(specs: &[&str]) -> Result<FaultPlan, String> {
    FaultPlan::parse(&specs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn parses_kinds_and_rates() {
    for (spec, fault, ppm) in [
        ("reset", Fault::Http(HttpFault::Reset), PPM),
        ("stall:1", Fault::Http(HttpFault::Stall), PPM),
        ("drip:0.05", Fault::Http(HttpFault::Drip), 50_000),
        ("garbage:10%", Fault::Http(HttpFault::Garbage), 100_000),
        ("accept-close:12.5%", Fault::Conn(ConnFault::AcceptClose), 125_000),
        ("no-accept", Fault::Conn(ConnFault::NoAccept), PPM),
        ("no-accept:100%", Fault::Conn(ConnFault::NoAccept), PPM),
        ("ws-ping-flood:0", Fault::Ws(WsFault::PingFlood), 0),
        (" bad-chunk : 0.5 ", Fault::Http(HttpFault::BadChunk), 500_000),
    ] {
        assert_eq!(parse_fault(spec), Ok(FaultSpec { fault, rate_ppm: ppm }), "{spec}");
    }
    for (name, f) in KINDS {
        assert_eq!(Fault::from_name(name), Some(f));
        assert_eq!(f.name(), name);
    }
}

#[test]
fn bad_specs_name_the_problem() {
    for (spec, needle) in [
        ("bogus", "unknown fault kind 'bogus'"),
        ("", "unknown fault kind ''"),
        ("reset:", "rate is empty"),
        ("reset:fast", "not a number"),
        ("reset:1.5", "outside 0..1"),
        ("reset:150%", "outside 0..1"),
        ("reset:-0.1", "outside 0..1"),
        ("reset:NaN", "outside 0..1"),
        ("reset:inf%", "outside 0..1"),
        ("no-accept:50%", "takes no rate"),
    ] {
        let e = parse_fault(spec).unwrap_err();
        assert!(e.contains(needle), "{spec}: {e}");
    }
    assert!(parse_fault("bogus").unwrap_err().contains("ws-ping-flood"), "the error lists the kinds");
    assert!(plan(&["reset:10%", "reset:20%"]).unwrap_err().contains("given twice"));
    let e = plan(&["reset:60%", "stall:50%"]).unwrap_err();
    assert!(e.contains("HTTP") && e.contains("110.0%"), "{e}");
    // Scopes add up separately.
    let p = plan(&["reset:60%", "stall:40%", "ws-masked", "accept-close:0.5"]).unwrap();
    assert_eq!(p.specs.len(), 4);
    assert_eq!(p.describe(), "reset:60%, stall:40%, ws-masked, accept-close:50%");
    assert!(!p.no_accept() && plan(&["no-accept"]).unwrap().no_accept());
}

#[test]
fn help_documents_every_kind() {
    for (name, _) in KINDS {
        assert!(HELP.contains(&format!("\n  {name} ")), "--help lacks {name}");
    }
}

#[test]
fn rates_are_exact_and_evenly_spread() {
    let p = Picker::new(&plan(&["reset:10%", "drip:25%", "ws-masked:50%", "accept-close:1"]).unwrap());
    let draws: Vec<Option<Fault>> = (0..40).map(|_| p.for_request(b"/", false)).collect();
    let count = |k: HttpFault| draws.iter().filter(|d| **d == Some(Fault::Http(k))).count();
    assert_eq!((count(HttpFault::Reset), count(HttpFault::Drip)), (4, 10));
    // Evenly: no two resets within 5 requests of each other.
    let resets: Vec<usize> = draws.iter().enumerate().filter(|(_, d)| **d == Some(Fault::Http(HttpFault::Reset))).map(|(i, _)| i).collect();
    assert!(resets.windows(2).all(|w| w[1] - w[0] >= 5), "{resets:?}");
    assert_eq!(draws[0], None, "the first request is healthy below 100%");
    // Upgrades draw no HTTP fault; messages draw the WebSocket ones; routes always fault.
    assert_eq!(p.for_request(b"/ws/echo", true), None);
    assert_eq!((0..10).filter(|_| p.for_message(None) == Some(WsFault::Masked)).count(), 5);
    assert_eq!(p.for_message(Some(WsFault::PingFlood)), Some(WsFault::PingFlood));
    assert_eq!(p.for_request(b"/fault/garbage?x=1", true), Some(Fault::Http(HttpFault::Garbage)));
    assert_eq!(p.for_request(b"/fault/nope", false), None);
    assert!(p.close_at_accept() && p.close_at_accept());
    let healthy = Picker::new(&FaultPlan::default());
    assert!((0..100).all(|_| healthy.for_request(b"/", false).is_none() && !healthy.close_at_accept()));
}

#[test]
fn malformed_answers_are_refused_by_stampede_s_own_parsers() {
    let parse = |bytes: &[u8]| ResponseParser::new(Limits::default()).feed(bytes, false);
    assert_eq!(parse(BAD_STATUS), Err(ParseError::BadHead));
    assert_eq!(parse(BAD_CHUNK), Err(ParseError::BadChunk));
    assert_eq!(parse(garbage()), Err(ParseError::BadHead));
    assert_eq!(parse(huge_head()), Err(ParseError::HeadTooLarge));
    assert!(huge_head().len() > HUGE_HEAD);
    let decode = |fault: WsFault| {
        let mut w = Vec::new();
        ws_answer(fault, &mut w, Opcode::Binary, b"hello");
        Decoder::new(Role::Client, 16 * 1024, 1 << 20).decode(&w).map(|(n, _)| n)
    };
    assert_eq!(decode(WsFault::BadOpcode), Err(DecodeError::Frame(FrameError::BadOpcode)));
    assert_eq!(decode(WsFault::Masked), Err(DecodeError::Frame(FrameError::MaskUnexpected)));
    assert_eq!(decode(WsFault::Oversized), Err(DecodeError::Frame(FrameError::TooLarge)));
    let mut w = Vec::new();
    assert!(matches!(ws_answer(WsFault::PingFlood, &mut w, Opcode::Binary, b"hello"), WsAnswer::Written));
    let mut d = Decoder::new(Role::Client, 16 * 1024, 1 << 20);
    let (mut pos, mut pings) = (0, 0);
    while pos < w.len() {
        let (n, ev) = d.decode(&w[pos..]).unwrap();
        pings += usize::from(matches!(ev, Some(crate::proto::ws::frame::Event::Ping(_))));
        pos += n;
    }
    assert_eq!(pings, PING_FLOOD);
}
