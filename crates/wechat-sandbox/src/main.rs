//! `wechat-sandbox`: run the local WeChat server from the command line.
//!
//! ```text
//! wechat-sandbox --listen 127.0.0.1:PORT [--app APPID:SECRET[:KIND[:DOMAIN]]]... [--user ID[:snapshot]]...
//!                [answer-shape flags: --language, --no-language, --no-unionid, --escape-slashes,
//!                 --errmsg, --sns-content-type, --refresh-scope-trailing-comma]
//! ```
//!
//! The first stdout line is `listening on http://HOST:PORT`; then the apps (appid and kind,
//! never secrets) and users. Secrets, codes and tokens are never printed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use wechat_sandbox::{AppKind, ErrmsgShape, Sandbox, ServerLimits, Shapes, SnsContentType};

/// A faithful local WeChat server (open.weixin.qq.com pages and api.weixin.qq.com APIs).
#[derive(Debug, Parser)]
#[command(name = "wechat-sandbox", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// An app, APPID:SECRET[:KIND[:DOMAIN]], KIND = official (default) | website | miniprogram.
    /// DOMAIN is the authorized callback host (host or host:port); without it loopback hosts
    /// on any port are accepted. Repeatable. Without any, the documented default apps exist.
    #[arg(long = "app", value_name = "APPID:SECRET[:KIND[:DOMAIN]]")]
    apps: Vec<String>,
    /// A user, ID or ID:snapshot. Repeatable. Without any: alice, bob and snapshot user guest.
    #[arg(long = "user", value_name = "ID[:snapshot]")]
    users: Vec<String>,
    /// Worker threads; 1 runs everything on one thread (pin it with `taskset` for benchmarks).
    /// Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Requests kept in the journal (oldest dropped first); 0 disables it.
    #[arg(long, default_value_t = wechat_sandbox::DEFAULT_JOURNAL_CAPACITY)]
    journal_capacity: usize,
    /// Connections open at once; one more gets a 503 and is closed.
    #[arg(long, default_value_t = wechat_sandbox::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Milliseconds a client may take to send a request head (and again its body).
    #[arg(long, value_name = "MS", default_value_t = millis(wechat_sandbox::DEFAULT_HEADER_READ_TIMEOUT))]
    header_read_timeout_ms: u64,
    /// Milliseconds a keep-alive connection may wait for its next request.
    #[arg(long, value_name = "MS", default_value_t = millis(wechat_sandbox::DEFAULT_IDLE_TIMEOUT))]
    idle_timeout_ms: u64,
    /// The `language` value of sns/userinfo answers (default "", as since 2021).
    #[arg(long, value_name = "TEXT", conflicts_with = "no_language")]
    language: Option<String>,
    /// Leave `language` out of sns/userinfo answers.
    #[arg(long)]
    no_language: bool,
    /// Answer as for apps bound to no Open Platform account: no `unionid` anywhere.
    #[arg(long)]
    no_unionid: bool,
    /// Write `/` as `\/` in JSON strings, as real headimgurl values and errmsg URLs are.
    #[arg(long)]
    escape_slashes: bool,
    /// The errmsg suffix: rid (`, rid: …`), rid-no-comma, hints (`, hints: [ req_id: … ]`),
    /// hint (` hint: […]`), hint-rid (` hint: […] rid: …`) or bare.
    #[arg(long, value_name = "SHAPE", default_value = "rid")]
    errmsg: ErrmsgShape,
    /// The Content-Type of /sns/* answers: text-plain or json (application/json; charset=utf-8).
    #[arg(long, value_name = "TYPE", default_value = "text-plain")]
    sns_content_type: SnsContentType,
    /// Report a refreshed scope as real refreshes do: `snsapi_base,snsapi_userinfo,`.
    #[arg(long)]
    refresh_scope_trailing_comma: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Cli {
    fn limits(&self) -> ServerLimits {
        let mut limits = ServerLimits::default();
        limits.max_connections = self.max_connections;
        limits.header_read_timeout = Duration::from_millis(self.header_read_timeout_ms);
        limits.idle_timeout = Duration::from_millis(self.idle_timeout_ms);
        limits
    }

    fn shapes(&self) -> Shapes {
        let mut shapes = Shapes::default();
        if self.no_language {
            shapes.language = None;
        } else if let Some(language) = &self.language {
            shapes.language = Some(language.clone());
        }
        shapes.unionid = !self.no_unionid;
        shapes.escape_slashes = self.escape_slashes;
        shapes.errmsg = self.errmsg;
        shapes.sns_content_type = self.sns_content_type;
        shapes.refresh_scope_trailing_comma = self.refresh_scope_trailing_comma;
        shapes
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = match cli.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(cli))
}

fn builder(cli: &Cli) -> anyhow::Result<wechat_sandbox::SandboxBuilder> {
    let mut builder = Sandbox::builder()
        .listen(cli.listen)
        .journal_capacity(cli.journal_capacity)
        .shapes(cli.shapes())
        .limits(cli.limits());
    for spec in &cli.apps {
        // The domain may itself hold a `:port`, so it takes the rest of the string.
        let mut parts = spec.splitn(4, ':');
        let (Some(appid), Some(secret)) = (parts.next(), parts.next()) else {
            bail!("--app wants APPID:SECRET[:KIND[:DOMAIN]]");
        };
        let kind = match parts.next() {
            None | Some("") => AppKind::Official,
            Some(kind) => kind.parse().with_context(|| format!("--app {appid}"))?,
        };
        builder = builder.app(appid, secret, kind);
        if let Some(domain) = parts.next().filter(|d| !d.is_empty()) {
            builder = builder.domain(domain);
        }
    }
    for spec in &cli.users {
        builder = match spec.split_once(':') {
            None => builder.user(spec),
            Some((id, "snapshot")) => builder.snapshot_user(id),
            Some((id, other)) => bail!("--user {id}:{other}: the only flag is `snapshot`"),
        };
    }
    Ok(builder)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let sandbox = builder(&cli)?.start().await?;
    println!("listening on {}", sandbox.url());
    if !sandbox.addr().ip().is_loopback() {
        eprintln!(
            "warning: {} is not a loopback address; anyone who can reach it can drive the \
             unauthenticated /__sandbox/ control plane and read its journal",
            sandbox.addr()
        );
    }
    for app in sandbox.apps() {
        let domain = app.domain.as_deref().unwrap_or("any loopback host");
        println!("app {} {} (callback domain: {domain})", app.appid, app.kind);
    }
    for user in sandbox.users() {
        let snapshot = if user.snapshot { " (snapshot)" } else { "" };
        println!("user {}{snapshot}", user.id);
    }
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
