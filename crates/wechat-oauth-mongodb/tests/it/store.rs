use std::time::Duration;

use mongodb::bson::{Bson, Document, doc};
use wechat_oauth::{AccessToken, TokenStore};
use wechat_oauth_mongodb::{MongoOptions, MongoStore};
use wechat_oauth_test_support::{self as conformance, Server, connected_or_skip};

async fn store() -> Option<MongoStore> {
    let ns = conformance::unique_namespace("mongo");
    let options = MongoOptions::new()
        .database("wechat_oauth_test")
        .collection(format!("{ns}_tokens"))
        .lease_collection(format!("{ns}_leases"));
    connected_or_skip(
        Server::MongoDb,
        MongoStore::connect_with(&Server::MongoDb.url(), options).await,
    )
}

/// Empties the test's collection (the test server has no `drop` command).
async fn clean_up(store: &MongoStore) {
    store.collection().delete_many(doc! {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_store_passes_the_conformance_suite() {
    let Some(store) = store().await else { return };
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        let state = store.state_collection().clone();
        async move {
            state
                .insert_one(doc! { "_id": format!("{kind}:{key}"), "kind": kind, "id": key, "value": 5, "version": "new" })
                .await
                .unwrap();
        }
    })
    .await;
    store.state_collection().delete_many(doc! {}).await.unwrap();
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        let tokens = store.collection().clone();
        async move {
            tokens
                .insert_one(doc! { "openid": openid, "access_token": 5, "expires_in": "soon", "create_at": "1" })
                .await
                .unwrap();
        }
    })
    .await;
    clean_up(&store).await;
}

#[tokio::test]
async fn mongodb_store_writes_the_seeds_token_schema_documents() {
    let Some(store) = store().await else { return };
    let token = AccessToken::new(
        "ACCESS",
        7200,
        "REFRESH",
        "o1",
        "snsapi_userinfo",
        1_700_000_000_000,
    );
    store.save("o1", &token).await.unwrap();
    let doc: Document = store
        .collection()
        .find_one(doc! { "openid": "o1" })
        .await
        .unwrap()
        .unwrap();
    // TokenSchema: access_token String, expires_in Number, refresh_token String,
    // openid String, scope String, create_at String.
    assert_eq!(
        doc.get("access_token"),
        Some(&Bson::String("ACCESS".into()))
    );
    assert!(matches!(
        doc.get("expires_in"),
        Some(Bson::Int64(7200) | Bson::Int32(7200))
    ));
    assert_eq!(
        doc.get("create_at"),
        Some(&Bson::String("1700000000000".into()))
    );
    assert_eq!(
        doc.get("scope"),
        Some(&Bson::String("snsapi_userinfo".into()))
    );
    assert_eq!(doc.get("unionid"), None, "no field the token does not have");
    clean_up(&store).await;
}

#[tokio::test]
async fn mongodb_store_reads_a_document_mongoose_wrote_and_never_overwrites_it_with_an_older_token()
{
    let Some(store) = store().await else { return };
    // What the seed's `Token.update({openid}, token, {upsert: true})` leaves: create_at
    // cast to String by the schema, expires_in a double (JavaScript numbers), plus `__v`.
    store
        .collection()
        .insert_one(doc! {
            "access_token": "NODE", "expires_in": 7200.0_f64, "refresh_token": "NODE_R",
            "openid": "oNode", "scope": "snsapi_base", "create_at": "1700000005000", "__v": 0,
        })
        .await
        .unwrap();
    let token = store.get("oNode").await.unwrap().unwrap();
    assert_eq!(token.access_token.expose_secret(), "NODE");
    assert_eq!(token.expires_in, 7200);
    assert_eq!(token.create_at, 1_700_000_005_000);

    // "1700000005000" > "999" as numbers, though not as strings.
    let older = conformance::sample_token("oNode", 999);
    assert!(!store.save("oNode", &older).await.unwrap());
    let newer = conformance::sample_token("oNode", 1_700_000_006_000);
    assert!(store.save("oNode", &newer).await.unwrap());
    assert_eq!(store.get("oNode").await.unwrap(), Some(newer));
    let count = store
        .collection()
        .count_documents(doc! { "openid": "oNode" })
        .await
        .unwrap();
    assert_eq!(count, 1, "one document per openid");
    clean_up(&store).await;
}

#[tokio::test]
async fn mongodb_store_gives_a_typed_error_when_the_server_is_unreachable() {
    conformance::unreachable_server_gives_a_typed_error(
        |port| async move {
            let options = MongoOptions::new().timeout(Duration::from_secs(1));
            let store =
                MongoStore::connect_with(&format!("mongodb://127.0.0.1:{port}/test"), options)
                    .await?;
            store.get("o1").await
        },
        Duration::from_secs(10),
    )
    .await;
}
