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
        .env_remove("WECHAT_TOKEN_STORE")
        .current_dir(world.dir.path());

    let out = crate::support::run(command).await;

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(world.dir.path().join("wechat-oauth.db").exists());
}
