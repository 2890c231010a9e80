//! Two OS processes share one Redis store: a Mini Program session made in one is used in
//! the other, and an expired user token or server access token costs one request to WeChat
//! however many calls in both processes need it (see
//! `wechat_oauth_test_support::two_process`).

use wechat_oauth::Stores;
use wechat_oauth_redis::{RedisOptions, RedisStore};
use wechat_oauth_test_support::two_process::{
    Shared, assert_mini_program_session_is_shared, assert_one_refresh_per_expiry,
    assert_one_server_token_fetch_per_expiry, run_worker,
};
use wechat_oauth_test_support::{Server, connected_or_skip, unique_namespace};
use wechat_sandbox::Sandbox;

/// This binary, re-executed, runs only this test as a worker process.
const WORKER: &str = "two_process::worker_entry_point";

/// A worker process's body; in an ordinary run (no job in the environment) it does
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_entry_point() {
    run_worker(|prefix| async move { open(&prefix).await.unwrap() }).await;
}

/// Every kind of state under the key prefix `prefix`.
async fn open(prefix: &str) -> Result<Stores, wechat_oauth::StoreError> {
    let options = RedisOptions::new().prefix(prefix);
    Ok(Stores::new(
        RedisStore::connect_with(&Server::Redis.url(), options).await?,
    ))
}

/// A sandbox and a fresh key prefix, or `None` (the test skips) without a Redis outside CI.
async fn setup(label: &str) -> Option<(Sandbox, Shared, Stores)> {
    let prefix = format!("{}:", unique_namespace(label));
    let stores = connected_or_skip(Server::Redis, open(&prefix).await)?;
    let sandbox = Sandbox::builder().start().await.unwrap();
    let shared = Shared::new(sandbox.url(), prefix, WORKER);
    Some((sandbox, shared, stores))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_in_redis() {
    let Some((_sandbox, shared, stores)) = setup("redismp").await else {
        return;
    };
    assert_mini_program_session_is_shared(&shared, stores, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_from_redis() {
    let Some((_sandbox, shared, stores)) = setup("redisst").await else {
        return;
    };
    assert_one_server_token_fetch_per_expiry(&shared, stores, 1_000, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_redis_refresh_once_per_expiry() {
    let Some((_sandbox, shared, stores)) = setup("redis2p").await else {
        return;
    };
    assert_one_refresh_per_expiry(&shared, stores, "alice", 40, 2).await;
}
