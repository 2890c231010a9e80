//! The `wx.config` route: signs the site's own pages only, with the shared ticket.

use axum::http::StatusCode;
use serde_json::Value;
use wechat_oauth::WeChatApp;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::{JsSdk, JsSdkError, Key, WeChatLogin};
use wechat_sandbox::{Sandbox, defaults};

use crate::{Browser, body_text};

const SITE: &str = "https://shop.example.com";

fn jssdk(sandbox: &Sandbox, stores: &Stores) -> (JsSdk, wechat_oauth::OfficialAccountClient) {
    let app = WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .stores(stores.clone())
        .build()
        .unwrap();
    let login = WeChatLogin::builder(
        app.oauth(),
        format!("{SITE}/auth/wechat/callback"),
        Key::generate(),
    )
    .stores(stores.clone())
    .build()
    .unwrap();
    (
        JsSdk::for_login(&login, app.official_account()),
        app.official_account(),
    )
}

async fn ask(jssdk: &JsSdk, page: &str) -> (StatusCode, Value) {
    let uri = format!(
        "/auth/wechat/jssdk-config?url={}",
        percent_encoding::utf8_percent_encode(page, percent_encoding::NON_ALPHANUMERIC)
    );
    let response = Browser::default()
        .send(&jssdk.routes::<()>(), "GET", &uri)
        .await;
    let status = response.status();
    (
        status,
        serde_json::from_str(&body_text(response).await).unwrap(),
    )
}

#[tokio::test]
async fn the_sites_own_page_gets_a_signature_over_its_url_without_the_fragment() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let (jssdk, oa) = jssdk(&sandbox, &Stores::memory());
    let page = format!("{SITE}/profile?tab=1");
    let (status, body) = ask(&jssdk, &format!("{page}#top")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["appId"], defaults::OFFICIAL_APPID);
    let ticket = oa.jsapi_ticket().await.unwrap();
    let expected = wechat_oauth::jssdk::signature(
        ticket.expose_secret(),
        body["nonceStr"].as_str().unwrap(),
        body["timestamp"].as_u64().unwrap(),
        &page,
    );
    assert_eq!(body["signature"], expected);
    // The default port is the same origin.
    let (status, _) = ask(&jssdk, "https://SHOP.example.com:443/x").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn urls_on_other_origins_are_refused_before_the_ticket_is_fetched() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let (jssdk, _) = jssdk(&sandbox, &Stores::memory());
    for page in [
        "https://evil.example/profile",
        "http://shop.example.com/profile",
        "https://shop.example.com.evil.example/",
        "https://shop.example.com:8443/",
        "https://shop.example.com@evil.example/",
        "javascript:alert(1)",
        "/profile",
        "",
    ] {
        let (status, body) = ask(&jssdk, page).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}: {body}");
        assert!(body.get("signature").is_none());
    }
    let missing = Browser::default()
        .send(&jssdk.routes::<()>(), "GET", "/auth/wechat/jssdk-config")
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 0);
    assert!(matches!(
        jssdk.config_for("https://evil.example/").await,
        Err(JsSdkError::ForeignOrigin)
    ));
}

#[tokio::test]
async fn an_allowed_second_origin_is_signed_too() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let (jssdk, _) = jssdk(&sandbox, &Stores::memory());
    let jssdk = jssdk.allow_origin("https://m.example.com").unwrap();
    assert_eq!(
        ask(&jssdk, "https://m.example.com/a").await.0,
        StatusCode::OK
    );
    assert!(JsSdk::allow_origin(jssdk, "not a url").is_err());
}

#[tokio::test]
async fn instances_sharing_the_stores_fetch_one_ticket() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let stores = Stores::memory();
    let (a, _) = jssdk(&sandbox, &stores);
    let (b, _) = jssdk(&sandbox, &stores);
    let (first, second) = tokio::join!(ask(&a, SITE), ask(&b, SITE));
    assert_eq!((first.0, second.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 1);
}
