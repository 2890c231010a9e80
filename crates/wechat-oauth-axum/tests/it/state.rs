//! The `state`: fresh, signed, single use, bound to the browser, expiring, flow-specific.

use std::time::Duration;

use axum::http::StatusCode;
use wechat_oauth_axum::{Flow, Key, WeChatLogin};
use wechat_sandbox::defaults;

use crate::{
    Browser, CALLBACK, Site, app_for, body_text, callback_uri, client_for, location, set_cookies,
    state_in,
};

#[tokio::test]
async fn login_redirects_to_wechat_with_a_fresh_alphanumeric_state() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let response = browser
        .get(&site.app, "/auth/wechat/login?return_to=%2Fprofile")
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let url = location(&response);
    let expected_prefix = format!(
        "{}/connect/oauth2/authorize?appid={}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fauth%2Fwechat%2Fcallback&response_type=code&scope=snsapi_userinfo&state=",
        site.sandbox.url(),
        defaults::OFFICIAL_APPID
    );
    assert!(url.starts_with(&expected_prefix), "{url}");
    assert!(url.ends_with("#wechat_redirect"), "{url}");

    let first = state_in(&url);
    let second = browser.start_login(&site, "/profile").await;
    for state in [&first, &second] {
        assert!((32..=128).contains(&state.len()), "{state}");
        assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()), "{state}");
    }
    assert_ne!(first, second);

    let pending = set_cookies(&response).join("\n");
    assert!(pending.starts_with("wechat_session_pending="), "{pending}");
    assert!(
        pending.contains("HttpOnly") && pending.contains("SameSite=Lax"),
        "{pending}"
    );
    // Plain http on loopback (local development): no `Secure`, or the browser would drop it.
    assert!(!pending.contains("Secure"), "{pending}");
}

#[tokio::test]
async fn https_sites_get_secure_cookies() {
    let site = Site::new().await;
    let client = client_for(
        &site.sandbox,
        defaults::OFFICIAL_APPID,
        defaults::OFFICIAL_SECRET,
    );
    let login = WeChatLogin::builder(
        client,
        "https://example.com/auth/wechat/callback",
        Key::generate(),
    )
    .build()
    .unwrap();
    let app = app_for(&login);
    let response = Browser::default()
        .send(&app, "GET", "/auth/wechat/login")
        .await;
    let cookies = set_cookies(&response).join("\n");
    assert!(cookies.contains("; Secure"), "{cookies}");
    // The redirect_uri is the configured one, whatever Host the request carried (S2).
    assert!(
        location(&response)
            .contains("redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fwechat%2Fcallback")
    );
}

#[tokio::test]
async fn a_valid_callback_logs_in_and_redirects_to_a_clean_url() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("wechat_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );

    let profile = browser.get(&site.app, "/profile").await;
    assert_eq!(profile.status(), StatusCode::OK);
    let user: serde_json::Value = serde_json::from_str(&body_text(profile).await).unwrap();
    assert_eq!(
        user["openid"],
        site.sandbox.openid(defaults::OFFICIAL_APPID, "alice")
    );
    assert_eq!(user["unionid"], site.sandbox.unionid("alice"));
    assert_eq!(user["scope"], "snsapi_userinfo");
    assert!(
        user["nickname"].as_str().is_some_and(|n| !n.is_empty()),
        "{user}"
    );
    assert_eq!(user["is_snapshotuser"], false);
    // The token is in the client's store, the browser never saw it.
    let openid = user["openid"].as_str().unwrap();
    assert!(
        site.login
            .client()
            .token_store()
            .get(openid)
            .await
            .unwrap()
            .is_some()
    );
    assert!(!browser.cookies.values().any(|v| v.contains("access_token")));
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_callback_without_state_is_refused_without_a_code_exchange() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    browser.start_login(&site, "/").await;
    let code = site.code_for("alice");
    let response = browser
        .get(&site.app, &format!("/auth/wechat/callback?code={code}"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(site.exchanges(), 0);
}

#[tokio::test]
async fn a_forged_or_altered_state_is_refused_without_a_code_exchange() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let genuine = browser.start_login(&site, "/").await;
    let mut altered = genuine.clone().into_bytes();
    altered[12] = if altered[12] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let forged = wechat_oauth::new_state();
    for state in [altered.as_str(), forged.as_str(), "", "not-alphanumeric!"] {
        let response = browser
            .get(&site.app, &callback_uri(&site.code_for("alice"), state))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{state}");
        assert!(body_text(response).await.contains("not valid"));
    }
    assert_eq!(site.exchanges(), 0);
    assert!(!browser.cookies.contains_key("wechat_session"));
}

#[tokio::test]
async fn a_replayed_state_is_refused_without_a_second_code_exchange() {
    let site = Site::new().await;
    let mut victim = Browser::default();
    let state = victim.start_login(&site, "/profile").await;
    let uri = callback_uri(&site.code_for("alice"), &state);
    assert_eq!(
        victim.get(&site.app, &uri).await.status(),
        StatusCode::SEE_OTHER
    );

    // The same URL from another browser (leaked through a log or a Referer), whatever user
    // agent it claims: no session, at most a fresh login of its own.
    for attacker in [Browser::default(), Browser::wechat()] {
        let response = attacker.send(&site.app, "GET", &uri).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(location(&response).starts_with(site.sandbox.url()));
        assert!(
            set_cookies(&response)
                .iter()
                .all(|c| !c.starts_with("wechat_session="))
        );
    }
    let attacker = Browser::default();

    // With a fresh code spliced onto the used state: refused as well.
    let response = attacker
        .send(
            &site.app,
            "GET",
            &callback_uri(&site.code_for("bob"), &state),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "restarted, not exchanged"
    );
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_state_started_in_another_browser_restarts_a_login_of_this_browser_once() {
    let site = Site::new().await;
    let mut attacker = Browser::default();
    let attackers_state = attacker.start_login(&site, "/profile").await;
    let mut victim = Browser::default();
    victim.start_login(&site, "/").await; // the victim has a login of its own in flight

    let response = victim
        .get(
            &site.app,
            &callback_uri(&site.code_for("bob"), &attackers_state),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let restarted = state_in(&location(&response));
    assert_ne!(restarted, attackers_state);
    assert!(!victim.cookies.contains_key("wechat_session"));
    assert_eq!(site.exchanges(), 0);

    // The restart is bound to the victim's browser and completes there, as the victim.
    let response = victim
        .get(
            &site.app,
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");
    let user: serde_json::Value =
        serde_json::from_str(&body_text(victim.get(&site.app, "/profile").await).await).unwrap();
    assert_eq!(
        user["openid"],
        site.sandbox.openid(defaults::OFFICIAL_APPID, "alice")
    );
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn the_wechat_browser_that_lost_its_cookie_once_logs_in_through_the_restart() {
    let site = Site::new().await;
    let mut browser = Browser::wechat();
    let state = browser.start_login(&site, "/profile").await;
    browser.cookies.clear(); // socialite#97: the in-app browser dropped them this time
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND, "restarted");
    let restarted = state_in(&location(&response));
    let response = browser
        .get(
            &site.app,
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::OK
    );
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn a_browser_that_never_keeps_the_cookie_gets_a_page_saying_what_to_do() {
    let site = Site::new().await;
    let mut browser = Browser::wechat();
    let state = browser.start_login(&site, "/").await;
    browser.cookies.clear();
    let response = browser
        .send(
            &site.app,
            "GET",
            &callback_uri(&site.code_for("alice"), &state),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let restarted = state_in(&location(&response));
    let response = browser
        .send(
            &site.app,
            "GET",
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no second restart"
    );
    let page = body_text(response).await;
    assert!(page.contains("did not keep the sign-in cookie"), "{page}");
    assert!(
        page.contains("Allow cookies") && page.contains("Open in Browser"),
        "{page}"
    );
    assert_eq!(site.exchanges(), 0);
}

#[tokio::test]
async fn an_expired_state_restarts_the_login_once_then_is_refused() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    site.login.advance_clock_for_tests(Duration::from_secs(601));

    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND, "restarted");
    let restarted = state_in(&location(&response));
    assert_ne!(restarted, state);

    site.login.advance_clock_for_tests(Duration::from_secs(601));
    let response = browser
        .get(
            &site.app,
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no second restart"
    );
    assert!(body_text(response).await.contains("expired"));
    assert_eq!(site.exchanges(), 0);
}

#[tokio::test]
async fn the_restarted_login_keeps_the_return_path_and_succeeds() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/orders?id=42").await;
    site.login.advance_clock_for_tests(Duration::from_secs(601));
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    let restarted = state_in(&location(&response));
    let response = browser
        .get(
            &site.app,
            &callback_uri(&site.code_for("alice"), &restarted),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/orders?id=42");
}

#[tokio::test]
async fn a_state_minted_for_one_flow_is_refused_by_another() {
    // S19: the same key and app, an Official Account login and a website login.
    let site = Site::new().await;
    let client = client_for(
        &site.sandbox,
        defaults::OFFICIAL_APPID,
        defaults::OFFICIAL_SECRET,
    );
    let key = Key::generate();
    let oa = WeChatLogin::builder(client.clone(), CALLBACK, key.clone())
        .flow(Flow::OfficialAccountUserInfo)
        .build()
        .unwrap();
    let website = WeChatLogin::builder(client, CALLBACK, key)
        .flow(Flow::WebsiteQrLogin)
        .build()
        .unwrap();
    let (oa_app, website_app) = (app_for(&oa), app_for(&website));

    let mut browser = Browser::default();
    let response = browser.get(&oa_app, "/auth/wechat/login").await;
    let oa_state = state_in(&location(&response));
    let response = browser
        .get(
            &website_app,
            &callback_uri(&site.code_for("alice"), &oa_state),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(site.exchanges(), 0);

    // The website flow sends the browser to qrconnect with snsapi_login.
    let response = browser.get(&website_app, "/auth/wechat/login").await;
    let url = location(&response);
    assert!(
        url.contains("/connect/qrconnect?") && url.contains("scope=snsapi_login"),
        "{url}"
    );
}

#[tokio::test]
async fn a_denied_authorization_shows_a_refusal_page() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let response = browser
        .get(&site.app, &format!("/auth/wechat/callback?state={state}"))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let page = body_text(response).await;
    assert!(
        page.contains("You declined to sign in with WeChat"),
        "{page}"
    );
    assert!(
        page.contains("/auth/wechat/login?return_to=%2Fprofile"),
        "{page}"
    );
    assert_eq!(site.exchanges(), 0);
    assert!(!browser.cookies.contains_key("wechat_session"));
}

#[tokio::test]
async fn repeated_callback_parameters_are_refused() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/").await;
    let (a, b) = (site.code_for("alice"), site.code_for("bob"));
    for uri in [
        format!("/auth/wechat/callback?code={a}&code={b}&state={state}"),
        format!("/auth/wechat/callback?code={a}&state={state}&state={state}"),
        format!(
            "/auth/wechat/callback?code={}&state={state}",
            "x".repeat(600)
        ),
    ] {
        let response = browser.get(&site.app, &uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(site.exchanges(), 0);
}
