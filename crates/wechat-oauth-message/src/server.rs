//! [`MessageServer`]: one Official Account's end of the message interface, independent of
//! any web framework. Give it the query string and the body WeChat sent; it verifies,
//! decrypts, parses, deduplicates, runs your handler within the reply window, and hands
//! back the exact response body.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use wechat_oauth::Secret;
use zeroize::Zeroizing;

use crate::crypto::{self, EncodingAesKey};
use crate::dedupe::{Dedupe, MemoryDedupe};
use crate::error::MessageError;
use crate::message::Message;
use crate::reply::Reply;
use crate::signature;
use crate::xml::{self, XmlLimits, push_cdata, push_number};

/// The account's message encryption mode (消息加解密方式), as set in the admin console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// 明文模式: plaintext pushes and replies.
    #[default]
    Plain,
    /// 兼容模式: pushes carry the plaintext fields and `<Encrypt>`; plaintext and encrypted
    /// pushes are both accepted, and encrypted pushes get encrypted replies.
    Compatible,
    /// 安全模式: only encrypted pushes are accepted; replies are encrypted.
    Safe,
}

/// The query parameters WeChat puts on its requests to the server URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushQuery {
    /// `signature` = sha1(sort(token, timestamp, nonce)); on every request.
    pub signature: Option<String>,
    /// `timestamp`, unix seconds.
    pub timestamp: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `echostr`, on the GET that verifies the URL.
    pub echostr: Option<String>,
    /// `encrypt_type`: absent or `raw` for plaintext, `aes` for the encrypted modes.
    pub encrypt_type: Option<String>,
    /// `msg_signature` = sha1(sort(token, timestamp, nonce, Encrypt)), encrypted modes.
    pub msg_signature: Option<String>,
    /// `openid` of the sender, sent with encrypted pushes.
    pub openid: Option<String>,
}

impl PushQuery {
    /// Reads the parameters from a raw query string (without `?`). Empty values count as
    /// missing; unknown parameters are ignored; the first of repeated ones wins.
    pub fn parse(query: &str) -> Self {
        let mut q = Self::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "signature" => &mut q.signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "encrypt_type" => &mut q.encrypt_type,
                "msg_signature" => &mut q.msg_signature,
                "openid" => &mut q.openid,
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.into_owned());
            }
        }
        q
    }

    fn required<'a>(
        value: &'a Option<String>,
        name: &'static str,
    ) -> Result<&'a str, MessageError> {
        value.as_deref().ok_or(MessageError::MissingParam(name))
    }
}

/// Handles one message. Implemented for every `Fn(Message) -> impl Future<Output = Reply>`,
/// so a closure or an `async fn` will do.
///
/// The future runs on its own task: when it takes longer than the reply window, the
/// push is answered `success` and the future still runs to completion (send the result
/// through the customer-service API then).
pub trait Handler: Send + Sync + 'static {
    /// The reply to `message`.
    fn handle(&self, message: Message) -> BoxFuture<'static, Reply>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    fn handle(&self, message: Message) -> BoxFuture<'static, Reply> {
        Box::pin(self(message))
    }
}

/// What to answer WeChat: the body and its content type. Always HTTP 200.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The body, sent as is (`success`, the empty string, reply XML or the encrypted envelope).
    pub body: String,
    /// `text/plain; charset=utf-8` for `success`, echostr and empty bodies,
    /// `text/xml; charset=utf-8` for XML (a `text/xml` type fixed rejections, WxJava#1027).
    pub content_type: &'static str,
}

/// Shows the content type and length: a reply may be a user's data.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("content_type", &self.content_type)
            .field("len", &self.body.len())
            .finish()
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_XML: &str = "text/xml; charset=utf-8";

impl Response {
    fn plain(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            content_type: TEXT_PLAIN,
        }
    }
}

/// A verified, decrypted push, ready for a handler; [`MessageServer::seal`] turns a reply
/// to it into the response body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inbound {
    /// The push.
    pub message: Message,
    /// Whether it arrived encrypted (the reply will be encrypted too).
    pub encrypted: bool,
    nonce: String,
    /// Which key decrypted it: 0 the current one, 1 the previous one.
    key_index: usize,
}

/// Default bound on a push's body: WeChat's are a few KiB (three times that in
/// compatible mode).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Default reply window: WeChat gives up after 5 s; answering by 4.5 s leaves room for
/// the network.
pub const DEFAULT_REPLY_DEADLINE: Duration = Duration::from_millis(4500);
/// Default timestamp window: how far a push's `timestamp` may be from now.
pub const DEFAULT_TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);
/// Default dedupe memory: WeChat's retries come within about 20 s.
pub const DEFAULT_DEDUPE_TTL: Duration = Duration::from_secs(60);

/// Configures a [`MessageServer`].
#[must_use]
pub struct MessageServerBuilder {
    token: Secret,
    appid: String,
    mode: Mode,
    keys: Vec<EncodingAesKey>,
    problem: Option<MessageError>,
    timestamp_window: Option<Duration>,
    body_limit: usize,
    xml_limits: XmlLimits,
    reply_deadline: Duration,
    dedupe: Option<Arc<dyn Dedupe>>,
    dedupe_ttl: Duration,
}

impl std::fmt::Debug for MessageServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageServerBuilder")
            .field("appid", &self.appid)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl MessageServerBuilder {
    /// The encryption mode; [`Mode::Plain`] by default.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The EncodingAESKey (43 characters), needed for [`Mode::Compatible`] and [`Mode::Safe`].
    /// A malformed key makes [`build`](Self::build) fail with [`MessageError::IllegalAesKey`].
    pub fn encoding_aes_key(mut self, key: &str) -> Self {
        match EncodingAesKey::new(key) {
            Ok(key) => self.keys.insert(0, key),
            Err(e) => self.problem = Some(e),
        }
        self
    }

    /// The key in use before the last rotation: pushes that fail to decrypt with the
    /// current key are tried with it, and answered with whichever key worked, as WeChat
    /// advises while a new key propagates.
    pub fn previous_encoding_aes_key(mut self, key: &str) -> Self {
        match EncodingAesKey::new(key) {
            Ok(key) => self.keys.push(key),
            Err(e) => self.problem = Some(e),
        }
        self
    }

    /// How far `timestamp` may be from now before a push is refused as stale; default
    /// [`DEFAULT_TIMESTAMP_WINDOW`]. `None` turns the check off.
    pub fn timestamp_window(mut self, window: Option<Duration>) -> Self {
        self.timestamp_window = window;
        self
    }

    /// Largest body accepted; default [`DEFAULT_BODY_LIMIT`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Depth and field limits of the XML reader.
    pub fn xml_limits(mut self, limits: XmlLimits) -> Self {
        self.xml_limits = limits;
        self
    }

    /// How long the handler may take before the push is answered `success` (the handler
    /// still finishes in the background); default [`DEFAULT_REPLY_DEADLINE`].
    pub fn reply_deadline(mut self, deadline: Duration) -> Self {
        self.reply_deadline = deadline;
        self
    }

    /// Where delivered pushes are remembered; an in-process [`MemoryDedupe`] by default.
    pub fn dedupe(mut self, dedupe: impl Dedupe + 'static) -> Self {
        self.dedupe = Some(Arc::new(dedupe));
        self
    }

    /// How long a delivered push is remembered; default [`DEFAULT_DEDUPE_TTL`].
    pub fn dedupe_ttl(mut self, ttl: Duration) -> Self {
        self.dedupe_ttl = ttl;
        self
    }

    /// The server.
    ///
    /// # Errors
    /// [`MessageError::IllegalAesKey`] for a malformed key, or when an encrypted mode has none.
    pub fn build(self) -> Result<MessageServer, MessageError> {
        if let Some(problem) = self.problem {
            return Err(problem);
        }
        if self.mode != Mode::Plain && self.keys.is_empty() {
            return Err(MessageError::IllegalAesKey);
        }
        Ok(MessageServer {
            inner: Arc::new(Inner {
                token: self.token,
                appid: self.appid,
                mode: self.mode,
                keys: self.keys,
                timestamp_window: self.timestamp_window,
                body_limit: self.body_limit,
                xml_limits: self.xml_limits,
                reply_deadline: self.reply_deadline,
                dedupe: self.dedupe.unwrap_or_else(|| Arc::new(MemoryDedupe::new())),
                dedupe_ttl: self.dedupe_ttl,
            }),
        })
    }
}

struct Inner {
    token: Secret,
    appid: String,
    mode: Mode,
    keys: Vec<EncodingAesKey>,
    timestamp_window: Option<Duration>,
    body_limit: usize,
    xml_limits: XmlLimits,
    reply_deadline: Duration,
    dedupe: Arc<dyn Dedupe>,
    dedupe_ttl: Duration,
}

/// One Official Account's message-interface endpoint. Cheap to clone.
///
/// ```
/// use wechat_oauth_message::{Message, MessageKind, MessageServer, Mode, PushQuery, Reply};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wechat_oauth_message::MessageError> {
/// let server = MessageServer::builder("AAAAA", "wx134c8103faa5a59e")
///     .timestamp_window(None) // the official example below is from 2024
///     .build()?;
///
/// // The GET WeChat sends when the URL is saved (the official example).
/// let query = PushQuery::parse(
///     "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249\
///      &timestamp=1714036504&nonce=1514711492",
/// );
/// assert_eq!(server.verify_url(&query)?, "4375120948345356249");
///
/// // Every push afterwards, with a handler.
/// let echo = |message: Message| async move {
///     match message.kind {
///         MessageKind::Text(text) => Reply::text(text.content),
///         _ => Reply::Success,
///     }
/// };
/// # let _ = echo;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MessageServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MessageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageServer")
            .field("appid", &self.inner.appid)
            .field("mode", &self.inner.mode)
            .field("token", &"[redacted]")
            .field("keys", &self.inner.keys.len())
            .finish_non_exhaustive()
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl MessageServer {
    /// Starts configuring the endpoint of the account with this server token (the 令牌
    /// of the admin console) and appid.
    pub fn builder(token: impl Into<Secret>, appid: impl Into<String>) -> MessageServerBuilder {
        MessageServerBuilder {
            token: token.into(),
            appid: appid.into(),
            mode: Mode::Plain,
            keys: Vec::new(),
            problem: None,
            timestamp_window: Some(DEFAULT_TIMESTAMP_WINDOW),
            body_limit: DEFAULT_BODY_LIMIT,
            xml_limits: XmlLimits::default(),
            reply_deadline: DEFAULT_REPLY_DEADLINE,
            dedupe: None,
            dedupe_ttl: DEFAULT_DEDUPE_TTL,
        }
    }

    /// The configured appid.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// The configured mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The configured body limit, bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// Answers the verification GET: the `echostr` to send back verbatim as the whole body
    /// (no quotes, no JSON), when `signature` matches. The same in every mode for an
    /// Official Account.
    ///
    /// # Errors
    /// [`MessageError::MissingParam`], [`MessageError::BadSignature`], or a stale timestamp.
    pub fn verify_url(&self, query: &PushQuery) -> Result<String, MessageError> {
        let echostr = PushQuery::required(&query.echostr, "echostr")?;
        self.check_signature(query)?;
        Ok(echostr.to_owned())
    }

    /// [`verify_url`](Self::verify_url) as a [`Response`].
    pub fn verify_url_response(&self, query: &PushQuery) -> Result<Response, MessageError> {
        self.verify_url(query).map(Response::plain)
    }

    fn check_signature<'q>(
        &self,
        query: &'q PushQuery,
    ) -> Result<(&'q str, &'q str), MessageError> {
        let signature = PushQuery::required(&query.signature, "signature")?;
        let timestamp = PushQuery::required(&query.timestamp, "timestamp")?;
        let nonce = PushQuery::required(&query.nonce, "nonce")?;
        if !signature::verify(
            &[self.inner.token.expose_secret(), timestamp, nonce],
            signature,
        ) {
            return Err(MessageError::BadSignature);
        }
        // After the signature: an unsigned request learns nothing about the window.
        self.check_timestamp(timestamp)?;
        Ok((timestamp, nonce))
    }

    fn check_timestamp(&self, timestamp: &str) -> Result<(), MessageError> {
        let sent: i64 = timestamp
            .parse()
            .map_err(|_| MessageError::InvalidTimestamp)?;
        let Some(window) = self.inner.timestamp_window else {
            return Ok(());
        };
        let skew = now_seconds().abs_diff(sent);
        if skew > window.as_secs() {
            return Err(MessageError::StaleTimestamp {
                skew_seconds: skew,
                window_seconds: window.as_secs(),
            });
        }
        Ok(())
    }

    /// Verifies and opens a push: signature(s), timestamp, body size, decryption in the
    /// encrypted modes, XML and the message's header.
    ///
    /// # Errors
    /// Every [`MessageError`] variant but the key's.
    pub fn open(&self, query: &PushQuery, body: &[u8]) -> Result<Inbound, MessageError> {
        if body.len() > self.inner.body_limit {
            return Err(MessageError::BodyTooLarge {
                limit: self.inner.body_limit,
            });
        }
        let (timestamp, nonce) = self.check_signature(query)?;
        let encrypted = match query.encrypt_type.as_deref() {
            None | Some("raw") => false,
            Some("aes") => true,
            Some(_) => return Err(MessageError::UnsupportedEncryptType),
        };
        let limits = self.inner.xml_limits;
        if !encrypted {
            if self.inner.mode == Mode::Safe {
                return Err(MessageError::EncryptionRequired);
            }
            let fields = xml::parse(body, limits)?;
            return Ok(Inbound {
                message: Message::from_fields(fields)?,
                encrypted: false,
                nonce: nonce.to_owned(),
                key_index: 0,
            });
        }
        if self.inner.keys.is_empty() {
            return Err(MessageError::EncryptionNotConfigured);
        }
        let msg_signature = PushQuery::required(&query.msg_signature, "msg_signature")?;
        let envelope = xml::parse(body, limits)?;
        let encrypt = envelope
            .get("Encrypt")
            .ok_or(MessageError::MissingField("Encrypt"))?;
        // "不要使用signature验证": the body's signature is msg_signature.
        if !signature::verify(
            &[self.inner.token.expose_secret(), timestamp, nonce, encrypt],
            msg_signature,
        ) {
            return Err(MessageError::BadMsgSignature);
        }
        let (plaintext, key_index) = self.decrypt(encrypt)?;
        let fields = xml::parse(plaintext.as_bytes(), limits)?;
        Ok(Inbound {
            message: Message::from_fields(fields)?,
            encrypted: true,
            nonce: nonce.to_owned(),
            key_index,
        })
    }

    fn decrypt(&self, encrypt: &str) -> Result<(Zeroizing<String>, usize), MessageError> {
        let mut first_error = None;
        for (index, key) in self.inner.keys.iter().enumerate() {
            match crypto::decrypt(key, &self.inner.appid, encrypt) {
                Ok(plain) => return Ok((plain, index)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(MessageError::EncryptionNotConfigured))
    }

    /// The response body for `reply` to `inbound`: `success`, empty, reply XML, or (for an
    /// encrypted push) the encrypted envelope with `Encrypt`, `MsgSignature`, `TimeStamp`
    /// (now, seconds) and `Nonce` (the push's).
    pub fn seal(&self, inbound: &Inbound, reply: &Reply) -> Response {
        self.seal_at(inbound, reply, now_seconds())
    }

    fn seal_at(&self, inbound: &Inbound, reply: &Reply, now: i64) -> Response {
        let Some(xml) = reply.to_xml(&inbound.message, now) else {
            // `success` and empty need no encryption, in any mode.
            return Response::plain(match reply {
                Reply::Empty => "",
                _ => "success",
            });
        };
        if !inbound.encrypted {
            return Response {
                body: xml,
                content_type: TEXT_XML,
            };
        }
        let key = self
            .inner
            .keys
            .get(inbound.key_index)
            .or_else(|| self.inner.keys.first());
        let Some(key) = key else {
            // Unreachable: an encrypted push was opened with a key.
            return Response::plain("success");
        };
        Response {
            body: encrypted_envelope(
                self.inner.token.expose_secret(),
                &crypto::encrypt(key, &self.inner.appid, &xml),
                now,
                &inbound.nonce,
            ),
            content_type: TEXT_XML,
        }
    }

    /// The whole POST: [`open`](Self::open), dedupe, the handler within the reply window,
    /// [`seal`](Self::seal).
    ///
    /// A retry of a push already delivered is answered `success` without calling the
    /// handler. If the dedupe backend fails, the push is handled anyway (a double
    /// delivery beats a lost one) and the failure is logged.
    ///
    /// Call it inside a tokio runtime: the handler runs on a spawned task, so that it can
    /// outlive the reply window.
    ///
    /// # Errors
    /// What [`open`](Self::open) refuses.
    pub async fn handle<H: Handler + ?Sized>(
        &self,
        query: &PushQuery,
        body: &[u8],
        handler: &H,
    ) -> Result<Response, MessageError> {
        let inbound = self.open(query, body)?;
        let key = inbound.message.dedupe_key();
        match self
            .inner
            .dedupe
            .first_delivery(&key, self.inner.dedupe_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(
                    target: "wechat_oauth_message",
                    msg_type = %inbound.message.msg_type,
                    "retry of a delivered push answered success"
                );
                return Ok(Response::plain("success"));
            }
            Err(error) => tracing::warn!(
                target: "wechat_oauth_message",
                %error,
                "dedupe backend failed; handling the push anyway"
            ),
        }
        let reply = self.run(handler, inbound.message.clone()).await;
        Ok(self.seal(&inbound, &reply))
    }

    async fn run<H: Handler + ?Sized>(&self, handler: &H, message: Message) -> Reply {
        let mut task = tokio::spawn(handler.handle(message));
        match tokio::time::timeout(self.inner.reply_deadline, &mut task).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(join_error)) => {
                tracing::error!(
                    target: "wechat_oauth_message",
                    panicked = join_error.is_panic(),
                    "message handler failed; answered success"
                );
                Reply::Success
            }
            Err(_) => {
                tracing::warn!(
                    target: "wechat_oauth_message",
                    deadline_ms = self.inner.reply_deadline.as_millis() as u64,
                    "message handler missed the reply window; answered success, it keeps running"
                );
                Reply::Success
            }
        }
    }
}

/// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, signed over exactly the
/// values it carries.
fn encrypted_envelope(token: &str, encrypt: &str, timestamp: i64, nonce: &str) -> String {
    let timestamp_text = timestamp.to_string();
    let msg_signature = signature::sign(&[token, &timestamp_text, nonce, encrypt]);
    let mut out = String::with_capacity(encrypt.len() + 200);
    out.push_str("<xml>");
    push_cdata(&mut out, "Encrypt", encrypt);
    push_cdata(&mut out, "MsgSignature", &msg_signature);
    push_number(&mut out, "TimeStamp", timestamp);
    push_cdata(&mut out, "Nonce", nonce);
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let server = MessageServer::builder("very-secret-token", "wx1")
            .build()
            .map(|s| format!("{s:?}"))
            .unwrap_or_default();
        assert!(server.contains("wx1"));
        assert!(!server.contains("very-secret-token"), "{server}");
    }

    #[test]
    fn encrypted_modes_need_a_key() {
        assert_eq!(
            MessageServer::builder("t", "wx1")
                .mode(Mode::Safe)
                .build()
                .map(|_| ()),
            Err(MessageError::IllegalAesKey)
        );
        assert_eq!(
            MessageServer::builder("t", "wx1")
                .encoding_aes_key("short")
                .build()
                .map(|_| ()),
            Err(MessageError::IllegalAesKey)
        );
    }

    #[test]
    fn the_official_reply_envelope_signature() {
        // Vector E's reply: TimeStamp 1713424427, Nonce 415670741.
        let envelope = encrypted_envelope(
            "AAAAA",
            "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7",
            1_713_424_427,
            "415670741",
        );
        assert!(
            envelope.contains(
                "<MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature>"
            ),
            "{envelope}"
        );
        assert!(envelope.contains("<TimeStamp>1713424427</TimeStamp>"));
    }
}
