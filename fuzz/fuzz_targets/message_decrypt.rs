//! Fuzzes the message interface's decryption (安全模式 / 兼容模式): base64, AES-256-CBC with
//! WeChat's 32-byte PKCS#7 block, the random ‖ length ‖ message ‖ appid layout and the
//! appid check, on arbitrary `Encrypt` values, and on arbitrary plaintext encrypted under
//! the key (so that the padding, length and appid checks after AES see the fuzzer's bytes,
//! which random ciphertext almost never reaches). Properties: nothing panics; whatever
//! decrypts re-encrypts and decrypts to the same message; a decrypted plaintext is the
//! message its length field frames, followed by the appid.
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
    // As plaintext: random ‖ length ‖ message ‖ appid as the fuzzer writes it.
    if let Some(ciphertext) = encrypt_plain(data)
        && let Ok(msg) = decrypt(key(), APPID, &base64_std(&ciphertext))
    {
        let len = u32::from_be_bytes(data[16..20].try_into().expect("4 bytes")) as usize;
        assert_eq!(msg.as_bytes(), &data[20..20 + len], "the framed message");
        assert!(data[20 + len..].starts_with(APPID.as_bytes()), "then the appid");
    }
});

/// The sample key's 32 bytes (the key text plus `=`, base64) and its IV (the first 16).
fn raw_key() -> [u8; 32] {
    use base64::Engine as _;
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    // As WeChat reads an EncodingAESKey: the 43rd character's low bits are not zero.
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient
        .decode("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=")
        .expect("the sample key");
    bytes.try_into().expect("32 bytes")
}

/// `plain` encrypted with AES-256-CBC under the sample key: padded to WeChat's 32-byte
/// blocks when the first byte is even, as is (if whole blocks) when odd, so bad padding is
/// reached too.
fn encrypt_plain(plain: &[u8]) -> Option<Vec<u8>> {
    use aes::cipher::block_padding::NoPadding;
    use aes::cipher::{BlockModeEncrypt, KeyIvInit};
    let key = raw_key();
    let iv: [u8; 16] = key[..16].try_into().expect("16 bytes");
    let mut buf = plain.to_vec();
    if plain.first().is_none_or(|b| b % 2 == 0) {
        let pad = 32 - buf.len() % 32;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
    } else if buf.is_empty() || buf.len() % 16 != 0 {
        return None;
    }
    let encryptor = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into());
    Some(encryptor.encrypt_padded_vec::<NoPadding>(&buf))
}

fn base64_std(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
