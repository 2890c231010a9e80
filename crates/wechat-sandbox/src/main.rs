//! `wechat-sandbox`: run the local WeChat server from the command line.
//!
//! ```text
//! wechat-sandbox --listen 127.0.0.1:PORT [--app APPID:SECRET[:KIND[:DOMAIN]]]... [--user ID[:snapshot]]...
//!                [answer-shape flags: --language, --no-language, --no-unionid, --escape-slashes,
//!                 --errmsg, --sns-content-type, --refresh-scope-trailing-comma]
//!                [server limits: --max-connections, --header-read-timeout-ms, --idle-timeout-ms]
//! ```
//!
//! The flags and what is printed are defined once, in `wechat_sandbox::cli`, and shared
//! with `wechat-oauth sandbox`.

use clap::Parser;
use wechat_sandbox::cli::SandboxArgs;

/// A faithful local WeChat server (open.weixin.qq.com pages and api.weixin.qq.com APIs).
#[derive(Debug, Parser)]
#[command(name = "wechat-sandbox", version)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.sandbox
        .runtime()?
        .block_on(wechat_sandbox::cli::serve(&cli.sandbox))?;
    Ok(())
}
