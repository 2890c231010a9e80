//! The message-interface load generator: WeChat's side of the message interface. It
//! pre-builds signed (and in safe mode encrypted) text messages, each with its own
//! `MsgId` (a server that deduplicates WeChat's retries must see no duplicates), warms the
//! server up, prints `ready`, and on `go` POSTs the rest with N in flight over keep-alive
//! connections, checking every reply as WeChat would ([`check_reply`]).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncBufReadExt as _;
use wechat_oauth_bench::load::keep_in_flight_count;
use wechat_oauth_bench::measure::ClientReport;
use wechat_oauth_bench::wechat_push::{Account, Mode, Push, check_reply, text_push};

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// The server URL registered with WeChat, e.g. `http://127.0.0.1:PORT/wechat`.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    mode: Mode,
    /// Messages in the measured run.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Messages sent before `ready` (JIT warm-up, connection set-up).
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Messages in flight.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
}

type HyperClient = Client<HttpConnector, Full<Bytes>>;

async fn post(
    client: &HyperClient,
    url: &str,
    account: &Account,
    mode: Mode,
    push: &Push,
) -> anyhow::Result<()> {
    let request = hyper::Request::post(format!("{url}?{}", push.query))
        .header(hyper::header::CONTENT_TYPE, "text/xml")
        .body(Full::new(push.body.clone()))?;
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    check_reply(account, mode, push, &body)
}

pub(crate) async fn run(args: PushArgs) -> anyhow::Result<ClientReport> {
    let account = Account::bench();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let timestamp = now.as_secs();
    // MsgIds unique across runs too, in case a server keeps what it has seen.
    let first_id = u64::try_from(now.as_micros()).unwrap_or(u64::MAX / 2) * 1000;
    let total = args.warmup + args.messages;
    let pushes: Vec<Push> = (0..total)
        .map(|n| {
            text_push(
                &account,
                args.mode,
                n as u64 % 1000,
                first_id + n as u64,
                timestamp,
            )
        })
        .collect();
    let (warmup, measured) = pushes.split_at(args.warmup);

    let client: HyperClient = Client::builder(TokioExecutor::new()).build_http();
    let (client, url, account, mode) = (&client, args.url.as_str(), &account, args.mode);
    let warm = keep_in_flight_count(args.concurrency, warmup.len(), |_, n| {
        post(client, url, account, mode, &warmup[n])
    })
    .await;
    if let Some(e) = warm.first_error {
        anyhow::bail!(
            "{} of {} warm-up messages failed; the first: {e}",
            warm.errors,
            warmup.len()
        );
    }

    // The harness reads the server's CPU now, then releases us.
    println!("ready");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    let result = keep_in_flight_count(args.concurrency, measured.len(), |_, n| {
        post(client, url, account, mode, &measured[n])
    })
    .await;
    Ok(result.into_report(&format!("push-{}", mode.as_str()), args.concurrency))
}
