//! `send-message`: plays WeChat against an Official Account's server URL. Builds one push (a
//! text message or an event), signs it as WeChat does (`signature`, `timestamp`, `nonce`;
//! in the encrypted modes also `encrypt_type=aes`, `msg_signature` and an `<Encrypt>`
//! body), POSTs it, checks the reply as WeChat would (its `MsgSignature` in the encrypted
//! modes, its decryption, its addressing) and prints it decrypted.
//!
//! The formats are those of the repository's `docs/message-interface.md`; the signing and
//! the encryption are the `wechat-oauth-message` crate's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use wechat_oauth::Secret;
use wechat_oauth_message::crypto::{self, EncodingAesKey};
use wechat_oauth_message::signature::sign;
use wechat_oauth_message::xml::{self, XmlLimits};
use wechat_oauth_message::{MessageError, XmlError};

use crate::args::{MessageMode, PushEvent, SendMessageArgs};
use crate::failure::{Failure, Status};
use crate::output;

/// How much of a refusal's body is quoted in the error.
const MAX_QUOTED_BODY: usize = 300;
/// The largest reply read.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// Why the server's answer is not one WeChat would accept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// An HTTP status other than 200 (WeChat shows the user "该公众号暂时无法提供服务").
    #[error("the server refused the push: HTTP {status}: {body}")]
    Refused {
        /// The status.
        status: u16,
        /// The start of its body, for the server's own explanation.
        body: String,
    },
    /// The body is neither `success`, empty, nor one `<xml>` document.
    #[error("the reply is not acceptable XML: {0}")]
    Xml(#[from] XmlError),
    /// A safe-mode push was answered in plaintext.
    #[error("safe mode: the reply must be encrypted (an <Encrypt> envelope), and it is plaintext")]
    NotEncrypted,
    /// An encrypted reply to a plaintext push, which WeChat cannot open.
    #[error("the reply is encrypted, but the push was plaintext")]
    UnexpectedEncryption,
    /// The envelope lacks a field it needs.
    #[error("the encrypted reply has no {0}")]
    MissingEnvelopeField(&'static str),
    /// `MsgSignature` is not sha1(sort(token, TimeStamp, Nonce, Encrypt)).
    #[error("the reply's MsgSignature does not match (is the server's token the one given here?)")]
    BadMsgSignature,
    /// `Encrypt` does not decrypt with the EncodingAESKey, or names another appid.
    #[error("the reply does not decrypt with this EncodingAESKey and appid: {0}")]
    Decrypt(#[source] MessageError),
    /// The reply's `ToUserName` / `FromUserName` are not the push's sender and account.
    #[error("the reply is addressed wrongly: {0}")]
    Misaddressed(&'static str),
    /// A reply without a `MsgType`.
    #[error("the reply has no MsgType")]
    NoMsgType,
}

/// What was sent, so the output can say it.
struct Push {
    xml: String,
    msg_type: &'static str,
    event: Option<&'static str>,
    msg_id: Option<u64>,
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    // `]]>` cannot appear inside one section: close it and open another.
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

fn push_number(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("<{name}>{value}</{name}>"));
}

/// The push's plaintext XML, as WeChat writes it (strings in CDATA, numbers bare).
fn build_push(args: &SendMessageArgs, create_time: u64) -> Result<Push, Failure> {
    let mut xml = String::from("<xml>");
    push_field(&mut xml, "ToUserName", &args.to);
    push_field(&mut xml, "FromUserName", &args.from);
    push_number(&mut xml, "CreateTime", create_time);
    let Some(event) = args.event else {
        let msg_id = args.msg_id.unwrap_or_else(|| rand_msg_id(create_time));
        push_field(&mut xml, "MsgType", "text");
        push_field(&mut xml, "Content", &args.text);
        push_number(&mut xml, "MsgId", msg_id);
        xml.push_str("</xml>");
        return Ok(Push {
            xml,
            msg_type: "text",
            event: None,
            msg_id: Some(msg_id),
        });
    };
    let name = event.wire_name();
    push_field(&mut xml, "MsgType", "event");
    push_field(&mut xml, "Event", name);
    let key = match (event, &args.event_key, &args.scene) {
        (_, Some(_), Some(_)) => {
            return Err(Failure::usage("give --event-key or --scene, not both"));
        }
        (PushEvent::Subscribe, None, Some(scene)) => Some(format!("qrscene_{scene}")),
        (PushEvent::Scan, None, Some(scene)) => Some(scene.clone()),
        (_, None, Some(_)) => {
            return Err(Failure::usage(
                "--scene is for --event subscribe and --event scan (QR-code scans)",
            ));
        }
        (PushEvent::Scan | PushEvent::Click | PushEvent::View, None, None) => {
            return Err(Failure::usage(format!(
                "--event {} needs --event-key{}",
                event.flag_name(),
                if event == PushEvent::Scan {
                    " or --scene"
                } else {
                    ""
                }
            )));
        }
        (_, key, None) => key.clone(),
    };
    if let Some(key) = &key {
        push_field(&mut xml, "EventKey", key);
    }
    let qr = matches!(event, PushEvent::Scan)
        || (event == PushEvent::Subscribe
            && key.as_deref().is_some_and(|k| k.starts_with("qrscene_")));
    if qr {
        let ticket = args
            .ticket
            .clone()
            .unwrap_or_else(|| format!("gQsendmessage{create_time}"));
        push_field(&mut xml, "Ticket", &ticket);
    } else if args.ticket.is_some() {
        return Err(Failure::usage(
            "--ticket goes with QR-code scans (--event scan, or subscribe with --scene)",
        ));
    }
    xml.push_str("</xml>");
    Ok(Push {
        xml,
        msg_type: "event",
        event: Some(name),
        msg_id: None,
    })
}

/// A 64-bit message id below 2^63, like WeChat's (`7250021412600020992`).
fn rand_msg_id(create_time: u64) -> u64 {
    let nonce = wechat_oauth::state::random_alphanumeric(12);
    let mixed = nonce.bytes().fold(create_time, |acc, b| {
        acc.wrapping_mul(131).wrapping_add(u64::from(b))
    });
    mixed >> 1
}

fn now_seconds() -> Result<u64, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| Failure::new(Status::Unexpected, e))
}

/// The account as WeChat knows it: how its server URL is configured.
struct Account<'a> {
    mode: MessageMode,
    token: &'a str,
    /// Set in the encrypted modes (with `appid`).
    key: Option<&'a EncodingAesKey>,
    appid: Option<&'a str>,
}

/// The query string and body of the push, signed (and encrypted) for the account's mode.
fn seal(
    account: &Account<'_>,
    push: &Push,
    timestamp: &str,
    nonce: &str,
    openid: &str,
) -> (Vec<(&'static str, String)>, String) {
    let Account {
        mode,
        token,
        key,
        appid,
    } = *account;
    let mut query = vec![
        ("signature", sign(&[token, timestamp, nonce])),
        ("timestamp", timestamp.to_owned()),
        ("nonce", nonce.to_owned()),
        ("openid", openid.to_owned()),
    ];
    let (Some(key), Some(appid)) = (key, appid) else {
        return (query, push.xml.clone());
    };
    let encrypt = crypto::encrypt(key, appid, &push.xml);
    query.push(("encrypt_type", "aes".to_owned()));
    query.push(("msg_signature", sign(&[token, timestamp, nonce, &encrypt])));
    let body = match mode {
        // 兼容模式: the plaintext fields and the ciphertext in one body.
        MessageMode::Compatible => {
            let inner = push.xml.strip_suffix("</xml>").unwrap_or(&push.xml);
            let mut body = inner.to_owned();
            push_field(&mut body, "Encrypt", &encrypt);
            body.push_str("</xml>");
            body
        }
        // 安全模式: the account and the ciphertext only.
        _ => {
            let to = xml::parse(push.xml.as_bytes(), XmlLimits::default())
                .ok()
                .and_then(|f| f.get("ToUserName").map(str::to_owned))
                .unwrap_or_default();
            let mut body = String::from("<xml>");
            push_field(&mut body, "ToUserName", &to);
            push_field(&mut body, "Encrypt", &encrypt);
            body.push_str("</xml>");
            body
        }
    };
    (query, body)
}

/// What the reply was, checked.
struct Checked {
    verdict: &'static str,
    encrypted: bool,
    xml: Option<String>,
    fields: Vec<(String, String)>,
}

/// Judges the server's answer as WeChat would.
fn check_reply(
    status: u16,
    body: &str,
    account: &Account<'_>,
    args: &SendMessageArgs,
) -> Result<Checked, ReplyError> {
    let Account {
        mode,
        token,
        key,
        appid,
    } = *account;
    if status != 200 {
        let mut quoted: String = body.trim().chars().take(MAX_QUOTED_BODY).collect();
        if quoted.is_empty() {
            quoted = "(empty body)".to_owned();
        }
        return Err(ReplyError::Refused {
            status,
            body: quoted,
        });
    }
    if body.is_empty() || body == "success" {
        return Ok(Checked {
            verdict: if body.is_empty() { "empty" } else { "success" },
            encrypted: false,
            xml: None,
            fields: Vec::new(),
        });
    }
    let outer = xml::parse(body.as_bytes(), XmlLimits::default())?;
    let (inner_xml, encrypted) = match outer.get("Encrypt") {
        Some(encrypt) => {
            let (Some(key), Some(appid)) = (key, appid) else {
                return Err(ReplyError::UnexpectedEncryption);
            };
            let timestamp = outer
                .get("TimeStamp")
                .ok_or(ReplyError::MissingEnvelopeField("TimeStamp"))?;
            let nonce = outer
                .get("Nonce")
                .ok_or(ReplyError::MissingEnvelopeField("Nonce"))?;
            let given = outer
                .get("MsgSignature")
                .ok_or(ReplyError::MissingEnvelopeField("MsgSignature"))?;
            if !wechat_oauth_message::signature::verify(&[token, timestamp, nonce, encrypt], given)
            {
                return Err(ReplyError::BadMsgSignature);
            }
            let plain = crypto::decrypt(key, appid, encrypt).map_err(ReplyError::Decrypt)?;
            (String::clone(&plain), true)
        }
        None if mode == MessageMode::Safe => return Err(ReplyError::NotEncrypted),
        None => (body.to_owned(), false),
    };
    let fields = xml::parse(inner_xml.as_bytes(), XmlLimits::default())?;
    if fields.get("ToUserName") != Some(args.from.as_str()) {
        return Err(ReplyError::Misaddressed(
            "ToUserName must be the sender's openid (the push's FromUserName)",
        ));
    }
    if fields.get("FromUserName") != Some(args.to.as_str()) {
        return Err(ReplyError::Misaddressed(
            "FromUserName must be the account's id (the push's ToUserName)",
        ));
    }
    if fields.get("MsgType").is_none_or(str::is_empty) {
        return Err(ReplyError::NoMsgType);
    }
    Ok(Checked {
        verdict: "message",
        encrypted,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        xml: Some(inner_xml),
    })
}

/// Sends the push, checks the reply and prints it.
pub async fn run(args: &SendMessageArgs) -> Result<(), Failure> {
    let url = url::Url::parse(&args.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| Failure::usage("--url must be an absolute http:// or https:// URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Failure::usage(
            "--url may not carry a user name or password: WeChat sends none",
        ));
    }
    let token: Secret = match &args.message.token {
        Some(token) => token.resolve("--server-token")?,
        None => {
            return Err(Failure::usage(
                "the server token is missing: set WECHAT_SERVER_TOKEN (or --server-token -, read from standard input)",
            ));
        }
    };
    let encrypted = args.mode != MessageMode::Plain;
    let key = match (&args.message.encoding_aes_key, encrypted) {
        (Some(key), true) => Some(
            EncodingAesKey::new(key.resolve("--encoding-aes-key")?.expose_secret()).map_err(
                |_| {
                    Failure::usage(
                        "the EncodingAESKey must be 43 characters of [A-Za-z0-9] (WECHAT_ENCODING_AES_KEY)",
                    )
                },
            )?,
        ),
        (None, true) => {
            return Err(Failure::usage(format!(
                "--mode {} needs the EncodingAESKey: set WECHAT_ENCODING_AES_KEY (or --encoding-aes-key -)",
                args.mode.name()
            )));
        }
        (_, false) => None,
    };
    let appid = match (&args.app.appid, encrypted) {
        (Some(appid), _) => Some(appid.as_str()),
        (None, true) => {
            return Err(Failure::usage(format!(
                "--mode {} needs the appid the ciphertext names: set WECHAT_APPID or --appid",
                args.mode.name()
            )));
        }
        (None, false) => None,
    };

    let create_time = match args.create_time {
        Some(time) => time,
        None => now_seconds()?,
    };
    let push = build_push(args, create_time)?;
    let timestamp = now_seconds()?.to_string();
    let nonce = wechat_oauth::state::random_alphanumeric(10);
    let account = Account {
        mode: args.mode,
        token: token.expose_secret(),
        key: key.as_ref(),
        appid,
    };
    let (query, body) = seal(&account, &push, &timestamp, &nonce, &args.from);

    let timeout = Duration::from_secs(args.timeout);
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::new(Status::Unexpected, e))?;
    let response = http
        .post(url.clone())
        .query(&query)
        .header("content-type", "text/xml")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| network_failure(&e, timeout))?;
    let status = response.status().as_u16();
    let bytes = read_limited(response)
        .await
        .map_err(|e| network_failure(&e, timeout))?;
    let Ok(answer) = String::from_utf8(bytes) else {
        return Err(Failure::new(
            Status::BadReply,
            ReplyError::Xml(XmlError::NotUtf8),
        ));
    };
    let checked = check_reply(status, &answer, &account, args).map_err(|e| {
        let status = match &e {
            ReplyError::Refused { .. } => Status::Refused,
            _ => Status::BadReply,
        };
        Failure::new(status, e)
    })?;

    let mut fields = Map::new();
    for (name, value) in &checked.fields {
        fields
            .entry(name.clone())
            .or_insert_with(|| Value::from(value.clone()));
    }
    output::print_json(&json!({
        "sent": {
            "url": url.as_str(),
            "mode": args.mode.name(),
            "msg_type": push.msg_type,
            "event": push.event,
            "msg_id": push.msg_id.map(|id| id.to_string()),
            "create_time": create_time,
        },
        "status": status,
        "reply": checked.verdict,
        "encrypted": checked.encrypted,
        "msg_type": checked.fields.iter().find(|(k, _)| k == "MsgType").map(|(_, v)| v),
        "fields": fields,
        "xml": checked.xml,
    }))
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_REPLY_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room < chunk.len() {
            break;
        }
    }
    Ok(out)
}

fn network_failure(error: &reqwest::Error, timeout: Duration) -> Failure {
    if error.is_timeout() {
        Failure::new(
            Status::Network,
            anyhow::anyhow!(
                "the server did not answer within {} s (WeChat would drop the connection and retry)",
                timeout.as_secs()
            ),
        )
    } else {
        // reqwest's message names the URL, which carries no secret (signatures are public).
        Failure::new(
            Status::Network,
            anyhow::anyhow!("could not reach the server: {error}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_cannot_be_closed_by_the_content() {
        let mut out = String::new();
        push_field(&mut out, "Content", "a]]>b");
        let fields = xml::parse(format!("<xml>{out}</xml>").as_bytes(), XmlLimits::default());
        assert_eq!(
            fields
                .ok()
                .and_then(|f| f.get("Content").map(str::to_owned)),
            Some("a]]>b".to_owned())
        );
    }

    #[test]
    fn message_ids_stay_below_2_63() {
        for t in [0, 1, u64::MAX] {
            assert!(rand_msg_id(t) < 1 << 63);
        }
    }
}
