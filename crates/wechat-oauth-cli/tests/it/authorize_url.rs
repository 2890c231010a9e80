//! `authorize-url`: URLs that the sandbox's consent flow accepts.

use url::Url;
use wechat_sandbox::defaults::OFFICIAL_APPID;

use crate::support::{World, bare_command, run};

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn authorize_url_defaults_to_snsapi_base_and_a_fresh_state() {
    let world = World::new().await;
    let args = [
        "authorize-url",
        "--redirect-uri",
        "https://app.example/cb?x=1",
    ];

    let first = world.run(&args).await;
    let second = world.run(&args).await;

    assert_eq!(first.code, 0, "{first:#?}");
    let url = Url::parse(first.stdout.trim_end()).unwrap();
    assert!(url.as_str().starts_with(world.sandbox.url()), "{url}");
    assert_eq!(url.path(), "/connect/oauth2/authorize");
    assert_eq!(url.fragment(), Some("wechat_redirect"));
    assert_eq!(query(&url, "appid").as_deref(), Some(OFFICIAL_APPID));
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_base"));
    assert_eq!(
        query(&url, "redirect_uri").as_deref(),
        Some("https://app.example/cb?x=1")
    );
    let state = query(&url, "state").unwrap();
    assert!(state.len() >= 16 && state.chars().all(|c| c.is_ascii_alphanumeric()));
    let other = Url::parse(second.stdout.trim_end()).unwrap();
    assert_ne!(
        query(&other, "state").unwrap(),
        state,
        "states must not repeat"
    );
}

#[tokio::test]
async fn authorize_url_takes_scope_and_state() {
    let world = World::new().await;

    let out = world
        .run(&[
            "authorize-url",
            "--redirect-uri",
            "https://app.example/cb",
            "--scope",
            "snsapi_userinfo",
            "--state",
            "abc123",
        ])
        .await;

    let url = Url::parse(out.stdout.trim_end()).unwrap();
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_userinfo"));
    assert_eq!(query(&url, "state").as_deref(), Some("abc123"));
}

#[tokio::test]
async fn authorize_url_for_a_website_uses_qrconnect() {
    let world = World::new().await;

    let out = world
        .run(&[
            "authorize-url",
            "--redirect-uri",
            "https://app.example/cb",
            "--website",
        ])
        .await;

    let url = Url::parse(out.stdout.trim_end()).unwrap();
    assert_eq!(url.path(), "/connect/qrconnect");
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_login"));
}

#[tokio::test]
async fn website_and_scope_together_are_a_usage_error() {
    let world = World::new().await;

    let out = world
        .run(&[
            "authorize-url",
            "--redirect-uri",
            "https://app.example/cb",
            "--website",
            "--scope",
            "snsapi_userinfo",
        ])
        .await;

    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn authorize_url_needs_only_the_appid() {
    let mut command = bare_command();
    command.env("WECHAT_APPID", OFFICIAL_APPID).args([
        "authorize-url",
        "--redirect-uri",
        "https://app.example/cb",
    ]);

    let out = run(command).await;

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .starts_with("https://open.weixin.qq.com/connect/oauth2/authorize?")
    );
}

#[tokio::test]
async fn authorize_url_without_an_appid_is_a_usage_error() {
    let mut command = bare_command();
    command.args(["authorize-url", "--redirect-uri", "https://app.example/cb"]);

    let out = run(command).await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_APPID"), "{out:#?}");
}

#[tokio::test]
async fn the_printed_url_completes_a_login_that_exchange_finishes() {
    let world = World::new().await;
    let out = world
        .run(&[
            "authorize-url",
            "--redirect-uri",
            "http://localhost:8000/cb",
            "--scope",
            "snsapi_userinfo",
            "--state",
            "s1",
        ])
        .await;
    // The sandbox's scripted approval answers the redirect directly. Without a configured
    // callback domain it accepts loopback redirect URIs only.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(out.stdout.trim_end())
        .header("X-Sandbox-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&location, "state").as_deref(), Some("s1"));
    let code = query(&location, "code").unwrap();

    let token = world.run(&["exchange", "--code", &code]).await.json();

    assert_eq!(token["openid"], world.openid("alice"));
    assert_eq!(token["scope"], "snsapi_userinfo");
}
