//! Stand-in for the demo site until the axum work lands (it replaces this file).

use std::net::SocketAddr;

/// What the demo site needs to start.
#[allow(dead_code)] // read by the real demo
pub struct DemoOptions {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The app's appid; `None` runs an in-process sandbox.
    pub appid: Option<String>,
    /// The app secret.
    pub secret: Option<String>,
    /// Base URL of WeChat's JSON APIs.
    pub api_base: Option<String>,
    /// Base URL of WeChat's authorization pages.
    pub open_base: Option<String>,
    /// Token store URL.
    pub token_store: String,
}

/// Runs the demo site until Ctrl-C.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    anyhow::bail!("demo not built yet (would listen on {})", opts.listen)
}
