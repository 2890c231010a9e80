//! `wechat-oauth sandbox`: the sandbox as a separate process, driven over HTTP.

use tokio::process::Command;

use crate::support::{Server, approve, bare_command, query, run};

/// `wechat-oauth sandbox --listen 127.0.0.1:0 FLAGS…`
fn sandbox(flags: &[&str]) -> Command {
    let mut command = bare_command();
    command
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .args(flags);
    command
}

#[tokio::test]
async fn the_sandbox_subcommand_serves_a_login_that_user_by_code_completes() {
    let command = sandbox(&[
        "--app",
        "wx00000000000000aa:custom-secret",
        "--user",
        "carol",
        "--threads",
        "1",
    ]);
    let server = Server::spawn(command, "listening on ").await;
    let authorize = format!(
        "{}/connect/oauth2/authorize?appid=wx00000000000000aa\
         &redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Fcb&response_type=code\
         &scope=snsapi_userinfo&state=s#wechat_redirect",
        server.url
    );
    let code = query(&approve(&authorize, "carol").await, "code").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut user_by_code = bare_command();
    user_by_code
        .env("WECHAT_APPID", "wx00000000000000aa")
        .env("WECHAT_SECRET", "custom-secret")
        .env("WECHAT_API_BASE", &server.url)
        .env(
            "WECHAT_TOKEN_STORE",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .args(["user-by-code", "--code", &code]);

    let user = run(user_by_code).await.json();

    assert!(
        user["openid"].as_str().is_some_and(|o| !o.is_empty()),
        "{user}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_a_malformed_app() {
    run(sandbox(&["--app", "no-secret-here"]))
        .await
        .assert_failed_with(2);
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_an_unknown_user_flag() {
    let out = run(sandbox(&["--user", "dave:admin"])).await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("snapshot"), "{out:#?}");
}

#[tokio::test]
async fn the_sandbox_subcommand_rejects_zero_threads() {
    let out = run(sandbox(&["--threads", "0"])).await;

    assert_eq!(out.code, 2, "{out:#?}");
}
