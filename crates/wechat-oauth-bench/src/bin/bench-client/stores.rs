//! Token store round trips: `get` + `save` through a [`TokenStore`], or the same round
//! trip through the backend's raw driver.

use std::sync::Arc;

use wechat_oauth::store::{MemoryStore, TokenStore};
use wechat_oauth_bench::measure::ClientReport;

#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// `memory`, `file://…`, `sqlite://…`, `mysql://…`, `postgres://…`, `redis://…`, `mongodb://…`.
    #[arg(long)]
    url: String,
}

pub(crate) async fn open_store(url: &str) -> anyhow::Result<Arc<dyn TokenStore>> {
    match url {
        "memory" | "memory:" => Ok(Arc::new(MemoryStore::new())),
        other => anyhow::bail!("store {other} not supported yet"),
    }
}

pub(crate) async fn run(args: StoreArgs) -> anyhow::Result<ClientReport> {
    let _ = open_store(&args.url).await?;
    anyhow::bail!("not yet")
}
