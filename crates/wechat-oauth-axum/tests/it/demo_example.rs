//! `examples/demo.rs`, the axum site with login a newcomer starts from, run against the
//! sandbox: a browser signs in as alice and sees her profile.

// The example's `site`; its `main` is its own.
#[allow(dead_code)]
#[path = "../../examples/demo.rs"]
mod example;

use axum::http::StatusCode;
use wechat_sandbox::{Sandbox, defaults};

use crate::{Browser, body_text, callback_uri, location, state_in};

#[tokio::test]
async fn the_demo_example_signs_a_browser_in_and_shows_its_profile() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = example::site(&sandbox, "http://127.0.0.1:9/").unwrap();
    let mut browser = Browser::default();

    let before = browser.get(&app, "/profile").await;
    assert!(before.status().is_redirection(), "{}", before.status());

    let start = browser
        .get(&app, "/auth/wechat/login?return_to=%2Fprofile")
        .await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let state = state_in(&location(&start));
    let code = sandbox
        .mint_code(defaults::OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let callback = browser.get(&app, &callback_uri(&code, &state)).await;
    assert!(callback.status().is_redirection(), "{}", callback.status());
    assert_eq!(location(&callback), "/profile");

    let page = browser.get(&app, "/profile").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_text(page).await;
    let openid = sandbox.openid(defaults::OFFICIAL_APPID, "alice");
    assert!(html.contains(&openid), "{html}");
}
