//! `sandbox`: the local WeChat server, with the flags of the `wechat-sandbox` binary.
//!
//! That binary keeps its argument parsing private, so the flags are declared again here;
//! `tests/it/sandbox.rs` pins that they behave the same.

use std::net::SocketAddr;

use clap::Args;
use wechat_sandbox::{AppKind, Sandbox, SandboxBuilder};

use crate::failure::{Failure, Status};
use crate::output;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// An app, `APPID:SECRET[:KIND[:DOMAIN]]`, KIND = official (default) | website |
    /// miniprogram. DOMAIN is the authorized callback host (host or host:port); without it
    /// loopback hosts on any port are accepted. Repeatable. Without any, the documented
    /// default apps exist.
    #[arg(long = "app", value_name = "APPID:SECRET[:KIND[:DOMAIN]]")]
    pub apps: Vec<String>,

    /// A user, ID or ID:snapshot. Repeatable. Without any: alice, bob and snapshot user guest.
    #[arg(long = "user", value_name = "ID[:snapshot]")]
    pub users: Vec<String>,

    /// Worker threads; 1 runs everything on one thread. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Requests kept in the journal (oldest dropped first); 0 disables it.
    #[arg(long, value_name = "N", default_value_t = wechat_sandbox::DEFAULT_JOURNAL_CAPACITY)]
    pub journal_capacity: usize,
}

/// Starts the sandbox, prints `listening on http://HOST:PORT` then its apps (never their
/// secrets) and users, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: &SandboxArgs) -> Result<(), Failure> {
    let sandbox = builder(args)?.start().await.map_err(|e| match e {
        wechat_sandbox::Error::Config(_) => Failure::new(Status::Usage, e),
        e => Failure::new(Status::Unexpected, e),
    })?;
    output::print_line(&format!("listening on {}", sandbox.url()))?;
    for app in sandbox.apps() {
        let domain = app.domain.as_deref().unwrap_or("any loopback host");
        output::print_line(&format!(
            "app {} {} (callback domain: {domain})",
            app.appid, app.kind
        ))?;
    }
    for user in sandbox.users() {
        let snapshot = if user.snapshot { " (snapshot)" } else { "" };
        output::print_line(&format!("user {}{snapshot}", user.id))?;
    }
    shutdown_signal().await;
    Ok(())
}

fn builder(args: &SandboxArgs) -> Result<SandboxBuilder, Failure> {
    let mut builder = Sandbox::builder()
        .listen(args.listen)
        .journal_capacity(args.journal_capacity);
    for spec in &args.apps {
        // The domain may itself hold a `:port`, so it takes the rest of the string.
        let mut parts = spec.splitn(4, ':');
        let (Some(appid), Some(secret)) = (parts.next(), parts.next()) else {
            return Err(Failure::usage("--app wants APPID:SECRET[:KIND[:DOMAIN]]"));
        };
        let kind = match parts.next() {
            None | Some("") => AppKind::Official,
            Some(kind) => kind
                .parse()
                .map_err(|e| Failure::usage(format!("--app {appid}: {e}")))?,
        };
        builder = builder.app(appid, secret, kind);
        if let Some(domain) = parts.next().filter(|d| !d.is_empty()) {
            builder = builder.domain(domain);
        }
    }
    for spec in &args.users {
        builder = match spec.split_once(':') {
            None => builder.user(spec),
            Some((id, "snapshot")) => builder.snapshot_user(id),
            Some((id, other)) => {
                return Err(Failure::usage(format!(
                    "--user {id}:{other}: the only flag is `snapshot`"
                )));
            }
        };
    }
    Ok(builder)
}

/// Waits for Ctrl-C or SIGTERM (what `kill` and process supervisors send).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
