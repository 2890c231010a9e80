//! A real browser drives the demo site: headless Chromium through chromedriver logs in on
//! the sandbox's consent page, sees the profile, reloads, logs out, denies, and tries a
//! forged and a replayed callback; and signs in on the desktop follow-to-login page (the
//! page shows the QR code, the sandbox scans it, the page signs in and its profile calls
//! `wx.config`). A screenshot of each step lands in `target/browser-artifacts/`.
//!
//! Under `CI=true` a missing Chromium or chromedriver fails the test; elsewhere it is
//! skipped with a loud message.

// The CLI crate has no library target: compile the demo module into this test directly.
#[path = "../src/demo.rs"]
#[allow(dead_code)]
mod demo;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use wechat_oauth_test_support::browser::{ChromeDriver, Screenshots, element};
use wechat_sandbox::defaults;

const EXCHANGE_PATH: &str = "/sns/oauth2/access_token";

async fn text_of(browser: &Client, id: &str) -> String {
    element(browser, id).await.text().await.unwrap()
}

async fn click(browser: &Client, id: &str) {
    element(browser, id).await.click().await.unwrap();
}

async fn body_text(browser: &Client) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The demo with no configuration (its own sandbox) on loopback, keeping state in `store`.
fn own_sandbox(store: impl Into<String>) -> demo::DemoOptions {
    demo::DemoOptions {
        listen: (Ipv4Addr::LOCALHOST, 0).into(),
        appid: None,
        secret: None,
        api_base: None,
        open_base: None,
        store: store.into(),
        key: None,
        server_token: None,
        encoding_aes_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_on_the_consent_page_and_out_again_and_bad_callbacks_are_refused() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let demo = demo::start(own_sandbox("memory:")).await.unwrap();
    let sandbox = demo.sandbox().expect("an in-process sandbox").clone();
    let exchanges = || {
        sandbox
            .journal()
            .iter()
            .filter(|e| e.path == EXCHANGE_PATH)
            .count()
    };
    let profile_dir = tempfile::tempdir().unwrap();
    let browser = driver.session(profile_dir.path()).await;
    let mut shots = Screenshots::new("demo");

    // Home → login → the sandbox's consent page.
    browser.goto(demo.url()).await.unwrap();
    shots.take(&browser, "home").await;
    click(&browser, "login").await;
    browser
        .wait()
        .for_element(Locator::Id("approve-alice"))
        .await
        .unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(sandbox.url())
    );
    shots.take(&browser, "consent").await;

    // Approve as alice → the profile, at a clean URL.
    click(&browser, "approve-alice").await;
    let openid = text_of(&browser, "openid").await;
    assert_eq!(openid, sandbox.openid(defaults::OFFICIAL_APPID, "alice"));
    assert_eq!(text_of(&browser, "unionid").await, sandbox.unionid("alice"));
    assert_eq!(text_of(&browser, "scope").await, "snsapi_userinfo");
    assert!(!text_of(&browser, "nickname").await.is_empty());
    let here = browser.current_url().await.unwrap();
    assert_eq!(here.as_str(), format!("{}profile", demo.url()));
    assert!(
        here.query().is_none(),
        "code and state left the address bar"
    );
    shots.take(&browser, "profile").await;
    assert_eq!(exchanges(), 1);

    // Reload keeps the session.
    browser.refresh().await.unwrap();
    assert_eq!(text_of(&browser, "openid").await, openid);
    shots.take(&browser, "profile-reloaded").await;

    // The callback the browser went through, from the sandbox's journal: kept for the replay.
    let journal = sandbox.journal();
    let state = journal
        .iter()
        .find(|e| e.path == "/connect/oauth2/authorize")
        .and_then(|e| e.param("state"))
        .expect("the authorize request")
        .to_owned();
    let code = journal
        .iter()
        .find(|e| e.path == EXCHANGE_PATH)
        .and_then(|e| e.param("code"))
        .expect("the code exchange")
        .to_owned();

    // Logout.
    click(&browser, "logout").await;
    browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    assert!(body_text(&browser).await.contains("knows nobody"));
    shots.take(&browser, "logged-out").await;

    // Deny on the consent page → the refusal page.
    click(&browser, "login").await;
    click(&browser, "deny").await;
    browser
        .wait()
        .for_element(Locator::Css("h1"))
        .await
        .unwrap();
    assert!(
        body_text(&browser)
            .await
            .contains("You declined to sign in with WeChat")
    );
    shots.take(&browser, "denied").await;
    assert_eq!(exchanges(), 1);

    // A replayed callback (leaked URL) in a browser that did not start it: not accepted; the
    // browser is sent to a fresh login of its own (WeChat's consent page again).
    browser.delete_all_cookies().await.unwrap();
    let replay = format!(
        "{}auth/wechat/callback?code={code}&state={state}",
        demo.url()
    );
    browser.goto(&replay).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("approve-alice"))
        .await
        .unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(sandbox.url())
    );
    shots.take(&browser, "replayed-callback-restarts").await;

    // A forged state: refused.
    let fresh = sandbox
        .mint_code(defaults::OFFICIAL_APPID, "bob", "snsapi_userinfo")
        .unwrap();
    let forged = format!(
        "{}auth/wechat/callback?code={fresh}&state={}",
        demo.url(),
        wechat_oauth::new_state()
    );
    browser.goto(&forged).await.unwrap();
    assert!(body_text(&browser).await.contains("not valid"));
    shots.take(&browser, "forged-state-refused").await;

    // Neither refused callback reached WeChat, and the browser has no session.
    assert_eq!(exchanges(), 1);
    browser.goto(demo.url()).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .unwrap();

    browser.close().await.unwrap();
    demo.stop().await.unwrap();
}

/// The ticket of the QR image the follow page shows, once the image has loaded.
async fn shown_ticket(browser: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let loaded = browser
            .execute(
                "const img = document.getElementById('wechat-follow-qr'); \
                 return img && !img.hidden && img.complete && img.naturalWidth > 0 ? img.src : '';",
                vec![],
            )
            .await
            .unwrap();
        if let Some(src) = loaded.as_str().filter(|s| !s.is_empty()) {
            let url = url::Url::parse(src).unwrap();
            if let Some((_, ticket)) = url.query_pairs().find(|(k, _)| k == "ticket") {
                return ticket.into_owned();
            }
        }
        assert!(Instant::now() < deadline, "the QR code did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `attribute` of element `id` is set, and returns it.
async fn attribute(browser: &Client, id: &str, attribute: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = element(browser, id).await.attr(attribute).await.unwrap() {
            return value;
        }
        assert!(Instant::now() < deadline, "#{id} has no {attribute}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_by_a_follow_scan_and_its_profile_calls_wx_config() {
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let demo = demo::start(own_sandbox("memory:")).await.unwrap();
    let sandbox = demo.sandbox().expect("an in-process sandbox").clone();
    let profile_dir = tempfile::tempdir().unwrap();
    let browser = driver.session(profile_dir.path()).await;
    let mut shots = Screenshots::new("demo");

    // Home → "Scan to follow and sign in" → the page shows the sandbox's QR code.
    browser.goto(demo.url()).await.unwrap();
    click(&browser, "follow-login").await;
    let ticket = shown_ticket(&browser).await;
    shots.take(&browser, "follow-qr").await;

    // alice scans it in "WeChat": the sandbox pushes the event to the demo's /wechat.
    let record = sandbox
        .scan(
            defaults::OFFICIAL_APPID,
            "alice",
            wechat_sandbox::ScanTarget::Ticket(ticket),
            wechat_sandbox::PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(record.event.as_deref(), Some("subscribe"));
    assert_eq!(record.reply.verdict, "message", "{:?}", record.reply);

    // The page signs in by itself and lands on the profile.
    let openid = text_of(&browser, "openid").await;
    assert_eq!(openid, sandbox.openid(defaults::OFFICIAL_APPID, "alice"));
    assert_eq!(text_of(&browser, "unionid").await, sandbox.unionid("alice"));
    assert_eq!(
        browser.current_url().await.unwrap().as_str(),
        format!("{}profile", demo.url())
    );

    // The profile page asked for wx.config: signed over its URL with the shared ticket.
    let signature = attribute(&browser, "jssdk-status", "data-signature").await;
    let nonce = attribute(&browser, "jssdk-status", "data-nonce-str").await;
    let timestamp: u64 = attribute(&browser, "jssdk-status", "data-timestamp")
        .await
        .parse()
        .unwrap();
    let page_url = attribute(&browser, "jssdk-status", "data-url").await;
    assert_eq!(page_url, format!("{}profile", demo.url()));
    let oa = wechat_oauth::WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .build()
        .unwrap()
        .official_account();
    let ticket = oa.jsapi_ticket().await.unwrap();
    assert_eq!(
        signature,
        wechat_oauth::jssdk::signature(ticket.expose_secret(), &nonce, timestamp, &page_url)
    );
    assert!(
        text_of(&browser, "jssdk-status")
            .await
            .contains("wx.config ready")
    );
    shots.take(&browser, "follow-signed-in-wx-config").await;

    browser.close().await.unwrap();
    demo.stop().await.unwrap();
}

/// Cookies of a client that follows the demo's redirects by hand.
#[derive(Default)]
struct Jar(Vec<String>);

impl Jar {
    fn remember(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.0.retain(|c| !c.starts_with(&format!("{name}=")));
            if !set.contains("Max-Age=0") {
                self.0.push(pair);
            }
        }
    }

    fn header(&self) -> String {
        self.0.join("; ")
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Logs in on `demo` as sandbox user `user` with the sandbox's scripted approval header,
/// following each redirect by hand; returns the browser's cookies.
async fn log_in_over_http(demo: &demo::RunningDemo, user: &str) -> Jar {
    let sandbox = demo.sandbox().unwrap();
    let http = no_redirects();
    let mut jar = Jar::default();
    let home = http
        .get(demo.url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Sign in with WeChat"));

    let response = http
        .get(format!("{}profile", demo.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let login = format!(
        "{}{}",
        demo.url().trim_end_matches('/'),
        location(&response)
    );
    assert!(
        login.ends_with("/auth/wechat/login?return_to=%2Fprofile"),
        "{login}"
    );

    let response = http.get(&login).send().await.unwrap();
    jar.remember(&response);
    let authorize = location(&response);
    assert!(authorize.starts_with(sandbox.url()));

    let response = http
        .get(authorize.split('#').next().unwrap())
        .header(wechat_sandbox::USER_HEADER, user)
        .send()
        .await
        .unwrap();
    let callback = location(&response);
    assert!(callback.starts_with(&format!("{}auth/wechat/callback?code=", demo.url())));

    let response = http
        .get(&callback)
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(location(&response), "/profile");
    jar.remember(&response);
    jar
}

async fn profile_page(site_url: &str, jar: &Jar) -> reqwest::Response {
    no_redirects()
        .get(format!("{site_url}profile"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
}

/// The same login without a browser (runs everywhere): plain HTTP with the sandbox's
/// scripted approval header, following each redirect by hand.
#[tokio::test]
async fn the_demo_logs_in_over_plain_http_with_scripted_approval() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("tokens.db").display());
    let demo = demo::start(own_sandbox(store_url.clone())).await.unwrap();
    let sandbox = demo.sandbox().unwrap().clone();
    let jar = log_in_over_http(&demo, "bob").await;
    let profile = profile_page(demo.url(), &jar).await.text().await.unwrap();
    let openid = sandbox.openid(defaults::OFFICIAL_APPID, "bob");
    assert!(profile.contains(&openid), "{profile}");
    demo.stop().await.unwrap();

    // The token went to the configured SQLite store, not to the browser.
    let store = wechat_oauth_stores::open(&store_url).await.unwrap().tokens;
    assert!(store.get(&openid).await.unwrap().is_some());
    assert!(!jar.0.iter().any(|c| c.contains("access_token")));
}

/// Needs `wechat_oauth_stores::open("sqlite://…")` to keep web sessions in the SQLite file
/// (not only tokens and leases): the demo hands the whole set it gets to the middleware.
#[tokio::test]
async fn restarting_the_demo_on_a_sqlite_store_keeps_its_users_signed_in() {
    let dir = tempfile::tempdir().unwrap();
    let options = demo::DemoOptions {
        key: Some(wechat_oauth_axum::Key::from_bytes(&[42u8; 32]).unwrap()),
        ..own_sandbox(format!("sqlite://{}", dir.path().join("demo.db").display()))
    };
    let first = demo::start(options.clone()).await.unwrap();
    let jar = log_in_over_http(&first, "alice").await;
    let openid = first
        .sandbox()
        .unwrap()
        .openid(defaults::OFFICIAL_APPID, "alice");
    first.stop().await.unwrap();

    let second = demo::start(options).await.unwrap();
    let response = profile_page(second.url(), &jar).await;
    assert_eq!(response.status(), 200, "still signed in after the restart");
    assert!(response.text().await.unwrap().contains(&openid));
    second.stop().await.unwrap();
}
