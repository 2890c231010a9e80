//! One benchmark client process. The harness (`wechat-oauth-bench`) spawns it pinned to
//! its own core, so its CPU time and peak RSS belong to the client alone; it prints one
//! JSON [`ClientReport`](wechat_oauth_bench::measure::ClientReport) as its last line.
//!
//! Every mode runs on a single-threaded tokio runtime: the process gets exactly one
//! core, and a multi-threaded runtime on one core would only add hand-offs.

mod browse;
mod floor;
mod getuser;
mod msg_server;
mod push;
mod site;
mod state_stores;
mod stores;
mod storm;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(about = "A benchmark client process (spawned by wechat-oauth-bench)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Keep N `get_user` calls (or bare GETs of the same URL) in flight for a while.
    Getuser(GetUserArgs),
    /// Seed expired tokens, wait for `go` on stdin, then fire every call at once.
    Storm(storm::StormArgs),
    /// get + save round trips against a token store, or the same through its raw driver.
    Stores(stores::StoreArgs),
    /// Serve HTTPS on 127.0.0.1 (a fresh self-signed certificate, written to
    /// `--cert-out`) and relay every connection to the sandbox at `--target`; prints
    /// `listening on https://127.0.0.1:PORT`, then runs until killed.
    TlsRelay(TlsRelayArgs),
    /// Push signed (or encrypted) text messages to a message-interface server, checking
    /// every reply; prints `ready` after the warm-up and waits for `go` on stdin.
    Push(push::PushArgs),
    /// Round trips through the storage model's sessions, credentials and single-use
    /// values, or the same through the backend's raw driver.
    State(state_stores::StateArgs),
    /// Ours as a message-interface server (the load generator's peer); prints
    /// `listening on URL`, then serves until killed.
    MsgServer(msg_server::MsgServerArgs),
    /// A site under test for the login middleware (`/profile` with or without `WeChatUser`).
    Site(site::SiteArgs),
    /// A browser signing in once, then requesting one page over and over.
    Browse(browse::BrowseArgs),
}

#[derive(Debug, clap::Args)]
struct TlsRelayArgs {
    /// The sandbox's `host:port`.
    #[arg(long)]
    target: std::net::SocketAddr,
    /// Where to write the certificate (PEM) clients must trust.
    #[arg(long)]
    cert_out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Impl {
    /// `wechat_oauth::OAuthClient::get_user` with its default memory store.
    Ours,
    /// A bare keep-alive hyper GET of the same `/sns/userinfo` URL: the floor.
    Hyper,
}

#[derive(Debug, clap::Args)]
struct GetUserArgs {
    #[arg(long = "impl", value_enum)]
    implementation: Impl,
    /// The sandbox, e.g. `http://127.0.0.1:PORT`.
    #[arg(long)]
    base: String,
    #[arg(long)]
    appid: String,
    #[arg(long)]
    secret: String,
    /// Authorization codes (one per line) to exchange for the tokens the calls use.
    #[arg(long)]
    codes: PathBuf,
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    #[arg(long, default_value_t = 4000)]
    duration_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async move {
        match cli.mode {
            Mode::MsgServer(args) => msg_server::run(args).await.map(|never| match never {}),
            Mode::Site(args) => site::run(args).await.map(|never| match never {}),
            Mode::Browse(args) => browse::run(args).await,
            Mode::TlsRelay(args) => {
                let (listener, acceptor) = wechat_oauth_bench::tls::bind(&args.cert_out).await?;
                println!("listening on https://{}", listener.local_addr()?);
                wechat_oauth_bench::tls::relay(listener, acceptor, args.target).await;
                anyhow::bail!("the relay's listener failed")
            }
            Mode::Getuser(args) => {
                let codes = read_lines(&args.codes)?;
                let duration = Duration::from_millis(args.duration_ms);
                match args.implementation {
                    Impl::Ours => getuser::run(&args, &codes, duration).await,
                    Impl::Hyper => floor::run(&args, &codes, duration).await,
                }
            }
            Mode::Storm(args) => storm::run(args).await,
            Mode::Stores(args) => stores::run(args).await,
            Mode::Push(args) => push::run(args).await,
            Mode::State(args) => state_stores::run(args).await,
        }
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn read_lines(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
