//! `wechat-oauth`: WeChat OAuth from the command line.
//!
//! Every subcommand takes its configuration from its own flags or `WECHAT_*` environment
//! variables (see `wechat-oauth SUBCOMMAND --help`), prints its result on stdout (JSON,
//! except `authorize-url`) and reports failures on stderr with an exit status that says
//! what kind of failure it was ([`failure::Status`]).

mod app;
mod args;
mod base_url;
mod decrypt;
mod demo;
mod failure;
mod jssdk;
mod mp;
mod oauth;
mod output;
mod sandbox;
mod secret_input;
mod send_message;
mod store;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, DemoArgs};
use failure::{Failure, Status};

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

/// A multi-threaded runtime, except for `sandbox`, which builds the one its `--threads`
/// asks for (as `wechat-sandbox` does).
fn runtime(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    match command {
        Command::Sandbox(args) => args.runtime(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Sandbox(args) => sandbox::run(&args).await,
        Command::AuthorizeUrl(args) => oauth::authorize_url(&args),
        Command::Exchange { code, wechat, show } => {
            let code = code.code.resolve("--code")?;
            oauth::exchange(&wechat, code, show.show_secrets).await
        }
        Command::User {
            openid,
            lang,
            wechat,
        } => oauth::user(&wechat, &openid, lang).await,
        Command::Refresh {
            openid,
            wechat,
            show,
        } => oauth::refresh(&wechat, &openid, show.show_secrets).await,
        Command::Verify { openid, wechat } => oauth::verify(&wechat, &openid).await,
        Command::UserByCode { code, lang, wechat } => {
            let code = code.code.resolve("--code")?;
            oauth::user_by_code(&wechat, code, lang).await
        }
        Command::MpLogin { js_code, wechat } => {
            let js_code = js_code.resolve("--js-code")?;
            mp::login(&wechat, js_code).await
        }
        Command::CheckSession { openid, wechat } => mp::check_session(&wechat, &openid).await,
        Command::Decrypt(args) => decrypt::run(&args).await,
        Command::Token(command) => store::run(&command).await,
        Command::JssdkSign(args) => jssdk::run(&args),
        Command::SendMessage(args) => send_message::run(&args).await,
    }
}

async fn demo(args: DemoArgs) -> Result<(), Failure> {
    // Both or neither: with neither the demo runs its own sandbox.
    let secret = match (&args.app.id.appid, &args.app.secret) {
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
        (_, Some(secret)) => Some(secret.resolve("--secret")?),
        (_, None) => None,
    };
    let api_base = base_url::checked_opt("--api-base", args.api_base.api_base.as_deref())?;
    let open_base = base_url::checked_opt("--open-base", args.open_base.open_base.as_deref())?;
    let options = demo::DemoOptions {
        listen: args.listen,
        appid: args.app.id.appid.clone(),
        secret,
        api_base: api_base.map(str::to_owned),
        open_base: open_base.map(str::to_owned),
        store: args.store.store.clone(),
        key: demo::DemoOptions::key_from_env().map_err(|e| Failure::usage(format!("{e:#}")))?,
        server_token: args
            .message
            .token
            .as_ref()
            .map(|t| t.resolve("--server-token"))
            .transpose()?,
        encoding_aes_key: args
            .message
            .encoding_aes_key
            .as_ref()
            .map(|k| k.resolve("--encoding-aes-key"))
            .transpose()?,
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
