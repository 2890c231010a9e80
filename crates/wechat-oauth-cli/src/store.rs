//! The store set named by `--store`, and `token get|delete`.

use serde_json::json;
use wechat_oauth::Stores;
use wechat_oauth_stores::OpenError;

use crate::args::{StoreArgs, TokenCommand};
use crate::failure::{Failure, Status};
use crate::output;

/// Opens the store set named by `--store` / `WECHAT_STORE`: user tokens, leases, Mini
/// Program sessions and the rest, all from that one URL.
pub async fn open(args: &StoreArgs) -> Result<Stores, Failure> {
    if args.store.trim().starts_with("memory:") {
        tracing::warn!("the memory: store forgets everything when this command exits");
    }
    wechat_oauth_stores::open(&args.store)
        .await
        .map_err(|e| match e {
            OpenError::UnsupportedScheme { .. }
            | OpenError::InvalidUrl { .. }
            | OpenError::BackendNotCompiled { .. } => Failure::new(Status::Usage, e),
            e => Failure::new(Status::Store, e),
        })
}

/// `token get|delete --openid O`.
pub async fn run(command: &TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Get {
            openid,
            store,
            show,
        } => {
            let stores = open(store).await?;
            let token = stored_token(&stores, openid).await?;
            output::print_json(&output::token_json(&token, show.show_secrets)?)
        }
        TokenCommand::Delete { openid, store } => {
            let stores = open(store).await?;
            let existed = stores.tokens.get(openid).await?.is_some();
            stores.tokens.delete(openid).await?;
            output::print_json(&json!({ "openid": openid, "deleted": existed }))
        }
    }
}

/// The token stored for `openid`; none is a [`wechat_oauth::Error::NoToken`] failure.
pub async fn stored_token(
    stores: &Stores,
    openid: &str,
) -> Result<wechat_oauth::AccessToken, Failure> {
    stores.tokens.get(openid).await?.ok_or_else(|| {
        Failure::from(wechat_oauth::Error::NoToken {
            openid: openid.to_owned(),
        })
    })
}
