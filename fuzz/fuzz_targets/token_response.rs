//! Fuzzes token answers: the code exchange / refresh (`sns/oauth2/*`), the server token
//! (`cgi-bin/token`, `stable_token`) and the stored form of a token.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none token_response`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth::fuzzing::token_responses(data);
});
