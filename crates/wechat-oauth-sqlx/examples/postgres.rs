//! Official Account login (网页授权) with the user tokens in PostgreSQL, shared by every
//! instance of the app: the program a newcomer writes first.
//!
//! One instance sends the user to WeChat and exchanges the code the callback brings; any
//! other instance, later, reads the user's profile with the stored token (refreshing it when
//! it is about to expire, once across all instances).
//!
//! Against the local sandbox (`cargo run -p wechat-sandbox -- --listen 127.0.0.1:8080`):
//!
//! ```sh
//! PG=postgres://postgres@127.0.0.1:5432/test
//! # The URL to send the user to (the callback gets ?code=…&state=…):
//! cargo run -p wechat-oauth-sqlx --features postgres --example postgres -- $PG authorize https://example.com/callback
//! # The sandbox approves as alice and mints the code the callback would get:
//! CODE=$(curl -s -XPOST localhost:8080/__sandbox/codes -H 'content-type: application/json' \
//!   -d '{"appid":"wx5a4d1e0f0a000001","user":"alice","scope":"snsapi_userinfo"}' | jq -r .code)
//! # The callback: code → token (saved in PostgreSQL) → profile; prints the openid.
//! cargo run -p wechat-oauth-sqlx --features postgres --example postgres -- $PG login "$CODE"
//! # Any instance, later: the profile from the stored token.
//! cargo run -p wechat-oauth-sqlx --features postgres --example postgres -- $PG profile OPENID
//! ```
//!
//! The appid and secret come from `WECHAT_APPID` / `WECHAT_SECRET` (default: the sandbox's
//! Official Account) and the API base from `WECHAT_API_BASE` (default: the sandbox above).

use wechat_oauth::{OAuthClient, Scope, Stores, UserInfo};
use wechat_oauth_sqlx::PostgresStore;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The client of one instance: every instance builds the same one on the same database.
pub fn client(store: PostgresStore, api_base: &str) -> Result<OAuthClient, Failure> {
    let appid = std::env::var("WECHAT_APPID").unwrap_or_else(|_| "wx5a4d1e0f0a000001".into());
    let secret =
        std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "sandbox-official-secret".into());
    Ok(OAuthClient::builder(appid, secret)
        .api_base(api_base)
        .open_base(api_base)
        .stores(Stores::new(store))
        .build()?)
}

/// Where to send the user: WeChat's authorize page, back to `callback` with a code.
pub fn authorize(client: &OAuthClient, callback: &str, state: &str) -> String {
    client.authorize_url(callback, state, Scope::UserInfo)
}

/// The callback: the code exchanged for a token (stored in PostgreSQL), then the profile.
pub async fn login(client: &OAuthClient, code: &str) -> Result<UserInfo, Failure> {
    Ok(client.get_user_by_code(code).await?)
}

/// Any instance, any time later: the profile through the stored token.
pub async fn profile(client: &OAuthClient, openid: &str) -> Result<UserInfo, Failure> {
    Ok(client.get_user(openid).await?)
}

const USAGE: &str =
    "usage: postgres POSTGRES_URL (authorize CALLBACK_URL | login CODE | profile OPENID)";

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rest @ ..] = &args[..] else {
        return Err(USAGE.into());
    };
    let api_base =
        std::env::var("WECHAT_API_BASE").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client = client(PostgresStore::connect(url).await?, &api_base)?;
    match rest {
        [cmd, callback] if cmd == "authorize" => {
            println!("{}", authorize(&client, callback, "login"));
        }
        [cmd, code] if cmd == "login" => println!("{}", login(&client, code).await?.openid),
        [cmd, openid] if cmd == "profile" => {
            let user = profile(&client, openid).await?;
            println!("{} {}", user.openid, user.nickname);
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}
