//! [`Secret`]: a string that never prints.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret string: an app secret, an access or refresh token, a code, a session key.
///
/// `Debug` prints `Secret([redacted])` and there is no `Display`, so a secret cannot reach
/// a log line or an error message by accident. Equality is constant-time and the memory is
/// zeroed on drop. Serialization writes the plain value, because token stores must persist
/// it: serialize a `Secret` only to hand it to storage, never to a log or a browser.
///
/// ```
/// use wechat_oauth::Secret;
///
/// let secret = Secret::new("app-secret");
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
/// assert_eq!(secret.expose_secret(), "app-secret");
/// ```
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value.
    ///
    /// # Security
    /// Pass the value only to where it must go (a request to WeChat, a store);
    /// never format it into logs, errors or responses.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&Secret> for Secret {
    fn from(value: &Secret) -> Self {
        value.clone()
    }
}

impl From<&String> for Secret {
    fn from(value: &String) -> Self {
        Self(value.clone())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cr3t-value");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }

    #[test]
    fn serde_round_trips_the_plain_value() {
        let json = serde_json::to_string(&Secret::new("tok")).unwrap_or_default();
        assert_eq!(json, "\"tok\"");
        let back: Secret = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back.expose_secret(), "tok");
    }
}
