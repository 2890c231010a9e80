//! `wechat-oauth demo`: starts with no configuration (its own sandbox), or on the WeChat
//! the configuration names; shows follow-to-login and `wx.config` beside the redirect login.

use url::Url;
use wechat_sandbox::defaults::OFFICIAL_APPID;
use wechat_sandbox::{PushOptions, ServerConfig};

use crate::support::{Server, World, approve, bare_command, query, run};

/// The body of a `GET` of `url`.
async fn get_text(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The authorize URL the demo's login button leads to, and the cookie that binds the login
/// to this browser.
async fn login_redirect(demo: &Server) -> (Url, String) {
    let home = reqwest::get(&demo.url).await.unwrap();
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert!(page.contains(r#"id="login""#), "no login button: {page}");
    let login = no_redirects()
        .get(format!("{}auth/wechat/login", demo.url))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let authorize = Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    (authorize, cookie)
}

#[tokio::test]
async fn the_demo_starts_with_no_configuration_on_its_own_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bare_command();
    command
        .current_dir(dir.path())
        .args(["demo", "--listen", "127.0.0.1:0"]);
    let demo = Server::spawn(command, "demo running at ").await;

    let (authorize, _) = login_redirect(&demo).await;

    assert_eq!(authorize.host_str(), Some("127.0.0.1"), "{authorize}");
    assert_eq!(authorize.path(), "/connect/oauth2/authorize");
    assert_eq!(
        query(&authorize, "scope").as_deref(),
        Some("snsapi_userinfo")
    );
    demo.stop().await;
}

#[tokio::test]
async fn the_demo_logs_in_on_the_configured_wechat() {
    let world = World::new().await;
    let demo = Server::spawn(
        world.command(&["demo", "--listen", "127.0.0.1:0"]),
        "demo running at ",
    )
    .await;

    let (authorize, cookie) = login_redirect(&demo).await;
    assert!(
        authorize.as_str().starts_with(world.sandbox.url()),
        "{authorize}"
    );
    assert_eq!(query(&authorize, "appid").as_deref(), Some(OFFICIAL_APPID));
    let callback = approve(authorize.as_str(), "alice").await;
    let finished = no_redirects()
        .get(callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();

    assert!(finished.status().is_redirection(), "{finished:?}");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 1);
    demo.stop().await;
}

#[tokio::test]
async fn the_demo_with_an_appid_but_no_secret_is_a_usage_error() {
    let mut command = bare_command();
    command
        .env("WECHAT_APPID", OFFICIAL_APPID)
        .args(["demo", "--listen", "127.0.0.1:0"]);

    let out = run(command).await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_SECRET"), "{out:#?}");
}

/// The `name=value` part of every `Set-Cookie`, as a `Cookie` header (removals left out).
fn cookies(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The demo with no configuration: its home page offers the follow-to-login page beside the
/// redirect login; the QR code it shows is the sandbox's; the sandbox's "user scans" call
/// pushes the event to the demo's message endpoint (registered with the sandbox at start);
/// the browser that asked for the code is signed in; its profile page calls `wx.config`
/// with a signature from the shared `jsapi_ticket`.
#[tokio::test]
async fn the_demo_signs_a_desktop_in_by_a_follow_scan_and_signs_wx_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bare_command();
    command
        .current_dir(dir.path())
        .args(["demo", "--listen", "127.0.0.1:0"]);
    let mut demo = Server::spawn(command, "demo running at ").await;
    let sandbox_line = demo.next_line().await;
    let sandbox_url = sandbox_line
        .strip_prefix("WeChat sandbox at ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sandbox line: {sandbox_line:?}"))
        .trim_end_matches('/')
        .to_owned();
    let message_line = demo.next_line().await;
    assert_eq!(
        message_line,
        format!("message interface (server URL) at {}wechat", demo.url)
    );
    let http = no_redirects();
    let site = demo.url.trim_end_matches('/').to_owned();

    // Home: both ways to sign in, and the sandbox's phone panel.
    let home = get_text(&http, &demo.url).await;
    assert!(home.contains(r#"id="login""#), "{home}");
    assert!(
        home.contains(r#"id="follow-login" href="/auth/wechat/follow?return_to=%2Fprofile""#),
        "{home}"
    );
    assert!(home.contains(r#"id="phone-scan-alice""#), "{home}");
    let page = get_text(
        &http,
        format!("{site}/auth/wechat/follow?return_to=%2Fprofile"),
    )
    .await;
    assert!(page.contains(r#"id="wechat-follow-qr""#), "{page}");

    // The page's script asks for a scene: a QR code of the sandbox, bound to this browser.
    let scene = http
        .post(format!(
            "{site}/auth/wechat/follow/scene?return_to=%2Fprofile"
        ))
        .header("origin", &site)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(scene.status(), 200);
    let browser = cookies(&scene);
    let scene: serde_json::Value = scene.json().await.unwrap();
    let qr_url = url::Url::parse(scene["qr_url"].as_str().unwrap()).unwrap();
    assert!(qr_url.as_str().starts_with(&sandbox_url), "{qr_url}");
    let ticket = query(&qr_url, "ticket").unwrap();
    let image = reqwest::get(qr_url.as_str()).await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let poll_url = format!("{site}{}", scene["poll_url"].as_str().unwrap());

    // alice scans the code in "WeChat": the sandbox pushes subscribe + qrscene_… to the demo.
    let push: serde_json::Value = http
        .post(format!("{sandbox_url}/__sandbox/oa/scan"))
        .json(&serde_json::json!({ "appid": OFFICIAL_APPID, "user": "alice", "ticket": ticket }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(push["event"], "subscribe", "{push}");
    assert_eq!(push["reply"]["verdict"], "message", "{push}");
    let said = push["reply"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == "Content")
        .map(|f| f[1].as_str().unwrap().to_owned())
        .unwrap();
    assert!(said.contains("Signed in"), "{said}");

    // The browser that showed the code is signed in, and lands on its profile.
    let done = http
        .get(&poll_url)
        .header("cookie", &browser)
        .send()
        .await
        .unwrap();
    let session = cookies(&done);
    let done: serde_json::Value = done.json().await.unwrap();
    assert_eq!(done["status"], "signed_in", "{done}");
    assert_eq!(done["redirect"], "/profile");
    let profile = http
        .get(format!("{site}/profile"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let csp = profile.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let profile = profile.text().await.unwrap();
    let openid = wechat_sandbox::Sandbox::builder()
        .start()
        .await
        .unwrap()
        .openid(OFFICIAL_APPID, "alice");
    assert!(profile.contains(&openid), "{profile}");
    assert!(profile.contains(r#"id="jssdk-status""#), "{profile}");
    assert!(
        profile.contains(r#"<script src="/wx-config.js"></script>"#),
        "{profile}"
    );
    let script = http
        .get(format!("{site}/wx-config.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("wx.config("), "{script}");

    // What the script asks for: the profile URL's signature, from the shared ticket.
    let page_url = format!("{site}/profile");
    let config_url = |page: &str| {
        let mut url = url::Url::parse(&format!("{site}/auth/wechat/jssdk-config")).unwrap();
        url.query_pairs_mut().append_pair("url", page);
        url
    };
    let mut configs = Vec::new();
    for _ in 0..2 {
        let config: serde_json::Value = http
            .get(config_url(&format!("{page_url}#section")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        configs.push(config);
    }
    let journal: serde_json::Value = reqwest::get(format!("{sandbox_url}/__sandbox/journal"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tickets_fetched = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "/cgi-bin/ticket/getticket")
        .count();
    assert_eq!(tickets_fetched, 1, "the ticket is fetched once and shared");
    let ticket = sandbox_jsapi_ticket(&sandbox_url).await;
    for config in &configs {
        assert_eq!(config["appId"], OFFICIAL_APPID, "{config}");
        let expected = wechat_oauth::jssdk::signature(
            &ticket,
            config["nonceStr"].as_str().unwrap(),
            config["timestamp"].as_u64().unwrap(),
            &page_url,
        );
        assert_eq!(config["signature"], expected, "{config}");
    }
    // Another site's page gets no signature.
    let foreign = http
        .get(config_url("https://evil.example/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);

    // The home page's phone panel: another browser's code, scanned as bob from the demo.
    let scene = http
        .post(format!(
            "{site}/auth/wechat/follow/scene?return_to=%2Fprofile"
        ))
        .header("origin", &site)
        .send()
        .await
        .unwrap();
    let other_browser = cookies(&scene);
    let phone = http
        .post(format!("{site}/phone/scan"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=bob")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        phone.contains(r#"id="phone-result">bob scanned"#),
        "{phone}"
    );
    assert!(phone.contains("Signed in"), "{phone}");
    let done: serde_json::Value = http
        .get(&poll_url)
        .header("cookie", &other_browser)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "signed_in", "{done}");
    demo.stop().await;
}

/// The sandbox's current `jsapi_ticket` for the Official Account (the same for every
/// caller until it expires).
async fn sandbox_jsapi_ticket(sandbox_url: &str) -> String {
    let token: serde_json::Value = reqwest::get(format!(
        "{sandbox_url}/cgi-bin/token?grant_type=client_credential&appid={OFFICIAL_APPID}&secret={}",
        wechat_sandbox::defaults::OFFICIAL_SECRET
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let ticket: serde_json::Value = reqwest::get(format!(
        "{sandbox_url}/cgi-bin/ticket/getticket?access_token={}&type=jsapi",
        token["access_token"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    ticket["ticket"].as_str().unwrap().to_owned()
}

/// On a configured WeChat, follow-to-login and the message endpoint need the account's
/// server token: with `WECHAT_SERVER_TOKEN` set the demo answers the account's pushes at
/// `/wechat` once that URL is configured (here: registered with the sandbox).
#[tokio::test]
async fn the_demo_on_a_configured_wechat_answers_pushes_with_the_given_server_token() {
    let world = World::new().await;
    let mut command = world.command(&["demo", "--listen", "127.0.0.1:0"]);
    command.env("WECHAT_SERVER_TOKEN", "demo-server-token-from-env");
    let mut demo = Server::spawn(command, "demo running at ").await;
    let message_url = demo
        .next_line()
        .await
        .strip_prefix("message interface (server URL) at ")
        .unwrap()
        .to_owned();
    assert_eq!(message_url, format!("{}wechat", demo.url));
    let home = reqwest::get(&demo.url).await.unwrap().text().await.unwrap();
    assert!(home.contains(r#"id="follow-login""#), "{home}");
    assert!(
        !home.contains("phone-scan"),
        "no sandbox phone on a real WeChat: {home}"
    );

    // The admin console's 提交: a wrong token fails the echostr check, the right one passes.
    let wrong = world
        .sandbox
        .register_server(
            OFFICIAL_APPID,
            ServerConfig::new(&message_url, "not-the-token"),
        )
        .await;
    assert!(wrong.is_err(), "{wrong:?}");
    world
        .sandbox
        .register_server(
            OFFICIAL_APPID,
            ServerConfig::new(&message_url, "demo-server-token-from-env"),
        )
        .await
        .unwrap();
    let push = world
        .sandbox
        .push(
            OFFICIAL_APPID,
            "bob",
            "text",
            &[("Content", "ni hao")],
            PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(push.reply.verdict, "message");
    assert_eq!(push.reply.field("Content"), Some("You said: ni hao"));

    // `send-message` plays WeChat against the same endpoint.
    let mut send = bare_command();
    send.env("WECHAT_SERVER_TOKEN", "demo-server-token-from-env")
        .args([
            "send-message",
            "--url",
            &message_url,
            "--text",
            "from the CLI",
        ]);
    let sent = run(send).await.json();
    assert_eq!(
        sent["fields"]["Content"], "You said: from the CLI",
        "{sent}"
    );
    demo.stop().await;
}
