use std::time::Duration;

use wechat_oauth::store::FileStore;
use wechat_oauth::{AccessToken, LeaseStore, StoreError, TokenStore};
use wechat_oauth_test_support as conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).await.unwrap();
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::state::expired_records_are_purged(&store, conformance::state::Expiry::Purged)
        .await;
    let root = dir.path().to_owned();
    conformance::state::malformed_records_read_as_malformed(&store, |kind, key| {
        let path = root
            .join(".state")
            .join(kind)
            .join(format!("{}.json", hex_encode(&key)));
        async move { std::fs::write(path, "{\"value\": 5").unwrap() }
    })
    .await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        let path = store.token_path(&openid).unwrap();
        async move { std::fs::write(path, "{\"access_token\": \"A\", \"create_at\": ").unwrap() }
    })
    .await;
}

#[tokio::test]
async fn file_store_reads_the_file_the_seed_example_writes() {
    let dir = tempfile::tempdir().unwrap();
    // What the seed's `fs.writeFile(openid + ':access_token.txt', JSON.stringify(token))`
    // leaves behind: node's token data, numbers as numbers.
    std::fs::write(
        dir.path().join("oSeed-1:access_token.txt"),
        r#"{"access_token":"ACCESS","expires_in":7200,"refresh_token":"REFRESH","openid":"oSeed-1","scope":"snsapi_userinfo","create_at":1700000000000}"#,
    )
    .unwrap();
    let store = FileStore::open(dir.path()).await.unwrap();
    let token = store.get("oSeed-1").await.unwrap().unwrap();
    assert_eq!(token.access_token.expose_secret(), "ACCESS");
    assert_eq!(token.create_at, 1_700_000_000_000);

    // And what we write parses as the seed's JSON.parse expects: same names, plain values.
    let newer = AccessToken::new(
        "A2",
        7200,
        "R2",
        "oSeed-1",
        "snsapi_base",
        1_700_000_001_000,
    );
    assert!(store.save("oSeed-1", &newer).await.unwrap());
    let text = std::fs::read_to_string(dir.path().join("oSeed-1:access_token.txt")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["access_token"], "A2");
    assert_eq!(json["expires_in"], 7200);
    assert_eq!(json["create_at"], 1_700_000_001_000_i64);
}

#[tokio::test]
async fn file_store_refuses_openids_that_would_leave_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("tokens")).await.unwrap();
    let token = AccessToken::new("A", 7200, "R", "../escape", "snsapi_base", 1);
    for openid in ["../escape", "a/b", "..", "o\0"] {
        assert!(
            matches!(
                store.save(openid, &token).await,
                Err(StoreError::Rejected(_))
            ),
            "{openid:?} must be rejected"
        );
        assert_eq!(store.get(openid).await.unwrap(), None);
    }
    assert!(!dir.path().join("escape:access_token.txt").exists());
}

#[tokio::test]
async fn file_store_leaves_no_temporary_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).await.unwrap();
    for i in 0..5 {
        let token = AccessToken::new("A", 7200, "R", "o1", "snsapi_base", i);
        store.save("o1", &token).await.unwrap();
    }
    let lease = store
        .acquire_lease("refresh:o1", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    store.release_lease(&lease).await.unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn hex_encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
