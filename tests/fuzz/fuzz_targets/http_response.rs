//! The HTTP/1.1 response parser (src/proto/http/response.rs) on arbitrary bytes.
//! Input: 5 control bytes (head limit, header limit, two split offsets), then the stream.
//! Invariants (stampede::invariants::http_response): consumed ≤ input, the same responses and
//! ending whole / split / in small pieces, for HEAD and other requests, then EOF; every strict
//! prefix of the first complete response is partial; that response re-fed alone is identical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stampede::invariants::{http_response, Control};
use stampede::proto::http::response::Limits;

fuzz_target!(|data: &[u8]| {
    let (mut ctl, input) = Control::split(data, 5);
    let limits = match ctl.byte() {
        0 => Limits::default(),
        n => Limits { max_head_bytes: usize::from(n) * 8, max_headers: usize::from(ctl.byte()) * 2 },
    };
    let cuts = [usize::from(ctl.u16()), usize::from(ctl.byte())];
    http_response(input, limits, &cuts);
});
