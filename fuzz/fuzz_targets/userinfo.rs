//! Fuzzes the hand-written `UserInfo` decoder (`sns/userinfo`), through the response path and
//! alone; whatever it accepts round-trips.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none userinfo`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth::fuzzing::user_info(data);
});
