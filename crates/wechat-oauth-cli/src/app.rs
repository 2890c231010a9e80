//! The one [`WeChatApp`] a command that calls WeChat builds from its flags: credentials,
//! API base, timeout and the store set, given once; the OAuth and Mini Program clients come
//! from it.

use std::time::Duration;

use wechat_oauth::{Secret, WeChatApp};

use crate::args::{AppArgs, AppIdArgs, WeChatArgs};
use crate::failure::Failure;
use crate::{base_url, store};

/// Opens the store set and builds the app on it: appid and secret are required, the base
/// and timeout optional. The credentials and the base are checked first, so a missing one
/// is reported as such even when the store is down too.
pub async fn open(args: &WeChatArgs) -> Result<WeChatApp, Failure> {
    let (appid, secret) = credentials(&args.app)?;
    let api_base = base_url::checked_opt("--api-base", args.api.base.api_base.as_deref())?;
    let stores = store::open(&args.store).await?;
    let mut builder = WeChatApp::builder(appid, secret.expose_secret()).stores(stores);
    if let Some(base) = api_base {
        builder = builder.api_base(base);
    }
    if let Some(seconds) = args.api.timeout {
        builder = builder.timeout(Duration::from_secs(seconds));
    }
    Ok(builder.build()?)
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
