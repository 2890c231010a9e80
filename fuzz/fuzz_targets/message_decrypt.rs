//! Fuzzes the message interface's decryption (安全模式 / 兼容模式): base64, AES-256-CBC with
//! WeChat's 32-byte PKCS#7 block, the random ‖ length ‖ message ‖ appid layout and the
//! appid check, on arbitrary `Encrypt` values. Properties: nothing panics; whatever
//! decrypts re-encrypts and decrypts to the same message.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none message_decrypt`, or every target
//! with `scripts/fuzz.sh`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wechat_oauth_message::EncodingAesKey;
use wechat_oauth_message::crypto::{decrypt, encrypt_with_random};

const APPID: &str = "wx5a4d1e0f0a000001";

fn key() -> &'static EncodingAesKey {
    static KEY: OnceLock<EncodingAesKey> = OnceLock::new();
    KEY.get_or_init(|| {
        EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").expect("the sample key")
    })
}

fuzz_target!(|data: &[u8]| {
    // As an `Encrypt` value (base64 text).
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(msg) = decrypt(key(), APPID, text) {
            let again = encrypt_with_random(key(), APPID, &msg, [7; 16]);
            assert_eq!(*decrypt(key(), APPID, &again).expect("round trip"), *msg);
        }
    }
    // As raw ciphertext, so the padding and layout checks are reached often.
    let encoded = base64_std(data);
    if let Ok(msg) = decrypt(key(), APPID, &encoded) {
        let again = encrypt_with_random(key(), APPID, &msg, [9; 16]);
        assert_eq!(*decrypt(key(), APPID, &again).expect("round trip"), *msg);
    }
});

fn base64_std(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
