//! Two OS processes share one Redis store and hammer `get_user` on the same expired token:
//! one refresh per expiry (see `wechat_oauth::store::conformance::two_process`).

use wechat_oauth::Stores;
use wechat_oauth::store::conformance::two_process::{
    Job, assert_one_refresh_per_expiry, run_worker,
};
use wechat_oauth::store::conformance::{self, Server, connected_or_skip};
use wechat_oauth_redis::{RedisOptions, RedisStore};
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};

/// This binary, re-executed, runs only this test as the second process.
const WORKER: &str = "two_process::second_process_entry_point";

/// The second process's body; in an ordinary run (no job in the environment) it does
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_process_entry_point() {
    run_worker(|prefix| async move { open(&prefix).await.unwrap() }).await;
}

async fn open(prefix: &str) -> Result<Stores, wechat_oauth::StoreError> {
    let options = RedisOptions::new().prefix(prefix);
    Ok(conformance::tokens_and_leases(
        RedisStore::connect_with(&Server::Redis.url(), options).await?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_redis_refresh_once_per_expiry() {
    let _server = crate::store::SERVER.read().await;
    let prefix = format!("{}:", conformance::unique_namespace("redis2p"));
    let Some(store) = connected_or_skip(Server::Redis, open(&prefix).await) else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let job = Job {
        sandbox_url: sandbox.url().to_owned(),
        appid: OFFICIAL_APPID.into(),
        secret: OFFICIAL_SECRET.into(),
        store: prefix,
        openid: sandbox.openid(OFFICIAL_APPID, "alice"),
        callers: 40,
    };
    assert_one_refresh_per_expiry(job, "alice", store, WORKER, 2).await;
}
