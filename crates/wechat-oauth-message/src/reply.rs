//! Passive replies (被动回复用户消息): what the HTTP response to a push may carry
//! ([被动回复](https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html)).
//!
//! A reply's `ToUserName` is the push's `FromUserName` (the user's openid) and its
//! `FromUserName` the push's `ToUserName` (the account); `CreateTime` is now, in seconds.
//! Strings are written as CDATA, numbers bare, as WeChat's samples do.

use crate::message::Message;
use crate::xml::{push_cdata, push_number};

/// A passive reply to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The body `success`: "no reply", and WeChat stops retrying. The recommended answer
    /// when there is nothing to say.
    Success,
    /// A zero-length body: also "no reply". (An XML reply with empty content is *not*: the
    /// user then sees "该公众号暂时无法提供服务".)
    Empty,
    /// A text message; newlines render.
    Text {
        /// The text.
        content: String,
    },
    /// An image, by the `MediaId` of uploaded media.
    Image {
        /// `Image/MediaId`.
        media_id: String,
    },
    /// A voice message, by `MediaId`.
    Voice {
        /// `Voice/MediaId`.
        media_id: String,
    },
    /// A video, by `MediaId`, with an optional title and description.
    Video {
        /// `Video/MediaId`.
        media_id: String,
        /// `Video/Title`.
        title: Option<String>,
        /// `Video/Description`.
        description: Option<String>,
    },
    /// Music.
    Music(Music),
    /// News (图文): since 2018 WeChat shows one article for replies to a user's message,
    /// and up to 8 for replies to events.
    News(Vec<Article>),
    /// Hand the conversation to the customer-service system, optionally to one agent.
    TransferCustomerService {
        /// `TransInfo/KfAccount` (`agent@account`).
        kf_account: Option<String>,
    },
}

/// The fields of a music reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Music {
    /// `Title`.
    pub title: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `MusicUrl`.
    pub music_url: Option<String>,
    /// `HQMusicUrl`: the Wi-Fi quality link.
    pub hq_music_url: Option<String>,
    /// `ThumbMediaId`: the cover, by `MediaId`.
    pub thumb_media_id: String,
}

impl Music {
    /// Music with its cover; set the other fields as needed.
    pub fn new(thumb_media_id: impl Into<String>) -> Self {
        Self {
            thumb_media_id: thumb_media_id.into(),
            ..Self::default()
        }
    }
}

/// One article of a news reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`: JPG/PNG, 360×200 for the large picture, 200×200 for small ones.
    pub pic_url: String,
    /// `Url`: where a tap leads.
    pub url: String,
}

impl Article {
    /// An article.
    pub fn new(
        title: impl Into<String>,
        description: impl Into<String>,
        pic_url: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            description: description.into(),
            pic_url: pic_url.into(),
            url: url.into(),
        }
    }
}

impl Reply {
    /// A text reply.
    pub fn text(content: impl Into<String>) -> Self {
        Self::Text {
            content: content.into(),
        }
    }

    /// An image reply.
    pub fn image(media_id: impl Into<String>) -> Self {
        Self::Image {
            media_id: media_id.into(),
        }
    }

    /// A voice reply.
    pub fn voice(media_id: impl Into<String>) -> Self {
        Self::Voice {
            media_id: media_id.into(),
        }
    }

    /// A video reply without title or description.
    pub fn video(media_id: impl Into<String>) -> Self {
        Self::Video {
            media_id: media_id.into(),
            title: None,
            description: None,
        }
    }

    /// The `MsgType` this reply is sent as, `None` for [`Success`](Self::Success) and
    /// [`Empty`](Self::Empty).
    pub fn msg_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::Success | Self::Empty => return None,
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Voice { .. } => "voice",
            Self::Video { .. } => "video",
            Self::Music(_) => "music",
            Self::News(_) => "news",
            Self::TransferCustomerService { .. } => "transfer_customer_service",
        })
    }

    /// The reply's XML answering `to`, created at `create_time` (unix seconds); `None` for
    /// [`Success`](Self::Success) and [`Empty`](Self::Empty), which are not XML.
    ///
    /// ```
    /// use wechat_oauth_message::Reply;
    ///
    /// let xml = Reply::text("你好").to_xml_for("oUser", "gh_account", 12345678);
    /// assert_eq!(
    ///     xml.as_deref(),
    ///     Some("<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName>\
    ///           <CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></xml>")
    /// );
    /// ```
    pub fn to_xml_for(
        &self,
        user_openid: &str,
        account_id: &str,
        create_time: i64,
    ) -> Option<String> {
        let msg_type = self.msg_type()?;
        let mut out = String::with_capacity(256);
        out.push_str("<xml>");
        push_cdata(&mut out, "ToUserName", user_openid);
        push_cdata(&mut out, "FromUserName", account_id);
        push_number(&mut out, "CreateTime", create_time);
        push_cdata(&mut out, "MsgType", msg_type);
        match self {
            Self::Success | Self::Empty => {}
            Self::Text { content } => push_cdata(&mut out, "Content", content),
            Self::Image { media_id } => {
                out.push_str("<Image>");
                push_cdata(&mut out, "MediaId", media_id);
                out.push_str("</Image>");
            }
            Self::Voice { media_id } => {
                out.push_str("<Voice>");
                push_cdata(&mut out, "MediaId", media_id);
                out.push_str("</Voice>");
            }
            Self::Video {
                media_id,
                title,
                description,
            } => {
                out.push_str("<Video>");
                push_cdata(&mut out, "MediaId", media_id);
                if let Some(title) = title {
                    push_cdata(&mut out, "Title", title);
                }
                if let Some(description) = description {
                    push_cdata(&mut out, "Description", description);
                }
                out.push_str("</Video>");
            }
            Self::Music(music) => {
                out.push_str("<Music>");
                for (name, value) in [
                    ("Title", &music.title),
                    ("Description", &music.description),
                    ("MusicUrl", &music.music_url),
                    ("HQMusicUrl", &music.hq_music_url),
                ] {
                    if let Some(value) = value {
                        push_cdata(&mut out, name, value);
                    }
                }
                push_cdata(&mut out, "ThumbMediaId", &music.thumb_media_id);
                out.push_str("</Music>");
            }
            Self::News(articles) => {
                push_number(&mut out, "ArticleCount", articles.len());
                out.push_str("<Articles>");
                for article in articles {
                    out.push_str("<item>");
                    push_cdata(&mut out, "Title", &article.title);
                    push_cdata(&mut out, "Description", &article.description);
                    push_cdata(&mut out, "PicUrl", &article.pic_url);
                    push_cdata(&mut out, "Url", &article.url);
                    out.push_str("</item>");
                }
                out.push_str("</Articles>");
            }
            Self::TransferCustomerService { kf_account } => {
                if let Some(kf_account) = kf_account {
                    out.push_str("<TransInfo>");
                    push_cdata(&mut out, "KfAccount", kf_account);
                    out.push_str("</TransInfo>");
                }
            }
        }
        out.push_str("</xml>");
        Some(out)
    }

    /// The reply's XML answering `message` (addresses swapped), created at `create_time`.
    pub fn to_xml(&self, message: &Message, create_time: i64) -> Option<String> {
        self.to_xml_for(&message.from_user_name, &message.to_user_name, create_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>12345678</CreateTime>";

    fn xml(reply: &Reply) -> String {
        reply
            .to_xml_for("toUser", "fromUser", 12_345_678)
            .unwrap_or_default()
    }

    #[test]
    fn replies_match_the_official_samples_byte_for_byte() {
        assert_eq!(
            xml(&Reply::image("media_id")),
            format!(
                "{HEAD}<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[media_id]]></MediaId></Image></xml>"
            )
        );
        assert_eq!(
            xml(&Reply::voice("media_id")),
            format!(
                "{HEAD}<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[media_id]]></MediaId></Voice></xml>"
            )
        );
        assert_eq!(
            xml(&Reply::Video {
                media_id: "media_id".into(),
                title: Some("title".into()),
                description: Some("description".into())
            }),
            format!(
                "{HEAD}<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[media_id]]></MediaId><Title><![CDATA[title]]></Title><Description><![CDATA[description]]></Description></Video></xml>"
            )
        );
        let music = Music {
            title: Some("TITLE".into()),
            description: Some("DESCRIPTION".into()),
            music_url: Some("MUSIC_Url".into()),
            hq_music_url: Some("HQ_MUSIC_Url".into()),
            thumb_media_id: "media_id".into(),
        };
        assert_eq!(
            xml(&Reply::Music(music)),
            format!(
                "{HEAD}<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[TITLE]]></Title><Description><![CDATA[DESCRIPTION]]></Description><MusicUrl><![CDATA[MUSIC_Url]]></MusicUrl><HQMusicUrl><![CDATA[HQ_MUSIC_Url]]></HQMusicUrl><ThumbMediaId><![CDATA[media_id]]></ThumbMediaId></Music></xml>"
            )
        );
        assert_eq!(
            xml(&Reply::News(vec![Article::new(
                "title1",
                "description1",
                "picurl",
                "url"
            )])),
            format!(
                "{HEAD}<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[title1]]></Title><Description><![CDATA[description1]]></Description><PicUrl><![CDATA[picurl]]></PicUrl><Url><![CDATA[url]]></Url></item></Articles></xml>"
            )
        );
        assert_eq!(
            xml(&Reply::TransferCustomerService {
                kf_account: Some("test1@test".into())
            }),
            format!(
                "{HEAD}<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo><KfAccount><![CDATA[test1@test]]></KfAccount></TransInfo></xml>"
            )
        );
    }

    #[test]
    fn success_and_empty_are_not_xml() {
        assert_eq!(Reply::Success.to_xml_for("a", "b", 1), None);
        assert_eq!(Reply::Empty.to_xml_for("a", "b", 1), None);
    }
}
