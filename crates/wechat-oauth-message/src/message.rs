//! Typed messages and events, as WeChat pushes them
//! ([普通消息](https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html),
//! [事件推送](https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html)).
//!
//! Every push becomes a [`Message`]: the common header, a typed [`MessageKind`], and all
//! of the push's fields kept raw ([`Message::field`]), so that kinds and fields WeChat adds
//! later are still readable and every push, known or not, can be answered.

use crate::error::MessageError;
use crate::xml::Fields;

/// One push from WeChat: a user's message or an event.
///
/// `Debug` shows the header (names, time, type, ids) but no content: a message is a user's
/// words, and a decrypted one was sent encrypted for a reason.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// `ToUserName`: the Official Account's original id (`gh_…`).
    pub to_user_name: String,
    /// `FromUserName`: the sender's openid.
    pub from_user_name: String,
    /// `CreateTime`: unix seconds.
    pub create_time: i64,
    /// `MsgType` exactly as sent (`text`, `event`, …, or a type this crate does not know).
    pub msg_type: String,
    /// `MsgId` (messages only; events carry none). A 64-bit number.
    pub msg_id: Option<u64>,
    /// The typed content.
    pub kind: MessageKind,
    fields: Fields,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Message");
        d.field("to_user_name", &self.to_user_name)
            .field("from_user_name", &self.from_user_name)
            .field("create_time", &self.create_time)
            .field("msg_type", &self.msg_type)
            .field("msg_id", &self.msg_id);
        if let MessageKind::Event(event) = &self.kind {
            d.field("event", &event.name());
        }
        d.finish_non_exhaustive()
    }
}

/// What a [`Message`] is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageKind {
    /// `text`.
    Text(Text),
    /// `image`.
    Image(Image),
    /// `voice`.
    Voice(Voice),
    /// `video`.
    Video(Video),
    /// `shortvideo` (小视频): the same fields as `video`.
    ShortVideo(Video),
    /// `location` (a location the user sent; not the `LOCATION` event).
    Location(Location),
    /// `link`.
    Link(Link),
    /// `event`.
    Event(Event),
    /// A `MsgType` this crate does not model (`miniprogrampage`, `device_text`, …): read
    /// [`Message::msg_type`] and [`Message::field`].
    Unknown,
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Text {
    /// `Content`, exactly as sent (never trimmed).
    pub content: String,
}

/// An image message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Image {
    /// `PicUrl`.
    pub pic_url: String,
    /// `MediaId`, for the temporary-media API.
    pub media_id: String,
}

/// A voice message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Voice {
    /// `MediaId`.
    pub media_id: String,
    /// `Format` (`amr`, `speex`).
    pub format: String,
    /// `Recognition`, when speech recognition is on. It has been seen empty since 2023,
    /// and WeChat said the feature would be retired: treat it as optional.
    pub recognition: Option<String>,
}

/// A video or short-video message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Video {
    /// `MediaId`.
    pub media_id: String,
    /// `ThumbMediaId`.
    pub thumb_media_id: String,
}

/// A location message (the user shared a place).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Location {
    /// `Location_X`: latitude.
    pub latitude: f64,
    /// `Location_Y`: longitude.
    pub longitude: f64,
    /// `Scale`: map zoom.
    pub scale: Option<u32>,
    /// `Label`: the place's description.
    pub label: String,
}

/// A link message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `Url`.
    pub url: String,
}

/// An event (`MsgType` = `event`), discriminated by the case-exact `Event` field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `subscribe`: the user followed the account. Through a parametric QR code the
    /// `EventKey` is `qrscene_<scene>`, which [`scene`](Subscribe::scene) gives without
    /// the prefix; other `EventKey`s (after a payment, a product scan) are not scenes.
    Subscribe(Subscribe),
    /// `unsubscribe`: the user unfollowed.
    Unsubscribe,
    /// `SCAN`: a user who already follows scanned a parametric QR code.
    Scan(Scan),
    /// `LOCATION`: the user's position, reported on entering the chat (or every 5 s).
    Location(LocationReport),
    /// `CLICK`: a menu button with a key.
    Click {
        /// `EventKey`: the button's key.
        event_key: String,
    },
    /// `VIEW`: a menu link was opened.
    View {
        /// `EventKey`: the URL.
        url: String,
        /// `MenuId`, when sent.
        menu_id: Option<String>,
    },
    /// `TEMPLATESENDJOBFINISH`: a template message was delivered (or not).
    TemplateSendJobFinish {
        /// `MsgID` (capital D: a different element from `MsgId`).
        msg_id: String,
        /// `Status`: `success`, `failed:user block`, `failed: system failed`, …
        status: String,
    },
    /// `MASSSENDJOBFINISH`: a mass send finished.
    MassSendJobFinish {
        /// `MsgID`.
        msg_id: String,
        /// `Status`.
        status: String,
        /// `TotalCount`.
        total_count: Option<u64>,
        /// `FilterCount`.
        filter_count: Option<u64>,
        /// `SentCount`.
        sent_count: Option<u64>,
        /// `ErrorCount`.
        error_count: Option<u64>,
    },
    /// `scancode_push` / `scancode_waitmsg`: a menu button's scanner returned.
    ScanCode {
        /// `true` for `scancode_waitmsg` (WeChat shows "receiving" and waits for a reply).
        wait_msg: bool,
        /// `EventKey`.
        event_key: String,
        /// `ScanCodeInfo/ScanType` (`qrcode`, `barcode`).
        scan_type: String,
        /// `ScanCodeInfo/ScanResult`.
        scan_result: String,
    },
    /// Any other event (`pic_sysphoto`, `location_select`, `view_miniprogram`,
    /// `subscribe_msg_popup_event`, …): read [`Message::field`].
    Other {
        /// `Event` exactly as sent.
        event: String,
    },
}

impl Event {
    /// The `Event` value this variant stands for (`subscribe`, `SCAN`, …).
    pub fn name(&self) -> &str {
        match self {
            Event::Subscribe(_) => "subscribe",
            Event::Unsubscribe => "unsubscribe",
            Event::Scan(_) => "SCAN",
            Event::Location(_) => "LOCATION",
            Event::Click { .. } => "CLICK",
            Event::View { .. } => "VIEW",
            Event::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            Event::MassSendJobFinish { .. } => "MASSSENDJOBFINISH",
            Event::ScanCode { wait_msg: true, .. } => "scancode_waitmsg",
            Event::ScanCode {
                wait_msg: false, ..
            } => "scancode_push",
            Event::Other { event } => event,
        }
    }
}

/// A `subscribe` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscribe {
    /// `EventKey` as sent, when there is one.
    pub event_key: Option<String>,
    /// `Ticket`: the scanned QR code's ticket, for a parametric-QR follow.
    pub ticket: Option<String>,
}

impl Subscribe {
    /// The QR scene when this follow came from a parametric QR code: `EventKey` without
    /// its `qrscene_` prefix. `None` for a plain follow and for non-QR keys.
    pub fn scene(&self) -> Option<&str> {
        self.event_key.as_deref()?.strip_prefix("qrscene_")
    }
}

/// A `SCAN` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan {
    /// `EventKey`: the scene, without prefix (`scene_id` digits or the `scene_str`).
    pub scene: String,
    /// `Ticket`.
    pub ticket: Option<String>,
}

/// A `LOCATION` event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LocationReport {
    /// `Latitude`.
    pub latitude: f64,
    /// `Longitude`.
    pub longitude: f64,
    /// `Precision`.
    pub precision: Option<f64>,
}

impl Message {
    /// Builds the typed message from a push's fields.
    ///
    /// # Errors
    /// [`MessageError::MissingField`] when the header (`ToUserName`, `FromUserName`,
    /// `CreateTime`, `MsgType`) or a field the kind needs is missing or malformed.
    pub fn from_fields(fields: Fields) -> Result<Self, MessageError> {
        let required = |name: &'static str| -> Result<String, MessageError> {
            fields
                .get(name)
                .map(str::to_owned)
                .ok_or(MessageError::MissingField(name))
        };
        let to_user_name = required("ToUserName")?;
        let from_user_name = required("FromUserName")?;
        let create_time = fields
            .get("CreateTime")
            .and_then(|t| t.trim().parse::<i64>().ok())
            .ok_or(MessageError::MissingField("CreateTime"))?;
        let msg_type = required("MsgType")?;
        let msg_id = match fields.get("MsgId") {
            Some(id) => Some(
                id.trim()
                    .parse::<u64>()
                    .map_err(|_| MessageError::MissingField("MsgId"))?,
            ),
            None => None,
        };
        let kind = kind_of(&msg_type, &fields)?;
        Ok(Self {
            to_user_name,
            from_user_name,
            create_time,
            msg_type,
            msg_id,
            kind,
            fields,
        })
    }

    /// The first raw value of a field, by its path below `<xml>` (`Content`,
    /// `ScanCodeInfo/ScanType`): every field WeChat sent, modelled or not.
    pub fn field(&self, path: &str) -> Option<&str> {
        self.fields.get(path)
    }

    /// All the push's fields, in document order.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The event, if this push is one.
    pub fn event(&self) -> Option<&Event> {
        match &self.kind {
            MessageKind::Event(event) => Some(event),
            _ => None,
        }
    }

    /// The key WeChat's retries of this push share, for deduplication.
    ///
    /// WeChat's advice is `MsgId` for messages and `FromUserName + CreateTime` for events.
    /// `MsgId` has been seen colliding across users (binarywang/WxJava#333), so the sender
    /// is part of message keys too, and the event name is part of event keys, so that two
    /// different events of one user in one second both get through. The account's id
    /// prefixes every key: one store can serve several accounts.
    pub fn dedupe_key(&self) -> String {
        match (&self.msg_id, &self.kind) {
            (Some(id), _) => format!(
                "wechat-msg:{}:{}:msg:{id}",
                self.to_user_name, self.from_user_name
            ),
            (None, MessageKind::Event(event)) => format!(
                "wechat-msg:{}:{}:event:{}:{}",
                self.to_user_name,
                self.from_user_name,
                self.create_time,
                event.name()
            ),
            (None, _) => format!(
                "wechat-msg:{}:{}:{}:{}",
                self.to_user_name, self.from_user_name, self.msg_type, self.create_time
            ),
        }
    }
}

fn kind_of(msg_type: &str, fields: &Fields) -> Result<MessageKind, MessageError> {
    let get = |name: &'static str| -> Result<String, MessageError> {
        fields
            .get(name)
            .map(str::to_owned)
            .ok_or(MessageError::MissingField(name))
    };
    let opt = |name: &str| fields.get(name).map(str::to_owned);
    let float = |name: &'static str| -> Result<f64, MessageError> {
        fields
            .get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or(MessageError::MissingField(name))
    };
    Ok(match msg_type {
        "text" => MessageKind::Text(Text {
            content: get("Content")?,
        }),
        "image" => MessageKind::Image(Image {
            pic_url: get("PicUrl")?,
            media_id: get("MediaId")?,
        }),
        "voice" => MessageKind::Voice(Voice {
            media_id: get("MediaId")?,
            format: get("Format")?,
            recognition: opt("Recognition"),
        }),
        "video" | "shortvideo" => {
            let video = Video {
                media_id: get("MediaId")?,
                thumb_media_id: get("ThumbMediaId")?,
            };
            if msg_type == "video" {
                MessageKind::Video(video)
            } else {
                MessageKind::ShortVideo(video)
            }
        }
        "location" => MessageKind::Location(Location {
            latitude: float("Location_X")?,
            longitude: float("Location_Y")?,
            scale: fields.get("Scale").and_then(|s| s.trim().parse().ok()),
            label: opt("Label").unwrap_or_default(),
        }),
        "link" => MessageKind::Link(Link {
            title: opt("Title").unwrap_or_default(),
            description: opt("Description").unwrap_or_default(),
            url: get("Url")?,
        }),
        "event" => MessageKind::Event(event_of(fields)?),
        _ => MessageKind::Unknown,
    })
}

fn event_of(fields: &Fields) -> Result<Event, MessageError> {
    let event = fields
        .get("Event")
        .ok_or(MessageError::MissingField("Event"))?;
    let opt = |name: &str| fields.get(name).map(str::to_owned);
    let count = |name: &str| fields.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let float = |name: &'static str| -> Result<f64, MessageError> {
        fields
            .get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or(MessageError::MissingField(name))
    };
    // Case-exact, as WeChat sends them: `SCAN` but `subscribe` (Eric-Guo/wechat#55).
    Ok(match event {
        "subscribe" => Event::Subscribe(Subscribe {
            event_key: opt("EventKey").filter(|k| !k.is_empty()),
            ticket: opt("Ticket").filter(|t| !t.is_empty()),
        }),
        "unsubscribe" => Event::Unsubscribe,
        "SCAN" => Event::Scan(Scan {
            scene: opt("EventKey").ok_or(MessageError::MissingField("EventKey"))?,
            ticket: opt("Ticket").filter(|t| !t.is_empty()),
        }),
        "LOCATION" => Event::Location(LocationReport {
            latitude: float("Latitude")?,
            longitude: float("Longitude")?,
            precision: fields.get("Precision").and_then(|v| v.trim().parse().ok()),
        }),
        "CLICK" => Event::Click {
            event_key: opt("EventKey").unwrap_or_default(),
        },
        "VIEW" => Event::View {
            url: opt("EventKey").unwrap_or_default(),
            menu_id: opt("MenuId"),
        },
        "TEMPLATESENDJOBFINISH" => Event::TemplateSendJobFinish {
            msg_id: opt("MsgID").unwrap_or_default(),
            status: opt("Status").unwrap_or_default(),
        },
        "MASSSENDJOBFINISH" => Event::MassSendJobFinish {
            msg_id: opt("MsgID").unwrap_or_default(),
            status: opt("Status").unwrap_or_default(),
            total_count: count("TotalCount"),
            filter_count: count("FilterCount"),
            sent_count: count("SentCount"),
            error_count: count("ErrorCount"),
        },
        "scancode_push" | "scancode_waitmsg" => Event::ScanCode {
            wait_msg: event == "scancode_waitmsg",
            event_key: opt("EventKey").unwrap_or_default(),
            scan_type: opt("ScanCodeInfo/ScanType").unwrap_or_default(),
            scan_result: opt("ScanCodeInfo/ScanResult").unwrap_or_default(),
        },
        other => Event::Other {
            event: other.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{XmlLimits, parse};

    fn message(xml: &str) -> Message {
        let fields = parse(xml.as_bytes(), XmlLimits::default()).unwrap_or_default();
        match Message::from_fields(fields) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    const HEAD: &str = "<ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1348831860</CreateTime>";

    #[test]
    fn the_official_text_sample() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>"
        ));
        assert_eq!(
            m.kind,
            MessageKind::Text(Text {
                content: "this is a test".into()
            })
        );
        assert_eq!(m.msg_id, Some(1_234_567_890_123_456));
        assert_eq!(m.from_user_name, "fromUser");
        assert_eq!(
            m.dedupe_key(),
            "wechat-msg:toUser:fromUser:msg:1234567890123456"
        );
    }

    #[test]
    fn qr_follow_and_scan_give_the_scene() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>"
        ));
        let Some(Event::Subscribe(sub)) = m.event() else {
            panic!("{m:?}")
        };
        assert_eq!(sub.scene(), Some("123123"));
        assert_eq!(sub.ticket.as_deref(), Some("TICKET"));
        assert_eq!(
            m.dedupe_key(),
            "wechat-msg:toUser:fromUser:event:1348831860:subscribe"
        );
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[SCENE_VALUE]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>"
        ));
        assert!(matches!(m.event(), Some(Event::Scan(s)) if s.scene == "SCENE_VALUE"));
    }

    #[test]
    fn a_non_qr_subscribe_key_is_not_a_scene() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[last_trade_no_4200000]]></EventKey></xml>"
        ));
        assert!(matches!(m.event(), Some(Event::Subscribe(s)) if s.scene().is_none()));
    }

    #[test]
    fn event_names_are_case_exact() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scan]]></Event><EventKey>1</EventKey></xml>"
        ));
        assert!(matches!(m.event(), Some(Event::Other { event }) if event == "scan"));
    }

    #[test]
    fn unknown_types_keep_every_field() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[miniprogrampage]]></MsgType><Title><![CDATA[t]]></Title><AppId><![CDATA[wx1]]></AppId><MsgId>7</MsgId></xml>"
        ));
        assert_eq!(m.kind, MessageKind::Unknown);
        assert_eq!(m.field("AppId"), Some("wx1"));
        assert_eq!(m.fields().len(), 7);
    }

    #[test]
    fn debug_shows_no_content() {
        let m = message(&format!(
            "<xml>{HEAD}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[my secret words]]></Content><MsgId>1</MsgId></xml>"
        ));
        let shown = format!("{m:?} {:?}", m.fields());
        assert!(!shown.contains("secret words"), "{shown}");
    }

    #[test]
    fn a_missing_header_is_a_typed_error() {
        let fields = parse(
            b"<xml><MsgType>text</MsgType><Content>x</Content></xml>",
            XmlLimits::default(),
        )
        .unwrap_or_default();
        assert_eq!(
            Message::from_fields(fields),
            Err(MessageError::MissingField("ToUserName"))
        );
    }
}
