//! Two OS processes share one SQL store and hammer `get_user` on the same expired token:
//! one refresh per expiry (see `wechat_oauth::store::conformance::two_process`).

use wechat_oauth::store::conformance::tokens_and_leases;
use wechat_oauth::store::conformance::two_process::{
    Job, assert_one_refresh_per_expiry, run_worker,
};
use wechat_oauth_sqlx::SqliteStore;
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};

/// This binary, re-executed, runs only this test as the second process.
const WORKER: &str = "two_process::second_process_entry_point";

/// The second process's body; in an ordinary run (no job in the environment) it does
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_process_entry_point() {
    run_worker(|spec| async move { open(&spec).await }).await;
}

/// The store spec shared with the worker: `<table>|<url>`.
async fn open(spec: &str) -> wechat_oauth::Stores {
    let (table, url) = spec.split_once('|').unwrap();
    let options = wechat_oauth_sqlx::SqlOptions::new().table(table);
    if url.starts_with("sqlite:") {
        return tokens_and_leases(SqliteStore::connect_with(url, options).await.unwrap());
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") {
        return tokens_and_leases(
            wechat_oauth_sqlx::PostgresStore::connect_with(url, options)
                .await
                .unwrap(),
        );
    }
    panic!("unsupported store spec {spec}");
}

async fn job(sandbox: &Sandbox, store: String) -> Job {
    Job {
        sandbox_url: sandbox.url().to_owned(),
        appid: OFFICIAL_APPID.into(),
        secret: OFFICIAL_SECRET.into(),
        store,
        openid: sandbox.openid(OFFICIAL_APPID, "alice"),
        callers: 40,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_refresh_once_per_expiry() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("token|sqlite://{}", dir.path().join("shared.db").display());
    let store = open(&spec).await;
    assert_one_refresh_per_expiry(job(&sandbox, spec).await, "alice", store, WORKER, 2).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_table_refresh_once_per_expiry() {
    use wechat_oauth::store::conformance::{Server, connected_or_skip};
    let table = crate::unique_table("pg2p");
    let spec = format!("{table}|{}", Server::Postgres.url());
    let options = wechat_oauth_sqlx::SqlOptions::new().table(&table);
    let connected =
        wechat_oauth_sqlx::PostgresStore::connect_with(&Server::Postgres.url(), options).await;
    let Some(store) = connected_or_skip(Server::Postgres, connected) else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let store = tokens_and_leases(store);
    assert_one_refresh_per_expiry(job(&sandbox, spec).await, "alice", store, WORKER, 2).await;
}
