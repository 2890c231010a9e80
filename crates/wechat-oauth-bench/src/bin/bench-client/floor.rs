//! The floor: a bare keep-alive hyper client doing the HTTP part of `get_user` and
//! nothing else (no store lookup, no JSON decoding of the user). Over `https://` it is
//! hyper + rustls with the same connector the SDK builds (aws-lc-rs, the platform's
//! verifier, which trusts the relay's certificate through `SSL_CERT_FILE`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use wechat_oauth_bench::load::{LoadResult, keep_in_flight};
use wechat_oauth_bench::measure::ClientReport;

use crate::GetUserArgs;

async fn get<C>(client: &Client<C, Empty<Bytes>>, url: &str) -> anyhow::Result<Bytes>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client.get(url.parse()?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status.is_success(), "HTTP {status}");
    // WeChat reports errors under HTTP 200: count them as failures.
    anyhow::ensure!(
        !body.windows(9).any(|w| w == b"\"errcode\""),
        "errcode in response"
    );
    Ok(body)
}

pub(crate) async fn run(
    args: &GetUserArgs,
    codes: &[String],
    duration: Duration,
) -> anyhow::Result<ClientReport> {
    // As before the HTTPS rows: hyper's defaults, so the HTTP floor's figures stay comparable.
    let mut http = HttpConnector::new();
    if args.base.starts_with("https://") {
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())?
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        run_with(
            Client::builder(TokioExecutor::new()).build(https),
            args,
            codes,
            duration,
        )
        .await
    } else {
        run_with(
            Client::builder(TokioExecutor::new()).build(http),
            args,
            codes,
            duration,
        )
        .await
    }
}

async fn run_with<C>(
    client: Client<C, Empty<Bytes>>,
    args: &GetUserArgs,
    codes: &[String],
    duration: Duration,
) -> anyhow::Result<ClientReport>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let mut urls = Vec::with_capacity(codes.len());
    for code in codes {
        let body = get(
            &client,
            &format!(
                "{}/sns/oauth2/access_token?appid={}&secret={}&code={}&grant_type=authorization_code",
                args.base, args.appid, args.secret, code
            ),
        )
        .await?;
        let token: serde_json::Value = serde_json::from_slice(&body)?;
        let (Some(access_token), Some(openid)) =
            (token["access_token"].as_str(), token["openid"].as_str())
        else {
            anyhow::bail!("token exchange failed (errcode {})", token["errcode"]);
        };
        urls.push(format!(
            "{}/sns/userinfo?access_token={access_token}&openid={openid}&lang=zh_CN",
            args.base
        ));
    }
    let result: LoadResult = keep_in_flight(args.concurrency, duration, |_, n| {
        let client = client.clone();
        let url = urls[n % urls.len()].clone();
        async move { get(&client, &url).await.map(drop) }
    })
    .await;
    Ok(result.into_report("hyper", args.concurrency))
}
