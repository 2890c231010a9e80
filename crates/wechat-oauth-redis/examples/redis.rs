//! Tokens in Redis, shared by every instance of an app, with the refresh lease the SDK uses
//! so that one process refreshes an expired token while the others wait.
//!
//! ```sh
//! cargo run -p wechat-oauth-redis --example redis -- redis://127.0.0.1:6379/
//! ```

use std::time::Duration;

use wechat_oauth::{AccessToken, LeaseStore, TokenStore, now_millis};
use wechat_oauth_redis::RedisStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let store = RedisStore::connect(&url).await?;
    let token = AccessToken::new(
        "ACCESS_TOKEN",
        7200,
        "REFRESH_TOKEN",
        "oExample",
        "snsapi_userinfo",
        now_millis(),
    );
    println!("saved: {}", store.save("oExample", &token).await?);
    if let Some(lease) = store
        .acquire_lease("refresh:oExample", Duration::from_secs(10))
        .await?
    {
        println!("this process may refresh oExample's token");
        store.release_lease(&lease).await?;
    }
    if let Some(token) = store.get("oExample").await? {
        println!("openid {} valid: {}", token.openid, token.is_valid());
    }
    Ok(())
}
