//! Tokens in PostgreSQL, shared by every instance of an app.
//!
//! ```sh
//! cargo run -p wechat-oauth-sqlx --features postgres --example postgres -- postgres://postgres@127.0.0.1:5432/test
//! ```

use wechat_oauth::{AccessToken, TokenStore, now_millis};
use wechat_oauth_sqlx::PostgresStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let store = PostgresStore::connect(&url).await?;
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
