//! Desktop "scan to follow and sign in" (扫码关注登录) beside the redirect login, and
//! `wx.config` on the profile page, on a local WeChat sandbox:
//! `cargo run -p wechat-oauth-axum --features demo --example follow_demo`, open the printed
//! URL, open "Scan to follow and sign in" in a second tab, and press a user's button in the
//! home page's phone panel (the sandbox stands in for WeChat on a phone). On a real
//! account, the QR code is scanned with WeChat and the account's server URL (服务器配置) is
//! this site's `/wechat` ([`demo::MESSAGE_PATH`]).
//!
//! The pages are [`wechat_oauth_axum::demo::DemoSite`], the code `wechat-oauth demo` runs.
//! What a site needs: a `WeChatApp` (the OAuth and Official Account clients on one store
//! set), a `WeChatLogin`, a `FollowLogin` (whose `handle_message` answers the scans on the
//! message interface), a `MessageServer` for that interface, and a `JsSdk` for the pages'
//! `wx.config`.
//!
//! [`demo::MESSAGE_PATH`]: wechat_oauth_axum::demo::MESSAGE_PATH

use std::net::Ipv4Addr;

use wechat_oauth::WeChatApp;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::demo::{DemoSite, MESSAGE_PATH};
use wechat_oauth_axum::{Flow, FollowLogin, JsSdk, Key, ServeLimits, WeChatLogin, serve};
use wechat_oauth_message::MessageServer;
use wechat_sandbox::{Sandbox, ServerConfig, defaults};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let site = format!("http://{}", listener.local_addr()?);
    // The server token (令牌) WeChat and the site sign pushes with: random per run here.
    let server_token = wechat_oauth::new_state();

    // One store set for tokens, sessions, scenes, dedupe and the JS-SDK ticket; share it
    // (and the key) between processes with `wechat_oauth_stores::open("redis://…")`.
    let stores = Stores::memory();
    let app = WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .stores(stores.clone())
        .build()?;
    let login = WeChatLogin::builder(
        app.oauth(),
        format!("{site}/auth/wechat/callback"),
        Key::generate(),
    )
    .flow(Flow::OfficialAccountUserInfo)
    .stores(stores.clone())
    .build()?;
    let follow = FollowLogin::builder(login.clone(), app.official_account())
        .qr_image_base(sandbox.url()) // the real one: https://mp.weixin.qq.com (the default)
        .build()?;
    let messages = MessageServer::builder(server_token.as_str(), app.appid())
        .dedupe(stores.leases.clone())
        .build()?;
    let router = DemoSite::new(&login)
        .follow_login(follow, messages)
        .jssdk(JsSdk::for_login(&login, app.official_account()))
        .phone(sandbox.clone())
        .router();

    let serving = tokio::spawn(serve(listener, router, ServeLimits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    // Like the admin console's 提交: WeChat checks the URL with an echostr first.
    sandbox
        .register_server(
            app.appid(),
            ServerConfig::new(format!("{site}{MESSAGE_PATH}"), server_token.as_str()),
        )
        .await?;
    println!(
        "demo running at {site}/ (WeChat sandbox at {})",
        sandbox.url()
    );
    serving.await??;
    Ok(())
}
