//! WeChat's duplicate callback, code errors, snapshot users and WeChat failures.

use axum::http::StatusCode;
use wechat_oauth_axum::{Flow, Key, SnapshotUsers, WeChatLogin};
use wechat_sandbox::{Fault, defaults};

use crate::{
    Browser, CALLBACK, EXCHANGE_PATH, Site, app_for, body_text, callback_uri, location,
    set_cookies, state_in,
};

#[tokio::test]
async fn a_duplicate_callback_whose_first_answer_was_lost_completes_the_same_login() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let uri = callback_uri(&site.code_for("alice"), &state);

    let first = browser.send(&site.app, "GET", &uri).await; // aborted: cookies never stored
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = browser.get(&site.app, &uri).await;
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&second), "/profile");
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::OK
    );
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_duplicate_callback_after_the_first_answer_arrived_keeps_the_session() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let uri = callback_uri(&site.code_for("alice"), &state);
    browser.get(&site.app, &uri).await;
    let again = browser.get(&site.app, &uri).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again), "/profile");
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::OK
    );
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn concurrent_duplicate_callbacks_make_one_code_exchange() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let uri = callback_uri(&site.code_for("alice"), &state);
    // Slow WeChat, so the second hit arrives while the first is still exchanging.
    site.sandbox.inject_fault(
        EXCHANGE_PATH,
        Fault::Delay(std::time::Duration::from_millis(300)),
    );
    let (a, b) = tokio::join!(
        browser.send(&site.app, "GET", &uri),
        browser.send(&site.app, "GET", &uri)
    );
    for response in [&a, &b] {
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(response), "/profile");
        assert!(
            set_cookies(response)
                .iter()
                .any(|c| c.starts_with("wechat_session="))
        );
    }
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_state_used_on_another_process_is_not_exchanged_again() {
    // Two processes sharing the key and the store set: the claim `state:<nonce>` in the
    // store, not process memory, makes the state single use.
    let site = Site::new().await;
    let key = Key::generate();
    let client = site.login.client().clone();
    let shared = wechat_oauth::store::Stores::memory();
    let build = || {
        WeChatLogin::builder(client.clone(), CALLBACK, key.clone())
            .stores(shared.clone())
            .flow(Flow::OfficialAccountUserInfo)
            .build()
            .unwrap()
    };
    let (one, two) = (app_for(&build()), app_for(&build()));
    let mut browser = Browser::default();
    let state = state_in(&location(
        &browser
            .get(&one, "/auth/wechat/login?return_to=%2Fprofile")
            .await,
    ));
    let uri = callback_uri(&site.code_for("alice"), &state);
    assert_eq!(
        browser.send(&one, "GET", &uri).await.status(),
        StatusCode::SEE_OTHER
    );

    // Same browser (first answer lost), other process: no outcome to reuse there, so the
    // login restarts once, without exchanging the code again.
    let response = browser.get(&two, &uri).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(location(&response).starts_with(site.sandbox.url()));
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_rejected_code_restarts_the_login_once_not_in_a_loop() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    // WeChat says 40029 (invalid code).
    let response = browser
        .get(&site.app, &callback_uri("bogus-code", &state))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let restarted = state_in(&location(&response));

    // And 40163 (code already used) on the restarted login: now a page, not another restart.
    site.sandbox
        .inject_fault(EXCHANGE_PATH, Fault::ErrCode(40163));
    let response = browser
        .get(
            &site.app,
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(response).await.contains("did not accept"));
    assert_eq!(site.exchanges(), 2);
}

#[tokio::test]
async fn wechat_failures_show_a_page_and_are_never_retried() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/").await;
    site.sandbox.inject_fault(EXCHANGE_PATH, Fault::Html502);
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert!(!browser.cookies.contains_key("wechat_session"));
    assert_eq!(site.exchanges(), 1, "a code exchange is never retried");
}

#[tokio::test]
async fn a_snapshot_user_gets_no_session_and_no_stored_token() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let code = site.code_for(defaults::SNAPSHOT_USER);
    let response = browser.get(&site.app, &callback_uri(&code, &state)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_text(response).await.contains("使用完整服务"));
    assert!(!browser.cookies.contains_key("wechat_session"));
    let openid = site
        .sandbox
        .openid(defaults::OFFICIAL_APPID, defaults::SNAPSHOT_USER);
    assert!(
        site.login
            .client()
            .token_store()
            .get(&openid)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_snapshot_user_may_get_a_browser_lifetime_guest_session_when_asked() {
    let site = Site::with(|b| b.snapshot_users(SnapshotUsers::GuestSession)).await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let code = site.code_for(defaults::SNAPSHOT_USER);
    let response = browser.get(&site.app, &callback_uri(&code, &state)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("wechat_session="))
        .unwrap();
    assert!(
        !session.contains("Max-Age"),
        "ends with the browser: {session}"
    );
    let user: serde_json::Value =
        serde_json::from_str(&body_text(browser.get(&site.app, "/profile").await).await).unwrap();
    assert_eq!(user["is_snapshotuser"], true);
}
