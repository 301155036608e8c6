//! The embedded server's HTTP request parser (src/proto/http/request.rs) on arbitrary bytes:
//! what any client can send it. Input: 4 control bytes (head and body limits, a split offset),
//! then the bytes. Invariants (stampede::invariants::http_request): a request fits the input
//! and the limits with its ranges inside it, re-parses alone, its strict prefixes are
//! incomplete; a decision taken on a prefix is the decision on the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stampede::invariants::{http_request, Control};

fuzz_target!(|data: &[u8]| {
    let (mut ctl, input) = Control::split(data, 4);
    let (max_head, max_body) = match ctl.byte() {
        0 => (8192, 1 << 20),
        n => (usize::from(n) * 4, usize::from(ctl.byte())),
    };
    http_request(input, max_head, max_body, &[usize::from(ctl.u16())]);
});
