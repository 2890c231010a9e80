//! [`AccessToken`]: a user's web-authorization token, as WeChat returns it and stores keep it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize, Serializer};

use crate::lenient;
use crate::{AccessTokenValue, RefreshToken};

/// A user's OAuth access token (网页授权 access_token), one per openid.
///
/// The fields are WeChat's response to `sns/oauth2/access_token` or
/// `sns/oauth2/refresh_token` plus `create_at`, exactly as the npm `wechat-oauth` stores
/// them, so a token written by either library reads back in the other. Numbers stored as
/// strings (the seed's MySQL and Mongo examples do this) are accepted.
///
/// ```
/// use wechat_oauth::AccessToken;
///
/// // A row written by the node library's MySQL example: every value is a string.
/// let token: AccessToken = serde_json::from_str(r#"{
///     "access_token": "ACCESS", "expires_in": "7200", "refresh_token": "REFRESH",
///     "openid": "o1", "scope": "snsapi_userinfo", "create_at": "1540000000000"
/// }"#)?;
/// assert_eq!(token.expires_in, 7200);
/// assert!(!token.is_valid()); // created in 2018, long expired
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessToken {
    /// The access token for `sns/userinfo` and `sns/auth`.
    pub access_token: AccessTokenValue,
    /// Lifetime in seconds from `create_at` (WeChat says 7200).
    #[serde(deserialize_with = "lenient::u64")]
    pub expires_in: u64,
    /// The refresh token (30 days, not extendable). A bearer credential: refreshing needs no app secret.
    #[serde(default)]
    pub refresh_token: RefreshToken,
    /// The user's id within this app.
    pub openid: String,
    /// Granted scopes, comma-separated (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    #[serde(default)]
    pub scope: String,
    /// The user's id across the Open Platform account, when the app is bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Set for snapshot-mode (快照页) virtual users: their openid and unionid are not a real account.
    #[serde(
        default,
        deserialize_with = "lenient::flag",
        serialize_with = "flag_as_number",
        skip_serializing_if = "is_false"
    )]
    pub is_snapshotuser: bool,
    /// When the token was requested, in milliseconds since the Unix epoch (taken before the
    /// request is sent, as the seed does, so network latency shortens rather than extends it).
    #[serde(deserialize_with = "lenient::i64")]
    pub create_at: i64,
    /// Any other field WeChat sent with the token (it adds fields over time), kept as is
    /// and stored with the token by stores that keep its JSON. Names starting with `_`
    /// (a store's own metadata, such as MongoDB's `_id` and `__v`) are left out on reading.
    #[serde(flatten, deserialize_with = "wechat_fields")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The unknown fields of a token, without store metadata (`_`-prefixed names).
fn wechat_fields<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    let mut fields = serde_json::Map::deserialize(deserializer)?;
    fields.retain(|name, _| !name.starts_with('_'));
    Ok(fields)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(v: &bool) -> bool {
    !*v
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn flag_as_number<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*v))
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl AccessToken {
    /// A token from its parts; `create_at` in milliseconds since the epoch.
    pub fn new(
        access_token: impl Into<AccessTokenValue>,
        expires_in: u64,
        refresh_token: impl Into<RefreshToken>,
        openid: impl Into<String>,
        scope: impl Into<String>,
        create_at: i64,
    ) -> Self {
        Self {
            access_token: access_token.into(),
            expires_in,
            refresh_token: refresh_token.into(),
            openid: openid.into(),
            scope: scope.into(),
            unionid: None,
            is_snapshotuser: false,
            create_at,
            extra: serde_json::Map::new(),
        }
    }

    /// Sets `unionid`.
    #[must_use]
    pub fn with_unionid(mut self, unionid: impl Into<String>) -> Self {
        self.unionid = Some(unionid.into());
        self
    }

    /// Sets `is_snapshotuser`.
    #[must_use]
    pub fn with_snapshot_user(mut self, snapshot: bool) -> Self {
        self.is_snapshotuser = snapshot;
        self
    }

    /// When the token expires, in milliseconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        let lifetime = i64::try_from(self.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.create_at.saturating_add(lifetime)
    }

    /// The seed's `AccessToken#isValid()`: an access token is present and not yet expired.
    ///
    /// Unlike the seed, a `create_at` stored as a string still expires.
    pub fn is_valid(&self) -> bool {
        self.is_valid_at(now_millis())
    }

    /// Whether the token is usable at `now_ms` (milliseconds since the epoch).
    pub fn is_valid_at(&self, now_ms: i64) -> bool {
        !self.access_token.is_empty() && now_ms < self.expires_at()
    }

    /// Whether the granted scope includes `scope` (scopes are comma-separated; a refresh
    /// may answer `snsapi_base,snsapi_userinfo,` with a trailing comma, which adds no scope).
    pub fn has_scope(&self, scope: &str) -> bool {
        let scope = scope.trim();
        !scope.is_empty() && self.scope.split(',').any(|s| s.trim() == scope)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &self.access_token)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("openid", &self.openid)
            .field("scope", &self.scope)
            .field("unionid", &self.unionid)
            .field("is_snapshotuser", &self.is_snapshotuser)
            .field("create_at", &self.create_at)
            // Names only: an unknown field's value could be anything.
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> AccessToken {
        match serde_json::from_str(json) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn string_create_at_from_the_seed_still_expires() {
        let t = parse(
            r#"{"access_token":"A","expires_in":"7200","refresh_token":"R","openid":"o","scope":"snsapi_base","create_at":"1000"}"#,
        );
        assert_eq!(t.create_at, 1000);
        assert!(t.is_valid_at(1000 + 7_199_999));
        assert!(!t.is_valid_at(1000 + 7_200_000));
    }

    #[test]
    fn round_trips_every_field_in_the_wire_shape() {
        let t = AccessToken::new("A", 7200, "R", "o", "snsapi_userinfo", 42)
            .with_unionid("u")
            .with_snapshot_user(true);
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert!(json.contains(r#""is_snapshotuser":1"#), "{json}");
        assert_eq!(parse(&json), t);
    }

    #[test]
    fn unknown_fields_from_mongoose_are_ignored() {
        let t = parse(
            r#"{"_id":"x","__v":0,"access_token":"A","expires_in":7200,"openid":"o","create_at":1}"#,
        );
        assert!(t.refresh_token.is_empty());
        assert!(t.unionid.is_none());
        assert!(t.extra.is_empty(), "{:?}", t.extra);
    }

    #[test]
    fn fields_wechat_adds_are_kept_and_written_back() {
        let t = parse(
            r#"{"access_token":"A","expires_in":7200,"openid":"o","create_at":1,"new_flag":2}"#,
        );
        assert_eq!(t.extra.get("new_flag"), Some(&serde_json::json!(2)));
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert!(json.contains(r#""new_flag":2"#), "{json}");
        assert_eq!(parse(&json), t);
    }

    #[test]
    fn extra_numbers_round_trip_exactly() {
        // Found by the `token_response` fuzz target: without serde_json's exact float
        // parsing, 1.5e38 read as 1.4999999999999999e38 and came back as 1.5e38.
        let t = parse(
            r#"{"access_token":"A","expires_in":7200,"openid":"o","create_at":1,"f":1.5e38,"g":0.1}"#,
        );
        assert_eq!(t.extra.get("f"), Some(&serde_json::json!(1.5e38)));
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert!(json.contains(r#""f":1.5e+38"#), "{json}");
        assert_eq!(parse(&json), t);
    }

    #[test]
    fn debug_redacts_tokens() {
        let t = AccessToken::new("ACCESS-XYZ", 1, "REFRESH-XYZ", "o", "s", 0);
        let shown = format!("{t:?}");
        assert!(!shown.contains("XYZ"), "{shown}");
    }

    #[test]
    fn scope_list_is_comma_separated() {
        let t = AccessToken::new("A", 1, "R", "o", "snsapi_base,snsapi_userinfo", 0);
        assert!(t.has_scope("snsapi_userinfo"));
        assert!(!t.has_scope("snsapi_login"));
        let refreshed = AccessToken::new("A", 1, "R", "o", "snsapi_base,snsapi_userinfo,", 0);
        assert!(refreshed.has_scope("snsapi_base") && refreshed.has_scope("snsapi_userinfo"));
        assert!(!refreshed.has_scope("") && !refreshed.has_scope(" "));
    }
}
