//! The refresh storm: every call finds its openid's token expired at once.
//!
//! Tokens are expired on both clocks: the SDK decides by its own wall clock
//! (`create_at + expires_in`), so the seeded tokens are re-saved with `create_at`
//! moved back by `--backdate-secs`, and the harness advances the sandbox's clock by the
//! same amount so WeChat's side agrees (the refresh token, 30 days, stays good).

use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use tokio::io::AsyncBufReadExt;
use wechat_oauth::OAuthClient;
use wechat_oauth::store::TokenStore;
use wechat_oauth_bench::load::fire_all;
use wechat_oauth_bench::measure::ClientReport;

use crate::stores::open_store;

#[derive(Debug, clap::Args)]
pub(crate) struct StormArgs {
    #[arg(long)]
    base: String,
    #[arg(long)]
    appid: String,
    #[arg(long)]
    secret: String,
    /// `memory`, or a store URL shared with other processes (`redis://…`, `postgres://…`).
    #[arg(long, default_value = "memory")]
    store: String,
    /// Codes to exchange (and then expire) before the storm; without it, the tokens are
    /// already in the shared store and `--openids` names them.
    #[arg(long)]
    codes: Option<PathBuf>,
    /// Openids to call (one per line); written here after seeding with `--codes`.
    #[arg(long)]
    openids: PathBuf,
    /// Only seed and expire the tokens, then exit.
    #[arg(long)]
    seed_only: bool,
    /// Calls to launch at once.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// How far back to move each seeded token's `create_at`.
    #[arg(long, default_value_t = 7300)]
    backdate_secs: i64,
}

pub(crate) async fn run(args: StormArgs) -> anyhow::Result<ClientReport> {
    let stores = open_store(&args.store).await?;
    let store: Arc<dyn TokenStore> = stores.tokens.clone();
    let client = OAuthClient::builder(args.appid.clone(), args.secret.clone())
        .api_base(args.base.clone())
        .open_base(args.base.clone())
        .stores(stores)
        .build()?;
    let openids: Vec<String> = match &args.codes {
        Some(codes) => {
            let codes = crate::read_lines(codes)?;
            let openids = seed_expired(&client, &store, &codes, args.backdate_secs).await?;
            std::fs::write(&args.openids, openids.join("\n"))?;
            openids
        }
        None => crate::read_lines(&args.openids)?,
    };
    anyhow::ensure!(!openids.is_empty(), "no openids");
    if args.seed_only {
        return Ok(ClientReport {
            client: "seed".into(),
            calls: openids.len() as u64,
            ..ClientReport::default()
        });
    }
    // Tell the harness we are ready, and start only when every process is.
    println!("ready");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    let (client, openids) = (&client, &openids);
    let result = fire_all(args.calls, |n| async move {
        client.get_user(&openids[n % openids.len()]).await.map(drop)
    })
    .await;
    Ok(result.into_report("ours", args.calls))
}

async fn seed_expired(
    client: &OAuthClient,
    store: &Arc<dyn TokenStore>,
    codes: &[String],
    backdate_secs: i64,
) -> anyhow::Result<Vec<String>> {
    stream::iter(codes)
        .map(|code| async move {
            let mut token = client.get_access_token(code).await?;
            // `save` keeps the newer `create_at`, so an older copy must replace, not overwrite.
            store.delete(&token.openid).await?;
            token.create_at -= backdate_secs * 1000;
            store.save(&token.openid, &token).await?;
            anyhow::Ok(token.openid)
        })
        .buffer_unordered(32)
        .try_collect()
        .await
}
