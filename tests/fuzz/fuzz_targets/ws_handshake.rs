//! The check of the server's answer to a WebSocket upgrade (src/proto/ws/handshake.rs).
//! Input: 4 control bytes (mode, head limit, a split offset), then either the whole answer or,
//! in mode 1, header lines appended to a valid 101 head for the key (so the fuzzer reaches the
//! accepting paths). Invariants (stampede::invariants::ws_handshake): an accepted head fits the
//! input and the limit, re-checks alone, and all its strict prefixes are incomplete; any
//! decision taken on a prefix is the decision on the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stampede::invariants::{ws_handshake, Control};
use stampede::proto::ws::handshake::{accept_key, client_key};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fuzz_target!(|data: &[u8]| {
    let (mut ctl, rest) = Control::split(data, 4);
    let mode = ctl.byte();
    let max_head = match ctl.byte() {
        0 => 4096,
        n => usize::from(n) * 4,
    };
    let cuts = [usize::from(ctl.u16())];
    if mode & 1 == 1 {
        let mut input =
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {}\r\n", accept_key(KEY)).into_bytes();
        input.extend_from_slice(rest);
        ws_handshake(&input, KEY, max_head, &cuts);
    } else {
        ws_handshake(rest, KEY, max_head, &cuts);
    }
    // The key derivation on arbitrary keys.
    if let Ok(k) = std::str::from_utf8(rest) {
        assert_eq!(accept_key(k).len(), 28);
    }
    let mut nonce = [0u8; 16];
    nonce.iter_mut().zip(rest).for_each(|(n, b)| *n = *b);
    assert_eq!(client_key(nonce).len(), 24);
});
