//! `GET sns/userinfo` and `GET sns/auth`: the user's profile and the token check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::WeChatError;
use crate::lenient;

/// The language of the profile's place names (`lang` on `sns/userinfo`).
///
/// Defaults to [`Lang::ZhCn`]. **Deliberate difference from the npm package**, which sends
/// `en` by default and made users ask why nicknames and places were not in Chinese
/// (node-webot/wechat-oauth#55). Every other SDK defaults to `zh_CN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// `zh_CN`, simplified Chinese (the default).
    #[default]
    ZhCn,
    /// `zh_TW`, traditional Chinese.
    ZhTw,
    /// `en`, English (the npm package's default).
    En,
}

impl Lang {
    /// WeChat's name for the language (`zh_CN`, `zh_TW`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZhCn => "zh_CN",
            Self::ZhTw => "zh_TW",
            Self::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lang {
    type Err = crate::Error;

    /// Parses `zh_CN`, `zh_TW` or `en` (case-insensitive, `-` accepted for `_`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "zh_cn" => Ok(Self::ZhCn),
            "zh_tw" => Ok(Self::ZhTw),
            "en" => Ok(Self::En),
            _ => Err(crate::Error::Config(format!(
                "unknown lang {s:?}: expected zh_CN, zh_TW or en"
            ))),
        }
    }
}

/// A user's profile from `sns/userinfo` (needs a `snsapi_userinfo` or `snsapi_login` token).
///
/// Since October 2021 WeChat sends `sex` as 0 and empty place names for everyone
/// (`wechat-protocol.md` §1.7). Numbers sent as strings are accepted, and fields WeChat
/// adds later land in [`extra`](Self::extra).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's id within this app.
    pub openid: String,
    /// Nickname.
    #[serde(default)]
    pub nickname: String,
    /// 1 male, 2 female, 0 unknown (always 0 since 2021).
    #[serde(default, deserialize_with = "lenient::i64")]
    pub sex: i64,
    /// Province (empty since 2021).
    #[serde(default)]
    pub province: String,
    /// City (empty since 2021).
    #[serde(default)]
    pub city: String,
    /// Country (empty since 2021).
    #[serde(default)]
    pub country: String,
    /// Avatar URL; the last path segment picks the size (0, 46, 64, 96, 132). Empty if none.
    #[serde(default)]
    pub headimgurl: String,
    /// Privileges, e.g. `["chinaunicom"]`.
    #[serde(default)]
    pub privilege: Vec<String>,
    /// The user's id across the Open Platform account, when the app is bound to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Any other field WeChat sent (for instance `language` on older accounts).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What `sns/auth` said about an access token.
///
/// A busy or unreachable WeChat is not "invalid": [`verify_token`](crate::OAuthClient::verify_token)
/// returns `Err` for those, so a hiccup never logs a user out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStatus {
    /// WeChat accepted the token for this openid (`{"errcode":0,"errmsg":"ok"}`).
    Valid,
    /// WeChat rejected it: 40001, 40014, 42001 (bad or expired token) or 40003 (the openid
    /// does not match).
    Invalid(WeChatError),
}

impl TokenStatus {
    /// Whether the token is valid.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid)
    }
}

/// The `errcode`s with which `sns/auth` says "this token is not valid for this openid".
pub(crate) fn means_invalid_token(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40003 | 40014 | 42001)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_lenient_and_keeps_unknown_fields() {
        let user: UserInfo = serde_json::from_str(
            r#"{"openid":"o1","nickname":"n","sex":"1","province":"","city":"","country":"CN",
                "headimgurl":"","privilege":["chinaunicom"],"language":"zh_CN"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(user.sex, 1);
        assert_eq!(user.unionid, None);
        assert_eq!(user.extra.get("language"), Some(&"zh_CN".into()));
    }

    #[test]
    fn lang_parses_and_defaults_to_zh_cn() {
        assert_eq!(Lang::default().as_str(), "zh_CN");
        assert_eq!("en".parse::<Lang>().ok(), Some(Lang::En));
        assert_eq!("zh-tw".parse::<Lang>().ok(), Some(Lang::ZhTw));
        assert!("fr".parse::<Lang>().is_err());
    }
}
