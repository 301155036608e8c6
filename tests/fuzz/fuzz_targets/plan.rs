//! The load-plan parser (src/plan.rs, `stampede run plan.toml`) on arbitrary text (invalid
//! UTF-8 is replaced). Invariants (stampede::invariants::plan): a refusal names a line of the
//! text; an accepted plan is runnable and its staged form consistent (contiguous bounds adding
//! up to the total, levels within each stage's range, a non-decreasing integral).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    stampede::invariants::plan(&String::from_utf8_lossy(data));
});
