//! Two OS processes share one SQL store (a SQLite file, a PostgreSQL or a MariaDB table
//! set): a Mini Program session made in one is used in the other, and an expired user
//! token or server access token costs one request to WeChat however many calls in both
//! processes need it (see `wechat_oauth_test_support::two_process`).

use wechat_oauth::Stores;
use wechat_oauth_sqlx::{SqlOptions, SqliteStore};
use wechat_oauth_test_support::two_process::{
    Shared, assert_mini_program_session_is_shared, assert_one_refresh_per_expiry,
    assert_one_server_token_fetch_per_expiry, run_worker,
};
use wechat_sandbox::Sandbox;

/// This binary, re-executed, runs only this test as a worker process.
const WORKER: &str = "two_process::worker_entry_point";

/// A worker process's body; in an ordinary run (no job in the environment) it does
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_entry_point() {
    run_worker(|spec| async move { open(&spec).await.unwrap() }).await;
}

/// Opens the store spec shared with the workers: `<table>|<url>`.
async fn open(spec: &str) -> Result<Stores, wechat_oauth::StoreError> {
    let (table, url) = spec.split_once('|').unwrap();
    let options = SqlOptions::new().table(table);
    if url.starts_with("sqlite:") {
        return Ok(Stores::new(SqliteStore::connect_with(url, options).await?));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") {
        return Ok(Stores::new(
            wechat_oauth_sqlx::PostgresStore::connect_with(url, options).await?,
        ));
    }
    #[cfg(feature = "mysql")]
    if url.starts_with("mysql:") {
        return Ok(Stores::new(
            wechat_oauth_sqlx::MySqlStore::connect_with(url, options).await?,
        ));
    }
    panic!("unsupported store spec {spec}");
}

/// Which store a scenario runs on.
#[derive(Clone, Copy)]
enum Db {
    SqliteFile,
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "mysql")]
    MySql,
}

/// A scenario's store: a spec for the workers, the parent's handle, and what to remove
/// afterwards.
struct Setup {
    _sandbox: Sandbox,
    _dir: tempfile::TempDir,
    shared: Shared,
    stores: Stores,
    db: Db,
    table: String,
}

/// `None` (the test skips) when the server is not there outside CI.
async fn setup(db: Db, label: &str) -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let table = crate::unique_table(label);
    let url = match db {
        Db::SqliteFile => format!("sqlite://{}", dir.path().join("shared.db").display()),
        #[cfg(feature = "postgres")]
        Db::Postgres => wechat_oauth_test_support::Server::Postgres.url(),
        #[cfg(feature = "mysql")]
        Db::MySql => wechat_oauth_test_support::Server::MySql.url(),
    };
    let spec = format!("{table}|{url}");
    let stores = match db {
        Db::SqliteFile => open(&spec).await.unwrap(),
        #[cfg(feature = "postgres")]
        Db::Postgres => wechat_oauth_test_support::connected_or_skip(
            wechat_oauth_test_support::Server::Postgres,
            open(&spec).await,
        )?,
        #[cfg(feature = "mysql")]
        Db::MySql => wechat_oauth_test_support::connected_or_skip(
            wechat_oauth_test_support::Server::MySql,
            open(&spec).await,
        )?,
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let shared = Shared::new(sandbox.url(), spec, WORKER);
    Some(Setup {
        _sandbox: sandbox,
        _dir: dir,
        shared,
        stores,
        db,
        table,
    })
}

impl Setup {
    /// Drops the scenario's tables from the shared server.
    async fn clean_up(self) {
        let t = &self.table;
        let tables = [
            t.clone(),
            format!("{t}_ext"),
            format!("{t}_lease"),
            format!("{t}_state"),
            format!("{t}_schema"),
        ];
        match self.db {
            Db::SqliteFile => {}
            #[cfg(feature = "postgres")]
            Db::Postgres => {
                let url = wechat_oauth_test_support::Server::Postgres.url();
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                for t in tables {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        r#"DROP TABLE IF EXISTS "{t}""#
                    )))
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
            #[cfg(feature = "mysql")]
            Db::MySql => {
                let url = wechat_oauth_test_support::Server::MySql.url();
                let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
                for t in tables {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS `{t}`")))
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }
        }
    }
}

async fn mini_program_session_is_shared(db: Db, label: &str) {
    let Some(setup) = setup(db, label).await else {
        return;
    };
    assert_mini_program_session_is_shared(&setup.shared, setup.stores.clone(), "alice").await;
    setup.clean_up().await;
}

async fn one_server_token_fetch_per_expiry(db: Db, label: &str) {
    let Some(setup) = setup(db, label).await else {
        return;
    };
    assert_one_server_token_fetch_per_expiry(&setup.shared, setup.stores.clone(), 1_000, 2).await;
    setup.clean_up().await;
}

async fn one_refresh_per_expiry(db: Db, label: &str) {
    let Some(setup) = setup(db, label).await else {
        return;
    };
    assert_one_refresh_per_expiry(&setup.shared, setup.stores.clone(), "alice", 40, 2).await;
    setup.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_in_a_sqlite_file() {
    mini_program_session_is_shared(Db::SqliteFile, "litemp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_from_a_sqlite_file() {
    one_server_token_fetch_per_expiry(Db::SqliteFile, "litest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_refresh_once_per_expiry() {
    one_refresh_per_expiry(Db::SqliteFile, "lite2p").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_in_postgres() {
    mini_program_session_is_shared(Db::Postgres, "pgmp").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_from_postgres() {
    one_server_token_fetch_per_expiry(Db::Postgres, "pgst").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_table_refresh_once_per_expiry() {
    one_refresh_per_expiry(Db::Postgres, "pg2p").await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_mini_program_session_in_mariadb() {
    mini_program_session_is_shared(Db::MySql, "mymp").await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fetch_the_server_token_once_per_expiry_from_mariadb() {
    one_server_token_fetch_per_expiry(Db::MySql, "myst").await;
}
