//! Attacks on the login, each test named after what it defends. Every attacker here is an
//! outside party with a browser (or curl) of their own; none can read the victim's cookies.

use axum::http::StatusCode;
use wechat_sandbox::defaults;

use crate::{Browser, Site, body_text, callback_uri, location, set_cookies, state_in};

fn no_session_cookie(response: &axum::http::Response<axum::body::Body>) -> bool {
    set_cookies(response)
        .iter()
        .all(|c| !c.starts_with("wechat_session="))
}

async fn openid_signed_in(site: &Site, browser: &mut Browser) -> Option<String> {
    let response = browser.get(&site.app, "/profile").await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let user: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
    user["openid"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn session_hijack_from_a_leaked_callback_url_is_refused_even_with_wechats_user_agent() {
    let site = Site::new().await;
    let mut victim = Browser::wechat();
    let state = victim.start_login(&site, "/profile").await;
    // The victim approves on WeChat; the callback URL leaks before the victim's browser
    // follows it (a proxy log, a Referer, a screenshot).
    let leaked = callback_uri(&site.code_for("alice"), &state);

    // The attacker sends it first, claiming to be WeChat's in-app browser, with no cookies.
    let mut attacker = Browser::wechat();
    let response = attacker.get(&site.app, &leaked).await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "a fresh login, not a session"
    );
    assert!(location(&response).starts_with(site.sandbox.url()));
    assert!(no_session_cookie(&response));
    assert_eq!(openid_signed_in(&site, &mut attacker).await, None);
    // The victim's code was not spent on the attacker's request.
    assert_eq!(site.exchanges(), 0);

    // The victim's own browser then completes its login with the same code.
    let response = victim.get(&site.app, &leaked).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");
    assert_eq!(
        openid_signed_in(&site, &mut victim).await.as_deref(),
        Some(
            site.sandbox
                .openid(defaults::OFFICIAL_APPID, "alice")
                .as_str()
        )
    );
    // And the attacker replaying it afterwards gets nothing either.
    let response = attacker.get(&site.app, &leaked).await;
    assert!(no_session_cookie(&response));
    assert_eq!(openid_signed_in(&site, &mut attacker).await, None);
    assert_eq!(site.exchanges(), 1);
}

#[tokio::test]
async fn login_csrf_in_wechats_browser_does_not_sign_the_victim_in_as_the_attacker() {
    let site = Site::new().await;
    // The attacker starts a login and approves it as themselves, but does not follow the
    // callback: they send its URL to the victim instead.
    let mut attacker = Browser::default();
    let attackers_state = attacker.start_login(&site, "/profile").await;
    let planted = callback_uri(&site.code_for("bob"), &attackers_state);

    // The victim opens it inside WeChat (with or without a login of their own in flight).
    for mut victim in [Browser::wechat(), {
        let mut b = Browser::wechat();
        b.start_login(&site, "/").await;
        b
    }] {
        let response = victim.get(&site.app, &planted).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(no_session_cookie(&response));
        assert_eq!(openid_signed_in(&site, &mut victim).await, None);

        // The restart is the victim's own login: approving it signs in the victim.
        let restarted = state_in(&location(&response));
        let response = victim
            .get(
                &site.app,
                &callback_uri(&site.code_for("alice"), &restarted),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            openid_signed_in(&site, &mut victim).await.as_deref(),
            Some(
                site.sandbox
                    .openid(defaults::OFFICIAL_APPID, "alice")
                    .as_str()
            )
        );
    }
    // The attacker's code was never exchanged.
    let bob = site.sandbox.openid(defaults::OFFICIAL_APPID, "bob");
    assert!(
        site.login
            .client()
            .token_store()
            .get(&bob)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(site.exchanges(), 2);
}

#[tokio::test]
async fn pending_login_cookie_overflow_never_stops_the_newest_login() {
    let site = Site::new().await;
    // Return paths of 2,000 characters (beyond what is kept) and of 390 (kept in the cookie).
    for (long, lands_on) in [
        (format!("/search?q={}", "a".repeat(1990)), None),
        (format!("/search?q={}", "b".repeat(380)), Some(())),
    ] {
        let mut browser = Browser::default();
        let mut states = Vec::new();
        for _ in 0..3 {
            let uri = format!(
                "/auth/wechat/login?return_to={}",
                percent_encoding::utf8_percent_encode(&long, percent_encoding::NON_ALPHANUMERIC)
            );
            let response = browser.get(&site.app, &uri).await;
            assert_eq!(response.status(), StatusCode::FOUND);
            for cookie in set_cookies(&response) {
                assert!(cookie.len() < 1024, "{} bytes: {cookie}", cookie.len());
            }
            states.push(state_in(&location(&response)));
        }
        let cookie_header = browser.request("GET", "/").headers()["cookie"].len();
        assert!(
            cookie_header < 1024,
            "Cookie header of {cookie_header} bytes"
        );
        let newest = states.last().unwrap();
        let response = browser
            .get(&site.app, &callback_uri(&site.code_for("alice"), newest))
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let expected = if lands_on.is_some() {
            long.as_str()
        } else {
            "/"
        };
        assert_eq!(location(&response), expected);
        assert!(openid_signed_in(&site, &mut browser).await.is_some());
    }
}

#[tokio::test]
async fn a_stolen_session_cookie_is_refused_after_logout() {
    let site = Site::new().await;
    let mut victim = Browser::default();
    victim.log_in(&site, "alice").await;
    // A copy of the cookie taken before logout (malware, a shared computer, a proxy).
    let mut thief = Browser {
        cookies: victim.cookies.clone(),
        user_agent: None,
    };
    assert!(openid_signed_in(&site, &mut thief).await.is_some());

    let response = victim.visit(&site.app, "POST", "/auth/wechat/logout").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(openid_signed_in(&site, &mut victim).await, None);
    assert_eq!(openid_signed_in(&site, &mut thief).await, None);
}

#[tokio::test]
async fn cross_site_logout_is_refused_with_a_clear_403() {
    let site = Site::new().await;
    let mut victim = Browser::default();
    victim.log_in(&site, "alice").await;
    // What a browser sends for a form another site's page submits to ours.
    for path in ["/auth/wechat/logout", "/auth/wechat/logout-everywhere"] {
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            let mut request = victim.request("POST", path);
            request.headers_mut().insert(name, value.parse().unwrap());
            let response = tower::ServiceExt::oneshot(site.app.clone(), request)
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} {name}: {value}"
            );
            assert!(no_session_cookie(&response));
            let page = body_text(response).await;
            assert!(page.contains("came from another site"), "{page}");
            assert!(openid_signed_in(&site, &mut victim).await.is_some());
        }
    }
    // The site's own logout button (same origin) still works.
    let mut request = victim.request("POST", "/auth/wechat/logout");
    request
        .headers_mut()
        .insert("origin", "http://127.0.0.1".parse().unwrap());
    request
        .headers_mut()
        .insert("sec-fetch-site", "same-origin".parse().unwrap());
    let response = tower::ServiceExt::oneshot(site.app.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    victim.store(&response);
    assert_eq!(openid_signed_in(&site, &mut victim).await, None);
}

#[tokio::test]
async fn session_fixation_a_planted_session_id_never_becomes_a_signed_in_session() {
    let site = Site::new().await;
    // The attacker's own, genuinely signed session cookie, and a made-up one.
    let mut attacker = Browser::default();
    attacker.log_in(&site, "bob").await;
    let planted = attacker.cookies["wechat_session"].clone();
    let bob = site.sandbox.openid(defaults::OFFICIAL_APPID, "bob");
    let alice = site.sandbox.openid(defaults::OFFICIAL_APPID, "alice");

    for cookie in [planted.clone(), "made-up-session-id".to_owned()] {
        let mut victim = Browser::default();
        victim
            .cookies
            .insert("wechat_session".into(), cookie.clone());
        victim.log_in(&site, "alice").await;
        assert_ne!(
            victim.cookies["wechat_session"], cookie,
            "a fresh id at login"
        );
        assert_eq!(
            openid_signed_in(&site, &mut victim).await.as_deref(),
            Some(alice.as_str())
        );
    }
    // The planted cookie is not the victim's session: at most still the attacker's own
    // (here it ended, as the previous session of the browser that logged in).
    let mut replay = Browser::default();
    replay.cookies.insert("wechat_session".into(), planted);
    let who = openid_signed_in(&site, &mut replay).await;
    assert!(
        who.is_none() || who.as_deref() == Some(bob.as_str()),
        "{who:?}"
    );
}
