//! The demo site on a local WeChat sandbox: `cargo run -p wechat-oauth-axum --example demo
//! --features demo`, then open the printed URL and approve as `alice` or `bob` on the
//! sandbox's consent page. `wechat-oauth demo` runs the same site
//! ([`wechat_oauth_axum::demo::site`]), also against the real WeChat.
//!
//! What a site of your own needs is all here: an `OAuthClient`, a `WeChatLogin` with its
//! callback URL, key and stores, the router (`demo::site`), and a server with limits.

use std::net::Ipv4Addr;

use wechat_oauth::OAuthClient;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::{Flow, Key, ServeLimits, WeChatLogin, serve};
use wechat_sandbox::{Sandbox, defaults};

/// The site: an `OAuthClient` on `sandbox`, a `WeChatLogin` calling back to `site_url`,
/// and the demo's router. Your own site builds the same three things.
pub fn site(sandbox: &Sandbox, site_url: &str) -> Result<axum::Router, Box<dyn std::error::Error>> {
    // One store set for everything: tokens, web sessions, used states. Use
    // `wechat_oauth_stores::open("redis://…")` (or any other URL) when more than one process
    // serves the site.
    let stores = Stores::memory();
    let client = OAuthClient::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .stores(stores.clone())
        .build()?;
    // Load the key from your secret store in production, the same on every process.
    let login = WeChatLogin::builder(
        client,
        format!("{site_url}auth/wechat/callback"),
        Key::generate(),
    )
    .flow(Flow::OfficialAccountUserInfo)
    .stores(stores)
    .build()?;
    Ok(wechat_oauth_axum::demo::site(&login, true))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let site_url = format!("http://{}/", listener.local_addr()?);
    let app = site(&sandbox, &site_url)?;
    println!(
        "demo running at {site_url} (WeChat sandbox at {})",
        sandbox.url()
    );
    serve(listener, app, ServeLimits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
