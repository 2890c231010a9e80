//! What decrypted Mini Program data looks like: [`Decrypted`] (the raw JSON) and the typed
//! payloads [`UserInfo`] and [`PhoneInfo`].
//!
//! Decrypted payloads use **camelCase** keys (`openId`, `nickName`, `phoneNumber`), unlike
//! the server APIs' `openid` (docs/protocol.md §4.2). Every type here holds personal
//! data, so its `Debug` shows only the watermark.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use super::crypto::{DecryptError, DecryptReason, report};

/// The decrypted JSON of an `encryptedData`, already checked (cipher, padding, JSON,
/// watermark). Read it typed with [`user_info`](Self::user_info),
/// [`phone_info`](Self::phone_info) or [`deserialize`](Self::deserialize), or raw with
/// [`json`](Self::json).
///
/// `Debug` is redacted: the content is the user's personal data.
#[derive(Clone, PartialEq)]
pub struct Decrypted {
    json: serde_json::Value,
}

impl Decrypted {
    pub(crate) fn new(json: serde_json::Value) -> Self {
        Self { json }
    }

    /// The decrypted JSON.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// The decrypted JSON, by value.
    pub fn into_json(self) -> serde_json::Value {
        self.json
    }

    /// The `watermark` (which app the data was made for, and when), if present.
    pub fn watermark(&self) -> Option<Watermark> {
        self.json
            .get("watermark")
            .and_then(|w| Watermark::deserialize(w).ok())
    }

    /// The payload of `wx.getUserInfo` / `<button open-type="getUserInfo">`.
    ///
    /// # Errors
    /// [`DecryptError::IllegalBuffer`] if the JSON is not shaped like user info.
    pub fn user_info(&self) -> Result<UserInfo, DecryptError> {
        self.deserialize()
    }

    /// The payload of the old `<button open-type="getPhoneNumber">` flow (`encryptedData`);
    /// the new flow's `phone_info` has the same shape.
    ///
    /// # Errors
    /// [`DecryptError::IllegalBuffer`] if the JSON is not shaped like a phone payload.
    pub fn phone_info(&self) -> Result<PhoneInfo, DecryptError> {
        self.deserialize()
    }

    /// The payload as any type (`wx.getWeRunData`, `wx.getShareInfo`, …).
    ///
    /// # Errors
    /// [`DecryptError::IllegalBuffer`] if the JSON does not fit `T`; the serde message is
    /// not kept because it could quote the personal data.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, DecryptError> {
        T::deserialize(&self.json).map_err(|_| report(DecryptReason::Shape))
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field("watermark", &self.watermark())
            .finish_non_exhaustive()
    }
}

/// Which app the data was encrypted for, and when (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Watermark {
    /// The appid the data was made for; checked against the client's.
    #[serde(default)]
    pub appid: String,
    /// When WeChat made the data, in seconds since the Unix epoch.
    #[serde(default, deserialize_with = "crate::lenient::i64")]
    pub timestamp: i64,
}

/// A user's profile from decrypted `wx.getUserInfo` data.
///
/// Fields are WeChat's, renamed to Rust case; (de)serialized with WeChat's camelCase keys.
/// Since 2021 WeChat sends placeholder values (nickname "微信用户", gender 0, empty region)
/// unless the user filled in a profile in the Mini Program.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's openid in this Mini Program (absent from newer payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_id: Option<String>,
    /// The user's unionid, when the Mini Program is bound to an Open Platform account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub union_id: Option<String>,
    /// Nickname.
    #[serde(default)]
    pub nick_name: String,
    /// 0 unknown, 1 male, 2 female.
    #[serde(default, deserialize_with = "crate::lenient::i64")]
    pub gender: i64,
    /// Language of the region fields (`zh_CN`, `en`, …).
    #[serde(default)]
    pub language: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// Province.
    #[serde(default)]
    pub province: String,
    /// Country.
    #[serde(default)]
    pub country: String,
    /// Avatar URL.
    #[serde(default)]
    pub avatar_url: String,
    /// Which app the data was made for, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
    /// Fields this SDK does not know yet (WeChat adds fields over time).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("watermark", &self.watermark)
            .finish_non_exhaustive()
    }
}

/// A user's phone number, from `wxa/business/getuserphonenumber` (`phone_info`) or the old
/// decrypted `getPhoneNumber` data (docs/protocol.md §4.5).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PhoneInfo {
    /// The number as the user sees it; foreign numbers include the country prefix.
    #[serde(default)]
    pub phone_number: String,
    /// The number without country code.
    #[serde(default)]
    pub pure_phone_number: String,
    /// The country calling code (`"86"`). WeChat documents a string but sends a number; both are accepted.
    #[serde(default, deserialize_with = "string_or_number")]
    pub country_code: String,
    /// Which app the data was made for, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

impl fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneInfo")
            .field("watermark", &self.watermark)
            .finish_non_exhaustive()
    }
}

/// A string sent either as a JSON string or as a number (`"countryCode": 86` / `"86"`,
/// docs/protocol.md §1).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        String(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<StringOrNumber>::deserialize(d)? {
        Some(StringOrNumber::String(s)) => s,
        Some(StringOrNumber::Number(n)) => n.to_string(),
        None => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_code_accepts_number_string_and_null() {
        for (json, want) in [
            (r#"{"countryCode":86}"#, "86"),
            (r#"{"countryCode":"86"}"#, "86"),
            (r#"{"countryCode":null}"#, ""),
            ("{}", ""),
        ] {
            let phone: PhoneInfo = serde_json::from_str(json).unwrap_or_default();
            assert_eq!(phone.country_code, want, "{json}");
        }
        assert!(serde_json::from_str::<PhoneInfo>(r#"{"countryCode":[86]}"#).is_err());
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let phone = PhoneInfo {
            phone_number: "13800138000".into(),
            pure_phone_number: "13800138000".into(),
            country_code: "86".into(),
            watermark: None,
        };
        let user = UserInfo {
            nick_name: "Band".into(),
            open_id: Some("oGZUI0eg".into()),
            ..UserInfo::default()
        };
        let json = serde_json::json!({"nickName": "Band", "phoneNumber": "13800138000"});
        let shown = format!("{phone:?} {user:?} {:?}", Decrypted::new(json));
        for secret in ["13800138000", "Band", "oGZUI0eg"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
