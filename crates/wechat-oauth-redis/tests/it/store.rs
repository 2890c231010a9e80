use std::time::Duration;

use redis::AsyncCommands;
use wechat_oauth::store::{RecordKind, encode_for_store};
use wechat_oauth::{LeaseStore, TokenStore};
use wechat_oauth_redis::{RedisOptions, RedisStore};
use wechat_oauth_test_support::restart::{self, PrivateServer};
use wechat_oauth_test_support::{self as conformance, Server, connected_or_skip};

async fn store_with(options: RedisOptions) -> Option<RedisStore> {
    let prefix = format!("{}:", conformance::unique_namespace("redis"));
    connected_or_skip(
        Server::Redis,
        RedisStore::connect_with(&Server::Redis.url(), options.prefix(prefix)).await,
    )
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(Server::Redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_conformance_suite() {
    let Some(store) = store_with(RedisOptions::new()).await else {
        return;
    };
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Native)
        .await;
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        let kind = RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .unwrap();
        let key = store.record_key(kind, &key);
        async move {
            let _: () = raw()
                .await
                .hset_multiple(key, &[("value", "{\"openid\":"), ("version", "x")])
                .await
                .unwrap();
        }
    })
    .await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        let key = store.token_key(&openid);
        async move {
            let _: () = raw()
                .await
                .hset_multiple(key, &[("token", "{\"access_token\":"), ("create_at", "1")])
                .await
                .unwrap();
        }
    })
    .await;
    // A key of another type altogether (a plain string where a hash belongs).
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        let key = store.token_key(&openid);
        async move {
            let _: () = raw().await.set(key, "not a hash").await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn redis_store_compares_create_at_beyond_double_precision() {
    let Some(store) = store_with(RedisOptions::new()).await else {
        return;
    };
    // 2^53 + 1 and 2^53 are the same double: Lua's numbers could not tell them apart.
    let newer = conformance::sample_token("o1", 9_007_199_254_740_993);
    let older = conformance::sample_token("o1", 9_007_199_254_740_992);
    assert!(store.save("o1", &newer).await.unwrap());
    assert!(!store.save("o1", &older).await.unwrap());
    let negative = conformance::sample_token("o2", -5);
    assert!(store.save("o2", &negative).await.unwrap());
    assert!(
        !store
            .save("o2", &conformance::sample_token("o2", -10))
            .await
            .unwrap()
    );
    assert!(
        store
            .save("o2", &conformance::sample_token("o2", 3))
            .await
            .unwrap()
    );
    assert_eq!(store.get("o1").await.unwrap(), Some(newer));
}

#[tokio::test]
async fn redis_store_keeps_the_token_json_and_create_at_in_one_hash() {
    let Some(store) = store_with(RedisOptions::new()).await else {
        return;
    };
    let token = conformance::sample_token("o1", 1_700_000_000_000).with_unionid("u1");
    store.save("o1", &token).await.unwrap();
    let (json, create_at): (String, String) = redis::cmd("HMGET")
        .arg(store.token_key("o1"))
        .arg("token")
        .arg("create_at")
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(json, encode_for_store(&token).unwrap());
    assert_eq!(create_at, "1700000000000");
    let lease = store
        .acquire_lease("refresh:o1", Duration::from_millis(5000))
        .await
        .unwrap()
        .unwrap();
    let ttl: i64 = raw()
        .await
        .pttl(store.lease_key("refresh:o1"))
        .await
        .unwrap();
    assert!(
        (1..=5000).contains(&ttl),
        "the lease key expires with the lease: {ttl}"
    );
    store.release_lease(&lease).await.unwrap();
}

#[tokio::test]
async fn redis_store_gives_a_typed_error_when_the_server_is_unreachable() {
    conformance::unreachable_server_gives_a_typed_error(
        |port| async move {
            let options = RedisOptions::new().timeout(Duration::from_secs(1));
            let store =
                RedisStore::connect_with(&format!("redis://127.0.0.1:{port}/"), options).await?;
            store.get("o1").await
        },
        Duration::from_secs(10),
    )
    .await;
}

/// A Redis of the test's own (append-only file, synced on every write) is killed and
/// started again mid-run: every kind of state gives typed errors while it is down and
/// carries on, with its data, when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_survives_a_server_restart() {
    let Some(mut server) = PrivateServer::start(restart::Kind::Redis) else {
        return;
    };
    let options = RedisOptions::new()
        .timeout(Duration::from_secs(2))
        .prefix(format!("{}:", conformance::unique_namespace("restart")));
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap();
    restart::survives_a_server_restart(&store, &mut server, Duration::from_secs(10)).await;
}

/// The whole suite against a 3-node Redis Cluster (`WECHAT_TEST_REDIS_CLUSTER_URL`, started
/// by `scripts/services.sh`): every script touches one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_store_passes_the_conformance_suite() {
    let url = std::env::var("WECHAT_TEST_REDIS_CLUSTER_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:7001/".into());
    let prefix = format!("{}:", conformance::unique_namespace("cluster"));
    let connected = RedisStore::connect_cluster(&url, RedisOptions::new().prefix(prefix)).await;
    let Some(store) = connected_or_skip(Server::Redis, connected) else {
        return;
    };
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Native)
        .await;
    // One openid's token, Mini Program session and refresh lease share a slot.
    let slot = |key: String| {
        let tag = key
            .split_once('{')
            .and_then(|(_, r)| r.split_once('}'))
            .map(|(t, _)| t.to_owned());
        tag.unwrap_or(key)
    };
    assert_eq!(slot(store.token_key("o1")), "o1");
    assert_eq!(slot(store.lease_key("refresh:o1")), "o1");
    assert_eq!(
        slot(store.record_key(RecordKind::MiniProgramSession, "o1")),
        "o1"
    );
}

/// Tokens written by 0.1 under `<prefix>token:<openid>` (no hash tag) still read back.
#[tokio::test]
async fn redis_store_reads_tokens_written_by_0_1() {
    let prefix = format!("{}:", conformance::unique_namespace("redis01"));
    let connected =
        RedisStore::connect_with(&Server::Redis.url(), RedisOptions::new().prefix(&prefix)).await;
    let Some(store) = connected_or_skip(Server::Redis, connected) else {
        return;
    };
    let token = conformance::sample_token("o-old", 1_700_000_000_000);
    let _: () = raw()
        .await
        .hset_multiple(
            format!("{prefix}token:o-old"),
            &[
                ("token", encode_for_store(&token).unwrap()),
                ("create_at", "1700000000000".to_owned()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.get("o-old").await.unwrap(), Some(token));
    let newer = conformance::sample_token("o-old", 1_700_000_001_000);
    assert!(store.save("o-old", &newer).await.unwrap());
    assert_eq!(store.get("o-old").await.unwrap(), Some(newer));
    store.delete("o-old").await.unwrap();
    assert_eq!(store.get("o-old").await.unwrap(), None);
}
