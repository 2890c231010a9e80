//! `authorize-url`: URLs that the sandbox's consent flow accepts.

use url::Url;
use wechat_sandbox::defaults::{OFFICIAL_APPID, WEBSITE_APPID, WEBSITE_SECRET};

use crate::support::{World, approve, bare_command, query, run};

/// Runs `authorize-url --redirect-uri REDIRECT EXTRA…` against the sandbox; returns the URL.
async fn authorize_url(world: &World, redirect: &str, extra: &[&str]) -> Url {
    let mut args = vec!["authorize-url", "--redirect-uri", redirect];
    args.extend_from_slice(extra);
    let out = world.run(&args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    Url::parse(out.stdout.trim_end()).unwrap()
}

#[tokio::test]
async fn authorize_url_defaults_to_snsapi_base_and_a_fresh_state() {
    let world = World::new().await;

    let url = authorize_url(&world, "https://app.example/cb?x=1", &[]).await;
    let other = authorize_url(&world, "https://app.example/cb?x=1", &[]).await;

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
    assert_ne!(
        query(&other, "state").unwrap(),
        state,
        "states must not repeat"
    );
}

#[tokio::test]
async fn authorize_url_takes_scope_and_state() {
    let world = World::new().await;

    let url = authorize_url(
        &world,
        "https://app.example/cb",
        &["--scope", "snsapi_userinfo", "--state", "abc123"],
    )
    .await;

    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_userinfo"));
    assert_eq!(query(&url, "state").as_deref(), Some("abc123"));
}

#[tokio::test]
async fn authorize_url_for_a_website_uses_qrconnect() {
    let world = World::new().await;

    let url = authorize_url(&world, "https://app.example/cb", &["--website"]).await;

    assert_eq!(url.path(), "/connect/qrconnect");
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_login"));
}

#[tokio::test]
async fn website_with_wechats_own_scope_name_snsapi_login_completes_a_website_login() {
    let world = World::new().await;
    let out = world
        .run_with(
            "WECHAT_APPID",
            Some(WEBSITE_APPID),
            &[
                "authorize-url",
                "--redirect-uri",
                "http://localhost:8000/cb",
                "--website",
                "--scope",
                "snsapi_login",
                "--state",
                "w1",
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let url = Url::parse(out.stdout.trim_end()).unwrap();
    assert_eq!(url.path(), "/connect/qrconnect");
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_login"));

    let callback = approve(url.as_str(), "bob").await;
    let code = query(&callback, "code").unwrap();
    let mut exchange = world.command(&["exchange", "--code", &code]);
    exchange
        .env("WECHAT_APPID", WEBSITE_APPID)
        .env("WECHAT_SECRET", WEBSITE_SECRET);
    let token = run(exchange).await.json();

    assert_eq!(token["scope"], "snsapi_login");
    assert_eq!(token["openid"], world.sandbox.openid(WEBSITE_APPID, "bob"));
}

#[tokio::test]
async fn scope_snsapi_login_alone_selects_the_website_page() {
    let world = World::new().await;

    let url = authorize_url(
        &world,
        "https://app.example/cb",
        &["--scope", "snsapi_login"],
    )
    .await;

    assert_eq!(url.path(), "/connect/qrconnect");
    assert_eq!(query(&url, "scope").as_deref(), Some("snsapi_login"));
}

#[tokio::test]
async fn website_with_an_official_account_scope_is_a_usage_error() {
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

    out.assert_failed_with(2);
    assert!(out.stderr.contains("snsapi_login"), "{out:#?}");
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
    // Without a configured callback domain the sandbox accepts loopback redirect URIs only.
    let url = authorize_url(
        &world,
        "http://localhost:8000/cb",
        &["--scope", "snsapi_userinfo", "--state", "s1"],
    )
    .await;

    let callback = approve(url.as_str(), "alice").await;
    assert_eq!(query(&callback, "state").as_deref(), Some("s1"));
    let code = query(&callback, "code").unwrap();
    let token = world.run(&["exchange", "--code", &code]).await.json();

    assert_eq!(token["openid"], world.openid("alice"));
    assert_eq!(token["scope"], "snsapi_userinfo");
}
