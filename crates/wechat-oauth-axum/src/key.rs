//! [`Key`]: the server secret that signs `state` values and session cookies.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The secret that authenticates everything this crate hands to a browser: the OAuth
/// `state`, the pending-login cookie and the session cookie (HMAC-SHA256; the cookies are
/// signed by `axum-extra`'s `SignedCookieJar` under keys derived from this one).
///
/// Every process serving the same site must use the same key, or a login started on one
/// process fails its callback on another. Load it from your secret store; [`Key::generate`]
/// suits a single process whose sessions may end when it restarts.
///
/// `Debug` never shows the bytes.
///
/// ```
/// use wechat_oauth_axum::Key;
///
/// let key = Key::from_bytes(&[7u8; 32]).unwrap();
/// assert_eq!(format!("{key:?}"), "Key([redacted])");
/// assert!(Key::from_bytes(b"too short").is_err());
/// ```
#[derive(Clone)]
pub struct Key(Arc<[u8]>);

/// A [`Key`] shorter than [`Key::MIN_LEN`] bytes was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing key must be at least 32 bytes, got {0}")]
pub struct KeyTooShort(pub usize);

impl Key {
    /// Shortest accepted key: 32 bytes (256 bits), the HMAC-SHA256 output size.
    pub const MIN_LEN: usize = 32;

    /// A key from secret bytes (at least [`Key::MIN_LEN`]).
    ///
    /// # Errors
    /// [`KeyTooShort`] when fewer than 32 bytes are given.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyTooShort> {
        if bytes.len() < Self::MIN_LEN {
            return Err(KeyTooShort(bytes.len()));
        }
        Ok(Self(Arc::from(bytes)))
    }

    /// A fresh random 64-byte key from the OS generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 64];
        rand::rng().fill(&mut bytes[..]);
        Self(Arc::from(&bytes[..]))
    }

    /// HMAC-SHA256 over a domain label and length-prefixed parts, so that a value signed
    /// for one purpose (a state) never verifies as another (a session cookie).
    pub(crate) fn mac(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the
        // no-panic rule without an `expect`.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) else {
            return [0u8; 32];
        };
        mac.update(label.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    /// A key for `axum-extra`'s signed cookie jar, derived for one cookie (`label`) of one
    /// app, so that no two cookies, apps or sites share a signing key.
    pub(crate) fn cookie_key(&self, label: &str, appid: &str) -> axum_extra::extract::cookie::Key {
        let mut master = [0u8; 64];
        master[..32].copy_from_slice(&self.mac(label, &[appid.as_bytes(), b"signing"]));
        master[32..].copy_from_slice(&self.mac(label, &[appid.as_bytes(), b"encryption"]));
        // 64 bytes is exactly what the jar's key takes, so this cannot fail; a random key
        // would only sign nobody in.
        axum_extra::extract::cookie::Key::try_from(&master[..])
            .unwrap_or_else(|_| axum_extra::extract::cookie::Key::generate())
    }
}

/// Constant-time string equality (for MACs received from a browser).
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_differ_by_label_and_by_part_boundaries() {
        let key = Key::from_bytes(&[1u8; 32]).unwrap();
        let a = key.mac("state", &[b"ab", b"c"]);
        assert_ne!(a, key.mac("session", &[b"ab", b"c"]));
        assert_ne!(a, key.mac("state", &[b"a", b"bc"]));
        assert_eq!(a, key.mac("state", &[b"ab", b"c"]));
        let other = Key::from_bytes(&[2u8; 32]).unwrap();
        assert_ne!(a, other.mac("state", &[b"ab", b"c"]));
    }

    #[test]
    fn generated_keys_are_distinct_and_long_enough() {
        let (a, b) = (Key::generate(), Key::generate());
        assert!(a.0.len() >= Key::MIN_LEN);
        assert_ne!(a.0, b.0);
    }
}
