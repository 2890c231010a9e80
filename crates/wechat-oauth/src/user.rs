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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Lang {
    /// `zh_CN`, simplified Chinese (the default).
    #[default]
    ZhCn,
    /// `zh_TW`, traditional Chinese.
    ZhTw,
    /// `en`, English (the npm package's default).
    En,
    /// Any other value, sent as given (WeChat may add languages).
    Other(String),
}

impl Lang {
    /// WeChat's name for the language (`zh_CN`, `zh_TW`, `en`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::ZhCn => "zh_CN",
            Self::ZhTw => "zh_TW",
            Self::En => "en",
            Self::Other(other) => other,
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

    /// Parses `zh_CN`, `zh_TW` or `en` (case-insensitive, `-` accepted for `_`); any
    /// other code made of letters, digits, `_` and `-` (at most 16) is [`Lang::Other`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an empty value or one
    /// with other characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "zh_cn" => Ok(Self::ZhCn),
            "zh_tw" => Ok(Self::ZhTw),
            "en" => Ok(Self::En),
            _ if !s.is_empty()
                && s.len() <= 16
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Ok(Self::Other(s.to_owned()))
            }
            _ => Err(crate::Error::InvalidArgument(format!(
                "invalid lang {s:?}: expected zh_CN, zh_TW, en or another language code"
            ))),
        }
    }
}

/// A user's profile from `sns/userinfo` (needs a `snsapi_userinfo` or `snsapi_login` token).
///
/// Since October 2021 WeChat sends `sex` as 0 and empty place names for everyone
/// (docs/protocol.md §8). Numbers sent as strings are accepted, and fields WeChat
/// adds later land in [`extra`](Self::extra).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's id within this app.
    pub openid: String,
    /// Nickname.
    pub nickname: String,
    /// 1 male, 2 female, 0 unknown (always 0 since 2021).
    pub sex: i64,
    /// Province (empty since 2021).
    pub province: String,
    /// City (empty since 2021).
    pub city: String,
    /// Country (empty since 2021).
    pub country: String,
    /// Avatar URL; the last path segment picks the size (0, 46, 64, 96, 132). Empty if none.
    pub headimgurl: String,
    /// Privileges, e.g. `["chinaunicom"]`.
    pub privilege: Vec<String>,
    /// The user's id across the Open Platform account, when the app is bound to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// `language`, when WeChat sends it: the user's WeChat language on older answers,
    /// `""` since 2021. A value that is not a string is kept in [`extra`](Self::extra).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Any other field WeChat sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Decoded by hand rather than derived: a derived `#[serde(flatten)]` buffers every field
/// in an intermediate tree first, which cost as much as the rest of the decoding on the
/// `get_user` hot path. Absent fields default (only `openid` is required), `sex` may be a
/// numeric string, and unknown fields go to `extra`.
impl<'de> Deserialize<'de> for UserInfo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UserInfoVisitor)
    }
}

/// `sex` as WeChat may send it: a number or a numeric string.
struct LenientI64(i64);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        lenient::i64(deserializer).map(LenientI64)
    }
}

struct UserInfoVisitor;

/// A key of the user info object; known names are matched without allocating.
enum Field {
    Openid,
    Nickname,
    Sex,
    Province,
    City,
    Country,
    Headimgurl,
    Privilege,
    Unionid,
    Language,
    Other(String),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl serde::de::Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "openid" => Field::Openid,
                    "nickname" => Field::Nickname,
                    "sex" => Field::Sex,
                    "province" => Field::Province,
                    "city" => Field::City,
                    "country" => Field::Country,
                    "headimgurl" => Field::Headimgurl,
                    "privilege" => Field::Privilege,
                    "unionid" => Field::Unionid,
                    "language" => Field::Language,
                    other => Field::Other(other.to_owned()),
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> serde::de::Visitor<'de> for UserInfoVisitor {
    type Value = UserInfo;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user info object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UserInfo, A::Error> {
        use serde::de::Error as _;

        fn set<T, E: serde::de::Error>(
            slot: &mut Option<T>,
            name: &'static str,
            value: T,
        ) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }

        let (mut openid, mut nickname, mut sex, mut province, mut city) =
            (None, None, None, None, None);
        let (mut country, mut headimgurl, mut privilege, mut unionid) = (None, None, None, None);
        let mut language = None;
        let mut extra = serde_json::Map::new();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Openid => set(&mut openid, "openid", map.next_value::<String>()?)?,
                Field::Nickname => set(&mut nickname, "nickname", map.next_value::<String>()?)?,
                Field::Sex => set(&mut sex, "sex", map.next_value::<LenientI64>()?.0)?,
                Field::Province => set(&mut province, "province", map.next_value::<String>()?)?,
                Field::City => set(&mut city, "city", map.next_value::<String>()?)?,
                Field::Country => set(&mut country, "country", map.next_value::<String>()?)?,
                Field::Headimgurl => {
                    set(&mut headimgurl, "headimgurl", map.next_value::<String>()?)?;
                }
                Field::Privilege => {
                    set(
                        &mut privilege,
                        "privilege",
                        map.next_value::<Vec<String>>()?,
                    )?;
                }
                Field::Unionid => {
                    set(&mut unionid, "unionid", map.next_value::<Option<String>>()?)?;
                }
                Field::Language => match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::String(text) => set(&mut language, "language", text)?,
                    other => {
                        extra.insert("language".to_owned(), other);
                    }
                },
                Field::Other(name) => {
                    extra.insert(name, map.next_value::<serde_json::Value>()?);
                }
            }
        }
        Ok(UserInfo {
            openid: openid.ok_or_else(|| A::Error::missing_field("openid"))?,
            nickname: nickname.unwrap_or_default(),
            sex: sex.unwrap_or_default(),
            province: province.unwrap_or_default(),
            city: city.unwrap_or_default(),
            country: country.unwrap_or_default(),
            headimgurl: headimgurl.unwrap_or_default(),
            privilege: privilege.unwrap_or_default(),
            unionid: unionid.flatten(),
            language,
            extra,
        })
    }
}

/// What `sns/auth` said about an access token.
///
/// A busy or unreachable WeChat is not "invalid": [`verify_token`](crate::OAuthClient::verify_token)
/// returns `Err` for those, so a hiccup never logs a user out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
        assert_eq!(user.language.as_deref(), Some("zh_CN"));
        assert!(user.extra.is_empty());
        let user: UserInfo = serde_json::from_str(r#"{"openid":"o1","language":7}"#).unwrap();
        assert_eq!(
            (user.language, user.extra.get("language")),
            (None, Some(&7.into()))
        );
    }

    #[test]
    fn user_info_defaults_absent_fields_and_requires_openid() {
        let user: UserInfo =
            serde_json::from_str(r#"{"openid":"o1","unionid":null,"sex":2}"#).unwrap();
        assert_eq!(
            (user.sex, user.nickname.as_str(), user.unionid),
            (2, "", None)
        );
        assert!(user.privilege.is_empty() && user.extra.is_empty());
        let err = serde_json::from_str::<UserInfo>(r#"{"nickname":"n"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("missing field `openid`"),
            "{err}"
        );
        let err = serde_json::from_str::<UserInfo>(r#"{"openid":"a","openid":"b"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate field `openid`"),
            "{err}"
        );
        assert!(serde_json::from_str::<UserInfo>(r#"{"openid":"o","sex":"x"}"#).is_err());
        assert!(serde_json::from_str::<UserInfo>(r#"{"openid":"o","privilege":"p"}"#).is_err());
        assert!(serde_json::from_str::<UserInfo>(r#"["o"]"#).is_err());
    }

    #[test]
    fn language_round_trips_whatever_its_type_and_however_often_it_is_sent() {
        for body in [
            r#"{"openid":"o","language":""}"#,
            r#"{"openid":"o","language":7}"#,
            r#"{"openid":"o","language":7,"language":"en"}"#,
            r#"{"openid":"o","language":"en","language":[1]}"#,
            r#"{"openid":"o","language":null,"language":false}"#,
        ] {
            let user: UserInfo =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            let text = serde_json::to_string(&user).unwrap();
            let again: UserInfo =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(again, user, "{body} -> {text}");
        }
        assert!(
            serde_json::from_str::<UserInfo>(r#"{"openid":"o","language":"a","language":"b"}"#)
                .is_err()
        );
    }

    #[test]
    fn user_info_round_trips_through_its_serialized_form() {
        let user: UserInfo = serde_json::from_str(
            r#"{"openid":"o1","nickname":"微信","sex":1,"privilege":["p"],"unionid":"u1",
                "is_snapshotuser":1,"tags":{"a":[1,2]}}"#,
        )
        .unwrap();
        let again: UserInfo = serde_json::from_value(serde_json::to_value(&user).unwrap()).unwrap();
        assert_eq!(again, user);
        assert_eq!(user.extra.len(), 2);
    }

    #[test]
    fn lang_parses_and_defaults_to_zh_cn() {
        assert_eq!(Lang::default().as_str(), "zh_CN");
        assert_eq!("en".parse::<Lang>().ok(), Some(Lang::En));
        assert_eq!("zh-tw".parse::<Lang>().ok(), Some(Lang::ZhTw));
        assert_eq!("fr".parse::<Lang>().ok(), Some(Lang::Other("fr".into())));
        assert_eq!(Lang::Other("fr".into()).as_str(), "fr");
        assert!("".parse::<Lang>().is_err_and(|e| e.is_invalid_argument()));
        assert!("en&x=1".parse::<Lang>().is_err());
    }
}
