//! A site under test for the login middleware's per-request cost: `/profile` behind
//! `WeChatUser` (server-side session looked up in the memory store on every request), or
//! the same handler with no middleware at all. Prints `listening on http://127.0.0.1:PORT`,
//! then serves until killed.

use axum::Router;
use axum::routing::get;
use clap::ValueEnum;
use wechat_oauth::OAuthClient;
use wechat_oauth_axum::{Flow, Key, WeChatLogin, WeChatUser};
use wechat_oauth_bench::sandbox::{APPID, SECRET};

/// Which site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Site {
    /// `WeChatLogin` routes, `/profile` takes a `WeChatUser`.
    Login,
    /// `/profile` alone, answering the same kind of body without any session.
    Bare,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SiteArgs {
    #[arg(long = "impl", value_enum)]
    site: Site,
    /// The sandbox (the login's code exchange and profile fetch go there).
    #[arg(long)]
    sandbox: String,
}

/// What both sites answer: `hello <openid>` (the bare site's openid is as long as a real one).
async fn profile(user: WeChatUser) -> String {
    format!("hello {}", user.openid)
}

async fn bare_profile() -> String {
    format!("hello {}", "oBARE0000000000000000000000a")
}

pub(crate) async fn run(args: SiteArgs) -> anyhow::Result<std::convert::Infallible> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = match args.site {
        Site::Bare => Router::new().route("/profile", get(bare_profile)),
        Site::Login => {
            let client = OAuthClient::builder(APPID, SECRET)
                .api_base(args.sandbox.clone())
                .open_base(args.sandbox.clone())
                .build()?;
            let login = WeChatLogin::builder(
                client,
                format!("http://{addr}/auth/wechat/callback"),
                Key::generate(),
            )
            .flow(Flow::OfficialAccountUserInfo)
            .build()?;
            Router::new()
                .route("/profile", get(profile))
                .merge(login.routes())
                .with_state(login)
        }
    };
    println!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    anyhow::bail!("the site stopped")
}
