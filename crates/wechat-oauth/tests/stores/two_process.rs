//! Two OS processes share one directory ([`FileStore`]): a Mini Program session made in
//! one is used in the other, and an expired user token or server access token costs one
//! request to WeChat however many calls in both processes need it.

use wechat_oauth::store::{FileStore, Stores};
use wechat_oauth_test_support::two_process::{
    Shared, assert_mini_program_session_is_shared, assert_one_refresh_per_expiry,
    assert_one_server_token_fetch_per_expiry, run_worker,
};
use wechat_sandbox::Sandbox;

/// This binary, re-executed, runs only this test as a worker process.
const WORKER: &str = "two_process::worker_entry_point";

async fn open(dir: &str) -> Stores {
    Stores::new(FileStore::open(dir).await.unwrap())
}

/// A worker process's body; in an ordinary run (no job in the environment) it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_entry_point() {
    run_worker(|dir| async move { open(&dir).await }).await;
}

async fn setup() -> (Sandbox, tempfile::TempDir, Shared) {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(sandbox.url(), dir.path().display().to_string(), WORKER);
    (sandbox, dir, shared)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_through_files() {
    let (_sandbox, _dir, shared) = setup().await;
    let stores = open(&shared.store).await;
    assert_mini_program_session_is_shared(&shared, stores, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_through_files() {
    let (_sandbox, _dir, shared) = setup().await;
    let stores = open(&shared.store).await;
    assert_one_server_token_fetch_per_expiry(&shared, stores, 1_000, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_a_user_token_once_per_expiry_through_files() {
    let (_sandbox, _dir, shared) = setup().await;
    let stores = open(&shared.store).await;
    assert_one_refresh_per_expiry(&shared, stores, "alice", 40, 2).await;
}
