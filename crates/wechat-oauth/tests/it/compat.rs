//! Tokens written by the npm package read back and expire correctly
//! (the npm package's README schemas).

use std::time::Duration;

use wechat_oauth::{AccessToken, now_millis};

use crate::common::*;

/// The row the seed's README MySQL example writes: every column a string.
fn seed_row(token: &AccessToken, create_at: i64) -> String {
    format!(
        r#"{{"access_token":"{}","expires_in":"{}","refresh_token":"{}","openid":"{}","scope":"{}","create_at":"{}"}}"#,
        token.access_token.expose_secret(),
        token.expires_in,
        token.refresh_token.expose_secret(),
        token.openid,
        token.scope,
        create_at
    )
}

#[tokio::test]
async fn a_seed_token_with_string_create_at_expires_and_is_refreshed() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    // Three hours old, as a node process would have stored it.
    let three_hours_ago = now_millis() - 3 * 3600 * 1000;
    let seed: AccessToken = serde_json::from_str(&seed_row(&token, three_hours_ago)).unwrap();
    assert_eq!(seed.create_at, three_hours_ago);
    assert!(
        !seed.is_valid(),
        "the node library would call this valid forever"
    );
    let store = client.token_store();
    store.delete(&token.openid).await.unwrap();
    store.save(&token.openid, &seed).await.unwrap();
    sandbox.advance_clock(Duration::from_secs(3 * 3600));
    sandbox.clear_journal();

    let user = client.get_user(&token.openid).await.unwrap();
    assert_eq!(user.openid, token.openid);
    assert_eq!(
        calls(&sandbox, REFRESH).len(),
        1,
        "the stale seed token was refreshed"
    );
    let stored = store.get(&token.openid).await.unwrap().unwrap();
    assert!(stored.is_valid());
}

#[tokio::test]
async fn a_fresh_seed_token_is_used_as_is() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    let seed: AccessToken = serde_json::from_str(&seed_row(&token, token.create_at + 1)).unwrap();
    client
        .token_store()
        .save(&token.openid, &seed)
        .await
        .unwrap();
    sandbox.clear_journal();
    client.get_user(&token.openid).await.unwrap();
    assert!(calls(&sandbox, REFRESH).is_empty());
}

#[tokio::test]
async fn a_mongoose_document_with_extra_fields_reads_back() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    let doc = format!(
        r#"{{"_id":"5bbf0c","__v":0,"access_token":"{}","expires_in":7200,"refresh_token":"{}","openid":"{}","scope":"snsapi_userinfo","create_at":"{}"}}"#,
        token.access_token.expose_secret(),
        token.refresh_token.expose_secret(),
        token.openid,
        token.create_at + 1
    );
    let seed: AccessToken = serde_json::from_str(&doc).unwrap();
    client
        .token_store()
        .save(&token.openid, &seed)
        .await
        .unwrap();
    assert_eq!(
        client.get_user(&token.openid).await.unwrap().openid,
        token.openid
    );
}

#[tokio::test]
async fn tokens_we_store_have_the_seed_shape() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    let json = serde_json::to_value(&token).unwrap();
    assert!(json["expires_in"].is_u64() && json["create_at"].is_i64());
    assert!(json["access_token"].is_string() && json["refresh_token"].is_string());
    assert_eq!(json["openid"], token.openid.as_str());
}
