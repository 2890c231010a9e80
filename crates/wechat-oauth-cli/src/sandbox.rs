//! `sandbox`: the local WeChat server, as `wechat-sandbox` runs it.

use crate::failure::{Failure, Status};

/// Starts the sandbox and serves until Ctrl-C.
pub async fn run(args: wechat_sandbox::cli::Args) -> Result<(), Failure> {
    wechat_sandbox::cli::run(args)
        .await
        .map_err(|e| Failure::new(Status::Unexpected, e))
}
