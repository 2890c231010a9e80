//! The axum integration, driven with `tower::ServiceExt::oneshot` (no sockets).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use wechat_oauth_message::signature::sign;
use wechat_oauth_message::{Message, MessageKind, Mode, Reply};

use crate::support::{self, TOKEN, now, plain_push, safe_push, text_xml};

fn app(mode: Mode) -> axum::Router {
    let server = support::server(mode)
        .body_limit(4096)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    wechat_oauth_message::axum::router("/wechat", server, |message: Message| async move {
        match message.kind {
            MessageKind::Text(text) => Reply::text(text.content),
            _ => Reply::Success,
        }
    })
}

async fn call(app: axum::Router, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| String::from_utf8_lossy(&c.to_bytes()).into_owned())
        .unwrap_or_default();
    (status, content_type, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap_or_default()
}

fn post(uri: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from(body))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_verification_get_echoes_echostr_verbatim() {
    let ts = now();
    let uri = format!(
        "/wechat?signature={}&timestamp={ts}&nonce=7&echostr=4375120948345356249",
        sign(&[TOKEN, &ts, "7"])
    );
    let (status, content_type, body) = call(app(Mode::Safe), get(&uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "4375120948345356249", "no quotes, no JSON");
    assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
}

#[tokio::test]
async fn a_wrongly_signed_verification_is_a_401_that_says_why() {
    let ts = now();
    let uri = format!(
        "/wechat?signature={}&timestamp={ts}&nonce=7&echostr=1",
        "0".repeat(40)
    );
    let (status, _, body) = call(app(Mode::Plain), get(&uri)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("signature does not match"), "{body}");
}

#[tokio::test]
async fn a_post_is_answered_with_xml() {
    let (query, body) = plain_push(&text_xml("oAlice", "hello", 1, &now()), &now());
    let (status, content_type, body) =
        call(app(Mode::Plain), post(&format!("/wechat?{query}"), body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("text/xml; charset=utf-8"));
    assert!(
        body.contains("<Content><![CDATA[hello]]></Content>"),
        "{body}"
    );
}

#[tokio::test]
async fn encrypt_type_aes_selects_the_encrypted_path() {
    let (query, body) = safe_push(&text_xml("oAlice", "hello", 2, &now()), &now());
    let (status, _, body) = call(app(Mode::Safe), post(&format!("/wechat?{query}"), body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<Encrypt><![CDATA["), "{body}");
    assert!(!body.contains("hello"));
}

#[tokio::test]
async fn an_oversized_post_is_a_413() {
    let (query, body) = plain_push(&text_xml("oAlice", &"x".repeat(10_000), 3, &now()), &now());
    let (status, _, body) = call(app(Mode::Plain), post(&format!("/wechat?{query}"), body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("4096"), "{body}");
}

#[tokio::test]
async fn an_entity_laden_post_is_a_400_naming_the_problem_not_the_content() {
    let evil = "<!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\">]><xml><Content>&a;</Content></xml>";
    let (query, body) = plain_push(evil, &now());
    let (status, _, body) = call(app(Mode::Plain), post(&format!("/wechat?{query}"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("DOCTYPE"), "{body}");
    assert!(!body.contains("aaaaaaaaaa"), "{body}");
}

#[tokio::test]
async fn a_plaintext_post_to_a_safe_mode_account_is_refused() {
    let (query, body) = plain_push(&text_xml("oAlice", "hello", 4, &now()), &now());
    let (status, _, body) = call(app(Mode::Safe), post(&format!("/wechat?{query}"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("safe mode"), "{body}");
}
