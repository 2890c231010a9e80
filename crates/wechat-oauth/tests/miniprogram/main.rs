//! Mini Program login: crypto vectors and tampering, and the full flow against the sandbox.

mod crypto;
mod flow;
mod secrets;
mod server_token;
mod vectors;

use wechat_oauth::miniprogram::MiniProgramClient;
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET};

/// A sandbox with the default apps and users, and a Mini Program client pointed at it.
async fn start() -> (Sandbox, MiniProgramClient) {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let client = MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .build()
        .unwrap();
    (sandbox, client)
}

/// How many requests the sandbox received for `path`.
fn requests_to(sandbox: &Sandbox, path: &str) -> usize {
    sandbox.journal().iter().filter(|e| e.path == path).count()
}
