//! Ours, as a message-interface server under test: `wechat_oauth_message::axum::router`
//! served by `axum::serve` on 127.0.0.1 (single-threaded, like every bench process), the
//! handler answering each text message with its content echoed, as the npm peer does.
//! Prints `listening on http://127.0.0.1:PORT/wechat`, then serves until killed.

use wechat_oauth_bench::wechat_push::{bench_account, echo};
use wechat_oauth_message::{Message, MessageKind, MessageServer, Mode, Reply};

#[derive(Debug, clap::Args)]
pub(crate) struct MsgServerArgs {
    /// `plain` (明文模式) or `encrypted` (安全模式: only encrypted pushes accepted).
    #[arg(long, value_enum)]
    mode: wechat_oauth_bench::wechat_push::Mode,
}

pub(crate) async fn run(args: MsgServerArgs) -> anyhow::Result<std::convert::Infallible> {
    let mut builder = MessageServer::builder(bench_account::TOKEN, bench_account::APPID);
    builder = match args.mode {
        wechat_oauth_bench::wechat_push::Mode::Plain => builder.mode(Mode::Plain),
        wechat_oauth_bench::wechat_push::Mode::Encrypted => builder
            .mode(Mode::Safe)
            .encoding_aes_key(bench_account::ENCODING_AES_KEY),
    };
    let server = builder.build()?;
    let app =
        wechat_oauth_message::axum::router("/wechat", server, |message: Message| async move {
            match message.kind {
                MessageKind::Text(text) => Reply::text(echo(&text.content)),
                _ => Reply::Success,
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}/wechat", listener.local_addr()?);
    axum::serve(listener, app).await?;
    anyhow::bail!("the server stopped")
}
