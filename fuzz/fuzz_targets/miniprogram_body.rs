//! Fuzzes mini Program bodies: `jscode2session`, `getuserphonenumber` and the decrypted
//! `encryptedData` payloads (profile, phone number).
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none miniprogram_body`, or every target with
//! `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wechat_oauth::fuzzing::miniprogram_bodies(data);
});
