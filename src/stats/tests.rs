use super::*;

const MS: u64 = 1_000_000;

fn feed(s: &mut Shard, i: u64) {
    // intended, sent 1..3 ms later, done 1..10 ms after sending
    let intended = i * 10 * MS;
    let sent = intended + (i % 3 + 1) * MS;
    let done = sent + (i % 10 + 1) * MS;
    s.on_sent(1, 100);
    match i % 50 {
        0 => s.on_request_error(ErrorClass::RequestTimeout, 1),
        1 => s.on_response(429, intended, sent, done),
        _ => s.on_response(200, intended, sent, done),
    }
}

#[test]
fn counts_and_the_accounting_equation() {
    let mut s = Shard::new();
    for _ in 0..4 {
        s.on_connect_start(); // the fourth is still pending at the end
    }
    s.on_connect(2 * MS);
    s.on_connect(3 * MS);
    s.on_connect_error(ErrorClass::Refused);
    for i in 0..1000 {
        feed(&mut s, i);
    }
    s.on_sent(3, 300); // still in flight at the end
    assert_eq!(s.sent, 1003);
    assert_eq!(s.responses, 980);
    assert_eq!(s.failed, 20);
    assert_eq!(s.in_flight, 3);
    assert_eq!(s.sent, s.responses + s.failed + s.in_flight);
    assert_eq!(s.status_count(200), 960);
    assert_eq!(s.status_count(429), 20);
    assert_eq!(s.errors_of(ErrorClass::RequestTimeout), 20);
    assert_eq!(s.errors_of(ErrorClass::Refused), 1);
    assert_eq!((s.connects_attempted, s.connects_ok, s.open_now, s.open_peak), (4, 2, 2, 2));
    assert_eq!((s.connects_failed, s.connects_pending()), (1, 1));
    s.on_close();
    assert_eq!((s.open_now, s.open_peak), (1, 2));
    // corrected = service + lateness, so it is never below service
    assert!(s.corrected.value_at_quantile(0.5) > s.service.value_at_quantile(0.5));
    assert_eq!(s.service.max(), s.service.highest_equivalent(10 * MS));
}

#[test]
fn merge_equals_one_shard_fed_everything() {
    let (mut a, mut b, mut all) = (Shard::new(), Shard::new(), Shard::new());
    for i in 0..2000 {
        feed(if i % 3 == 0 { &mut a } else { &mut b }, i);
        feed(&mut all, i);
    }
    a.merge(&b);
    for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(a.corrected.value_at_quantile(q), all.corrected.value_at_quantile(q));
        assert_eq!(a.service.value_at_quantile(q), all.service.value_at_quantile(q));
    }
    assert_eq!((a.sent, a.responses, a.failed, a.in_flight), (all.sent, all.responses, all.failed, all.in_flight));
    assert_eq!(a.status[..], all.status[..]);
    assert_eq!(a.errors, all.errors);
}

#[test]
fn intervals_reset_each_take_and_merge() {
    let mut s = Shard::new();
    s.on_connect(MS);
    for i in 0..100 {
        feed(&mut s, i);
    }
    let first = s.take_interval();
    assert_eq!((first.sent, first.responses, first.errors, first.open), (100, 98, 2, 1));
    assert!(first.p99_ns() >= 10 * MS);
    let empty = s.take_interval();
    assert_eq!((empty.sent, empty.responses), (0, 0));
    assert!(empty.latency.is_empty());
    let mut m = first.clone();
    m.merge(&first);
    assert_eq!(m.responses, 196);
}

#[test]
fn error_classes_from_os_errors() {
    use std::io::{Error, ErrorKind};
    let table = [
        (Error::from_raw_os_error(libc::ECONNREFUSED), ErrorClass::Refused),
        (Error::from_raw_os_error(libc::ETIMEDOUT), ErrorClass::ConnectTimeout),
        (Error::from_raw_os_error(libc::ECONNRESET), ErrorClass::Reset),
        (Error::from_raw_os_error(libc::EPIPE), ErrorClass::Reset),
        (Error::from_raw_os_error(libc::EADDRNOTAVAIL), ErrorClass::AddrUnavailable),
        (Error::from_raw_os_error(libc::EMFILE), ErrorClass::FdLimit),
        (Error::from(ErrorKind::UnexpectedEof), ErrorClass::ClosedEarly),
        (Error::from(ErrorKind::TimedOut), ErrorClass::RequestTimeout),
        (Error::from_raw_os_error(libc::EACCES), ErrorClass::Other),
    ];
    for (e, want) in table {
        assert_eq!(ErrorClass::from_io(&e), want, "{e}");
    }
    for c in ErrorClass::ALL {
        assert_eq!(ErrorClass::from_name(c.name()), Some(c));
    }
}

#[test]
fn out_of_range_values_do_not_panic() {
    let mut s = Shard::new();
    s.on_sent(3, 0);
    s.on_response(200, 0, 0, 0); // zero latency records as 1 ns
    s.on_response(0, 0, 0, u64::MAX); // beyond an hour saturates; no status goes to slot 0
    s.on_response(200, 10, 5, 1); // done before sent: clamps to 1 ns
    assert_eq!(s.responses, 3);
    assert_eq!(s.status_count(0), 1);
    assert!(s.corrected.max() >= LATENCY_MAX_NS / 2);
}

#[test]
fn a_scenario_part_is_typed_and_carried_through_stages_and_merges() {
    use super::result::ScenarioKind;
    // made for its scenario: the part exists before the first record
    let asr = Shard::for_kind(Some(ScenarioKind::Asr));
    assert!(asr.asr().is_some() && asr.chat().is_none());
    assert!(Shard::for_kind(Some(ScenarioKind::Http)).asr().is_none());
    // a plain shard gets the part on its first record
    let mut s = Shard::new();
    assert!(s.asr().is_none() && s.chat().is_none());
    s.on_frame(2 * MS);
    s.on_first_partial(100 * MS);
    s.on_session(5, 1_100 * MS, 1_000 * MS);
    let a = s.asr().expect("streaming part");
    assert_eq!((a.frame_lag.len(), a.first_partial.len(), a.partials), (1, 1, 5));
    assert_eq!(a.rtf_permille.max() / 10, 110, "real-time factor 1.1");
    // the next stage keeps the kind; a plain shard merging a chat shard becomes chat
    let next = s.split_stage();
    assert!(next.asr().is_some_and(|a| a.frame_lag.is_empty()));
    let mut chat = Shard::new();
    chat.on_broadcast(10);
    chat.on_delivery(3 * MS);
    let mut whole = Shard::new();
    whole.merge(&chat);
    whole.merge(&chat);
    assert_eq!((whole.broadcasts(), whole.deliveries()), (2, 2));
    assert_eq!(whole.chat().map(|c| c.delivery.len()), Some(2));
    // TLS and WebSocket closes are parts of every shard
    s.on_tls(MS, true);
    s.on_close_code(Some(1001));
    assert_eq!((s.tls.handshakes.len(), s.tls.resumed, s.ws.close_codes[1]), (1, 1, 1));
}

#[test]
fn grouped_rounds_and_groups_thousands() {
    use super::report::grouped;
    for (x, s) in [(1942.3076923076924, "1,942"), (0.0, "0"), (2.5, "2.5"), (999.6, "1,000"), (1234567.0, "1,234,567"), (-1500.0, "-1,500")]
    {
        assert_eq!(grouped(x), s, "{x}");
    }
}
