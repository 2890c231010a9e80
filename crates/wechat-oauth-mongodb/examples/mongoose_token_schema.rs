//! The seed README's MongoDB (mongoose) example, in Rust: the same `TokenSchema` documents
//! in the same `tokens` collection, so a node `wechat-oauth` deployment and this one share
//! them.
//!
//! ```sh
//! cargo run -p wechat-oauth-mongodb --example mongoose_token_schema -- mongodb://127.0.0.1:27999/app
//! ```

use wechat_oauth::{AccessToken, OAuthClient, TokenStore, now_millis};
use wechat_oauth_mongodb::MongoStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mongodb://127.0.0.1:27999/app".into());
    let store = MongoStore::connect(&url).await?;

    // The seed's setToken: "有则更新,无则添加" (update if present, insert if not), but
    // never replacing a newer token.
    let token = AccessToken::new(
        "ACCESS_TOKEN",
        7200,
        "REFRESH_TOKEN",
        "oExample",
        "snsapi_userinfo",
        now_millis(),
    );
    println!("saved: {}", store.save("oExample", &token).await?);

    // The seed's getToken: `findOne({openid})`.
    if let Some(token) = store.get("oExample").await? {
        println!("openid {} valid: {}", token.openid, token.is_valid());
    }

    // The seed's initialisation, `new OAuth(appid, secret, getToken, saveToken)`: the client
    // reads and saves tokens through the store, and refreshes an expired one once across all
    // processes sharing it.
    let client = OAuthClient::builder("your appid", "your secret")
        .token_store(store)
        .build()?;
    println!(
        "authorize at {}",
        client.authorize_url(
            "https://example.com/callback",
            "state",
            wechat_oauth::Scope::UserInfo
        )
    );
    // client.get_user("oExample").await? — after the user has authorized.
    Ok(())
}
