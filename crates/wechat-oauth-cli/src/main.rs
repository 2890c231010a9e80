//! `wechat-oauth`: WeChat OAuth from the command line.
//!
//! Every subcommand takes its configuration from flags or `WECHAT_*` environment variables
//! (see `wechat-oauth --help`), prints its result on stdout (JSON, except `authorize-url`)
//! and reports failures on stderr with an exit status that says what kind of failure it
//! was ([`failure::Status`]).

mod args;
mod decrypt;
mod demo;
mod failure;
mod oauth;
mod output;
mod sandbox;
mod store;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, Config};
use failure::{Failure, Status};
use sandbox::SandboxArgs;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.command);
    let result = runtime(&cli.command)
        .map_err(Failure::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            failure.exit_code()
        }
    }
}

/// A multi-threaded runtime, except for `sandbox --threads N` (1: everything on the main
/// thread, as `wechat-sandbox` does for benchmarks).
fn runtime(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Sandbox(args) if args.threads == Some(1) => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        Command::Sandbox(SandboxArgs {
            threads: Some(n), ..
        }) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(*n))
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config = cli.config;
    match cli.command {
        Command::Demo(args) => demo(&config, args.listen).await,
        Command::Sandbox(args) => sandbox::run(&args).await,
        Command::AuthorizeUrl(args) => oauth::authorize_url(&config, &args),
        Command::Exchange { code } => oauth::exchange(&config, &code).await,
        Command::User { openid, lang } => oauth::user(&config, &openid, lang).await,
        Command::Refresh { openid } => oauth::refresh(&config, &openid).await,
        Command::Verify { openid } => oauth::verify(&config, &openid).await,
        Command::UserByCode { code, lang } => oauth::user_by_code(&config, &code, lang).await,
        Command::Decrypt(args) => decrypt::run(&config, &args),
        Command::Token(command) => store::run(&config, &command).await,
    }
}

async fn demo(config: &Config, listen: std::net::SocketAddr) -> Result<(), Failure> {
    // Both or neither: with neither the demo runs its own sandbox.
    match (&config.appid, &config.secret) {
        (Some(_), None) => {
            return Err(Failure::usage(
                "WECHAT_APPID is set but WECHAT_SECRET is not: set both, or neither to use the built-in sandbox",
            ));
        }
        (None, Some(_)) => {
            return Err(Failure::usage(
                "WECHAT_SECRET is set but WECHAT_APPID is not: set both, or neither to use the built-in sandbox",
            ));
        }
        _ => {}
    }
    let options = demo::DemoOptions {
        listen,
        appid: config.appid.clone(),
        secret: config.secret.clone(),
        api_base: config.api_base.clone(),
        open_base: config.open_base.clone(),
        store: config.token_store.clone(),
        key: demo::DemoOptions::key_from_env().map_err(|e| Failure::usage(format!("{e:#}")))?,
    };
    demo::run(options)
        .await
        .map_err(|e| Failure::new(Status::Unexpected, e))
}

/// Logs go to stderr so stdout stays machine-readable. The servers (`demo`, `sandbox`) log
/// requests at `info`; the one-shot commands only warn. The TLS verifier's own log of a
/// refused certificate is left out: the command's error line says the same. `RUST_LOG`
/// overrides all of it.
fn init_tracing(command: &Command) {
    let default = match command {
        Command::Demo(_) | Command::Sandbox(_) => "info,rustls_platform_verifier=off",
        _ => "warn,rustls_platform_verifier=off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
