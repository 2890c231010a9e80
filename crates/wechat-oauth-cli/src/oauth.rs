//! The OAuth subcommands: `authorize-url`, `exchange`, `user`, `refresh`, `verify`,
//! `user-by-code`. Each builds an [`OAuthClient`] from its own flags and prints JSON (or,
//! for `authorize-url`, the URL).

use std::time::Duration;

use serde_json::json;
use wechat_oauth::{OAuthClient, Secret, TokenStatus};

use crate::args::{AppArgs, AppIdArgs, AuthorizeUrlArgs, Lang, OAuthArgs, Scope};
use crate::failure::{Failure, Status};
use crate::store::{self, Stores};
use crate::{base_url, output};

/// Opens the store set and builds a client on it: appid and secret are required, the base
/// and timeout optional. The credentials and the base are checked first, so a missing one
/// is reported as such even when the store is down too.
async fn client_with_store(args: &OAuthArgs) -> Result<(OAuthClient, Stores), Failure> {
    let (appid, secret) = credentials(&args.app)?;
    let api_base = base_url::checked_opt("--api-base", args.api.base.api_base.as_deref())?;
    let stores = store::open(&args.store).await?;
    let mut builder = OAuthClient::builder(appid, secret.expose_secret()).stores(stores.clone());
    if let Some(base) = api_base {
        builder = builder.api_base(base);
    }
    if let Some(seconds) = args.api.timeout {
        builder = builder.timeout(Duration::from_secs(seconds));
    }
    Ok((builder.build()?, stores))
}

/// The appid and the app secret (read from standard input for `--secret -`).
pub fn credentials(app: &AppArgs) -> Result<(&str, Secret), Failure> {
    let appid = require_appid(&app.id)?;
    let secret = app
        .secret
        .as_ref()
        .ok_or_else(|| Failure::usage("missing app secret: set WECHAT_SECRET (or pass --secret)"))?
        .resolve("--secret")?;
    Ok((appid, secret))
}

/// The appid, required.
pub fn require_appid(app: &AppIdArgs) -> Result<&str, Failure> {
    app.appid
        .as_deref()
        .ok_or_else(|| Failure::usage("missing appid: pass --appid or set WECHAT_APPID"))
}

/// `authorize-url`: needs only the appid, no secret, no store and no network.
///
/// `--scope snsapi_login` is WeChat's name for website QR login, so it selects the website
/// page by itself; the Official Account scopes with `--website` are refused.
pub fn authorize_url(args: &AuthorizeUrlArgs) -> Result<(), Failure> {
    let website = match (args.website, args.scope) {
        (true, Some(scope @ (Scope::Base | Scope::UserInfo))) => {
            let scope = wechat_oauth::Scope::from(scope);
            return Err(Failure::usage(format!(
                "--website asks for website QR login, whose only scope is snsapi_login; \
                 {scope} is an Official Account scope (drop --website or the scope)"
            )));
        }
        (website, scope) => website || scope == Some(Scope::Login),
    };
    let appid = require_appid(&args.app)?;
    let open_base = base_url::checked_opt("--open-base", args.open_base.open_base.as_deref())?;
    // Building a URL never uses the secret; a placeholder keeps `--secret` out of this
    // command.
    let mut builder = OAuthClient::builder(appid, "unused");
    if let Some(base) = open_base {
        builder = builder.open_base(base);
    }
    let client = builder.build()?;
    let state = args.state.clone().unwrap_or_else(wechat_oauth::new_state);
    let url = if website {
        client.authorize_url_for_website(&args.redirect_uri, &state)
    } else {
        let scope = args.scope.unwrap_or(Scope::Base);
        client.authorize_url(&args.redirect_uri, &state, scope.into())
    };
    output::print_line(&url)
}

/// `exchange --code C`: the token is saved to the store by the SDK.
pub async fn exchange(args: &OAuthArgs, code: Secret, show_secrets: bool) -> Result<(), Failure> {
    let (client, _) = client_with_store(args).await?;
    let token = client.get_access_token(code.expose_secret()).await?;
    output::print_json(&output::token_json(&token, show_secrets)?)
}

/// `user --openid O [--lang L]`.
pub async fn user(args: &OAuthArgs, openid: &str, lang: Lang) -> Result<(), Failure> {
    let (client, _) = client_with_store(args).await?;
    let user = client.get_user_with_lang(openid, lang.into()).await?;
    output::print_json(&user)
}

/// `refresh --openid O`.
pub async fn refresh(args: &OAuthArgs, openid: &str, show_secrets: bool) -> Result<(), Failure> {
    let (client, stores) = client_with_store(args).await?;
    let stored = store::stored_token(&stores, openid).await?;
    let token = client.refresh_access_token(stored.refresh_token).await?;
    output::print_json(&output::token_json(&token, show_secrets)?)
}

/// `verify --openid O`: prints `{"openid", "valid"}` (plus WeChat's error when invalid) and
/// exits 3 when WeChat says the token is invalid, so scripts can sign the user out on 3.
///
/// Anything else that goes wrong with the call, an errcode included (`-1`, busy), says
/// nothing about the token: it exits 5 ("ask again later"), never 3.
pub async fn verify(args: &OAuthArgs, openid: &str) -> Result<(), Failure> {
    let (client, stores) = client_with_store(args).await?;
    let stored = store::stored_token(&stores, openid).await?;
    match client.verify_token(openid, &stored.access_token).await {
        Ok(TokenStatus::Valid) => output::print_json(&json!({ "openid": openid, "valid": true })),
        Ok(TokenStatus::Invalid(error)) => {
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
        Ok(_) => Err(Failure::new(
            Status::Network,
            anyhow::anyhow!("WeChat's answer says nothing about the token"),
        )),
        Err(error @ wechat_oauth::Error::WeChat(_)) => Err(Failure::new(
            Status::Network,
            anyhow::Error::new(error)
                .context("WeChat did not say whether the stored access token is valid"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `user-by-code --code C [--lang L]`.
pub async fn user_by_code(args: &OAuthArgs, code: Secret, lang: Lang) -> Result<(), Failure> {
    let (client, _) = client_with_store(args).await?;
    let user = client
        .get_user_by_code_with_lang(code.expose_secret(), lang.into())
        .await?;
    output::print_json(&user)
}
