//! The threshold rule parser (src/thresholds.rs) and the unit parsers under it, on arbitrary
//! text (invalid UTF-8 is replaced, as the command line would not deliver it).
//! Invariants (stampede::invariants::threshold): an accepted rule has a finite, non-negative
//! limit, re-parses to itself, survives a canonical re-rendering, and judges and renders; a
//! refused one is quoted in the message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stampede::invariants::threshold(&String::from_utf8_lossy(data));
});
