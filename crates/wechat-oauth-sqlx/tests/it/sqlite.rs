use std::time::Duration;

use wechat_oauth::{LeaseStore, StoreError, TokenStore};
use wechat_oauth_sqlx::{SqlOptions, SqliteStore};
use wechat_oauth_test_support as conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokens.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    let pool = store.pool().clone();
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        let pool = pool.clone();
        async move {
            // A version that is not a number and a value that is not JSON.
            sqlx::query(
                "INSERT INTO token_state (kind, id, value, version) VALUES (?, ?, 'x', 'new')",
            )
            .bind(kind)
            .bind(key)
            .execute(&pool)
            .await
            .unwrap();
        }
    })
    .await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| async move {
        // SQLite keeps a text value in an INTEGER column: what a hand edit leaves behind.
        sqlx::query(
            "INSERT INTO token (openid, access_token, expires_in, refresh_token, scope, create_at)
             VALUES (?, 'A', 'soon', 'R', 's', 'yesterday')",
        )
        .bind(openid)
        .execute(&pool)
        .await
        .unwrap();
    })
    .await;
}

#[tokio::test]
async fn sqlite_memory_store_passes_the_conformance_suite() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
}

/// A database written by 0.1 (its tables, by hand, with a token in them) opens with this
/// version: the token is still there, the new tables are added and the schema version
/// recorded.
#[tokio::test]
async fn sqlite_database_written_by_0_1_keeps_its_tokens_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        for ddl in [
            r#"CREATE TABLE "token" (
                 openid TEXT NOT NULL PRIMARY KEY, access_token TEXT NOT NULL,
                 expires_in INTEGER NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL,
                 create_at INTEGER NOT NULL, unionid TEXT, is_snapshotuser BOOLEAN NOT NULL DEFAULT 0)"#,
            r#"CREATE TABLE "token_lease" (
                 name TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)"#,
            "INSERT INTO token VALUES ('o-old', 'ACCESS_OLD', 7200, 'REFRESH_OLD', 'snsapi_base', 1700000000000, 'u-old', 1)",
        ] {
            sqlx::query(ddl).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let store = SqliteStore::connect(&url).await.unwrap();
    let token = store.get("o-old").await.unwrap().unwrap();
    assert_eq!(token.access_token.expose_secret(), "ACCESS_OLD");
    assert_eq!(token.unionid.as_deref(), Some("u-old"));
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM token_schema WHERE component = 'wechat-oauth'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(version, 2);
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    assert!(store.get("o-old").await.unwrap().is_some());
}

#[tokio::test]
async fn two_stores_on_one_sqlite_file_see_each_others_tokens_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    let token = conformance::sample_token("o1", 2);
    assert!(a.save("o1", &token).await.unwrap());
    assert!(
        !b.save("o1", &conformance::sample_token("o1", 1))
            .await
            .unwrap()
    );
    assert_eq!(b.get("o1").await.unwrap(), Some(token));
    let lease = a
        .acquire_lease("refresh:o1", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(lease.is_some());
    assert!(
        b.acquire_lease("refresh:o1", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sqlite_store_creates_its_file_and_keeps_tokens_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let token = conformance::sample_token("o1", 1);
    {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.save("o1", &token).await.unwrap();
        store.pool().close().await;
    }
    assert!(path.exists());
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(store.get("o1").await.unwrap(), Some(token));
}

#[tokio::test]
async fn sqlite_store_refuses_table_names_that_are_not_identifiers() {
    let err = SqliteStore::connect_with(
        "sqlite::memory:",
        SqlOptions::new().table("token; DROP TABLE x"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
}
