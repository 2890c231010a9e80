//! The Mini Program's cryptography: `encryptedData` decryption (docs/protocol.md §4.2),
//! the `rawData` signature (docs/protocol.md §4.3) and the `wxa/checksession` signature
//! (docs/protocol.md §4.4).
//!
//! Everything here is pure and synchronous, never panics on any input, and never puts a
//! key, a ciphertext or a plaintext into an error, a log line or `Debug` output.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha1::Digest;
use subtle::{ConstantTimeEq, ConstantTimeLess};

/// AES block size, and the only PKCS#7 block size WeChat's demo accepts (docs/protocol.md §4.2).
const BLOCK: usize = 16;

/// Why Mini Program `encryptedData` could not be decrypted.
///
/// The three variants keep the meaning of the official demo's codes (`WXBizDataCrypt`,
/// docs/protocol.md §4.2), available as [`code`](Self::code). Everything that goes wrong
/// once the key and iv are well-formed (bad base64 or length of the data, bad padding,
/// non-JSON plaintext, a missing or foreign watermark, a stale watermark) is the single
/// opaque [`IllegalBuffer`](Self::IllegalBuffer), so that a client cannot use the answer as
/// a padding oracle. For debugging, [`diagnose`] names the finer [`DecryptReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The session key is not 24 base64 characters of a 16-byte key (-41001).
    #[error("illegal session key (-41001)")]
    IllegalAesKey,
    /// The iv is not 24 base64 characters of a 16-byte iv (-41002).
    #[error("illegal iv (-41002)")]
    IllegalIv,
    /// The data did not decrypt to JSON carrying this app's watermark (-41003).
    #[error("illegal buffer (-41003)")]
    IllegalBuffer,
}

impl DecryptError {
    /// The official demo's code: -41001, -41002 or -41003. These are SDK-local codes,
    /// not WeChat server `errcode`s.
    pub fn code(self) -> i32 {
        match self {
            Self::IllegalAesKey => -41001,
            Self::IllegalIv => -41002,
            Self::IllegalBuffer => -41003,
        }
    }
}

/// The precise reason a decryption failed, for debugging on the server.
///
/// Never send it to a client: telling "bad padding" apart from "not JSON" is exactly what
/// a padding-oracle attack needs. It never carries plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecryptReason {
    /// The session key is not valid standard base64.
    KeyNotBase64,
    /// The session key is not 24 characters, or does not decode to 16 bytes.
    KeyLength,
    /// The iv is not valid standard base64.
    IvNotBase64,
    /// The iv is not 24 characters, or does not decode to 16 bytes.
    IvLength,
    /// `encryptedData` is not valid standard base64.
    DataNotBase64,
    /// `encryptedData` is empty or not a whole number of 16-byte blocks.
    DataLength,
    /// The decrypted bytes do not end in valid 16-byte PKCS#7 padding (a wrong or stale
    /// key, a tampered ciphertext or iv).
    Padding,
    /// The plaintext is not JSON.
    NotJson,
    /// The plaintext is JSON but not an object.
    NotObject,
    /// The plaintext has no `watermark.appid` (or `watermark.timestamp`, when an age limit is set).
    NoWatermark,
    /// `watermark.appid` is another app's.
    AppIdMismatch,
    /// `watermark.timestamp` is older than the configured maximum age.
    Expired,
    /// The plaintext is a valid payload but not of the requested shape (user info, phone).
    Shape,
    /// The decrypted user info lacks the session's `openId`, or names another user.
    OpenIdMismatch,
}

impl DecryptReason {
    /// The public error this reason is reported as.
    pub fn error(self) -> DecryptError {
        match self {
            Self::KeyNotBase64 | Self::KeyLength => DecryptError::IllegalAesKey,
            Self::IvNotBase64 | Self::IvLength => DecryptError::IllegalIv,
            _ => DecryptError::IllegalBuffer,
        }
    }
}

impl From<DecryptReason> for DecryptError {
    fn from(reason: DecryptReason) -> Self {
        reason.error()
    }
}

/// What a decryption checks beyond the cipher: the app and, optionally, the age.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks<'a> {
    /// `watermark.appid` must equal this.
    pub(crate) appid: Option<&'a str>,
    /// `watermark.timestamp` must be at most this old.
    pub(crate) max_age: Option<Duration>,
}

/// Decrypts Mini Program `encryptedData` (from `wx.getUserInfo`, the old `getPhoneNumber`,
/// `wx.getWeRunData`, …) to its JSON.
///
/// Strict, as the official demo and more (docs/protocol.md §4.2):
/// `session_key` and `iv` must each be 24 characters of standard base64 decoding to 16
/// bytes; the data must be base64 of whole AES blocks; AES-128-CBC; 16-byte PKCS#7 with
/// pad values 1..=16, all equal; the plaintext must be a JSON object; and when
/// `expected_appid` is given, `watermark.appid` must equal it.
///
/// Pass your appid as `expected_appid` unless you really do not know it: without the
/// watermark check, data encrypted for another app with a leaked key would be accepted.
///
/// # Errors
/// [`DecryptError::IllegalAesKey`] (-41001), [`DecryptError::IllegalIv`] (-41002), or the
/// opaque [`DecryptError::IllegalBuffer`] (-41003) for everything else.
///
/// # Example
/// The official demo's data (docs/protocol.md §4.2):
/// ```
/// let user = wechat_oauth::miniprogram::decrypt(
///     "tiihtNczf5v6AKRyjwEUhQ==",
///     "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==",
///     "r7BXXKkLb8qrSNn05n0qiA==",
///     Some("wx4f4bc4dec97d474b"),
/// )?;
/// assert_eq!(user["nickName"], "Band");
///
/// let err = wechat_oauth::miniprogram::decrypt("short", "", "r7BXXKkLb8qrSNn05n0qiA==", None);
/// assert_eq!(err.map_err(|e| e.code()), Err(-41001));
/// # Ok::<(), wechat_oauth::miniprogram::DecryptError>(())
/// ```
pub fn decrypt(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    expected_appid: Option<&str>,
) -> Result<serde_json::Value, DecryptError> {
    let checks = Checks {
        appid: expected_appid,
        max_age: None,
    };
    decrypt_checked(session_key, encrypted_data, iv, checks).map_err(report)
}

/// Why [`decrypt`] fails on these inputs, or `None` if it succeeds. For debugging only:
/// never return the reason to a client (see [`DecryptReason`]).
///
/// ```
/// use wechat_oauth::miniprogram::{diagnose, DecryptReason};
///
/// let key = "tiihtNczf5v6AKRyjwEUhQ==";
/// let iv = "r7BXXKkLb8qrSNn05n0qiA==";
/// assert_eq!(diagnose(key, "AAAA", iv, None), Some(DecryptReason::DataLength));
/// assert_eq!(diagnose(key, "not base64!", iv, None), Some(DecryptReason::DataNotBase64));
/// ```
pub fn diagnose(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    expected_appid: Option<&str>,
) -> Option<DecryptReason> {
    let checks = Checks {
        appid: expected_appid,
        max_age: None,
    };
    decrypt_checked(session_key, encrypted_data, iv, checks).err()
}

/// Logs the reason (never any data) at debug level and turns it into the public error.
pub(crate) fn report(reason: DecryptReason) -> DecryptError {
    let error = reason.error();
    tracing::debug!(
        target: "wechat_oauth::miniprogram",
        ?reason,
        code = error.code(),
        "encryptedData rejected"
    );
    error
}

/// [`decrypt`] with all the checks, failing with the precise reason.
pub(crate) fn decrypt_checked(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    checks: Checks<'_>,
) -> Result<serde_json::Value, DecryptReason> {
    let key = decode_block(
        session_key,
        DecryptReason::KeyNotBase64,
        DecryptReason::KeyLength,
    )?;
    let iv = decode_block(iv, DecryptReason::IvNotBase64, DecryptReason::IvLength)?;
    let ciphertext = STANDARD
        .decode(encrypted_data)
        .map_err(|_| DecryptReason::DataNotBase64)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(DecryptReason::DataLength);
    }
    let plaintext = decrypt_cbc(&key, &iv, &ciphertext)?;
    // Strict JSON, as the official demo's `json_decode`: WeChat's encoder escapes control
    // characters, and rejecting invalid UTF-8 and raw control bytes makes a tampered
    // (garbled) block fail here instead of decoding to plausible text.
    let json: serde_json::Value =
        serde_json::from_slice(&plaintext).map_err(|_| DecryptReason::NotJson)?;
    if !json.is_object() {
        return Err(DecryptReason::NotObject);
    }
    check_watermark(&json, checks)?;
    Ok(json)
}

/// Decodes a key or iv: 24 characters of standard base64 holding exactly 16 bytes.
fn decode_block(
    text: &str,
    not_base64: DecryptReason,
    bad_length: DecryptReason,
) -> Result<[u8; BLOCK], DecryptReason> {
    if text.len() != 24 {
        return Err(bad_length);
    }
    let bytes = STANDARD.decode(text).map_err(|_| not_base64)?;
    <[u8; BLOCK]>::try_from(bytes.as_slice()).map_err(|_| bad_length)
}

/// AES-128-CBC decryption with the strict PKCS#7 check done here rather than by the
/// padding crate, so the check is visibly 16-byte, visibly all-bytes, and branch-free.
fn decrypt_cbc(
    key: &[u8; BLOCK],
    iv: &[u8; BLOCK],
    ciphertext: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, DecryptReason> {
    let decryptor = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into());
    let mut plaintext = zeroize::Zeroizing::new(
        decryptor
            .decrypt_padded_vec::<NoPadding>(ciphertext)
            .map_err(|_| DecryptReason::DataLength)?,
    );
    let len = pkcs7_unpadded_len(&plaintext).ok_or(DecryptReason::Padding)?;
    plaintext.truncate(len);
    Ok(plaintext)
}

/// The length of `data` without its 16-byte PKCS#7 padding, or `None` if the padding is
/// invalid: the last byte `n` must be in 1..=16 and the last `n` bytes must all equal `n`.
///
/// Examines the whole last block the same way whatever its content, so the time taken
/// does not say where the padding went wrong.
fn pkcs7_unpadded_len(data: &[u8]) -> Option<usize> {
    if data.len() < BLOCK || !data.len().is_multiple_of(BLOCK) {
        return None;
    }
    let last_block = &data[data.len() - BLOCK..];
    let pad = last_block[BLOCK - 1];
    let mut ok = !pad.ct_eq(&0) & !(BLOCK as u8).ct_lt(&pad);
    for (i, byte) in last_block.iter().enumerate() {
        // Position from the end, 1..=16: byte i is padding iff its position <= pad.
        let from_end = (BLOCK - i) as u8;
        let is_pad = !pad.ct_lt(&from_end);
        ok &= !is_pad | byte.ct_eq(&pad);
    }
    data.len()
        .checked_sub(usize::from(pad))
        .filter(|_| bool::from(ok))
}

fn check_watermark(json: &serde_json::Value, checks: Checks<'_>) -> Result<(), DecryptReason> {
    if let Some(expected) = checks.appid {
        let appid = json
            .pointer("/watermark/appid")
            .and_then(serde_json::Value::as_str)
            .ok_or(DecryptReason::NoWatermark)?;
        if !bool::from(appid.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(DecryptReason::AppIdMismatch);
        }
    }
    if let Some(max_age) = checks.max_age {
        let timestamp = json
            .pointer("/watermark/timestamp")
            .and_then(|t| t.as_i64().or_else(|| t.as_str()?.trim().parse().ok()))
            .ok_or(DecryptReason::NoWatermark)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        // A timestamp in the future (clock skew) is not stale; only age is limited.
        if now.saturating_sub(timestamp) > max_age {
            return Err(DecryptReason::Expired);
        }
    }
    Ok(())
}

/// Checks a `wx.getUserInfo` `signature`: it must be `hex(sha1(rawData + session_key))`
/// (docs/protocol.md §4.3), lower-case, 40 characters. Compared in constant time.
///
/// ```
/// use wechat_oauth::miniprogram::verify_signature;
///
/// let raw = r#"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#;
/// let key = "HyVFkGl5F5OQWJZZaNzBBg==";
/// assert!(verify_signature(raw, "75e81ceda165f4ffa64f4068af58c64b8f54b88c", key));
/// assert!(!verify_signature(raw, "75E81CEDA165F4FFA64F4068AF58C64B8F54B88C", key));
/// ```
pub fn verify_signature(raw_data: &str, signature: &str, session_key: &str) -> bool {
    let mut sha1 = sha1::Sha1::new();
    sha1.update(raw_data.as_bytes());
    sha1.update(session_key.as_bytes());
    let expected = hex::encode(sha1.finalize());
    expected.as_bytes().ct_eq(signature.as_bytes()).into()
}

/// The `signature` `wxa/checksession` expects for a session key: lower-case hex of
/// HMAC-SHA256 keyed by the session key's base64 **text** (not its decoded bytes) over the
/// empty string (docs/protocol.md §4.4).
///
/// ```
/// use wechat_oauth::miniprogram::session_key_signature;
///
/// assert_eq!(
///     session_key_signature("HyVFkGl5F5OQWJZZaNzBBg=="),
///     "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058",
/// );
/// ```
pub fn session_key_signature(session_key: &str) -> String {
    hmac_sha256_hex(session_key.as_bytes(), b"")
}

fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_accepts_exactly_1_to_16_equal_bytes() {
        let mut block = [b'x'; 32];
        for pad in 1..=16u8 {
            block[32 - usize::from(pad)..].fill(pad);
            assert_eq!(
                pkcs7_unpadded_len(&block),
                Some(32 - usize::from(pad)),
                "pad {pad}"
            );
        }
        block[31] = 0;
        assert_eq!(pkcs7_unpadded_len(&block), None, "pad 0");
        block[31] = 17;
        assert_eq!(pkcs7_unpadded_len(&block), None, "pad 17");
        block[31] = 32;
        assert_eq!(pkcs7_unpadded_len(&block), None, "pad 32");
        let mut block = [b'x'; 16];
        block[12..].copy_from_slice(&[4, 4, 3, 4]);
        assert_eq!(pkcs7_unpadded_len(&block), None, "inconsistent");
        assert_eq!(pkcs7_unpadded_len(&[]), None);
        assert_eq!(pkcs7_unpadded_len(&[1; 15]), None);
    }

    #[test]
    fn hmac_matches_the_official_login_signature_example() {
        // docs/protocol.md §4.4: key = the session_key text, message = the post data.
        assert_eq!(
            hmac_sha256_hex(b"o0q0otL8aEzpcZL/FT9WsQ==", br#"{"foo":"bar"}"#),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
    }

    #[test]
    fn reasons_map_to_the_demo_codes() {
        assert_eq!(DecryptReason::KeyLength.error().code(), -41001);
        assert_eq!(DecryptReason::IvNotBase64.error().code(), -41002);
        for reason in [
            DecryptReason::DataNotBase64,
            DecryptReason::Padding,
            DecryptReason::NotJson,
            DecryptReason::AppIdMismatch,
            DecryptReason::Expired,
        ] {
            assert_eq!(reason.error(), DecryptError::IllegalBuffer);
        }
    }
}
