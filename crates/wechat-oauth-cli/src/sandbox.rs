//! `sandbox`: the local WeChat server. Its flags and what it prints are the
//! `wechat-sandbox` binary's, from one definition in `wechat_sandbox::cli`.

use wechat_sandbox::cli::{SandboxArgs, ServeError};

use crate::failure::{Failure, Status};

/// Serves until Ctrl-C or SIGTERM; malformed `--app`/`--user` values exit 2.
pub async fn run(args: &SandboxArgs) -> Result<(), Failure> {
    wechat_sandbox::cli::serve(args).await.map_err(|e| match e {
        e if e.is_usage() => Failure::new(Status::Usage, e),
        ServeError::Output(e) => Failure::from(e),
        e => Failure::new(Status::Unexpected, e),
    })
}
