//! `wechat-oauth demo`: starts with no configuration (its own sandbox), or on the WeChat
//! the configuration names.

use url::Url;
use wechat_sandbox::defaults::OFFICIAL_APPID;

use crate::support::{Server, World, approve, bare_command, query, run};

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
