//! Follow-to-login (扫码关注登录) against the sandbox: the browser asks for a scene, the
//! sandbox's user scans its QR code, the sandbox pushes the event to the site's message
//! endpoint over HTTP, and the browser's poll signs it in.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use serde_json::Value;
use tower::ServiceExt;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::{Key, ScanOutcome};
use wechat_sandbox::{PushOptions, PushRecord, Sandbox, ScanTarget, defaults};

use crate::follow_site::{FollowSite, ticket_of};
use crate::{Browser, body_text};

const SCENE: &str = "/auth/wechat/follow/scene";
const POLL: &str = "/auth/wechat/follow/poll";
const FOLLOW_COOKIE: &str = "wechat_session_follow";

async fn sandbox() -> Sandbox {
    Sandbox::builder().start().await.unwrap()
}

async fn site(sandbox: &Sandbox) -> FollowSite {
    FollowSite::start(sandbox, Stores::memory(), Key::generate(), true).await
}

async fn json_of(response: axum::http::Response<Body>) -> (StatusCode, Value) {
    let status = response.status();
    let text = body_text(response).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asks `site` for a scene in `browser`; returns the QR code's ticket.
async fn ask_for_scene(browser: &mut Browser, site: &FollowSite, return_to: &str) -> String {
    let response = browser
        .visit(&site.app, "POST", &format!("{SCENE}?return_to={return_to}"))
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["poll_url"], POLL);
    assert!(
        body["expires_in"].as_u64().is_some_and(|s| s > 200),
        "{body}"
    );
    let qr_url = body["qr_url"].as_str().unwrap();
    assert!(qr_url.starts_with("http://127.0.0.1:"), "{qr_url}");
    assert!(qr_url.contains("/cgi-bin/showqrcode?ticket="), "{qr_url}");
    ticket_of(qr_url)
}

async fn poll(browser: &mut Browser, site: &FollowSite) -> (StatusCode, Value) {
    let response = browser.get(&site.app, POLL).await;
    json_of(response).await
}

async fn scan(sandbox: &Sandbox, user: &str, ticket: &str) -> PushRecord {
    sandbox
        .scan(
            defaults::OFFICIAL_APPID,
            user,
            ScanTarget::Ticket(ticket.to_owned()),
            PushOptions::default(),
        )
        .await
        .unwrap()
}

/// The scene a push carried (`EventKey` without `qrscene_`): what an eavesdropper on the
/// event would learn.
fn scene_of(record: &PushRecord) -> String {
    let key = record
        .message
        .split("<EventKey><![CDATA[")
        .nth(1)
        .and_then(|rest| rest.split("]]>").next())
        .unwrap();
    key.trim_start_matches("qrscene_").to_owned()
}

fn reply_text(record: &PushRecord) -> String {
    record.reply.field("Content").unwrap_or_default().to_owned()
}

async fn profile(browser: &mut Browser, site: &FollowSite) -> Value {
    let response = browser.get(&site.app, "/profile").await;
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_str(&body_text(response).await).unwrap()
}

#[tokio::test]
async fn a_first_follow_through_the_qr_code_signs_the_waiting_browser_in() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2Fprofile").await;

    // The browser is already waiting (long poll) when the user scans.
    let waiting = {
        let browser = browser.clone();
        let app = site.app.clone();
        tokio::spawn(async move {
            let mut browser = browser;
            let response = browser.visit(&app, "GET", POLL).await;
            (browser, response)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let record = scan(&sandbox, "alice", &ticket).await;
    assert_eq!(record.event.as_deref(), Some("subscribe"));
    assert_eq!(record.reply.verdict, "message");
    assert!(
        reply_text(&record).contains("Signed in"),
        "{:?}",
        record.reply
    );

    let (mut browser, response) = waiting.await.unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "signed_in");
    assert_eq!(body["redirect"], "/profile");
    assert!(
        !browser.cookies.contains_key(FOLLOW_COOKIE),
        "scene cookie cleared"
    );

    let user = profile(&mut browser, &site).await;
    assert_eq!(
        user["openid"],
        sandbox.openid(defaults::OFFICIAL_APPID, "alice")
    );
    // The unionid comes from follower info (user/info); no nickname since 2021.
    assert_eq!(user["unionid"], sandbox.unionid("alice"));
    assert_eq!(user["nickname"], Value::Null);
    assert_eq!(sandbox.request_count("/cgi-bin/user/info"), 1);
    assert_eq!(sandbox.request_count("/cgi-bin/qrcode/create"), 1);
}

#[tokio::test]
async fn a_follower_scanning_again_signs_in_through_the_scan_event() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    sandbox
        .set_following(
            defaults::OFFICIAL_APPID,
            "bob",
            true,
            PushOptions::default(),
        )
        .await
        .unwrap();
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    let record = scan(&sandbox, "bob", &ticket).await;
    assert_eq!(record.event.as_deref(), Some("SCAN"));
    assert!(reply_text(&record).contains("Signed in"));
    let (status, body) = poll(&mut browser, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("signed_in"))
    );
    assert_eq!(body["redirect"], "/");
    let home = browser.get(&site.app, "/").await;
    assert_eq!(
        body_text(home).await,
        sandbox.openid(defaults::OFFICIAL_APPID, "bob")
    );
}

#[tokio::test]
async fn nothing_signs_in_before_the_scan() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    ask_for_scene(&mut browser, &site, "%2F").await;
    let (status, body) = poll(&mut browser, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    assert_eq!(
        body_text(browser.get(&site.app, "/").await).await,
        "anonymous"
    );
}

#[tokio::test]
async fn a_reload_shows_the_same_code_without_a_new_qrcode_request() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let first = ask_for_scene(&mut browser, &site, "%2F").await;
    let again = ask_for_scene(&mut browser, &site, "%2F").await;
    assert_eq!(first, again);
    assert_eq!(sandbox.request_count("/cgi-bin/qrcode/create"), 1);
    // Another browser gets its own code.
    let other = ask_for_scene(&mut Browser::default(), &site, "%2F").await;
    assert_ne!(first, other);
}

#[tokio::test]
async fn a_second_browser_cannot_take_over_a_scanned_scene() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut victim = Browser::default();
    let ticket = ask_for_scene(&mut victim, &site, "%2F").await;
    let record = scan(&sandbox, "alice", &ticket).await;
    let scene = scene_of(&record);

    // No scene cookie: nothing to poll, whatever the query or headers say.
    let mut attacker = Browser::default();
    let response = attacker
        .visit(&site.app, "GET", &format!("{POLL}?scene={scene}"))
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown"))
    );

    // Knowing the scene (from the push) does not forge the signed cookie.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::json!({"s": scene, "t": ticket, "r": "/"}).to_string());
    attacker.cookies.insert(FOLLOW_COOKIE.into(), forged);
    let (status, body) = poll(&mut attacker, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown"))
    );

    // Its own scene cookie is for its own scene, still pending.
    let mut attacker = Browser::default();
    ask_for_scene(&mut attacker, &site, "%2F").await;
    let (_, body) = poll(&mut attacker, &site).await;
    assert_eq!(body["status"], "pending");
    assert!(!attacker.cookies.contains_key("wechat_session"));

    // The browser that showed the code signs in.
    let (_, body) = poll(&mut victim, &site).await;
    assert_eq!(body["status"], "signed_in");
}

#[tokio::test]
async fn a_replayed_scene_cookie_is_refused_after_the_sign_in() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    let copy = browser.clone();
    scan(&sandbox, "alice", &ticket).await;
    let (_, body) = poll(&mut browser, &site).await;
    assert_eq!(body["status"], "signed_in");

    // The copy of the scene cookie taken before the sign-in.
    let mut replay = copy;
    let (status, body) = poll(&mut replay, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::GONE, Some("used"))
    );
    assert!(!replay.cookies.contains_key("wechat_session"));
    // The browser itself has no scene any more.
    let (status, _) = poll(&mut browser, &site).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_second_scan_of_the_same_code_is_refused_and_the_first_user_keeps_it() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    scan(&sandbox, "alice", &ticket).await;
    let second = scan(&sandbox, "bob", &ticket).await;
    assert!(
        reply_text(&second).contains("already used"),
        "{:?}",
        second.reply
    );
    poll(&mut browser, &site).await;
    assert_eq!(
        body_text(browser.get(&site.app, "/").await).await,
        sandbox.openid(defaults::OFFICIAL_APPID, "alice")
    );
}

#[tokio::test]
async fn an_expired_scene_is_refused_at_the_scan_and_at_the_poll() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    // The site's clock passes the scene's 5 minutes (the sandbox still shows the code).
    site.login.advance_clock_for_tests(Duration::from_secs(301));
    let record = scan(&sandbox, "alice", &ticket).await;
    assert!(
        reply_text(&record).contains("expired"),
        "{:?}",
        record.reply
    );
    let (status, body) = poll(&mut browser, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::GONE, Some("expired"))
    );
    assert!(!browser.cookies.contains_key(FOLLOW_COOKIE));
    assert_eq!(
        body_text(browser.get(&site.app, "/").await).await,
        "anonymous"
    );
}

#[tokio::test]
async fn a_scan_that_expires_before_the_poll_is_refused() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    scan(&sandbox, "alice", &ticket).await;
    site.login.advance_clock_for_tests(Duration::from_secs(301));
    let (status, body) = poll(&mut browser, &site).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::GONE, Some("expired"))
    );
    assert_eq!(
        body_text(browser.get(&site.app, "/").await).await,
        "anonymous"
    );
}

#[tokio::test]
async fn other_qr_codes_and_forged_scenes_are_not_login_scenes() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    // The account's own promotional code: left to the app's handler (here `success`).
    let promo =
        wechat_oauth::WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
            .api_base(sandbox.url())
            .build()
            .unwrap()
            .official_account()
            .create_temporary_qrcode("promo-2024", 60)
            .await
            .unwrap();
    let record = scan(&sandbox, "alice", &promo.ticket).await;
    assert_eq!(record.reply.verdict, "success");

    let openid = sandbox.openid(defaults::OFFICIAL_APPID, "alice");
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &site, "%2F").await;
    let real = scene_of(&scan(&sandbox, "bob", &ticket).await);
    // Same shape, another MAC; and a scene minted under another site key.
    let mut forged = real.clone();
    forged.replace_range(10..12, if &real[10..12] == "AA" { "BB" } else { "AA" });
    assert_eq!(
        site.follow.record_scan(&openid, &forged).await.unwrap(),
        ScanOutcome::NotALoginScene
    );
    let other_site = FollowSite::start(&sandbox, Stores::memory(), Key::generate(), false).await;
    assert_eq!(
        other_site.follow.record_scan(&openid, &real).await.unwrap(),
        ScanOutcome::NotALoginScene
    );
    assert_eq!(
        site.follow.record_scan(&openid, &real).await.unwrap(),
        ScanOutcome::AlreadyScanned
    );
}

#[tokio::test]
async fn a_cross_site_scene_request_is_refused() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let request = Request::builder()
        .method("POST")
        .uri(SCENE)
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let response = site.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(sandbox.request_count("/cgi-bin/qrcode/create"), 0);
}

/// Two instances of one site (one key, one store set, two ports): the sandbox pushes to
/// the second, the browser talks to the first.
async fn scan_on_one_instance_poll_on_another(stores: Stores) {
    let sandbox = sandbox().await;
    let key = Key::generate();
    let first = FollowSite::start(&sandbox, stores.clone(), key.clone(), false).await;
    let second = FollowSite::start(&sandbox, stores, key, true).await;
    let mut browser = Browser::default();
    let ticket = ask_for_scene(&mut browser, &first, "%2F").await;
    let record = scan(&sandbox, "alice", &ticket).await;
    assert!(
        record.attempts[0].url.starts_with(&second.url),
        "pushed to {}",
        record.attempts[0].url
    );
    assert!(reply_text(&record).contains("Signed in"));
    let (_, body) = poll(&mut browser, &first).await;
    assert_eq!(body["status"], "signed_in");
    // The session is in the shared store: both instances know the browser.
    let openid = sandbox.openid(defaults::OFFICIAL_APPID, "alice");
    for instance in [&first, &second] {
        assert_eq!(
            body_text(browser.get(&instance.app, "/").await).await,
            openid
        );
    }
    // A second scan reaching the other instance is still refused (the claim is shared).
    let again = scan(&sandbox, "bob", &ticket).await;
    assert!(
        reply_text(&again).contains("already used"),
        "{:?}",
        again.reply
    );
}

#[tokio::test]
async fn the_scan_reaches_one_instance_and_the_browser_polls_another() {
    scan_on_one_instance_poll_on_another(Stores::memory()).await;
}

/// The same over a store set opened from an SQLite file: the single-use claims (scans,
/// sign-ins) go through the file. (`wechat_oauth_stores::open` keeps credentials and web
/// sessions in memory until the SQL stores keep them too; then all of it does.)
#[tokio::test]
async fn the_scan_reaches_one_instance_and_the_browser_polls_another_over_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("follow.db").display());
    let stores = wechat_oauth_stores::open(&url).await.unwrap();
    scan_on_one_instance_poll_on_another(stores).await;
}

#[tokio::test]
async fn the_page_shows_the_qr_code_under_a_strict_content_security_policy() {
    let sandbox = sandbox().await;
    let site = site(&sandbox).await;
    let mut browser = Browser::default();
    let response = browser
        .get(&site.app, &site.follow.page_url("/profile\"><script>"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains(sandbox.url()),
        "{csp}"
    );
    let html = body_text(response).await;
    assert!(html.contains("/auth/wechat/follow/follow.js"));
    assert!(
        !html.contains("<script>"),
        "an unsafe return path is not echoed"
    );
    let script = browser
        .get(&site.app, "/auth/wechat/follow/follow.js")
        .await;
    assert_eq!(script.status(), StatusCode::OK);
}
