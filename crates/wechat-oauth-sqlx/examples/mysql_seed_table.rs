//! The seed README's MySQL example, in Rust: tokens in the seed's own `token` table, so a
//! node `wechat-oauth` deployment and this one share it.
//!
//! ```sh
//! cargo run -p wechat-oauth-sqlx --features mysql --example mysql_seed_table -- mysql://root@127.0.0.1:3306/test
//! ```

use wechat_oauth::{AccessToken, OAuthClient, TokenStore, now_millis};
use wechat_oauth_sqlx::MySqlStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306/test".into());
    // Creates the seed's table (its CREATE TABLE and unique `openid` key) if it is missing.
    let store = MySqlStore::connect(&url).await?;

    // The seed's saveToken: one row per openid, all values strings. Unlike its
    // `REPLACE INTO`, a token older than the stored one is refused.
    let token = AccessToken::new(
        "ACCESS_TOKEN",
        7200,
        "REFRESH_TOKEN",
        "oExample",
        "snsapi_userinfo",
        now_millis(),
    );
    let written = store.save("oExample", &token).await?;
    println!("saved: {written}");

    // The seed's getToken: `SELECT * FROM token WHERE openid = ?`.
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
