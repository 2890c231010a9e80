//! Fuzzes Mini Program `encryptedData` decryption: no input may panic.
//!
//! Run on stable (no sanitizer): `cargo fuzz run -s none decrypt -- -runs=20000`.
#![no_main]

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use wechat_oauth::miniprogram::{decrypt, verify_signature};

/// A well-formed key and iv, so that most inputs reach the cipher, padding and JSON checks.
const KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
const APPID: &str = "wx4f4bc4dec97d474b";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // The input as the three text fields, split on NUL.
    let mut fields = text.split('\0');
    let (key, encrypted, iv) = (
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
        fields.next().unwrap_or(""),
    );
    let _ = decrypt(key, encrypted, iv, Some(APPID));
    let _ = verify_signature(&text, encrypted, key);

    // The input as ciphertext under a valid key and iv: exercises the padding check.
    let _ = decrypt(KEY, &text, IV, None);
    let whole_blocks = &data[..data.len() / 16 * 16];
    let _ = decrypt(KEY, &STANDARD.encode(whole_blocks), IV, Some(APPID));

    // The input as plaintext, encrypted as WeChat would (PKCS#7), or as is when it is whole
    // blocks (so its last bytes are an arbitrary, usually invalid, padding): exercises the
    // padding, JSON and watermark checks on attacker-chosen plaintext.
    let (key_bytes, iv_bytes) = (block(KEY), block(IV));
    let encryptor = cbc::Encryptor::<aes::Aes128>::new(&key_bytes.into(), &iv_bytes.into());
    let ciphertext = if data.len().is_multiple_of(16) {
        encryptor.encrypt_padded_vec::<NoPadding>(data)
    } else {
        encryptor.encrypt_padded_vec::<Pkcs7>(data)
    };
    let result = decrypt(KEY, &STANDARD.encode(&ciphertext), IV, Some(APPID));
    if let Ok(json) = result {
        // Whatever was accepted is a JSON object carrying our watermark.
        assert_eq!(json["watermark"]["appid"], APPID);
    }
});

fn block(base64: &str) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&STANDARD.decode(base64).unwrap_or_default()[..16]);
    out
}
