//! Fuzzes the middleware's cookie parsing: a raw `Cookie` header (forged values never open)
//! and the pending-login codec on authentic values.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none cookie`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth_axum::fuzzing::cookie_header(data);
    wechat_oauth_axum::fuzzing::pending_codec(data);
});
