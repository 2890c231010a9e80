//! The configured token store, and `token get|delete`.

use serde_json::json;
use wechat_oauth::{Stores, TokenStore};
use wechat_oauth_stores::OpenError;

use crate::args::{Config, TokenCommand};
use crate::failure::{Failure, Status};
use crate::output;

/// Opens the stores named by `--token-store` / `WECHAT_TOKEN_STORE`.
pub async fn open(config: &Config) -> Result<Stores, Failure> {
    if config.token_store.trim().starts_with("memory:") {
        tracing::warn!("the memory: token store forgets every token when this command exits");
    }
    wechat_oauth_stores::open(&config.token_store)
        .await
        .map_err(|e| match e {
            OpenError::UnsupportedScheme { .. } | OpenError::InvalidUrl { .. } => {
                Failure::new(Status::Usage, e)
            }
            e => Failure::new(Status::Store, e),
        })
}

/// `token get|delete --openid O`.
pub async fn run(config: &Config, command: &TokenCommand) -> Result<(), Failure> {
    let store = open(config).await?.tokens;
    match command {
        TokenCommand::Get { openid } => {
            let token = stored_token(store.as_ref(), openid).await?;
            output::print_json(&output::token_json(&token, config.show_secrets)?)
        }
        TokenCommand::Delete { openid } => {
            let existed = store.get(openid).await?.is_some();
            store.delete(openid).await?;
            output::print_json(&json!({ "openid": openid, "deleted": existed }))
        }
    }
}

/// The token stored for `openid`; none is a [`wechat_oauth::Error::NoToken`] failure.
pub async fn stored_token(
    store: &dyn TokenStore,
    openid: &str,
) -> Result<wechat_oauth::AccessToken, Failure> {
    store.get(openid).await?.ok_or_else(|| {
        Failure::from(wechat_oauth::Error::NoToken {
            openid: openid.to_owned(),
        })
    })
}
