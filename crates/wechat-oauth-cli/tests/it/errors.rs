//! Failures: usage errors, an unreachable or broken WeChat, and secrets kept out of every
//! line the binary prints.

use std::time::Duration;

use wechat_sandbox::Fault;
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};

use crate::support::{World, bare_command, run};

#[tokio::test]
async fn a_command_that_calls_wechat_without_a_secret_is_a_usage_error() {
    let world = World::new().await;
    let out = world
        .run_with("WECHAT_SECRET", None, &["exchange", "--code", "c"])
        .await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_SECRET"), "{out:#?}");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 0);
}

#[tokio::test]
async fn a_command_that_calls_wechat_without_an_appid_is_a_usage_error() {
    let world = World::new().await;
    let out = world
        .run_with("WECHAT_APPID", None, &["user", "--openid", "o1"])
        .await;

    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_APPID"), "{out:#?}");
}

#[tokio::test]
async fn an_invalid_api_base_is_a_usage_error() {
    let world = World::new().await;
    world
        .run_with(
            "WECHAT_API_BASE",
            Some("not a url"),
            &["exchange", "--code", "c"],
        )
        .await
        .assert_failed_with(2);
}

#[tokio::test]
async fn a_missing_subcommand_is_a_usage_error() {
    let out = run(bare_command()).await;

    assert_eq!(out.code, 2, "{out:#?}");
}

#[tokio::test]
async fn an_unreachable_api_base_exits_with_the_network_status() {
    let world = World::new().await;
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let out = world
        .run_with("WECHAT_API_BASE", Some(&base), &["exchange", "--code", "c"])
        .await;

    out.assert_failed_with(5);
    assert!(!out.mentions(OFFICIAL_SECRET), "{out:#?}");
}

#[tokio::test]
async fn an_html_error_page_exits_with_the_network_status() {
    let world = World::new().await;
    world
        .sandbox
        .inject_fault("/sns/oauth2/access_token", Fault::Html502);
    let code = world.code("alice", "snsapi_base");

    let out = world.run(&["exchange", "--code", &code]).await;

    out.assert_failed_with(5);
}

#[tokio::test]
async fn a_slow_wechat_times_out_with_the_network_status() {
    let world = World::new().await;
    world.sandbox.inject_fault(
        "/sns/oauth2/access_token",
        Fault::Delay(Duration::from_secs(5)),
    );
    let code = world.code("alice", "snsapi_base");

    let out = world
        .run(&["exchange", "--code", &code, "--timeout", "1"])
        .await;

    out.assert_failed_with(5);
    assert!(out.stderr.contains("timed out"), "{out:#?}");
}

#[tokio::test]
async fn a_busy_wechat_exits_with_the_network_status() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;
    // Busy on the first try and on both retries the SDK makes.
    for _ in 0..3 {
        world
            .sandbox
            .inject_fault("/sns/oauth2/refresh_token", Fault::ErrCode(-1));
    }

    let out = world.run(&["refresh", "--openid", &openid]).await;

    // -1 is a hiccup, not a refusal: the "try again later" status.
    out.assert_failed_with(5);
    assert!(out.stderr.contains("WeChat error -1"), "{out:#?}");
    assert_eq!(world.hits("/sns/oauth2/refresh_token"), 3);
}

#[tokio::test]
async fn an_unreachable_token_store_exits_with_the_store_status() {
    let world = World::new().await;
    // Port 1 on localhost refuses connections.
    world
        .run_with(
            "WECHAT_STORE",
            Some("redis://127.0.0.1:1/"),
            &["token", "get", "--openid", "o1"],
        )
        .await
        .assert_failed_with(6);
}

#[tokio::test]
async fn an_unknown_store_scheme_is_a_usage_error() {
    let world = World::new().await;
    world
        .run_with(
            "WECHAT_STORE",
            Some("carrier-pigeon://coop"),
            &["token", "get", "--openid", "o1"],
        )
        .await
        .assert_failed_with(2);
}

#[tokio::test]
async fn the_app_secret_never_appears_in_output_or_help() {
    let world = World::new().await;
    let token = world.log_in("alice").await;
    let openid = token["openid"].as_str().unwrap();
    let code = world.code("bob", "snsapi_userinfo");
    let runs = [
        world.run(&["--help"]).await,
        world.run(&["exchange", "--help"]).await,
        world
            .run(&["exchange", "--code", &code, "--show-secrets"])
            .await,
        world
            .run(&["exchange", "--code", &code, "--show-secrets"])
            .await,
        world.run(&["user", "--openid", openid]).await,
        world
            .run(&["refresh", "--openid", openid, "--show-secrets"])
            .await,
        world
            .run(&["token", "get", "--openid", openid, "--show-secrets"])
            .await,
        world
            .run(&["authorize-url", "--redirect-uri", "https://a.example/"])
            .await,
    ];
    for out in &runs {
        assert!(
            !out.mentions(OFFICIAL_SECRET),
            "the app secret leaked: {out:#?}"
        );
    }
    // The secret given as a flag is not echoed by a usage error either: a missing flag,
    // the flag before the subcommand, or on a subcommand that takes no secret.
    let secret_flag = format!("--secret={OFFICIAL_SECRET}");
    let usage_errors: [&[&str]; 4] = [
        &[
            "exchange",
            "--secret",
            OFFICIAL_SECRET,
            "--appid",
            OFFICIAL_APPID,
        ],
        &["--secret", OFFICIAL_SECRET, "exchange", "--code", "c"],
        &["sandbox", &secret_flag],
        &["token", "get", "--openid", "o", "--secret", OFFICIAL_SECRET],
    ];
    for args in usage_errors {
        let mut command = bare_command();
        command.args(args);
        let out = run(command).await;
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert!(!out.mentions(OFFICIAL_SECRET), "{out:#?}");
    }
}

#[tokio::test]
async fn failed_commands_never_print_tokens_or_codes() {
    let world = World::new().await;
    let token = world.log_in("alice").await;
    let openid = token["openid"].as_str().unwrap();
    let access_token = token["access_token"].as_str().unwrap();
    let refresh_token = token["refresh_token"].as_str().unwrap();
    world
        .sandbox
        .inject_fault("/sns/oauth2/refresh_token", Fault::TruncatedJson);
    world.sandbox.advance_clock(Duration::from_secs(7300));
    let code = world.code("bob", "snsapi_base");
    world
        .sandbox
        .inject_fault("/sns/oauth2/access_token", Fault::ErrCode(40029));

    let runs = [
        (5, world.run(&["refresh", "--openid", openid]).await),
        (3, world.run(&["verify", "--openid", openid]).await),
        (3, world.run(&["exchange", "--code", &code]).await),
    ];

    for (expected, out) in &runs {
        assert_eq!(out.code, *expected, "{out:#?}");
        for secret in [access_token, refresh_token, code.as_str(), OFFICIAL_SECRET] {
            assert!(!out.mentions(secret), "a secret leaked: {out:#?}");
        }
    }
}
