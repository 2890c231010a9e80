//! Signed cookie values and `Set-Cookie` headers.
//!
//! A cookie value is `base64url(JSON) "." base64url(HMAC-SHA256)`. The JSON is readable by
//! the browser (it holds the user's own openid and nickname, no tokens) but cannot be altered
//! or moved to another app or purpose: the MAC covers a purpose label and the appid.

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::key::{Key, ct_eq};

/// Largest cookie value accepted on input; browsers cap a cookie near 4 KiB anyway.
const MAX_COOKIE_VALUE: usize = 4096;

/// Signs `value` for `purpose` within `appid`.
pub(crate) fn seal<T: Serialize>(key: &Key, purpose: &str, appid: &str, value: &T) -> String {
    // Serializing plain structs of strings and numbers cannot fail; an empty body would
    // simply fail to open later.
    let json = serde_json::to_vec(value).unwrap_or_default();
    let mac = key.mac(purpose, &[appid.as_bytes(), &json]);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(mac)
    )
}

/// The value sealed by [`seal`] with the same key, purpose and appid, or `None`.
pub(crate) fn open<T: DeserializeOwned>(
    key: &Key,
    purpose: &str,
    appid: &str,
    sealed: &str,
) -> Option<T> {
    if sealed.len() > MAX_COOKIE_VALUE {
        return None;
    }
    let (body, mac) = sealed.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(body).ok()?;
    let expected = URL_SAFE_NO_PAD.encode(key.mac(purpose, &[appid.as_bytes(), &json]));
    if !ct_eq(&expected, mac) {
        return None;
    }
    serde_json::from_slice(&json).ok()
}

/// Cookie attributes shared by every cookie this crate sets.
#[derive(Debug, Clone)]
pub(crate) struct CookieAttrs {
    /// `Secure` is left off only for a plain-http site on a loopback host (local development).
    pub secure: bool,
}

impl CookieAttrs {
    /// `Set-Cookie` for `name=value` living `max_age_secs` (`None`: until the browser closes).
    ///
    /// `SameSite=Lax`, not `Strict`: the callback is a cross-site top-level navigation from
    /// open.weixin.qq.com and must carry the pending-login cookie (`wechat-protocol.md` §8.2 S1).
    pub(crate) fn set(&self, name: &str, value: &str, max_age_secs: Option<u64>) -> HeaderValue {
        let mut header = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age_secs {
            header.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            header.push_str("; Secure");
        }
        // Names are checked at build time and values are base64url: always a valid header.
        HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that deletes `name`.
    pub(crate) fn remove(&self, name: &str) -> HeaderValue {
        self.set(name, "", Some(0))
    }
}

/// Whether `name` is a valid cookie name (RFC 6265 token).
pub(crate) fn is_valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_purpose_and_app() {
        let key = Key::generate();
        let sealed = seal(&key, "session", "wx1", &("alice", 7));
        assert_eq!(
            open(&key, "session", "wx1", &sealed),
            Some(("alice".to_owned(), 7))
        );
        assert_eq!(open::<(String, i32)>(&key, "pending", "wx1", &sealed), None);
        assert_eq!(open::<(String, i32)>(&key, "session", "wx2", &sealed), None);
        assert_eq!(
            open::<(String, i32)>(&Key::generate(), "session", "wx1", &sealed),
            None
        );
    }

    #[test]
    fn tampered_values_do_not_open() {
        let key = Key::generate();
        let sealed = seal(&key, "session", "wx1", &"alice");
        let forged_body = URL_SAFE_NO_PAD.encode(br#""mallory""#);
        let (_, mac) = sealed.split_once('.').unwrap();
        assert_eq!(
            open::<String>(&key, "session", "wx1", &format!("{forged_body}.{mac}")),
            None
        );
        assert_eq!(open::<String>(&key, "session", "wx1", "no-dot"), None);
        assert_eq!(open::<String>(&key, "session", "wx1", "!!.!!"), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_when_asked() {
        let secure = CookieAttrs { secure: true }.set("s", "v", Some(60));
        assert_eq!(
            secure,
            "s=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let local = CookieAttrs { secure: false }.remove("s");
        assert_eq!(local, "s=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    }
}
