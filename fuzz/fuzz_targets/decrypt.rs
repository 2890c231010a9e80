//! Fuzzes Mini Program `encryptedData` decryption: no input may panic.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none decrypt -- -runs=20000`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wechat_oauth::miniprogram::{decrypt, verify_signature};

/// A well-formed key and iv, so that most inputs reach the cipher, padding and JSON checks.
const KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Whole input as the three fields (split on NUL), then as the ciphertext alone, both as
    // text and as base64 of the raw bytes (which exercises padding and JSON parsing).
    let mut fields = text.split('\0');
    let (key, encrypted, iv) = (
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
    );
    let _ = decrypt(key, encrypted, iv, Some("wx4f4bc4dec97d474b"));
    let _ = decrypt(KEY, &text, IV, None);
    let padded_len = data.len() / 16 * 16;
    let encoded = base64_standard(&data[..padded_len]);
    let _ = decrypt(KEY, &encoded, IV, Some("wx4f4bc4dec97d474b"));
    let _ = verify_signature(&text, encrypted, key);
});

/// Standard padded base64, written out here to keep the fuzz crate's dependencies minimal.
fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
