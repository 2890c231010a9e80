//! Where the browser goes: only same-site paths after login, the extractor's redirect,
//! logout.

use axum::http::StatusCode;

use crate::{Browser, Site, body_text, callback_uri, location, set_cookies};

async fn login_and_land(site: &Site, return_to: &str) -> String {
    let mut browser = Browser::default();
    let state = browser.start_login(site, return_to).await;
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{return_to:?}");
    location(&response)
}

#[tokio::test]
async fn off_site_return_paths_fall_back_to_the_default() {
    let site = Site::with(|b| b.after_login("/home")).await;
    for evil in [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "%2F%2Fevil.com",
        "/%2F%2Fevil.com",
        "javascript:alert(1)",
        "/\t/evil.com",
        "",
    ] {
        assert_eq!(login_and_land(&site, evil).await, "/home", "{evil:?}");
    }
}

#[tokio::test]
async fn same_site_return_paths_are_kept_short_or_long() {
    let site = Site::new().await;
    assert_eq!(
        login_and_land(&site, "/orders?id=7&tab=Zz").await,
        "/orders?id=7&tab=Zz"
    );
    // Too long for the 128-character state: carried in the signed pending-login cookie.
    let long = format!("/search?q={}", "abc/".repeat(60));
    assert_eq!(login_and_land(&site, &long).await, long);
}

#[tokio::test]
async fn the_callback_ignores_a_return_to_in_its_own_query() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let state = browser.start_login(&site, "/profile").await;
    let uri = format!(
        "{}&return_to=%2F%2Fevil.com",
        callback_uri(&site.code_for("alice"), &state)
    );
    let response = browser.get(&site.app, &uri).await;
    assert_eq!(location(&response), "/profile");
}

#[tokio::test]
async fn a_protected_page_redirects_to_login_and_back() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let response = browser.get(&site.app, "/profile?tab=1").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login_url = location(&response);
    assert_eq!(
        login_url,
        "/auth/wechat/login?return_to=%2Fprofile%3Ftab%3D1"
    );

    let response = browser.get(&site.app, &login_url).await;
    let state = crate::state_in(&location(&response));
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("bob"), &state))
        .await;
    assert_eq!(location(&response), "/profile?tab=1");
    assert_eq!(
        browser.get(&site.app, "/profile?tab=1").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_optional_extractor_never_redirects() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    let response = browser.get(&site.app, "/maybe").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "anonymous");

    browser.log_in(&site, "alice").await;
    let response = browser.get(&site.app, "/maybe").await;
    assert_eq!(
        body_text(response).await,
        site.sandbox
            .openid(wechat_sandbox::defaults::OFFICIAL_APPID, "alice")
    );
}

#[tokio::test]
async fn a_tampered_session_cookie_is_no_session() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    browser.log_in(&site, "alice").await;
    let cookie = browser.cookies.get_mut("wechat_session").unwrap();
    // Flip one character of the session id after the signature.
    let last = cookie.pop().unwrap();
    cookie.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let site = Site::new().await;
    let mut browser = Browser::default();
    browser.log_in(&site, "alice").await;
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::OK
    );

    let response = browser
        .visit(
            &site.app,
            "POST",
            "/auth/wechat/logout?return_to=//evil.com",
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("wechat_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        set_cookies(&response)
    );
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_routes_nest_under_a_prefix_and_an_app_state_provides_the_login() {
    use axum::extract::FromRef;
    use axum::routing::get;
    use wechat_oauth_axum::{Flow, Key, WeChatLogin, WeChatUser};

    #[derive(Clone)]
    struct AppState {
        login: WeChatLogin,
        greeting: &'static str,
    }
    impl FromRef<AppState> for WeChatLogin {
        fn from_ref(state: &AppState) -> Self {
            state.login.clone()
        }
    }
    async fn profile(
        axum::extract::State(state): axum::extract::State<AppState>,
        user: WeChatUser,
    ) -> String {
        format!("{} {}", state.greeting, user.openid)
    }

    let site = Site::new().await;
    let login = WeChatLogin::builder(
        site.login.client().clone(),
        crate::CALLBACK,
        Key::generate(),
    )
    .flow(Flow::OfficialAccountUserInfo)
    .nested_under("/auth")
    .build()
    .unwrap();
    let app: axum::Router = axum::Router::new()
        .route("/profile", get(profile))
        .nest("/auth", login.routes())
        .with_state(AppState {
            login: login.clone(),
            greeting: "hello",
        });
    let site = Site {
        app,
        login,
        sandbox: site.sandbox.clone(),
    };
    let mut browser = Browser::default();
    let response = browser.get(&site.app, "/profile").await;
    assert_eq!(
        location(&response),
        "/auth/wechat/login?return_to=%2Fprofile"
    );
    let state = browser.start_login(&site, "/profile").await;
    let response = browser
        .get(&site.app, &callback_uri(&site.code_for("alice"), &state))
        .await;
    assert_eq!(location(&response), "/profile");
    let page = body_text(browser.get(&site.app, "/profile").await).await;
    assert_eq!(
        page,
        format!(
            "hello {}",
            site.sandbox
                .openid(wechat_sandbox::defaults::OFFICIAL_APPID, "alice")
        )
    );
    let response = browser
        .visit(&site.app, "POST", "/auth/wechat/logout")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get(&site.app, "/profile").await.status(),
        StatusCode::SEE_OTHER
    );
}
