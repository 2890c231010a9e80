//! Server-side web sessions: the cookie holds only a random id; lifetimes; sign out
//! everywhere; a profile of any size.

use std::time::Duration;

use axum::http::StatusCode;
use wechat_oauth_axum::{Flow, Key, WeChatLogin};
use wechat_sandbox::{Sandbox, defaults};

use crate::{Browser, CALLBACK, Site, app_for, body_text, callback_uri, client_for};

/// The session id inside a signed session cookie value (after the 44-character signature).
pub(crate) fn session_id_of(cookie: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(cookie)
        .decode_utf8()
        .unwrap()
        .into_owned();
    decoded[44..].to_owned()
}

async fn status_of(site: &Site, browser: &mut Browser) -> StatusCode {
    browser.get(&site.app, "/profile").await.status()
}

#[tokio::test]
async fn the_session_cookie_carries_only_a_random_id() {
    let site = Site::new().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut browser = Browser::default();
        browser.log_in(&site, "alice").await;
        let id = session_id_of(&browser.cookies["wechat_session"]);
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        let openid = site.sandbox.openid(defaults::OFFICIAL_APPID, "alice");
        assert!(!browser.cookies["wechat_session"].contains(&openid));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "a fresh id per login");
}

#[tokio::test]
async fn a_profile_of_any_size_signs_in_with_a_6000_character_nickname() {
    let long_user = "n".repeat(6000);
    let sandbox = Sandbox::builder()
        .user(long_user.clone())
        .start()
        .await
        .unwrap();
    let client = client_for(
        &sandbox,
        defaults::OFFICIAL_APPID,
        defaults::OFFICIAL_SECRET,
    );
    let login = WeChatLogin::builder(client, CALLBACK, Key::generate())
        .flow(Flow::OfficialAccountUserInfo)
        .build()
        .unwrap();
    let site = Site {
        app: app_for(&login),
        sandbox,
        login,
    };
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let code = site
        .sandbox
        .mint_code(defaults::OFFICIAL_APPID, &long_user, "snsapi_userinfo")
        .unwrap();
    let response = browser.get(&site.app, &callback_uri(&code, &state)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(browser.cookies["wechat_session"].len() < 200);
    let response = browser.get(&site.app, "/profile").await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(user["nickname"].as_str().unwrap().chars().count(), 6000);
}

#[tokio::test]
async fn an_idle_session_ends_after_its_idle_lifetime_and_an_active_one_after_its_absolute_lifetime()
 {
    let site = Site::with(|b| {
        b.session_idle_ttl(Duration::from_secs(3600))
            .session_ttl(Duration::from_secs(3 * 3600))
    })
    .await;
    let minutes = |m: u64| Duration::from_secs(m * 60);

    // Idle: each request moves the idle expiry; an hour without one ends the session.
    let mut idle = Browser::default();
    idle.log_in(&site, "alice").await;
    site.login.advance_clock_for_tests(minutes(40));
    assert_eq!(status_of(&site, &mut idle).await, StatusCode::OK);
    site.login.advance_clock_for_tests(minutes(40)); // 80 minutes after login, 40 idle
    assert_eq!(status_of(&site, &mut idle).await, StatusCode::OK);
    site.login.advance_clock_for_tests(minutes(61));
    assert_eq!(status_of(&site, &mut idle).await, StatusCode::SEE_OTHER);

    // Absolute: active every 40 minutes, still over after three hours.
    let mut active = Browser::default();
    active.log_in(&site, "bob").await;
    for _ in 0..4 {
        site.login.advance_clock_for_tests(minutes(40));
        assert_eq!(status_of(&site, &mut active).await, StatusCode::OK);
    }
    site.login.advance_clock_for_tests(minutes(21)); // 181 minutes
    assert_eq!(status_of(&site, &mut active).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_that_user_only() {
    let site = Site::new().await;
    let (mut phone, mut laptop, mut other) =
        (Browser::default(), Browser::default(), Browser::default());
    phone.log_in(&site, "alice").await;
    laptop.log_in(&site, "alice").await;
    other.log_in(&site, "bob").await;

    let response = phone
        .visit(&site.app, "POST", "/auth/wechat/logout-everywhere")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&site, &mut phone).await, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&site, &mut laptop).await, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&site, &mut other).await, StatusCode::OK);

    // The same from code: an admin ending bob's sessions.
    let bob = site.sandbox.openid(defaults::OFFICIAL_APPID, "bob");
    assert_eq!(site.login.sign_out_everywhere(&bob).await.unwrap(), 1);
    assert_eq!(status_of(&site, &mut other).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn restarting_with_a_persistent_store_keeps_sessions() {
    // Two `WeChatLogin`s with the same key and store stand for one site before and after a
    // restart (the demo's test does the same with a SQLite file).
    let site = Site::new().await;
    let stores = wechat_oauth::store::Stores::memory();
    let key = Key::generate();
    let build = || {
        WeChatLogin::builder(site.login.client().clone(), CALLBACK, key.clone())
            .stores(stores.clone())
            .flow(Flow::OfficialAccountUserInfo)
            .build()
            .unwrap()
    };
    let before = Site {
        app: app_for(&build()),
        sandbox: site.sandbox.clone(),
        login: build(),
    };
    let mut browser = Browser::default();
    browser.log_in(&before, "alice").await;
    let after = app_for(&build());
    assert_eq!(
        browser.get(&after, "/profile").await.status(),
        StatusCode::OK
    );
}
