use std::time::Duration;

use sqlx::AssertSqlSafe;
use wechat_oauth::{AccessToken, StoreError, TokenStore};
use wechat_oauth_sqlx::{MySqlStore, SqlOptions};
use wechat_oauth_test_support::restart::{self, PrivateServer};
use wechat_oauth_test_support::{self as conformance, Server, connected_or_skip};

use crate::unique_table;

async fn store_with(label: &str, options: SqlOptions) -> Option<(MySqlStore, String)> {
    let table = unique_table(label);
    let connected = MySqlStore::connect_with(&Server::MySql.url(), options.table(&table)).await;
    connected_or_skip(Server::MySql, connected).map(|s| (s, table))
}

async fn store(label: &str) -> Option<(MySqlStore, String)> {
    store_with(label, SqlOptions::new()).await
}

async fn exec(store: &MySqlStore, sql: String) {
    sqlx::query(AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

async fn drop_tables(store: &MySqlStore, table: &str) {
    exec(
        store,
        format!(
            "DROP TABLE IF EXISTS `{table}`, `{table}_ext`, `{table}_lease`, `{table}_state`, `{table}_schema`"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_passes_the_conformance_suite() {
    let Some((store, table)) = store("my").await else {
        return;
    };
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        exec(
            &store,
            format!(
                "INSERT INTO `{table}_state` (kind, id, value, version) VALUES ('{kind}', '{key}', '{{\"openid\":', 1)"
            ),
        )
    })
    .await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        exec(
            &store,
            format!(
                "INSERT INTO `{table}` (access_token, expires_in, refresh_token, openid, scope, create_at)
                 VALUES ('A', 'soon', 'R', '{openid}', 's', 'yesterday')"
            ),
        )
    })
    .await;
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn mysql_store_creates_exactly_the_seed_token_table() {
    let Some((store, table)) = store("myseed").await else {
        return;
    };
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR), CAST(collation_name AS CHAR)
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?
         ORDER BY ordinal_position",
    )
    .bind(&table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let expected = [
        ("access_token", "varchar(200)"),
        ("expires_in", "varchar(10)"),
        ("refresh_token", "varchar(200)"),
        ("openid", "varchar(50)"),
        ("scope", "varchar(50)"),
        ("create_at", "varchar(20)"),
    ];
    let got: Vec<(&str, &str)> = columns
        .iter()
        .map(|(n, t, _)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(got, expected, "the seed's columns, nothing more");
    assert!(
        columns
            .iter()
            .all(|(_, _, c)| c.starts_with("utf8") && c.ends_with("_bin"))
    );
    let unique: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(index_name AS CHAR) FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 0 AND column_name = 'openid'",
    )
    .bind(&table)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        unique,
        [("openid".to_owned(),)],
        "the seed's unique key `openid`"
    );
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn mysql_store_writes_every_value_as_a_string_like_the_seed() {
    let Some((store, table)) = store("mystr").await else {
        return;
    };
    let token = AccessToken::new(
        "ACCESS",
        7200,
        "REFRESH",
        "o1",
        "snsapi_userinfo",
        1_700_000_000_123,
    );
    store.save("o1", &token).await.unwrap();
    // The seed's getToken: `SELECT * FROM token WHERE openid = ?`, values as stored.
    let row: (String, String, String, String, String, String) = sqlx::query_as(AssertSqlSafe(
        format!("SELECT * FROM `{table}` WHERE openid = ?"),
    ))
    .bind("o1")
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "ACCESS".into(),
            "7200".into(),
            "REFRESH".into(),
            "o1".into(),
            "snsapi_userinfo".into(),
            "1700000000123".into()
        )
    );
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn mysql_store_reads_a_row_written_by_the_seeds_replace_into_on_an_existing_table() {
    let Some((probe, table)) =
        store_with("myexisting", SqlOptions::new().create_tables(false)).await
    else {
        return;
    };
    // The table as a node deployment created it, from the seed README, before we arrive.
    exec(
        &probe,
        format!(
            "CREATE TABLE `{table}` (
`access_token` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '令牌',
`expires_in` varchar(10) COLLATE utf8_bin NOT NULL COMMENT '有效期',
`refresh_token` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '刷新参数',
`openid` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '用户编号',
`scope` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '作用域',
`create_at` varchar(20) COLLATE utf8_bin NOT NULL COMMENT '令牌建立时间'
) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin COMMENT='微信令牌表'"
        ),
    )
    .await;
    exec(
        &probe,
        format!("ALTER TABLE `{table}`\nADD UNIQUE KEY `openid` (`openid`)"),
    )
    .await;
    // The seed's saveToken, with node's `mysql` sending numbers as numbers.
    let replace = format!(
        "REPLACE INTO `{table}`(access_token, expires_in, refresh_token, openid, scope, create_at) VALUES(?, ?, ?, ?, ?, ?)"
    );
    sqlx::query(AssertSqlSafe(replace.clone()))
        .bind("NODE_ACCESS")
        .bind(7200_i64)
        .bind("NODE_REFRESH")
        .bind("oNode")
        .bind("snsapi_userinfo")
        .bind(1_700_000_000_000_i64)
        .execute(probe.pool())
        .await
        .unwrap();

    let store = MySqlStore::connect_with(&Server::MySql.url(), SqlOptions::new().table(&table))
        .await
        .unwrap();
    let token = store.get("oNode").await.unwrap().unwrap();
    assert_eq!(token.access_token.expose_secret(), "NODE_ACCESS");
    assert_eq!(token.expires_in, 7200);
    assert_eq!(token.create_at, 1_700_000_000_000);

    // A Rust save with unionid, then node replaces the row with a newer token that has
    // none: the old unionid must not be attached to node's token.
    let ours = AccessToken::new(
        "RUST",
        7200,
        "R",
        "oNode",
        "snsapi_userinfo",
        1_700_000_001_000,
    )
    .with_unionid("uRust");
    assert!(store.save("oNode", &ours).await.unwrap());
    assert_eq!(store.get("oNode").await.unwrap(), Some(ours));
    sqlx::query(AssertSqlSafe(replace))
        .bind("NODE2")
        .bind(7200_i64)
        .bind("R2")
        .bind("oNode")
        .bind("snsapi_userinfo")
        .bind(1_700_000_002_000_i64)
        .execute(probe.pool())
        .await
        .unwrap();
    let after = store.get("oNode").await.unwrap().unwrap();
    assert_eq!(after.access_token.expose_secret(), "NODE2");
    assert_eq!(after.unionid, None);
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn mysql_store_rejects_a_token_longer_than_the_seeds_column() {
    let Some((store, table)) = store("mylong").await else {
        return;
    };
    let mut token = conformance::sample_token("o1", 1);
    token.access_token = "A".repeat(201).into();
    let err = store.save("o1", &token).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    assert!(
        !format!("{err}").contains("AAAA"),
        "the value is not echoed: {err}"
    );
    drop_tables(&store, &table).await;
}

#[tokio::test]
async fn mysql_store_gives_a_typed_error_when_the_server_is_unreachable() {
    conformance::unreachable_server_gives_a_typed_error(
        |port| async move {
            let options = SqlOptions::new().timeout(Duration::from_secs(1));
            let store =
                MySqlStore::connect_with(&format!("mysql://root@127.0.0.1:{port}/test"), options)
                    .await?;
            store.get("o1").await
        },
        Duration::from_secs(10),
    )
    .await;
}

/// A MariaDB of the test's own is killed and started again mid-run: every kind of state
/// gives typed errors while it is down and carries on, with its data, when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_survives_a_server_restart() {
    let Some(mut server) = PrivateServer::start(restart::Kind::MariaDb) else {
        return;
    };
    let options = SqlOptions::new()
        .timeout(Duration::from_secs(3))
        .table(unique_table("myrestart"));
    let store = MySqlStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    restart::survives_a_server_restart(&store, &mut server, Duration::from_secs(10)).await;
}
