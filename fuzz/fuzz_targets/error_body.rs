//! Fuzzes error bodies: any HTTP status and body through the response path (`errcode`,
//! empty, HTML, truncated), `errmsg` request-id splitting, the lenient JSON fallback and the
//! redacted snippet. The first two bytes choose the status.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none error_body`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth::fuzzing::error_body(data);
});
