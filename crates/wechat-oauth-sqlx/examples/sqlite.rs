//! Tokens in an SQLite file: the default store, shared by the processes of one machine.
//!
//! ```sh
//! cargo run -p wechat-oauth-sqlx --example sqlite -- sqlite://wechat-oauth-tokens.db
//! ```

use wechat_oauth::{AccessToken, TokenStore, now_millis};
use wechat_oauth_sqlx::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://wechat-oauth-tokens.db".into());
    let store = SqliteStore::connect(&url).await?;
    let token = AccessToken::new(
        "ACCESS_TOKEN",
        7200,
        "REFRESH_TOKEN",
        "oExample",
        "snsapi_userinfo",
        now_millis(),
    );
    println!("saved: {}", store.save("oExample", &token).await?);
    if let Some(token) = store.get("oExample").await? {
        println!("openid {} valid: {}", token.openid, token.is_valid());
    }
    Ok(())
}
