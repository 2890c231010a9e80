//! The whole POST pipeline: verify, decrypt, parse, dedupe, handle within the window, seal.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wechat_oauth_message::crypto;
use wechat_oauth_message::signature::sign;
use wechat_oauth_message::{
    EncodingAesKey, Fields, Message, MessageError, MessageKind, Mode, PushQuery, Reply, XmlError,
    xml,
};

use crate::support::{self, APPID, KEY, TOKEN, now, plain_push, safe_push, text_xml};

fn echo() -> impl Fn(Message) -> std::future::Ready<Reply> + Send + Sync + 'static {
    |message: Message| {
        std::future::ready(match &message.kind {
            MessageKind::Text(text) => Reply::text(format!("echo: {}", text.content)),
            _ => Reply::text(format!("got {}", message.msg_type)),
        })
    }
}

async fn post(
    server: &wechat_oauth_message::MessageServer,
    query: &str,
    body: &str,
) -> Result<wechat_oauth_message::Response, MessageError> {
    server
        .handle(&PushQuery::parse(query), body.as_bytes(), &echo())
        .await
}

fn reparse(body: &str) -> Fields {
    xml::parse(body.as_bytes(), Default::default()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn a_plain_text_push_gets_a_plain_reply_with_addresses_swapped() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = plain_push(&text_xml("oAlice", "hi", 1, &now()), &now());
    let response = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.content_type, "text/xml; charset=utf-8");
    let reply = reparse(&response.body);
    assert_eq!(reply.get("ToUserName"), Some("oAlice"));
    assert_eq!(reply.get("FromUserName"), Some("gh_test"));
    assert_eq!(reply.get("MsgType"), Some("text"));
    assert_eq!(reply.get("Content"), Some("echo: hi"));
}

#[tokio::test]
async fn a_safe_mode_push_gets_an_encrypted_signed_reply() {
    let server = support::server(Mode::Safe)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = safe_push(&text_xml("oAlice", "secret", 2, &now()), &now());
    let response = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!response.body.contains("secret"), "the reply is encrypted");
    let envelope = reparse(&response.body);
    let encrypt = envelope.get("Encrypt").unwrap_or_default();
    let timestamp = envelope.get("TimeStamp").unwrap_or_default();
    let nonce = envelope.get("Nonce").unwrap_or_default();
    assert_eq!(nonce, "67890", "the reply echoes the push's nonce");
    assert_eq!(timestamp.len(), 10, "seconds, not milliseconds");
    assert_eq!(
        envelope.get("MsgSignature"),
        Some(sign(&[TOKEN, timestamp, nonce, encrypt]).as_str())
    );
    let key = EncodingAesKey::new(KEY).unwrap_or_else(|e| panic!("{e}"));
    let inner = crypto::decrypt(&key, APPID, encrypt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reparse(&inner).get("Content"), Some("echo: secret"));
}

#[tokio::test]
async fn success_is_never_encrypted() {
    let server = support::server(Mode::Safe)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = safe_push(&text_xml("oAlice", "x", 3, &now()), &now());
    let silent = |_: Message| async { Reply::Success };
    let response = server
        .handle(&PushQuery::parse(&query), body.as_bytes(), &silent)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.body, "success");
    let empty = |_: Message| async { Reply::Empty };
    let (query, body) = safe_push(&text_xml("oAlice", "x", 4, &now()), &now());
    let response = server
        .handle(&PushQuery::parse(&query), body.as_bytes(), &empty)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.body, "");
}

#[tokio::test]
async fn safe_mode_refuses_a_plaintext_downgrade() {
    let server = support::server(Mode::Safe)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = plain_push(&text_xml("oAlice", "hi", 5, &now()), &now());
    let err = post(&server, &query, &body).await.map(|_| ());
    assert_eq!(err, Err(MessageError::EncryptionRequired));
}

#[tokio::test]
async fn compatible_mode_takes_both() {
    let server = support::server(Mode::Compatible)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = plain_push(&text_xml("oAlice", "plain", 6, &now()), &now());
    let plain = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reparse(&plain.body).get("Content"), Some("echo: plain"));
    let (query, body) = safe_push(&text_xml("oAlice", "enc", 7, &now()), &now());
    let encrypted = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reparse(&encrypted.body).get("Encrypt").is_some());
}

#[tokio::test]
async fn a_plaintext_account_refuses_encrypted_pushes() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = safe_push(&text_xml("oAlice", "x", 8, &now()), &now());
    assert_eq!(
        post(&server, &query, &body).await.map(|_| ()),
        Err(MessageError::EncryptionNotConfigured)
    );
}

#[tokio::test]
async fn a_stale_timestamp_is_refused() {
    let server = support::server(Mode::Plain)
        .timestamp_window(Some(Duration::from_secs(60)))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let old = (now().parse::<u64>().unwrap_or(0) - 3600).to_string();
    let (query, body) = plain_push(&text_xml("oAlice", "x", 9, &old), &old);
    let err = post(&server, &query, &body).await.map(|_| ()).unwrap_err();
    assert!(err.is_stale(), "{err:?}");
    assert_eq!(err.status(), 401);
}

#[tokio::test]
async fn an_unsigned_or_wrongly_signed_push_is_refused() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let body = text_xml("oAlice", "x", 10, &now());
    assert_eq!(
        post(&server, "", &body).await.map(|_| ()),
        Err(MessageError::MissingParam("signature"))
    );
    let ts = now();
    let forged = format!(
        "signature={}&timestamp={ts}&nonce=1",
        sign(&["not-the-token", &ts, "1"])
    );
    assert_eq!(
        post(&server, &forged, &body).await.map(|_| ()),
        Err(MessageError::BadSignature)
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = support::server(Mode::Plain)
        .body_limit(1024)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = plain_push(&text_xml("oAlice", &"x".repeat(2000), 11, &now()), &now());
    let err = post(&server, &query, &body).await.map(|_| ()).unwrap_err();
    assert_eq!(err, MessageError::BodyTooLarge { limit: 1024 });
    assert_eq!(err.status(), 413);
}

#[tokio::test]
async fn xxe_and_entity_expansion_are_refused_even_when_signed() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content></xml>"#;
    let (query, body) = plain_push(xxe, &now());
    assert_eq!(
        post(&server, &query, &body).await.map(|_| ()),
        Err(MessageError::Xml(XmlError::Doctype))
    );
    let laughs = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>";
    let (query, body) = plain_push(laughs, &now());
    let err = post(&server, &query, &body).await.map(|_| ()).unwrap_err();
    assert_eq!(err, MessageError::Xml(XmlError::Entity));
    assert_eq!(err.status(), 400);
    assert_eq!(err.code(), Some(-40002));
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for body in [
        "",
        "{\"json\":1}",
        "<xml><Content>x</xml>",
        "<xml><MsgType>text</MsgType></xml>",
    ] {
        let (query, body) = plain_push(body, &now());
        let err = post(&server, &query, &body).await.map(|_| ()).unwrap_err();
        assert_eq!(err.status(), 400, "{err:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_is_answered_success_and_still_finishes() {
    let server = support::server(Mode::Plain)
        .reply_deadline(Duration::from_millis(200))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<String>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let slow = move |message: Message| {
        let done_tx = done_tx.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            if let Some(tx) = done_tx.lock().ok().and_then(|mut g| g.take()) {
                let _ = tx.send(message.from_user_name.clone());
            }
            Reply::text("too late")
        }
    };
    let (query, body) = plain_push(&text_xml("oSlow", "x", 12, &now()), &now());
    let started = tokio::time::Instant::now();
    let response = server
        .handle(&PushQuery::parse(&query), body.as_bytes(), &slow)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.body, "success");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        done_rx.await.as_deref(),
        Ok("oSlow"),
        "the handler ran to completion"
    );
}

#[tokio::test]
async fn a_retried_push_reaches_the_handler_once() {
    let server = support::server(Mode::Safe)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = {
        let calls = calls.clone();
        move |_: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Reply::text("once") }
        }
    };
    let xml = text_xml("oAlice", "x", 13, &now());
    let mut bodies = Vec::new();
    for _ in 0..4 {
        // Each delivery is encrypted afresh (new random prefix), as WeChat's would be.
        let (query, body) = safe_push(&xml, &now());
        let response = server
            .handle(&PushQuery::parse(&query), body.as_bytes(), &counting)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        bodies.push(response.body);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(bodies[0].contains("<Encrypt>"));
    assert_eq!(&bodies[1..], ["success", "success", "success"]);
}

#[tokio::test]
async fn two_events_of_one_user_in_one_second_are_both_handled() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = {
        let calls = calls.clone();
        move |_: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Reply::Success }
        }
    };
    let ts = now();
    for event in ["subscribe", "LOCATION"] {
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>oA</FromUserName><CreateTime>{ts}</CreateTime>\
             <MsgType>event</MsgType><Event>{event}</Event><Latitude>1.5</Latitude><Longitude>2.5</Longitude></xml>"
        );
        let (query, body) = plain_push(&xml, &ts);
        server
            .handle(&PushQuery::parse(&query), body.as_bytes(), &counting)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_push_under_the_previous_key_is_answered_with_that_key() {
    const NEW_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
    let server = wechat_oauth_message::MessageServer::builder(TOKEN, APPID)
        .mode(Mode::Safe)
        .encoding_aes_key(NEW_KEY)
        .previous_encoding_aes_key(KEY)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = safe_push(&text_xml("oAlice", "old key", 14, &now()), &now());
    let response = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let encrypt = reparse(&response.body)
        .get("Encrypt")
        .unwrap_or_default()
        .to_owned();
    let old = EncodingAesKey::new(KEY).unwrap_or_else(|e| panic!("{e}"));
    let inner = crypto::decrypt(&old, APPID, &encrypt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reparse(&inner).get("Content"), Some("echo: old key"));
}

#[tokio::test]
async fn unknown_kinds_are_still_answerable() {
    let server = support::server(Mode::Plain)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let ts = now();
    let xml = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>oA</FromUserName><CreateTime>{ts}</CreateTime>\
         <MsgType>hologram</MsgType><Depth>3</Depth><MsgId>99</MsgId></xml>"
    );
    let (query, body) = plain_push(&xml, &ts);
    let response = post(&server, &query, &body)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reparse(&response.body).get("Content"), Some("got hologram"));
}

#[test]
fn no_secret_reaches_debug_or_errors() {
    let server = support::server(Mode::Safe)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{server:?}");
    assert!(!shown.contains(TOKEN) && !shown.contains(KEY), "{shown}");
    let key = EncodingAesKey::new(KEY).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{key:?}").contains("abcdef"));
    let inbound = {
        let (query, body) = safe_push(&text_xml("oAlice", "private words", 15, &now()), &now());
        server
            .open(&PushQuery::parse(&query), body.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let shown = format!("{inbound:?}");
    assert!(!shown.contains("private words"), "{shown}");
    let reply = server.seal(&inbound, &Reply::text("private answer"));
    assert!(!format!("{reply:?}").contains("private answer"));
}

#[tokio::test]
async fn two_instances_sharing_a_lease_store_handle_a_retry_once() {
    let store = Arc::new(wechat_oauth::MemoryStore::new());
    let instance = || {
        support::server(Mode::Safe)
            .dedupe(store.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (a, b) = (instance(), instance());
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = {
        let calls = calls.clone();
        move |_: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Reply::text("handled") }
        }
    };
    let xml = text_xml("oAlice", "x", 16, &now());
    let (query, body) = safe_push(&xml, &now());
    let first = a
        .handle(&PushQuery::parse(&query), body.as_bytes(), &counting)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (query, body) = safe_push(&xml, &now());
    let retry = b
        .handle(&PushQuery::parse(&query), body.as_bytes(), &counting)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.body.contains("<Encrypt>"));
    assert_eq!(retry.body, "success");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
