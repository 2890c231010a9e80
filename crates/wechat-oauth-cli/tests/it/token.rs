//! `token get|delete` on SQLite and file stores, which persist between runs.

use crate::support::World;

#[tokio::test]
async fn token_get_prints_the_stored_token_redacted() {
    let world = World::new().await;
    let token = world.log_in("alice").await;
    let openid = token["openid"].as_str().unwrap();

    let out = world.run(&["token", "get", "--openid", openid]).await;

    let stored = out.json();
    assert_eq!(stored["openid"], openid);
    assert_eq!(stored["access_token"], "[redacted]");
    assert_eq!(stored["refresh_token"], "[redacted]");
    assert_eq!(stored["scope"], "snsapi_userinfo");
    assert!(!out.mentions(token["access_token"].as_str().unwrap()));
    assert!(!out.mentions(token["refresh_token"].as_str().unwrap()));
}

#[tokio::test]
async fn token_get_for_an_unknown_openid_exits_no_token() {
    let world = World::new().await;

    let out = world.run(&["token", "get", "--openid", "o-unknown"]).await;

    out.assert_failed_with(4);
}

#[tokio::test]
async fn token_delete_removes_the_token() {
    let world = World::new().await;
    let openid = world.logged_in("alice").await;

    let deleted = world
        .run(&["token", "delete", "--openid", &openid])
        .await
        .json();

    assert_eq!(deleted["deleted"], true);
    world
        .run(&["token", "get", "--openid", &openid])
        .await
        .assert_failed_with(4);
    world
        .run(&["user", "--openid", &openid])
        .await
        .assert_failed_with(4);
}

#[tokio::test]
async fn token_delete_of_an_unknown_openid_succeeds_and_says_so() {
    let world = World::new().await;

    let deleted = world
        .run(&["token", "delete", "--openid", "o-unknown"])
        .await
        .json();

    assert_eq!(deleted["deleted"], false);
}

#[tokio::test]
async fn a_file_store_keeps_tokens_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("file://{}", dir.path().join("tokens").display());
    let world = World::with_store(dir, store_url).await;
    let openid = world.logged_in("bob").await;

    let user = world.run(&["user", "--openid", &openid]).await.json();

    assert_eq!(user["openid"], openid);
    let stored = world
        .run(&["token", "get", "--openid", &openid])
        .await
        .json();
    assert_eq!(stored["openid"], openid);
}

#[tokio::test]
async fn the_default_store_is_a_sqlite_file_in_the_working_directory() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");
    let mut command = world.command(&["exchange", "--code", &code]);
    command
        .env_remove("WECHAT_STORE")
        .current_dir(world.dir.path());

    let out = crate::support::run(command).await;

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(world.dir.path().join("wechat-oauth-tokens.db").exists());
}

/// The database servers of `scripts/services.sh`, by the variable naming each one's URL.
const SERVER_STORES: [&str; 4] = [
    "WECHAT_TEST_POSTGRES_URL",
    "WECHAT_TEST_MYSQL_URL",
    "WECHAT_TEST_REDIS_URL",
    "WECHAT_TEST_MONGODB_URL",
];

#[tokio::test]
async fn server_stores_keep_tokens_between_runs() {
    for var in SERVER_STORES {
        let Ok(store_url) = std::env::var(var) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set under CI=true: source scripts/services.sh"
            );
            eprintln!("SKIPPED the CLI on {var}: not set (source scripts/services.sh)");
            continue;
        };
        // A user of its own, so the openid collides with no other test sharing the server.
        let user = format!("cli-{}", wechat_oauth::new_state());
        let sandbox = wechat_sandbox::Sandbox::builder().user(&user);
        let world = World::with_sandbox(sandbox, tempfile::tempdir().unwrap(), store_url).await;

        let openid = world.logged_in(&user).await;
        let stored = world.run(&["token", "get", "--openid", &openid]).await;
        let deleted = world.run(&["token", "delete", "--openid", &openid]).await;
        let gone = world.run(&["token", "get", "--openid", &openid]).await;

        assert_eq!(stored.json()["openid"], openid.as_str(), "{var}");
        assert_eq!(deleted.json()["deleted"], true, "{var}");
        gone.assert_failed_with(4);
    }
}

#[tokio::test]
async fn a_memory_store_warns_that_it_forgets() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_base");

    let out = world
        .run_with(
            "WECHAT_STORE",
            Some("memory:"),
            &["exchange", "--code", &code],
        )
        .await;

    assert_eq!(out.json()["openid"], world.openid("alice"));
    assert!(out.stderr.contains("forgets"), "{out:#?}");
}
