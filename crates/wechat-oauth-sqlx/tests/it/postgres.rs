use std::time::Duration;

use wechat_oauth::TokenStore;
use wechat_oauth_sqlx::{PostgresStore, SqlOptions};
use wechat_oauth_test_support::{self as conformance, Server, connected_or_skip};

use crate::unique_table;

async fn store(label: &str) -> Option<(PostgresStore, String)> {
    let table = unique_table(label);
    let connected =
        PostgresStore::connect_with(&Server::Postgres.url(), SqlOptions::new().table(&table)).await;
    connected_or_skip(Server::Postgres, connected).map(|s| (s, table))
}

async fn drop_tables(store: &PostgresStore, table: &str) {
    for t in [
        table.to_owned(),
        format!("{table}_lease"),
        format!("{table}_state"),
        format!("{table}_schema"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            r#"DROP TABLE IF EXISTS "{t}""#
        )))
        .execute(store.pool())
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some((store, table)) = store("pg").await else {
        return;
    };
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        let sql = format!(
            r#"INSERT INTO "{table}_state" (kind, id, value, version) VALUES ($1, $2, '{{"openid":', 1)"#
        );
        let pool = store.pool().clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind).bind(key).execute(&pool).await.unwrap();
        }
    })
    .await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        let sql = format!(
            r#"INSERT INTO "{table}" (openid, access_token, expires_in, refresh_token, scope, create_at)
               VALUES ($1, 'A', -5, 'R', 's', 1)"#
        );
        let pool = store.pool().clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(openid).execute(&pool).await.unwrap();
        }
    })
    .await;
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn postgres_store_uses_proper_column_types() {
    let Some((store, table)) = store("pgtypes").await else {
        return;
    };
    store
        .save(
            "o1",
            &conformance::sample_token("o1", 9_007_199_254_740_993),
        )
        .await
        .unwrap();
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = $1",
    )
    .bind(&table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let type_of = |c: &str| types.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str());
    assert_eq!(type_of("create_at"), Some("bigint"));
    assert_eq!(type_of("expires_in"), Some("bigint"));
    assert_eq!(type_of("is_snapshotuser"), Some("boolean"));
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn postgres_store_gives_a_typed_error_when_the_server_is_unreachable() {
    conformance::unreachable_server_gives_a_typed_error(
        |port| async move {
            let options = SqlOptions::new().timeout(Duration::from_secs(1));
            let store = PostgresStore::connect_with(
                &format!("postgres://postgres@127.0.0.1:{port}/test"),
                options,
            )
            .await?;
            store.get("o1").await
        },
        Duration::from_secs(10),
    )
    .await;
}

// The example's functions; its `main` is its own.
#[allow(dead_code)]
#[path = "../../examples/postgres.rs"]
mod official_account_example;

/// The newcomer's Official Account login program (`examples/postgres.rs`), against the
/// sandbox and the real PostgreSQL: one instance logs alice in, another reads her profile
/// through the token the first stored.
#[tokio::test]
async fn the_official_account_login_example_shares_tokens_through_postgres() {
    use official_account_example::{authorize, client, login, profile};
    use wechat_sandbox::Sandbox;
    use wechat_sandbox::defaults::OFFICIAL_APPID;

    let Some((store, table)) = store("example").await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let first = client(store.clone(), sandbox.url()).unwrap();
    let url = authorize(&first, "https://example.com/callback", "s1");
    assert!(
        url.contains("scope=snsapi_userinfo") && url.contains("state=s1"),
        "{url}"
    );

    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let user = login(&first, &code).await.unwrap();
    assert_eq!(user.openid, sandbox.openid(OFFICIAL_APPID, "alice"));
    assert!(store.get(&user.openid).await.unwrap().is_some());

    let second = client(store.clone(), sandbox.url()).unwrap();
    let again = profile(&second, &user.openid).await.unwrap();
    assert_eq!((again.openid, again.nickname), (user.openid, user.nickname));
    drop_tables(&store, &table).await;
}
