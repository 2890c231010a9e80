//! The Mini Program subcommands that call WeChat: `mp-login` and `check-session`. Sessions
//! live in the store set's `sessions`, so `decrypt --openid` and `check-session` in a later
//! run find what `mp-login` kept.

use serde_json::json;
use wechat_oauth::Secret;
use wechat_oauth::miniprogram::SessionKeyStatus;

use crate::args::WeChatArgs;
use crate::failure::{Failure, Status};
use crate::{app, output};

/// `mp-login --js-code C`: saves the session and prints the [`Login`] (openid, unionid),
/// which has no session key.
///
/// [`Login`]: wechat_oauth::miniprogram::Login
pub async fn login(args: &WeChatArgs, js_code: Secret) -> Result<(), Failure> {
    let app = app::open(args).await?;
    let login = app.mini_program().login(js_code.expose_secret()).await?;
    output::print_json(&login)
}

/// `check-session --openid O`: prints `{"openid", "valid"}`; exits 3 when WeChat says the
/// stored key is stale (87009), 4 when no session is stored.
pub async fn check_session(args: &WeChatArgs, openid: &str) -> Result<(), Failure> {
    let app = app::open(args).await?;
    match app.mini_program().check_session_key(openid).await? {
        SessionKeyStatus::Valid => output::print_json(&json!({ "openid": openid, "valid": true })),
        SessionKeyStatus::Stale => {
            output::print_json(&json!({ "openid": openid, "valid": false }))?;
            Err(Failure::new(
                Status::WeChat,
                anyhow::anyhow!("the stored session key is stale: the user has to wx.login again"),
            ))
        }
        // Non-exhaustive: a status this build does not know says nothing about the key.
        _ => Err(Failure::new(
            Status::Network,
            anyhow::anyhow!("WeChat's answer says nothing about the session key"),
        )),
    }
}
