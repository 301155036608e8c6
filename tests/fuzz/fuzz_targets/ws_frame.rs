//! The WebSocket frame codec and message decoder (src/proto/ws/frame.rs) on arbitrary bytes.
//! Input: 6 control bytes (role, frame and message limits, two split offsets), then the stream.
//! Invariants (stampede::invariants::ws_frames): sticky header errors and partial header
//! prefixes, header re-encoding, the same events and error whole / split / byte by byte, every
//! strict prefix of the first frame needs more, UTF-8 text, limits, mask and encoder round trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stampede::invariants::{ws_frames, Control};
use stampede::proto::ws::frame::Role;

fuzz_target!(|data: &[u8]| {
    let (mut ctl, input) = Control::split(data, 6);
    let b = ctl.byte();
    let role = if b & 1 == 0 { Role::Client } else { Role::Server };
    // Small limits most of the time so that they are hit; sometimes the ones the tool runs with.
    let (max_frame, max_message) = if b & 2 == 0 { (u64::from(ctl.byte()) * 4, usize::from(ctl.byte()) * 8) } else { (16 << 20, 16 << 20) };
    let cuts = [usize::from(ctl.byte()), usize::from(ctl.byte())];
    ws_frames(input, role, max_frame, max_message, &cuts);
});
