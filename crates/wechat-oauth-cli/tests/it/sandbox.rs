//! `wechat-oauth sandbox`: the sandbox as a separate process, driven over HTTP.

use url::Url;

use crate::support::{Server, bare_command};

/// Approves `scope` for `user` through the sandbox's scripted consent and returns the code.
async fn approve(base: &str, appid: &str, user: &str) -> String {
    let authorize = format!(
        "{base}/connect/oauth2/authorize?appid={appid}&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb\
         &response_type=code&scope=snsapi_userinfo&state=s#wechat_redirect"
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize)
        .header("X-Sandbox-User", user)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn the_sandbox_subcommand_serves_a_login_that_exchange_completes() {
    let mut command = bare_command();
    command.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--app",
        "wx00000000000000aa:custom-secret",
        "--user",
        "carol",
    ]);
    let server = Server::spawn(command, "listening on ").await;
    let code = approve(&server.url, "wx00000000000000aa", "carol").await;
    let dir = tempfile::tempdir().unwrap();
    let mut exchange = bare_command();
    exchange
        .env("WECHAT_APPID", "wx00000000000000aa")
        .env("WECHAT_SECRET", "custom-secret")
        .env("WECHAT_API_BASE", &server.url)
        .env(
            "WECHAT_TOKEN_STORE",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .args(["user-by-code", "--code", &code]);

    let user = crate::support::run(exchange).await.json();

    assert!(
        user["openid"].as_str().is_some_and(|o| !o.is_empty()),
        "{user}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_a_malformed_app() {
    let mut command = bare_command();
    command.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--app",
        "no-secret-here",
    ]);

    let out = crate::support::run(command).await;

    assert_eq!(out.code, 2, "{out:#?}");
}
