//! `wechat-oauth` (axum branch stand-in): runs the demo site with defaults. The cli branch's
//! `main.rs`, with every subcommand, replaces this file at merge.

mod demo;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    demo::run(demo::DemoOptions {
        listen: "127.0.0.1:8080".parse()?,
        appid: std::env::var("WECHAT_APPID").ok(),
        secret: std::env::var("WECHAT_SECRET").ok(),
        api_base: std::env::var("WECHAT_API_BASE").ok(),
        open_base: std::env::var("WECHAT_OPEN_BASE").ok(),
        token_store: "memory:".into(),
    })
    .await
}
