//! Follower info (获取用户基本信息): `GET cgi-bin/user/info` and
//! `POST cgi-bin/user/info/batchget`
//! ([doc](https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html)).
//!
//! A silent `snsapi_base` login or a follow event gives only an openid; the follower's
//! subscription state and `unionid` come from here. Since 2021 WeChat no longer returns
//! gender and region, and since 2021-12-27 no nickname or avatar: a [`Follower`] has no
//! profile. Profiles come only from OAuth with `snsapi_userinfo`
//! ([`OAuthClient::get_user`](crate::OAuthClient::get_user)).

use serde_json::Value;

use crate::{Error, Lang, OfficialAccountClient};

/// At most this many openids per `batchget` call (WeChat's limit).
pub const BATCH_LIMIT: usize = 100;

/// One user as the Official Account sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Follower {
    /// The openid asked about.
    pub openid: String,
    /// `subscribe`: whether the user follows the account now. When `false`, WeChat returns
    /// nothing else but the openid (and sometimes the unionid).
    pub subscribed: bool,
    /// `unionid`, when the account is bound to an Open Platform account.
    pub unionid: Option<String>,
    /// `subscribe_time`: the last follow, unix seconds.
    pub subscribe_time: Option<i64>,
    /// `subscribe_scene`: how they followed. Do not use it to detect QR-code logins (a QR
    /// follow has been seen reported as `ADD_SCENE_OTHERS`): use the push's `EventKey`.
    pub subscribe_scene: Option<SubscribeScene>,
    /// `qr_scene`: the numeric QR scene of the follow, when there was one (0 otherwise).
    pub qr_scene: Option<i64>,
    /// `qr_scene_str`: the string QR scene of the follow, when there was one.
    pub qr_scene_str: Option<String>,
    /// `remark`: the account's note on the user.
    pub remark: Option<String>,
    /// `groupid`.
    pub group_id: Option<i64>,
    /// `tagid_list`.
    pub tag_ids: Vec<i64>,
    /// `language`: documented as no longer provided.
    pub language: Option<String>,
}

/// `subscribe_scene`: where the user followed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscribeScene {
    /// `ADD_SCENE_SEARCH`.
    Search,
    /// `ADD_SCENE_ACCOUNT_MIGRATION`.
    AccountMigration,
    /// `ADD_SCENE_PROFILE_CARD`.
    ProfileCard,
    /// `ADD_SCENE_QR_CODE`.
    QrCode,
    /// `ADD_SCENE_PROFILE_LINK`.
    ProfileLink,
    /// `ADD_SCENE_PROFILE_ITEM`.
    ProfileItem,
    /// `ADD_SCENE_PAID`.
    Paid,
    /// `ADD_SCENE_WECHAT_ADVERTISEMENT`.
    WechatAdvertisement,
    /// `ADD_SCENE_REPRINT`.
    Reprint,
    /// `ADD_SCENE_LIVESTREAM`.
    Livestream,
    /// `ADD_SCENE_CHANNELS`.
    Channels,
    /// `ADD_SCENE_OTHERS`.
    Others,
    /// A value this SDK does not know yet, as sent.
    Unknown(String),
}

impl SubscribeScene {
    /// Reads WeChat's value.
    pub fn parse(value: &str) -> Self {
        match value {
            "ADD_SCENE_SEARCH" => Self::Search,
            "ADD_SCENE_ACCOUNT_MIGRATION" => Self::AccountMigration,
            "ADD_SCENE_PROFILE_CARD" => Self::ProfileCard,
            "ADD_SCENE_QR_CODE" => Self::QrCode,
            "ADD_SCENE_PROFILE_LINK" => Self::ProfileLink,
            "ADD_SCENE_PROFILE_ITEM" => Self::ProfileItem,
            "ADD_SCENE_PAID" => Self::Paid,
            "ADD_SCENE_WECHAT_ADVERTISEMENT" => Self::WechatAdvertisement,
            "ADD_SCENE_REPRINT" => Self::Reprint,
            "ADD_SCENE_LIVESTREAM" => Self::Livestream,
            "ADD_SCENE_CHANNELS" => Self::Channels,
            "ADD_SCENE_OTHERS" => Self::Others,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// Numbers may come as numbers or strings; empty strings are absent.
fn int(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Follower {
    /// Reads one `user/info` object. Lenient: every field but `openid` is optional, since
    /// WeChat has dropped fields before and answers a non-follower with almost nothing.
    ///
    /// # Errors
    /// [`Error::Response`](crate::Error) when there is no `openid`.
    pub fn from_json(v: &Value) -> Result<Self, Error> {
        let openid = text(v, "openid").ok_or_else(|| {
            Error::from(crate::error::ResponseError::new(
                None,
                crate::error::ResponseErrorKind::Decode("missing field `openid`".to_owned()),
                b"",
            ))
        })?;
        Ok(Self {
            openid,
            subscribed: int(v, "subscribe") == Some(1),
            unionid: text(v, "unionid"),
            subscribe_time: int(v, "subscribe_time").filter(|t| *t > 0),
            subscribe_scene: text(v, "subscribe_scene").map(|s| SubscribeScene::parse(&s)),
            qr_scene: int(v, "qr_scene").filter(|s| *s != 0),
            qr_scene_str: text(v, "qr_scene_str"),
            remark: text(v, "remark"),
            group_id: int(v, "groupid"),
            tag_ids: v
                .get("tagid_list")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
            language: text(v, "language"),
        })
    }
}

impl OfficialAccountClient {
    /// `GET cgi-bin/user/info`: one user's follow state and unionid. Refreshes the server
    /// token once if WeChat rejects it.
    ///
    /// # Errors
    /// WeChat's errors as [`Error::WeChat`](crate::Error) (40003 for an openid that is not
    /// this account's), transport and response errors.
    pub async fn get_follower(&self, openid: &str, lang: Lang) -> Result<Follower, Error> {
        let transport = &self.transport;
        let lang = &lang;
        let value: Value = self
            .tokens
            .call_with_token(|token| async move {
                transport
                    .get_idempotent(
                        "cgi-bin/user/info",
                        &[
                            ("access_token", token.expose_secret()),
                            ("openid", openid),
                            ("lang", lang.as_str()),
                        ],
                    )
                    .await
            })
            .await?;
        Follower::from_json(&value)
    }

    /// `POST cgi-bin/user/info/batchget`: several users at once, in the order asked, in
    /// calls of at most [`BATCH_LIMIT`].
    ///
    /// # Errors
    /// As [`get_follower`](Self::get_follower); the first failing call's error.
    pub async fn get_followers(
        &self,
        openids: &[&str],
        lang: Lang,
    ) -> Result<Vec<Follower>, Error> {
        let mut out = Vec::with_capacity(openids.len());
        for chunk in openids.chunks(BATCH_LIMIT) {
            let body = serde_json::json!({
                "user_list": chunk
                    .iter()
                    .map(|openid| serde_json::json!({ "openid": openid, "lang": lang.as_str() }))
                    .collect::<Vec<_>>(),
            });
            let transport = &self.transport;
            let body = &body;
            let value: Value = self
                .tokens
                .call_with_token(|token| async move {
                    transport
                        .post_json(
                            "cgi-bin/user/info/batchget",
                            &[("access_token", token.expose_secret())],
                            body,
                        )
                        .await
                })
                .await?;
            let list = value
                .get("user_info_list")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for entry in &list {
                out.push(Follower::from_json(entry)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_sample_and_ignores_removed_profile_fields() {
        let v = serde_json::json!({
            "subscribe": 1, "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "language": "zh_CN",
            "subscribe_time": 1382694957, "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
            "remark": "", "groupid": 0, "tagid_list": [128, 2],
            "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene": 98765, "qr_scene_str": "",
            "nickname": "", "headimgurl": "", "sex": 0
        });
        let f = Follower::from_json(&v).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.subscribed);
        assert_eq!(f.unionid.as_deref(), Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"));
        assert_eq!(f.subscribe_scene, Some(SubscribeScene::QrCode));
        assert_eq!(f.qr_scene, Some(98765));
        assert_eq!(f.qr_scene_str, None);
        assert_eq!(f.tag_ids, [128, 2]);
        assert_eq!(f.remark, None);
    }

    #[test]
    fn a_non_follower_has_only_ids() {
        let v = serde_json::json!({"subscribe": 0, "openid": "o1", "unionid": "u1"});
        let f = Follower::from_json(&v).unwrap_or_else(|e| panic!("{e}"));
        assert!(!f.subscribed);
        assert_eq!(f.unionid.as_deref(), Some("u1"));
        assert_eq!(f.subscribe_time, None);
        assert!(Follower::from_json(&serde_json::json!({"subscribe": 0})).is_err());
    }

    #[test]
    fn unknown_scenes_are_kept() {
        assert_eq!(
            SubscribeScene::parse("ADD_SCENE_FUTURE"),
            SubscribeScene::Unknown("ADD_SCENE_FUTURE".into())
        );
    }
}
