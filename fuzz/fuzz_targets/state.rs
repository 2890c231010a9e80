//! Fuzzes the axum middleware's OAuth `state` codec: arbitrary text never verifies unless it
//! is its own minting, and claims built from the input mint, verify and refuse alteration.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none state`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth_axum::fuzzing::state_text(&String::from_utf8_lossy(data));
    wechat_oauth_axum::fuzzing::state_round_trip(data);
});
