//! Attacks on the login, each test named after what it defends. Every attacker here is an
//! outside party with a browser (or curl) of their own; none can read the victim's cookies.
//!
//! Covered elsewhere in this suite: state forgery and tampering (every altered character),
//! replay of a used state, splicing a fresh code onto a used state, repeated parameters and
//! mix-up between the Official Account and website flows (`state.rs`); replay on another
//! process sharing the store and duplicate callbacks (`duplicate.rs`); slowloris and idle
//! connections (`serve.rs`).

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

#[tokio::test]
async fn open_redirects_never_leave_the_site_whatever_the_payload() {
    let site = Site::with(|b| b.after_login("/home")).await;
    let payloads = [
        "//evil.com",
        "///evil.com",
        "////evil.com",
        "https://evil.com",
        "http://evil.com",
        "HTTPS://evil.com",
        "//evil.com/%2F..",
        "/\\evil.com",
        "\\\\evil.com",
        "/\\/evil.com",
        "%2F%2Fevil.com",
        "%2f%2fevil.com",
        "/%2F/evil.com",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "/%5C%5Cevil.com",
        "/%252F%252Fevil.com",
        "/%25252F%25252Fevil.com",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "evil.com",
        "@evil.com",
        "/\t/evil.com",
        "/%09/evil.com",
        "/%0A/evil.com",
        "/%0D%0ALocation:%20https://evil.com",
        "/x\r\nLocation: https://evil.com",
        "/x\r\nSet-Cookie: wechat_session=attacker",
        " //evil.com",
        "\t//evil.com",
        "/ //evil.com",
        "/.//evil.com",
        "//evil.com@site",
        "https:evil.com",
        "//%65vil.com",
        "/%2e%2e//evil.com",
        "/ünicode",
        "//evil%E3%80%82com",
        "\u{3000}//evil.com",
        "",
    ];
    for payload in payloads {
        let mut browser = Browser::default();
        let state = browser.start_login(&site, payload).await;
        let response = browser
            .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
            .await;
        let landed = location(&response);
        assert!(
            landed.starts_with('/') && !landed.starts_with("//") && !landed.starts_with("/\\"),
            "{payload:?} -> {landed:?}"
        );
        // Where a browser goes with that Location: still this site.
        let site_url = url::Url::parse("https://site.example/").unwrap();
        let resolved = site_url.join(&landed).unwrap();
        assert_eq!(
            resolved.host_str(),
            Some("site.example"),
            "{payload:?} -> {landed:?}"
        );
        // Logout's return_to is checked the same way.
        let uri = format!(
            "/auth/wechat/logout?return_to={}",
            percent_encoding::utf8_percent_encode(payload, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = browser.visit(&site.app, "POST", &uri).await;
        let landed = location(&response);
        let resolved = site_url.join(&landed).unwrap();
        assert_eq!(
            resolved.host_str(),
            Some("site.example"),
            "logout {payload:?} -> {landed:?}"
        );
    }
}

#[tokio::test]
async fn xss_in_every_page_is_escaped() {
    let site = Site::new().await;
    let script = r#"/p?q="><script>alert(1)</script><img/src=x/onerror=alert(2)>'"#;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, script).await;
    // Every failure page carries the retry link with the return path in it.
    let failures = [
        format!("/auth/wechat/callback?state={state}"),
        format!("/auth/wechat/callback?code=x&state={state}&state={state}"),
        "/auth/wechat/callback?code=%3Cscript%3E&state=%22%3E%3Cscript%3E".to_owned(),
    ];
    for uri in failures {
        let response = browser.send(&site.app, "GET", &uri).await;
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let page = body_text(response).await;
        assert!(!page.contains("<script"), "{uri}: {page}");
        assert!(!page.contains("onerror=alert"), "{uri}: {page}");
    }
    // The cross-site logout page.
    let mut request = browser.request("POST", "/auth/wechat/logout?return_to=%3Cscript%3E");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let response = tower::ServiceExt::oneshot(site.app.clone(), request)
        .await
        .unwrap();
    assert!(!body_text(response).await.contains("<script"));
}

#[tokio::test]
async fn mix_up_a_state_minted_for_another_app_is_refused() {
    let site = Site::new().await;
    let key = wechat_oauth_axum::Key::generate();
    let build = |appid: &str, secret: &str| {
        wechat_oauth_axum::WeChatLogin::builder(
            crate::client_for(&site.sandbox, appid, secret),
            crate::CALLBACK,
            key.clone(),
        )
        .build()
        .unwrap()
    };
    let official = crate::app_for(&build(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET));
    let website = crate::app_for(&build(defaults::WEBSITE_APPID, defaults::WEBSITE_SECRET));
    let mut browser = Browser::default();
    let response = browser.get(&website, "/auth/wechat/login").await;
    let websites_state = state_in(&location(&response));
    let response = browser
        .get(
            &official,
            &callback_uri(&site.code_for("alice"), &websites_state),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(no_session_cookie(&response));
    assert_eq!(site.exchanges(), 0);
}

#[tokio::test]
async fn oversized_input_is_refused_without_a_panic_or_a_500() {
    let site = Site::new().await;
    let huge = "A".repeat(30_000);
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/").await;
    let uris = [
        format!("/auth/wechat/login?return_to=/{huge}"),
        format!("/auth/wechat/callback?code={huge}&state={state}"),
        format!("/auth/wechat/callback?code=x&state={huge}"),
        format!("/auth/wechat/callback?{}", "a=b&".repeat(10_000)),
        "/auth/wechat/callback?code=%FF%FE&state=%C0%AF".to_owned(),
        format!("/profile?{huge}"),
    ];
    for uri in &uris {
        let response = browser.send(&site.app, "GET", uri).await;
        assert!(
            !response.status().is_server_error(),
            "{}: {}",
            &uri[..40.min(uri.len())],
            response.status()
        );
    }
    // Oversized and garbage cookies: no session, no 500.
    for cookie in [
        format!("wechat_session={huge}"),
        format!("wechat_session_pending={huge}"),
        "wechat_session=%ZZ%; wechat_session_pending=;;;=".to_owned(),
        format!("wechat_session={}", "é".repeat(2000)),
    ] {
        let mut request = Browser::default().request("GET", "/profile");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        let response = tower::ServiceExt::oneshot(site.app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let mut request = Browser::default().request("GET", &crate::callback_uri("c", &state));
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        let response = tower::ServiceExt::oneshot(site.app.clone(), request)
            .await
            .unwrap();
        assert!(!response.status().is_server_error());
        assert!(no_session_cookie(&response));
    }
    assert_eq!(site.exchanges(), 0);
}

/// A tracing writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs_at_trace_across_the_flows() {
    let captured = Captured::default();
    // Everything at TRACE except the sandbox (the test's stand-in for WeChat, not our code).
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,wechat_sandbox=off",
        ))
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // Global, not thread-scoped: with tests running in parallel threads, a scoped subscriber
    // can miss callsites whose interest another thread cached first. Other tests' events
    // land here too, which only makes the search wider.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let code = site.code_for("alice");
    let uri = callback_uri(&code, &state);
    // Duplicate, replay elsewhere, login, profile, logout, and failures.
    browser.send(&site.app, "GET", &uri).await;
    browser.get(&site.app, &uri).await;
    Browser::wechat().send(&site.app, "GET", &uri).await;
    browser.get(&site.app, "/profile").await;
    let session_cookie = browser.cookies["wechat_session"].clone();
    let session_id = crate::session::session_id_of(&session_cookie);
    let openid = site.sandbox.openid(defaults::OFFICIAL_APPID, "alice");
    let token = site
        .login
        .client()
        .token_store()
        .get(&openid)
        .await
        .unwrap()
        .expect("a stored token");
    let mut second = Browser::default();
    let state2 = second.start_login(&site, "/").await;
    site.sandbox
        .inject_fault(crate::EXCHANGE_PATH, wechat_sandbox::Fault::ErrCode(40029));
    let code2 = site.code_for("bob");
    second.get(&site.app, &callback_uri(&code2, &state2)).await;
    browser
        .visit(&site.app, "POST", "/auth/wechat/logout")
        .await;
    browser.get(&site.app, "/profile").await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The capture works: the middleware's own events are there.
    assert!(
        logs.contains("WeChat callback without this browser's pending-login cookie"),
        "{logs}"
    );
    for (what, secret) in [
        ("code", code.as_str()),
        ("second code", code2.as_str()),
        ("access token", token.access_token.expose_secret()),
        ("refresh token", token.refresh_token.expose_secret()),
        ("session id", session_id.as_str()),
        ("session cookie", session_cookie.as_str()),
        ("app secret", defaults::OFFICIAL_SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the TRACE logs");
    }
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn xss_in_the_demo_pages_through_a_hostile_nickname_is_escaped() {
    use wechat_oauth_axum::{Flow, Key, WeChatLogin};
    let hostile = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;
    let sandbox = wechat_sandbox::Sandbox::builder()
        .user(hostile)
        .start()
        .await
        .unwrap();
    let client = crate::client_for(
        &sandbox,
        defaults::OFFICIAL_APPID,
        defaults::OFFICIAL_SECRET,
    );
    let login = WeChatLogin::builder(client, crate::CALLBACK, Key::generate())
        .flow(Flow::OfficialAccountUserInfo)
        .build()
        .unwrap();
    let site = Site {
        app: wechat_oauth_axum::demo::site(&login, true),
        sandbox,
        login,
    };
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let code = site
        .sandbox
        .mint_code(defaults::OFFICIAL_APPID, hostile, "snsapi_userinfo")
        .unwrap();
    browser.get(&site.app, &callback_uri(&code, &state)).await;
    for page in ["/", "/profile"] {
        let response = browser.get(&site.app, page).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let html = body_text(response).await;
        assert!(
            html.contains("&lt;script&gt;"),
            "{page}: the nickname is shown, escaped"
        );
        assert!(
            !html.contains("<script") && !html.contains("<img src=x"),
            "{page}: {html}"
        );
    }
}
