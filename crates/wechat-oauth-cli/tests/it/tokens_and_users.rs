//! `exchange`, `user`, `refresh`, `verify`, `user-by-code` against the in-process sandbox.

use std::time::Duration;

use crate::support::World;

#[tokio::test]
async fn exchange_saves_the_token_and_prints_it_redacted() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_userinfo");

    let token = world.run(&["exchange", "--code", &code]).await.json();

    assert_eq!(token["openid"], world.openid("alice"));
    assert_eq!(token["scope"], "snsapi_userinfo");
    assert_eq!(token["access_token"], "[redacted]");
    assert_eq!(token["refresh_token"], "[redacted]");
    assert_eq!(token["expires_in"], 7200);
    // Saved: the store holds the real values.
    let openid = world.openid("alice");
    let stored = world.stored(&openid).await;
    let access_token = stored["access_token"].as_str().unwrap();
    assert!(access_token.len() > 10 && access_token != "[redacted]");
    assert_eq!(stored["create_at"], token["create_at"]);
}

#[tokio::test]
async fn exchange_with_show_secrets_prints_the_stored_tokens() {
    let world = World::new().await;
    let token = world.log_in("alice").await;
    let openid = token["openid"].as_str().unwrap();

    let stored = world.stored(openid).await;

    assert_eq!(stored["access_token"], token["access_token"]);
    assert_eq!(stored["refresh_token"], token["refresh_token"]);
}

#[tokio::test]
async fn exchange_of_an_unknown_code_exits_with_the_wechat_status() {
    let world = World::new().await;

    let run = world.run(&["exchange", "--code", "no-such-code"]).await;

    run.assert_failed_with(3);
    assert!(run.stderr.contains("40029"), "{run:#?}");
    assert!(
        !run.mentions("no-such-code"),
        "the code was echoed: {run:#?}"
    );
}

#[tokio::test]
async fn exchange_of_a_used_code_exits_with_the_wechat_status() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");
    assert_eq!(world.run(&["exchange", "--code", &code]).await.code, 0);

    let run = world.run(&["exchange", "--code", &code]).await;

    run.assert_failed_with(3);
    assert!(run.stderr.contains("40163"), "{run:#?}");
}

#[tokio::test]
async fn user_prints_the_profile_using_the_stored_token() {
    let world = World::new().await;
    let openid = world.logged_in("bob").await;

    let user = world.run(&["user", "--openid", &openid]).await.json();

    assert_eq!(user["openid"], openid);
    assert!(
        user["nickname"].as_str().is_some_and(|n| !n.is_empty()),
        "{user}"
    );
    assert_eq!(user["unionid"], world.sandbox.unionid("bob"));
    assert_eq!(
        world.last_param("/sns/userinfo", "lang").as_deref(),
        Some("zh_CN")
    );
}

#[tokio::test]
async fn user_passes_the_requested_language() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;

    world
        .run(&["user", "--openid", &openid, "--lang", "en"])
        .await
        .json();

    assert_eq!(
        world.last_param("/sns/userinfo", "lang").as_deref(),
        Some("en")
    );
}

#[tokio::test]
async fn user_with_an_unknown_language_is_a_usage_error() {
    let world = World::new().await;

    let run = world.run(&["user", "--openid", "o1", "--lang", "fr"]).await;

    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(world.hits("/sns/userinfo"), 0);
}

#[tokio::test]
async fn user_for_an_openid_without_a_token_exits_no_token() {
    let world = World::new().await;

    let run = world.run(&["user", "--openid", "o-unknown"]).await;

    run.assert_failed_with(4);
    assert!(run.stderr.contains("o-unknown"), "{run:#?}");
    assert_eq!(world.hits("/sns/userinfo"), 0);
}

#[tokio::test]
async fn refresh_replaces_the_stored_token() {
    let world = World::new().await;
    let before = world.log_in("alice").await;
    let openid = before["openid"].as_str().unwrap();
    // Before expiry WeChat hands back the same access token with a longer life
    // (docs/protocol.md §3.2); after it, a new one.
    world.sandbox.advance_clock(Duration::from_secs(7300));

    let after = world
        .run(&["refresh", "--openid", openid, "--show-secrets"])
        .await
        .json();

    assert_ne!(after["access_token"], before["access_token"]);
    assert_eq!(after["openid"], before["openid"]);
    let stored = world.stored(openid).await;
    assert_eq!(stored["access_token"], after["access_token"]);
    assert!(stored["create_at"].as_i64() > before["create_at"].as_i64());
    assert_eq!(world.hits("/sns/oauth2/refresh_token"), 1);
}

#[tokio::test]
async fn refresh_prints_redacted_tokens_by_default() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;

    let run = world.run(&["refresh", "--openid", &openid]).await;

    let token = run.json();
    assert_eq!(token["access_token"], "[redacted]");
    assert_eq!(token["refresh_token"], "[redacted]");
    let stored = world.stored(&openid).await;
    for key in ["access_token", "refresh_token"] {
        assert!(
            !run.mentions(stored[key].as_str().unwrap()),
            "{key} leaked: {run:#?}"
        );
    }
}

#[tokio::test]
async fn refresh_with_a_dead_refresh_token_exits_with_the_wechat_status() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;
    // Refresh tokens live 30 days (docs/protocol.md §3.5).
    world
        .sandbox
        .advance_clock(Duration::from_secs(31 * 24 * 3600));

    let run = world.run(&["refresh", "--openid", &openid]).await;

    run.assert_failed_with(3);
    assert!(run.stderr.contains("authorize again"), "{run:#?}");
}

#[tokio::test]
async fn refresh_for_an_openid_without_a_token_exits_no_token() {
    let world = World::new().await;

    world
        .run(&["refresh", "--openid", "o-unknown"])
        .await
        .assert_failed_with(4);
    assert_eq!(world.hits("/sns/oauth2/refresh_token"), 0);
}

#[tokio::test]
async fn verify_reports_a_live_token_as_valid() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;

    let status = world.run(&["verify", "--openid", &openid]).await.json();

    assert_eq!(status["valid"], true);
    assert_eq!(status["openid"], openid.as_str());
    assert_eq!(world.hits("/sns/auth"), 1);
}

#[tokio::test]
async fn verify_reports_an_expired_token_as_invalid_and_exits_non_zero() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;
    world.sandbox.advance_clock(Duration::from_secs(7300));

    let run = world.run(&["verify", "--openid", &openid]).await;

    assert_eq!(run.code, 3, "{run:#?}");
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["valid"], false);
    assert_eq!(status["errcode"], 42001);
}

#[tokio::test]
async fn verify_for_an_openid_without_a_token_exits_no_token() {
    let world = World::new().await;

    world
        .run(&["verify", "--openid", "o-unknown"])
        .await
        .assert_failed_with(4);
}

#[tokio::test]
async fn user_by_code_prints_the_profile_and_saves_the_token() {
    let world = World::new().await;
    let code = world.code("bob", "snsapi_userinfo");

    let user = world.run(&["user-by-code", "--code", &code]).await.json();

    assert_eq!(user["openid"], world.openid("bob"));
    let openid = world.openid("bob");
    assert_eq!(
        world.run(&["token", "get", "--openid", &openid]).await.code,
        0
    );
}

#[tokio::test]
async fn user_by_code_with_a_bad_code_exits_with_the_wechat_status() {
    let world = World::new().await;

    let run = world.run(&["user-by-code", "--code", "bogus"]).await;

    run.assert_failed_with(3);
    assert_eq!(world.hits("/sns/userinfo"), 0);
}

#[tokio::test]
async fn user_by_code_with_a_snsapi_base_code_explains_the_missing_scope() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");

    let run = world.run(&["user-by-code", "--code", &code]).await;

    run.assert_failed_with(3);
    assert!(run.stderr.contains("48001"), "{run:#?}");
    assert!(run.stderr.contains("--scope snsapi_userinfo"), "{run:#?}");
}
