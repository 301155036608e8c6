//! The WAV reader (src/audio.rs, parse_wav) on arbitrary bytes.
//! Invariants (stampede::invariants::wav): accepted audio is streamable (rate > 0, mono or
//! stereo, whole frames, smaller than the file), re-encodes and re-parses to itself, every
//! strict prefix of that encoding is truncated, chunking covers it once; every error names a fix.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stampede::invariants::wav(data);
});
