//! The sandbox's command line, defined once: [`SandboxArgs`] is the `wechat-sandbox`
//! binary's parser and is flattened into `wechat-oauth sandbox`, and [`serve`] is what both
//! run, so the two commands cannot drift apart.
//!
//! ```text
//! wechat-sandbox --listen 127.0.0.1:PORT [--app APPID:SECRET[:KIND[:DOMAIN]]]... [--user ID[:snapshot]]...
//!                [answer-shape flags: --language, --no-language, --no-unionid, --escape-slashes,
//!                 --errmsg, --sns-content-type, --refresh-scope-trailing-comma]
//!                [server limits: --max-connections, --header-read-timeout-ms, --idle-timeout-ms]
//! ```
//!
//! The first stdout line is `listening on http://HOST:PORT`; then the apps (appid and kind,
//! never secrets) and users, one a line. Secrets, codes and tokens are never printed.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::{
    AppKind, ErrmsgShape, Error, Sandbox, SandboxBuilder, ServerLimits, Shapes, SnsContentType,
};

/// The sandbox's flags, as a [`clap::Args`] struct a binary flattens
/// (`#[command(flatten)]`) or parses on its own.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
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

    /// Worker threads; 1 runs everything on one thread (pin it with `taskset` for
    /// benchmarks). Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Requests kept in the journal (oldest dropped first); 0 disables it.
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_JOURNAL_CAPACITY)]
    pub journal_capacity: usize,

    /// Connections open at once; one more gets a 503 and is closed.
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Milliseconds a client may take to send a request head (and again its body).
    #[arg(long, value_name = "MS", default_value_t = millis(crate::DEFAULT_HEADER_READ_TIMEOUT))]
    pub header_read_timeout_ms: u64,

    /// Milliseconds a keep-alive connection may wait for its next request.
    #[arg(long, value_name = "MS", default_value_t = millis(crate::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout_ms: u64,

    /// The `language` value of sns/userinfo answers (default "", as since 2021).
    #[arg(long, value_name = "TEXT", conflicts_with = "no_language")]
    pub language: Option<String>,

    /// Leave `language` out of sns/userinfo answers.
    #[arg(long)]
    pub no_language: bool,

    /// Answer as for apps bound to no Open Platform account: no `unionid` anywhere.
    #[arg(long)]
    pub no_unionid: bool,

    /// Write `/` as `\/` in JSON strings, as real headimgurl values and errmsg URLs are.
    #[arg(long)]
    pub escape_slashes: bool,

    /// The errmsg suffix: rid (`, rid: …`), rid-no-comma, hints (`, hints: [ req_id: … ]`),
    /// hint (` hint: […]`), hint-rid (` hint: […] rid: …`) or bare.
    #[arg(long, value_name = "SHAPE", default_value = "rid")]
    pub errmsg: ErrmsgShape,

    /// The Content-Type of /sns/* answers: text-plain or json (application/json; charset=utf-8).
    #[arg(long, value_name = "TYPE", default_value = "text-plain")]
    pub sns_content_type: SnsContentType,

    /// Report a refreshed scope as real refreshes do: `snsapi_base,snsapi_userinfo,`.
    #[arg(long)]
    pub refresh_scope_trailing_comma: bool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl SandboxArgs {
    /// The builder these flags describe.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed `--app` or `--user`.
    pub fn builder(&self) -> Result<SandboxBuilder, Error> {
        let mut builder = Sandbox::builder()
            .listen(self.listen)
            .journal_capacity(self.journal_capacity)
            .shapes(self.shapes())
            .limits(self.limits());
        for spec in &self.apps {
            // The domain may itself hold a `:port`, so it takes the rest of the string.
            let mut parts = spec.splitn(4, ':');
            let (Some(appid), Some(secret)) = (parts.next(), parts.next()) else {
                return Err(Error::Config(
                    "--app wants APPID:SECRET[:KIND[:DOMAIN]]".to_owned(),
                ));
            };
            let kind = match parts.next() {
                None | Some("") => AppKind::Official,
                Some(kind) => kind
                    .parse()
                    .map_err(|e| Error::Config(format!("--app {appid}: {e}")))?,
            };
            builder = builder.app(appid, secret, kind);
            if let Some(domain) = parts.next().filter(|d| !d.is_empty()) {
                builder = builder.domain(domain);
            }
        }
        for spec in &self.users {
            builder = match spec.split_once(':') {
                None => builder.user(spec),
                Some((id, "snapshot")) => builder.snapshot_user(id),
                Some((id, other)) => {
                    return Err(Error::Config(format!(
                        "--user {id}:{other}: the only flag is `snapshot`"
                    )));
                }
            };
        }
        Ok(builder)
    }

    /// The server limits of `--max-connections`, `--header-read-timeout-ms` and
    /// `--idle-timeout-ms`.
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            ..ServerLimits::default()
        }
    }

    /// The answer shapes of the shape flags (`--language`, `--errmsg`…).
    pub fn shapes(&self) -> Shapes {
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

    /// The runtime `--threads` asks for: one thread runs everything on the caller's thread
    /// (`current_thread`), N > 1 that many workers, none one worker per core.
    ///
    /// # Errors
    /// When the runtime cannot be created (the OS refused threads or an event loop).
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.threads {
            Some(1) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Some(n) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(usize::from(n))
                .enable_all()
                .build(),
            None => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
        }
    }
}

/// Why [`serve`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The flags were unusable or the sandbox could not start (the address is taken…).
    #[error(transparent)]
    Sandbox(#[from] Error),
    /// Standard output could not be written (closed pipe).
    #[error("cannot write to standard output: {0}")]
    Output(#[from] std::io::Error),
}

impl ServeError {
    /// Whether the command line itself was wrong (a malformed `--app` or `--user`), as
    /// opposed to a failure at run time.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Sandbox(Error::Config(_)))
    }
}

/// Starts the sandbox `args` describe, prints `listening on URL` then its apps (never their
/// secrets) and users on stdout, warns on stderr when the address is not loopback, and
/// serves until Ctrl-C or SIGTERM.
///
/// # Errors
/// [`ServeError::Sandbox`] when the flags are unusable or the listener cannot be bound;
/// [`ServeError::Output`] when stdout is closed.
pub async fn serve(args: &SandboxArgs) -> Result<(), ServeError> {
    let sandbox = args.builder()?.start().await?;
    {
        let mut stdout = std::io::stdout().lock();
        for line in banner(&sandbox) {
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
    }
    if !sandbox.addr().ip().is_loopback() {
        eprintln!(
            "warning: {} is not a loopback address; anyone who can reach it can drive the \
             unauthenticated /__sandbox/ control plane and read its journal",
            sandbox.addr()
        );
    }
    shutdown_signal().await;
    Ok(())
}

/// What [`serve`] prints: `listening on URL`, then one line per app and per user.
pub fn banner(sandbox: &Sandbox) -> Vec<String> {
    let mut lines = vec![format!("listening on {}", sandbox.url())];
    for app in sandbox.apps() {
        let domain = app.domain.as_deref().unwrap_or("any loopback host");
        lines.push(format!(
            "app {} {} (callback domain: {domain})",
            app.appid, app.kind
        ));
    }
    for user in sandbox.users() {
        let snapshot = if user.snapshot { " (snapshot)" } else { "" };
        lines.push(format!("user {}{snapshot}", user.id));
    }
    lines
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
