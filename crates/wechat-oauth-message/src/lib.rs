//! # wechat-oauth-message: the Official Account message interface (消息接口)
//!
//! When an Official Account's server URL is configured, WeChat calls it: a `GET` to check
//! the URL once, then a `POST` for every message a user sends and every event (a follow, a
//! QR-code scan, a menu click). The server answers each within five seconds, with a
//! passive reply or `success`. This crate is that server's core, independent of any web
//! framework, plus an [`axum`] integration (default feature `axum`).
//!
//! | concern | where |
//! |---|---|
//! | URL verification, `signature`, `msg_signature` | [`MessageServer::verify_url`], [`signature`] |
//! | typed messages and events, unknown kinds kept raw | [`Message`], [`MessageKind`], [`Event`] |
//! | passive replies, exactly as WeChat expects | [`Reply`] |
//! | safe and compatible modes (AES-256-CBC, 32-byte PKCS#7) | [`Mode`], [`crypto`], [`EncodingAesKey`] |
//! | hardened XML (no DOCTYPE, no entities, bounded) | [`xml`] |
//! | the 5-second reply window, retries deduplicated | [`MessageServer::handle`], [`Dedupe`] |
//!
//! ```
//! use wechat_oauth_message::{Event, Message, MessageKind, MessageServer, PushQuery, Reply};
//! use wechat_oauth_message::signature::sign;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wechat_oauth_message::MessageError> {
//! let server = MessageServer::builder("token", "wx5a4d1e0f0a000001").build()?;
//! let handler = |message: Message| async move {
//!     match message.event() {
//!         Some(Event::Subscribe(follow)) if follow.scene().is_some() => Reply::text("welcome (by QR)"),
//!         Some(_) => Reply::Success,
//!         None => Reply::text("hello"),
//!     }
//! };
//!
//! // What WeChat would POST when a user follows through a parametric QR code.
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs().to_string();
//! let query = PushQuery::parse(&format!("signature={}&timestamp={now}&nonce=42", sign(&["token", &now, "42"])));
//! let body = format!(
//!     "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>\
//!      <CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>\
//!      <EventKey><![CDATA[qrscene_login-1]]></EventKey><Ticket><![CDATA[T]]></Ticket></xml>"
//! );
//! let response = server.handle(&query, body.as_bytes(), &handler).await?;
//! assert!(response.body.contains("<Content><![CDATA[welcome (by QR)]]></Content>"));
//! assert!(response.body.contains("<ToUserName><![CDATA[oUser]]></ToUserName>"));
//!
//! // The same push again (a retry) reaches the handler only once.
//! let retry = server.handle(&query, body.as_bytes(), &handler).await?;
//! assert_eq!(retry.body, "success");
//! # Ok(()) }
//! ```
//!
//! ## Secrets
//!
//! The server token and the EncodingAESKey never appear in `Debug`, `Display`, errors or
//! logs; neither does a message's content (`Debug` on a [`Message`] shows its header only).
//!
//! The formats and algorithms are described in the repository's `docs/message-interface.md`,
//! with links to WeChat's documentation.

#![forbid(unsafe_code)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod crypto;
mod dedupe;
mod error;
mod message;
mod reply;
mod server;
pub mod signature;
pub mod xml;

pub use crypto::EncodingAesKey;
pub use dedupe::{BoxError, Dedupe, MemoryDedupe};
pub use error::{MessageError, XmlError};
pub use message::{
    Event, Image, Link, Location, LocationReport, Message, MessageKind, Scan, Subscribe, Text,
    Video, Voice,
};
pub use reply::{Article, Music, Reply};
pub use server::{
    DEFAULT_BODY_LIMIT, DEFAULT_DEDUPE_TTL, DEFAULT_REPLY_DEADLINE, DEFAULT_TIMESTAMP_WINDOW,
    Handler, Inbound, MessageServer, MessageServerBuilder, Mode, PushQuery, Response,
};
pub use xml::{Fields, XmlLimits};
