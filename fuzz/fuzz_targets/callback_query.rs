//! Fuzzes the middleware's callback query parsing (`code`, `state`, duplicates, sizes) and the
//! login route's `return_to` (only same-site paths come out).
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none callback_query`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    wechat_oauth_axum::fuzzing::callback_query(&query);
});
