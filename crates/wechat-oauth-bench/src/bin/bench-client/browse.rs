//! A browser hitting one page over and over: optionally signed in first through the
//! site's real login (login route, a sandbox-minted code, the callback with the pending-
//! login cookie), then `GET /profile` with its cookies, N in flight over keep-alive
//! connections, every answer checked (`200`, `hello <openid>`). Prints `ready` after the
//! warm-up and waits for `go` on stdin, so the harness can read the site's CPU around the
//! measured window.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncBufReadExt as _;
use wechat_oauth_bench::load::keep_in_flight_count;
use wechat_oauth_bench::measure::ClientReport;
use wechat_oauth_bench::sandbox::APPID;

#[derive(Debug, clap::Args)]
pub(crate) struct BrowseArgs {
    /// The site, `http://127.0.0.1:PORT`.
    #[arg(long)]
    site: String,
    /// Sign in first, as this sandbox user, through the sandbox at `--sandbox`.
    #[arg(long)]
    login_as: Option<String>,
    #[arg(long)]
    sandbox: Option<String>,
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
}

/// `name=value` of every `Set-Cookie` (attributes dropped), added to `jar`.
fn keep_cookies(jar: &mut Vec<(String, String)>, headers: &reqwest::header::HeaderMap) {
    for value in headers.get_all(reqwest::header::SET_COOKIE) {
        let Some((name, value)) = value
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.split_once('='))
        else {
            continue;
        };
        jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The real login, as a browser does it; returns the cookie header it ends with.
async fn sign_in(site: &str, sandbox: &str, user: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut jar = Vec::new();
    let response = http
        .get(format!("{site}/auth/wechat/login?return_to=%2Fprofile"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_redirection(),
        "login answered {}",
        response.status()
    );
    keep_cookies(&mut jar, response.headers());
    let authorize = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let state = authorize
        .split(['?', '&', '#'])
        .find_map(|pair| pair.strip_prefix("state="))
        .ok_or_else(|| anyhow::anyhow!("no state in the authorize URL"))?;
    // The user approves on WeChat's page: the sandbox mints the code it would redirect with.
    let minted: serde_json::Value = http
        .post(format!("{sandbox}/__sandbox/codes"))
        .json(&serde_json::json!({ "appid": APPID, "user": user, "scope": "snsapi_userinfo" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let code = minted["code"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no code minted"))?;
    let response = http
        .get(format!(
            "{site}/auth/wechat/callback?code={code}&state={state}"
        ))
        .header(reqwest::header::COOKIE, cookie_header(&jar))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == reqwest::StatusCode::SEE_OTHER,
        "callback answered {}",
        response.status()
    );
    keep_cookies(&mut jar, response.headers());
    Ok(cookie_header(&jar))
}

type HyperClient = Client<HttpConnector, Empty<Bytes>>;

async fn get_profile(
    client: &HyperClient,
    url: &hyper::Uri,
    cookie: Option<&str>,
) -> anyhow::Result<()> {
    let mut request = hyper::Request::get(url.clone());
    if let Some(cookie) = cookie {
        request = request.header(hyper::header::COOKIE, cookie);
    }
    let response = client.request(request.body(Empty::new())?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status == hyper::StatusCode::OK, "HTTP {status}");
    anyhow::ensure!(body.starts_with(b"hello o"), "unexpected page");
    Ok(())
}

pub(crate) async fn run(args: BrowseArgs) -> anyhow::Result<ClientReport> {
    let cookie = match (&args.login_as, &args.sandbox) {
        (Some(user), Some(sandbox)) => Some(sign_in(&args.site, sandbox, user).await?),
        (Some(_), None) => anyhow::bail!("--login-as needs --sandbox"),
        (None, _) => None,
    };
    let url: hyper::Uri = format!("{}/profile", args.site).parse()?;
    let client: HyperClient = Client::builder(TokioExecutor::new()).build_http();
    let (client, url, cookie) = (&client, &url, cookie.as_deref());
    let warm = keep_in_flight_count(args.concurrency, args.warmup, |_, _| {
        get_profile(client, url, cookie)
    })
    .await;
    if let Some(e) = warm.first_error {
        anyhow::bail!(
            "{} of {} warm-up requests failed; the first: {e}",
            warm.errors,
            args.warmup
        );
    }
    println!("ready");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await?;
    let result = keep_in_flight_count(args.concurrency, args.requests, |_, _| {
        get_profile(client, url, cookie)
    })
    .await;
    Ok(result.into_report(
        if cookie.is_some() {
            "browse-signed-in"
        } else {
            "browse"
        },
        args.concurrency,
    ))
}
