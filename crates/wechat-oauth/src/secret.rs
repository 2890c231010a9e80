//! Secret strings, one type per kind: [`AppSecret`], [`AuthCode`], [`AccessTokenValue`],
//! [`RefreshToken`], [`SessionKey`], [`State`], and [`Secret`] for anything else.
//!
//! Each one never prints (`Debug` shows `Name([redacted])`, there is no `Display`), compares
//! in constant time, and zeroes its memory on drop. They are distinct types, so a call
//! that takes one does not accept another: passing a code where a refresh token belongs,
//! or swapping a token and an openid, is a compile error rather than a 40030 at run time.
//!
//! ```compile_fail,E0277
//! # async fn f(client: wechat_oauth::OAuthClient) {
//! use wechat_oauth::AuthCode;
//! // A code is not a refresh token.
//! let code = AuthCode::new("CODE");
//! let _ = client.refresh_access_token(code).await;
//! # }
//! ```
//!
//! ```compile_fail,E0308
//! # async fn f(client: wechat_oauth::OAuthClient) {
//! // verify_token(openid, access token): swapped, the token is a `&str`, not a token.
//! let _ = client.verify_token("the-access-token", "the-openid").await;
//! # }
//! ```
//!
//! ```compile_fail,E0277
//! # async fn f(client: wechat_oauth::OAuthClient) {
//! use wechat_oauth::AccessTokenValue;
//! // Swapped with a typed token: a token is not an openid either.
//! let token = AccessTokenValue::new("the-access-token");
//! let _ = client.verify_token(&token, "the-openid").await;
//! # }
//! ```
//!
//! The same calls in the right shape compile:
//!
//! ```
//! # async fn f(client: wechat_oauth::OAuthClient) {
//! use wechat_oauth::{AccessTokenValue, RefreshToken};
//! let _ = client.refresh_access_token(RefreshToken::new("REFRESH")).await;
//! let _ = client.verify_token("the-openid", &AccessTokenValue::new("the-access-token")).await;
//! # }
//! ```
//!
//! Serialization (for the types stores persist) writes the plain value, because token
//! stores must keep it: serialize one only to hand it to storage, never to a log or a
//! browser.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Defines a secret string type: redacted `Debug`, constant-time `Eq`, zeroized on drop,
/// built from `String`/`&str`, read with `expose_secret`.
macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
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

            /// Whether the value is empty or only whitespace.
            pub fn is_blank(&self) -> bool {
                self.0.trim().is_empty()
            }

            /// Whether the value is the empty string.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                Self(value.clone())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

/// A secret string a store keeps: also `Clone`, `Default` and serde (the plain value).
macro_rules! stored_secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        secret_string!(
            $(#[$meta])*
            #[derive(Clone, Default)]
            $name
        );

        impl From<&$name> for $name {
            fn from(value: &$name) -> Self {
                value.clone()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }
    };
}

stored_secret_string!(
    /// A secret string the SDK does not type further (a cookie key, a session id of your
    /// own): redacted in `Debug`, constant-time `Eq`, zeroized on drop.
    ///
    /// ```
    /// use wechat_oauth::Secret;
    ///
    /// let secret = Secret::new("cookie-key");
    /// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    /// assert_eq!(secret.expose_secret(), "cookie-key");
    /// ```
    Secret
);

stored_secret_string!(
    /// An app's AppSecret (from the WeChat console), sent to WeChat only by the code
    /// exchanges and the server-token fetch.
    ///
    /// ```
    /// use wechat_oauth::AppSecret;
    ///
    /// let secret = AppSecret::new("app-secret");
    /// assert_eq!(format!("{secret:?}"), "AppSecret([redacted])");
    /// ```
    AppSecret
);

secret_string!(
    /// A single-use code: the OAuth callback's `code`, a Mini Program's `wx.login`
    /// `js_code`, a phone-number button's `code`. Not `Clone`: it is spent by the one
    /// call it is moved into.
    AuthCode
);

stored_secret_string!(
    /// The value of an access token: a user's OAuth token
    /// ([`AccessToken::access_token`](crate::AccessToken::access_token)) or the app's
    /// server token.
    AccessTokenValue
);

stored_secret_string!(
    /// The value of a user's refresh token (30 days). A bearer credential: refreshing needs
    /// no app secret.
    RefreshToken
);

stored_secret_string!(
    /// A Mini Program user's `session_key`: decrypts their `encryptedData` and signs their
    /// `rawData`. Never sent to the Mini Program.
    SessionKey
);

secret_string!(
    /// An OAuth `state` nonce for one login: [`State::generate`] makes one, keep it in the
    /// user's session, check the callback's with [`State::matches`]. Not `Clone`: one
    /// login, one state.
    ///
    /// ```
    /// use wechat_oauth::State;
    ///
    /// let state = State::generate();
    /// assert!(wechat_oauth::is_valid_state(state.expose_secret()));
    /// assert!(state.matches(state.expose_secret()));
    /// assert!(!state.matches("forged"));
    /// ```
    State
);

impl State {
    /// A fresh random state ([`new_state`](crate::new_state): `[A-Za-z0-9]{32}` from the
    /// OS CSPRNG).
    pub fn generate() -> Self {
        Self(crate::state::new_state())
    }

    /// Whether the callback's `received` state is this one, compared in constant time.
    pub fn matches(&self, received: &str) -> bool {
        crate::state::states_match(&self.0, received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cr3t-value");
        let code = AuthCode::new("s3cr3t-code");
        let shown = format!("{secret:?} {:?} {code:?}", Some(&secret));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("AuthCode([redacted])"), "{shown}");
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(RefreshToken::new("a"), RefreshToken::new("a"));
        assert_ne!(RefreshToken::new("a"), RefreshToken::new("ab"));
        assert!(AppSecret::new(" \t").is_blank());
    }

    #[test]
    fn serde_round_trips_the_plain_value() {
        let json = serde_json::to_string(&AccessTokenValue::new("tok")).unwrap_or_default();
        assert_eq!(json, "\"tok\"");
        let back: AccessTokenValue = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back.expose_secret(), "tok");
    }
}
