//! The OAuth subcommands: `authorize-url`, `exchange`, `user`, `refresh`, `verify`,
//! `user-by-code`. Each builds an [`OAuthClient`] from the shared configuration and
//! prints JSON (or, for `authorize-url`, the URL).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wechat_oauth::{OAuthClient, Secret, TokenStatus, TokenStore};

use crate::args::{AuthorizeUrlArgs, Config, Lang};
use crate::failure::{Failure, Status};
use crate::{output, store};

/// Opens the store and builds a client on it: appid and secret are required, the bases and
/// timeout optional. The credentials are checked first, so a missing one is reported as
/// such even when the store is down too.
async fn client_with_store(config: &Config) -> Result<(OAuthClient, Arc<dyn TokenStore>), Failure> {
    let appid = require_appid(config)?;
    let secret = config.secret.clone().ok_or_else(|| {
        Failure::usage("missing app secret: set WECHAT_SECRET (or pass --secret)")
    })?;
    let store = store::open(config).await?;
    let mut builder =
        OAuthClient::builder(appid, secret.expose_secret()).token_store(store.clone());
    if let Some(base) = &config.api_base {
        builder = builder.api_base(base);
    }
    if let Some(base) = &config.open_base {
        builder = builder.open_base(base);
    }
    if let Some(seconds) = config.timeout {
        builder = builder.timeout(Duration::from_secs(seconds));
    }
    Ok((builder.build()?, store))
}

fn require_appid(config: &Config) -> Result<&str, Failure> {
    config
        .appid
        .as_deref()
        .ok_or_else(|| Failure::usage("missing appid: pass --appid or set WECHAT_APPID"))
}

/// `authorize-url`: needs only the appid, no secret, no store and no network.
pub fn authorize_url(config: &Config, args: &AuthorizeUrlArgs) -> Result<(), Failure> {
    let appid = require_appid(config)?;
    // Building a URL never uses the secret; a placeholder keeps `--secret` optional here.
    let secret = config
        .secret
        .clone()
        .unwrap_or_else(|| Secret::new("unused"));
    let mut builder = OAuthClient::builder(appid, secret.expose_secret());
    if let Some(base) = &config.open_base {
        builder = builder.open_base(base);
    }
    let client = builder.build()?;
    let state = args.state.clone().unwrap_or_else(wechat_oauth::new_state);
    let url = if args.website {
        client.authorize_url_for_website(&args.redirect_uri, &state)
    } else {
        client.authorize_url(&args.redirect_uri, &state, args.scope.into())
    };
    output::print_line(&url)
}

/// `exchange --code C`: the token is saved to the store by the SDK.
pub async fn exchange(config: &Config, code: &Secret) -> Result<(), Failure> {
    let (client, _) = client_with_store(config).await?;
    let token = client.get_access_token(code.expose_secret()).await?;
    output::print_json(&output::token_json(&token, config.show_secrets)?)
}

/// `user --openid O [--lang L]`.
pub async fn user(config: &Config, openid: &str, lang: Lang) -> Result<(), Failure> {
    let (client, _) = client_with_store(config).await?;
    let user = client.get_user_with_lang(openid, lang.into()).await?;
    output::print_json(&user)
}

/// `refresh --openid O`.
pub async fn refresh(config: &Config, openid: &str) -> Result<(), Failure> {
    let (client, store) = client_with_store(config).await?;
    let stored = store::stored_token(store.as_ref(), openid).await?;
    let token = client.refresh_access_token(stored.refresh_token).await?;
    output::print_json(&output::token_json(&token, config.show_secrets)?)
}

/// `verify --openid O`: prints `{"openid", "valid"}` (plus WeChat's error when invalid) and
/// exits non-zero when the token is invalid, so scripts can test it.
pub async fn verify(config: &Config, openid: &str) -> Result<(), Failure> {
    let (client, store) = client_with_store(config).await?;
    let stored = store::stored_token(store.as_ref(), openid).await?;
    match client.verify_token(openid, &stored.access_token).await? {
        TokenStatus::Valid => output::print_json(&json!({ "openid": openid, "valid": true })),
        TokenStatus::Invalid(error) => {
            output::print_json(&json!({
                "openid": openid,
                "valid": false,
                "errcode": error.errcode,
                "errmsg": error.errmsg,
            }))?;
            Err(Failure::new(
                Status::WeChat,
                anyhow::Error::new(error).context("the stored access token is not valid"),
            ))
        }
        // `TokenStatus` is non-exhaustive: a status this build does not know says nothing.
        _ => Err(Failure::new(
            Status::Network,
            anyhow::anyhow!("WeChat's answer says nothing about the token"),
        )),
    }
}

/// `user-by-code --code C [--lang L]`.
pub async fn user_by_code(config: &Config, code: &Secret, lang: Lang) -> Result<(), Failure> {
    let (client, _) = client_with_store(config).await?;
    let user = client
        .get_user_by_code_with_lang(code.expose_secret(), lang.into())
        .await?;
    output::print_json(&user)
}
