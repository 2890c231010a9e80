//! Message encryption of the safe (安全) and compatible (兼容) modes.
//!
//! From the [technical plan](https://developers.weixin.qq.com/doc/oplatform/en/Third-party_Platforms/Message_Encryption/Technical_Plan.html):
//! `AESKey = base64_decode(EncodingAESKey + "=")`, 32 bytes; AES-256-CBC with
//! `IV = AESKey[..16]`; the plaintext is
//! `random(16) ‖ msg_len (u32, big-endian) ‖ msg ‖ appid`, padded with PKCS#7 to a multiple
//! of **32** bytes (not AES's 16: pad values run 1..=32, a full 32-byte block when the
//! length is already a multiple); `Encrypt = base64(ciphertext)`.
//!
//! Nothing here panics on any input, and no key, ciphertext or plaintext reaches an error,
//! a log line or `Debug` output.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use subtle::{ConstantTimeEq, ConstantTimeLess};
use zeroize::{Zeroize, Zeroizing};

use crate::error::MessageError;

/// WeChat's padding block: PKCS#7 over 32 bytes, not AES's 16.
const PAD_BLOCK: usize = 32;
/// The random prefix and the length field.
const HEADER: usize = 16 + 4;

/// 43 characters carry 258 bits, so the last one has two surplus bits that are rarely zero
/// (the official sample key ends in `G`). The stock engine rejects those; WeChat's own
/// samples (PHP, Python, Java) accept them.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// An account's EncodingAESKey (消息加解密密钥), decoded to the 32-byte AES key.
///
/// `Debug` prints `EncodingAesKey([redacted])`; the key is zeroed on drop.
///
/// ```
/// use wechat_oauth_message::EncodingAesKey;
///
/// let key = EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
/// assert_eq!(format!("{key:?}"), "EncodingAesKey([redacted])");
/// assert!(EncodingAesKey::new("too short").is_err());
/// # Ok::<(), wechat_oauth_message::MessageError>(())
/// ```
#[derive(Clone)]
pub struct EncodingAesKey([u8; 32]);

impl EncodingAesKey {
    /// Decodes the 43-character key shown in the admin console.
    ///
    /// # Errors
    /// [`MessageError::IllegalAesKey`] unless it is 43 characters of `[A-Za-z0-9]`.
    pub fn new(encoding_aes_key: &str) -> Result<Self, MessageError> {
        if encoding_aes_key.len() != 43
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(MessageError::IllegalAesKey);
        }
        let mut padded = Zeroizing::new(String::with_capacity(44));
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let mut bytes = KEY_ENGINE
            .decode(padded.as_bytes())
            .map_err(|_| MessageError::IllegalAesKey)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| MessageError::IllegalAesKey);
        bytes.zeroize();
        key.map(Self)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

impl std::fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodingAesKey([redacted])")
    }
}

impl Drop for EncodingAesKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Encrypts `msg` for `appid` with the given 16 random bytes, returning the base64
/// `Encrypt` value. [`encrypt`] draws fresh random bytes; this variant exists so the
/// official vectors can be reproduced.
pub fn encrypt_with_random(
    key: &EncodingAesKey,
    appid: &str,
    msg: &str,
    random: [u8; 16],
) -> String {
    let len = HEADER + msg.len() + appid.len();
    let pad = PAD_BLOCK - len % PAD_BLOCK;
    let mut plain = Zeroizing::new(Vec::with_capacity(len + pad));
    plain.extend_from_slice(&random);
    // WeChat's messages are a few KiB; a body over 4 GiB cannot reach here (size limits).
    plain.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    plain.extend_from_slice(msg.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    // `pad` is 1..=32, so it fits a byte.
    plain.resize(len + pad, pad as u8);
    let encryptor = cbc::Encryptor::<aes::Aes256>::new(&key.0.into(), &key.iv().into());
    let ciphertext = encryptor.encrypt_padded_vec::<NoPadding>(&plain);
    STANDARD.encode(ciphertext)
}

/// Encrypts `msg` (a reply's XML) for `appid` with fresh random bytes.
pub fn encrypt(key: &EncodingAesKey, appid: &str, msg: &str) -> String {
    encrypt_with_random(key, appid, msg, rand::random())
}

/// Decrypts an `Encrypt` value and checks it names `appid`, returning the message XML.
///
/// # Errors
/// [`MessageError::Base64`], [`MessageError::CiphertextLength`],
/// [`MessageError::BadPadding`], [`MessageError::IllegalBuffer`] or
/// [`MessageError::AppIdMismatch`].
pub fn decrypt(
    key: &EncodingAesKey,
    appid: &str,
    encrypt: &str,
) -> Result<Zeroizing<String>, MessageError> {
    let ciphertext = STANDARD
        .decode(encrypt.trim_ascii())
        .map_err(|_| MessageError::Base64)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(PAD_BLOCK) {
        return Err(MessageError::CiphertextLength);
    }
    let decryptor = cbc::Decryptor::<aes::Aes256>::new(&key.0.into(), &key.iv().into());
    let plain = Zeroizing::new(
        decryptor
            .decrypt_padded_vec::<NoPadding>(&ciphertext)
            .map_err(|_| MessageError::CiphertextLength)?,
    );
    let unpadded = pkcs7_32_unpadded_len(&plain).ok_or(MessageError::BadPadding)?;
    let body = &plain[..unpadded];
    if body.len() < HEADER {
        return Err(MessageError::IllegalBuffer);
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&body[16..HEADER]);
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| MessageError::IllegalBuffer)?;
    let msg_end = HEADER
        .checked_add(msg_len)
        .filter(|end| *end <= body.len())
        .ok_or(MessageError::IllegalBuffer)?;
    let found_appid = &body[msg_end..];
    if !bool::from(found_appid.ct_eq(appid.as_bytes())) {
        return Err(MessageError::AppIdMismatch);
    }
    let msg =
        std::str::from_utf8(&body[HEADER..msg_end]).map_err(|_| MessageError::IllegalBuffer)?;
    Ok(Zeroizing::new(msg.to_owned()))
}

/// The length of `data` without its 32-byte-block PKCS#7 padding: the last byte `p` must be
/// 1..=32 and the last `p` bytes must all equal it. The whole last block is examined the
/// same way whatever its content.
fn pkcs7_32_unpadded_len(data: &[u8]) -> Option<usize> {
    if data.len() < PAD_BLOCK || !data.len().is_multiple_of(PAD_BLOCK) {
        return None;
    }
    let last = &data[data.len() - PAD_BLOCK..];
    let pad = last[PAD_BLOCK - 1];
    let mut ok = !pad.ct_eq(&0) & !(PAD_BLOCK as u8).ct_lt(&pad);
    for (i, byte) in last.iter().enumerate() {
        let from_end = (PAD_BLOCK - i) as u8;
        let is_pad = !pad.ct_lt(&from_end);
        ok &= !is_pad | byte.ct_eq(&pad);
    }
    data.len()
        .checked_sub(usize::from(pad))
        .filter(|_| bool::from(ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_key_decodes_despite_its_trailing_bits() {
        let key = EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
        assert_eq!(
            key.map(|k| hex::encode(k.0)).ok().as_deref(),
            Some("69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051")
        );
    }

    #[test]
    fn illegal_keys_are_refused() {
        for bad in [
            "",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        ] {
            assert_eq!(
                EncodingAesKey::new(bad).map(|_| ()),
                Err(MessageError::IllegalAesKey),
                "{bad}"
            );
        }
    }

    /// AES-256-CBC over `plain` as is (a whole number of blocks), base64.
    fn raw_encrypt(key: &EncodingAesKey, plain: &[u8]) -> String {
        let encryptor = cbc::Encryptor::<aes::Aes256>::new(&key.0.into(), &key.iv().into());
        STANDARD.encode(encryptor.encrypt_padded_vec::<NoPadding>(plain))
    }

    fn test_key() -> EncodingAesKey {
        EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bad_pad_byte_is_bad_padding() {
        let key = test_key();
        let mut plain = [b'x'; 64];
        plain[63] = 0;
        assert_eq!(
            decrypt(&key, "wx1", &raw_encrypt(&key, &plain)).map(|_| ()),
            Err(MessageError::BadPadding)
        );
        // Pad 17 is valid PKCS#7 for 32-byte blocks but would be refused by a 16-byte check.
        let msg = "abcdefghijklmnopqrstuvwx";
        let mut plain = vec![0u8; 16];
        plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(b"wx1");
        plain.resize(64, 64 - plain.len() as u8);
        assert_eq!(plain[63], 17);
        assert_eq!(
            decrypt(&key, "wx1", &raw_encrypt(&key, &plain)).map(|m| m.to_string()),
            Ok(msg.to_owned())
        );
    }

    #[test]
    fn a_length_beyond_the_buffer_is_illegal_buffer() {
        let key = test_key();
        let mut plain = vec![0u8; 16];
        plain.extend_from_slice(&1000u32.to_be_bytes());
        plain.extend_from_slice(b"short");
        plain.resize(32, 32 - plain.len() as u8);
        assert_eq!(
            decrypt(&key, "wx1", &raw_encrypt(&key, &plain)).map(|_| ()),
            Err(MessageError::IllegalBuffer)
        );
        // All padding, nothing else: too short for the header.
        assert_eq!(
            decrypt(&key, "wx1", &raw_encrypt(&key, &[32u8; 32])).map(|_| ()),
            Err(MessageError::IllegalBuffer)
        );
    }

    #[test]
    fn padding_accepts_1_to_32_equal_bytes_only() {
        let mut block = [b'x'; 64];
        for pad in 1..=32u8 {
            block[64 - usize::from(pad)..].fill(pad);
            assert_eq!(pkcs7_32_unpadded_len(&block), Some(64 - usize::from(pad)));
        }
        block[63] = 0;
        assert_eq!(pkcs7_32_unpadded_len(&block), None);
        block[63] = 33;
        assert_eq!(pkcs7_32_unpadded_len(&block), None);
        let mut block = [b'x'; 32];
        block[29..].copy_from_slice(&[3, 2, 3]);
        assert_eq!(pkcs7_32_unpadded_len(&block), None);
        assert_eq!(pkcs7_32_unpadded_len(&[1; 16]), None);
    }
}
