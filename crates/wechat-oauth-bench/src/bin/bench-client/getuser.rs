//! Ours: `OAuthClient::get_user` with the default memory store, tokens seeded through
//! `get_access_token` as an application would.

use std::time::Duration;

use wechat_oauth::OAuthClient;
use wechat_oauth_bench::load::keep_in_flight;
use wechat_oauth_bench::measure::ClientReport;

use crate::GetUserArgs;

pub(crate) async fn run(
    args: &GetUserArgs,
    codes: &[String],
    duration: Duration,
) -> anyhow::Result<ClientReport> {
    let client = OAuthClient::builder(args.appid.clone(), args.secret.clone())
        .api_base(args.base.clone())
        .open_base(args.base.clone())
        .build()?;
    let mut openids = Vec::with_capacity(codes.len());
    for code in codes {
        openids.push(client.get_access_token(code).await?.openid);
    }
    anyhow::ensure!(!openids.is_empty(), "no codes to seed tokens with");
    let (client, openids) = (&client, &openids);
    let result = keep_in_flight(args.concurrency, duration, |_, n| async move {
        client.get_user(&openids[n % openids.len()]).await.map(drop)
    })
    .await;
    Ok(result.into_report("ours", args.concurrency))
}
