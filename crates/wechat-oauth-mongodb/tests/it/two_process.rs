//! Two OS processes share one MongoDB store: a Mini Program session made in one is used in
//! the other, and an expired user token or server access token costs one request to WeChat
//! however many calls in both processes need it (see
//! `wechat_oauth_test_support::two_process`).

use mongodb::bson::doc;
use wechat_oauth::Stores;
use wechat_oauth_mongodb::{MongoOptions, MongoStore};
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
    run_worker(|ns| async move { Stores::new(open(&ns).await.unwrap()) }).await;
}

/// The store whose collections start with `ns`.
async fn open(ns: &str) -> Result<MongoStore, wechat_oauth::StoreError> {
    let options = MongoOptions::new()
        .database("wechat_oauth_test")
        .collection(format!("{ns}_tokens"))
        .lease_collection(format!("{ns}_leases"));
    MongoStore::connect_with(&Server::MongoDb.url(), options).await
}

/// Runs `scenario` over a fresh namespace, then empties its collections (the test server
/// has no `drop`); skips without a MongoDB outside CI.
async fn with_store<F, Fut>(label: &str, scenario: F)
where
    F: FnOnce(Shared, Stores) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ns = unique_namespace(label).replace('-', "_");
    let Some(store) = connected_or_skip(Server::MongoDb, open(&ns).await) else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let shared = Shared::new(sandbox.url(), ns, WORKER);
    scenario(shared, Stores::new(store.clone())).await;
    store.collection().delete_many(doc! {}).await.unwrap();
    store.state_collection().delete_many(doc! {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_in_mongodb() {
    with_store("mongomp", |shared, stores| async move {
        assert_mini_program_session_is_shared(&shared, stores, "alice").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_from_mongodb() {
    with_store("mongost", |shared, stores| async move {
        assert_one_server_token_fetch_per_expiry(&shared, stores, 1_000, 2).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_mongodb_refresh_once_per_expiry() {
    with_store("mongo2p", |shared, stores| async move {
        assert_one_refresh_per_expiry(&shared, stores, "alice", 40, 2).await;
    })
    .await;
}
