//! The soak run: the axum middleware's whole login over HTTP, `get_user` loops and refresh
//! storms, against the sandbox (a child process) with user tokens, leases, states and web
//! sessions in a private Redis, everything on loopback, for a bounded time.
//!
//! - **Logins**: [`SoakConfig::login_loops`] loops over [`SoakConfig::login_users`] users, each
//!   iteration a fresh browser (its own cookie jar): `GET /auth/wechat/login?return_to=/me`,
//!   the sandbox's authorize page approving as the user (`X-Sandbox-User`), the callback, `GET
//!   /me` (the site calls `OAuthClient::get_user` for the session's openid), `POST
//!   /auth/wechat/logout`, and `GET /me` again, which must now send the browser to log in.
//! - **`get_user` loops**: [`SoakConfig::get_loops`] loops over [`SoakConfig::get_users`]
//!   other users, each signed in once at the start and then calling `GET /me` with its
//!   session cookie.
//! - **Refresh storms**: every [`SoakConfig::storm_every`] the sandbox's clock jumps 2 h (no
//!   login is in flight then), so every access token WeChat issued is expired while the SDK
//!   still thinks it valid; then 64 concurrent `GET /me` on four users meet 42001 and
//!   refresh. The refresh lease must keep it to at most one refresh per user and storm.
//!
//! At the end every user must still have a token in the store that works: `get_user` for
//! its openid succeeds, and the stored access token then passes `sns/auth`. RSS is this
//! process's (SDK, middleware, Redis client, HTTP clients), sampled after the warm-up and
//! at the end; the sandbox's and Redis's are reported beside it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::RwLock;
use wechat_oauth::{OAuthClient, Stores, TokenStatus};
use wechat_oauth_axum::{Flow, Key, ServeLimits, WeChatLogin, WeChatUser};
use wechat_sandbox::defaults;

use crate::servers::{Kind, Server, rss_kib};

/// What a soak run does and for how long.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Total run time, warm-up included.
    pub duration: Duration,
    /// Time before the first RSS sample that counts.
    pub warmup: Duration,
    /// Time between clock jumps (refresh storms).
    pub storm_every: Duration,
    /// Concurrent login loops.
    pub login_loops: usize,
    /// Users the login loops take turns with.
    pub login_users: usize,
    /// Pause after each login of a login loop (none by default).
    pub login_pause: Duration,
    /// Concurrent `get_user` loops.
    pub get_loops: usize,
    /// Users the `get_user` loops take turns with (signed in once at the start).
    pub get_users: usize,
    /// The program whose `sandbox` subcommand runs the sandbox (the soak binary itself).
    pub sandbox_program: PathBuf,
    /// The allocator this process runs on and how to read its live heap (bytes the program
    /// holds allocated), reported beside RSS; `None` reports no live heap.
    pub heap: Option<HeapProbe>,
}

/// Reads the live heap of the running allocator.
#[derive(Debug, Clone, Copy)]
pub struct HeapProbe {
    /// The allocator's name, for the report (`jemalloc`, `glibc malloc`).
    pub allocator: &'static str,
    /// Bytes allocated and not yet freed by the program.
    pub allocated_bytes: fn() -> Option<u64>,
}

impl SoakConfig {
    /// The documented run of `duration`: warm-up a sixth of it (at least 5 s, at most
    /// 120 s: the middleware remembers each callback's outcome for 60 s, so its memory
    /// settles only after a minute of logins),
    /// a storm every 15 s (every 5 s for runs under two minutes), 4 login loops over 20
    /// users, 4 `get_user` loops over 20 other users.
    pub fn new(duration: Duration, sandbox_program: PathBuf) -> Self {
        let warmup = (duration / 6).clamp(Duration::from_secs(5), Duration::from_secs(120));
        let storm_every = if duration < Duration::from_secs(120) {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(15)
        };
        SoakConfig {
            duration,
            warmup,
            storm_every,
            login_loops: 4,
            login_users: 20,
            login_pause: Duration::ZERO,
            get_loops: 4,
            get_users: 20,
            sandbox_program,
            heap: None,
        }
    }
}

/// What a soak run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// Run time in seconds.
    pub seconds: f64,
    /// Warm-up in seconds.
    pub warmup_seconds: f64,
    /// Complete logins (login, authorize, callback, profile, logout, signed out).
    pub logins: u64,
    /// `GET /me` calls (each one `OAuthClient::get_user`), storms included.
    pub get_user_calls: u64,
    /// Refresh storms (clock jumps).
    pub storms: u64,
    /// Code exchanges the sandbox answered.
    pub code_exchanges: u64,
    /// Refresh requests the sandbox answered.
    pub refreshes: u64,
    /// The most refreshes allowed: one per user with a token per storm.
    pub refresh_bound: u64,
    /// Failed steps (unexpected status, wrong user, SDK error…).
    pub errors: u64,
    /// The first failures, for the report.
    pub error_samples: Vec<String>,
    /// Users whose token is missing or unusable at the end.
    pub lost_tokens: u64,
    /// Users checked at the end.
    pub users_checked: u64,
    /// This process's RSS after the warm-up, KiB.
    pub rss_after_warmup_kib: u64,
    /// This process's RSS at the end, KiB.
    pub rss_end_kib: u64,
    /// Highest RSS sampled after the warm-up, KiB.
    pub rss_max_kib: u64,
    /// This process's RSS over the run: (second, KiB), twenty samples or one every 5 s.
    pub rss_trace_kib: Vec<(u64, u64)>,
    /// `rss_end / rss_after_warmup - 1`, in percent.
    pub rss_growth_percent: f64,
    /// The sandbox's RSS after the warm-up and at the end, KiB.
    pub sandbox_rss_kib: (u64, u64),
    /// Redis's RSS after the warm-up and at the end, KiB.
    pub redis_rss_kib: (u64, u64),
    /// The allocator the process ran on, if the run was told.
    pub allocator: Option<&'static str>,
    /// The live heap (bytes allocated and not freed) over the run: (second, KiB), sampled
    /// with RSS. Not judged: it tells live growth from memory the allocator keeps.
    pub heap_trace_kib: Vec<(u64, u64)>,
}

impl SoakReport {
    /// The pass criteria: 0 errors, 0 lost tokens, RSS at the end within 10 % of RSS after
    /// the warm-up, refreshes within the bound. Returns what failed.
    pub fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        if self.errors > 0 {
            failed.push(format!("{} errors: {:?}", self.errors, self.error_samples));
        }
        if self.lost_tokens > 0 {
            failed.push(format!("{} lost tokens", self.lost_tokens));
        }
        if self.rss_growth_percent.abs() > 10.0 {
            failed.push(format!(
                "RSS {} KiB at the end vs {} KiB after warm-up ({:+.1} %)",
                self.rss_end_kib, self.rss_after_warmup_kib, self.rss_growth_percent
            ));
        }
        if self.refreshes > self.refresh_bound {
            failed.push(format!(
                "{} refreshes, more than one per user and storm ({})",
                self.refreshes, self.refresh_bound
            ));
        }
        if self.logins == 0 || self.get_user_calls == 0 || self.storms == 0 {
            failed.push("the run did no work".to_owned());
        }
        if self.users_checked == 0 {
            failed.push("no user was checked at the end".to_owned());
        }
        failed
    }
}

/// Why a soak run could not be carried out (as opposed to failing its criteria).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoakError {
    /// Setting up a server, the sandbox or the site failed.
    #[error("setup: {0}")]
    Setup(String),
}

fn setup(what: &str, err: impl std::fmt::Display) -> SoakError {
    SoakError::Setup(format!("{what}: {err}"))
}

/// Counts and the first failures, shared by every loop.
#[derive(Debug, Default)]
struct Tally {
    logins: AtomicU64,
    get_user_calls: AtomicU64,
    errors: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < 10 {
            samples.push(what);
        }
    }
}

/// The sandbox child process.
struct SandboxChild {
    child: tokio::process::Child,
    url: String,
}

async fn start_sandbox(program: &PathBuf, users: &[String]) -> Result<SandboxChild, SoakError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--journal-capacity",
        "1000",
    ]);
    for user in users {
        cmd.args(["--user", user]);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| setup("starting the sandbox", e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| setup("sandbox", "no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| setup("sandbox", "no banner within 30 s"))?
        .map_err(|e| setup("sandbox banner", e))?
        .ok_or_else(|| setup("sandbox", "exited before its banner"))?;
    let url = first
        .strip_prefix("listening on ")
        .ok_or_else(|| setup("sandbox banner", &first))?
        .to_owned();
    // Drain the rest of its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(SandboxChild { child, url })
}

/// A browser: a cookie jar over a shared HTTP client that follows no redirect.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(http: &reqwest::Client) -> Self {
        Browser {
            http: http.clone(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let joined = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&joined).ok()
    }

    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        extra: HeaderMap,
    ) -> Result<(StatusCode, HeaderMap, String), String> {
        let mut request = self.http.request(method.clone(), url).headers(extra);
        if let Some(cookie) = self.cookie_header() {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {}: {e}", strip_query(url)))?;
        let status = StatusCode::from_u16(response.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let Ok(set) = set.to_str() else { continue };
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let attrs = attrs.to_ascii_lowercase();
            if attrs.contains("max-age=0") || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let body = response
            .text()
            .await
            .map_err(|e| format!("{method} {}: reading the body: {e}", strip_query(url)))?;
        Ok((status, headers, body))
    }

    async fn get(&mut self, url: &str) -> Result<(StatusCode, HeaderMap, String), String> {
        self.send(reqwest::Method::GET, url, HeaderMap::new()).await
    }
}

/// A URL without its query (codes and states are not for reports).
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn location(headers: &HeaderMap) -> Result<String, String> {
    headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "no Location header".to_owned())
}

/// Everything the loops share.
struct Ctx {
    site: String,
    sandbox: String,
    http: reqwest::Client,
    tally: Tally,
    /// Logins hold it for reading; a clock jump takes it for writing, so no code expires
    /// between the authorize page and the callback.
    clock: RwLock<()>,
    /// Sandbox user → openid.
    openids: HashMap<String, String>,
}

/// One full login as `user`; returns the signed-in browser.
async fn log_in(ctx: &Ctx, user: &str) -> Result<Browser, String> {
    let mut browser = Browser::new(&ctx.http);
    let _clock = ctx.clock.read().await;
    let (status, headers, _) = browser
        .get(&format!("{}/auth/wechat/login?return_to=%2Fme", ctx.site))
        .await?;
    if status != StatusCode::FOUND && status != StatusCode::SEE_OTHER {
        return Err(format!("login answered {status}"));
    }
    let authorize = location(&headers)?;
    if !authorize.starts_with(&ctx.sandbox) {
        return Err(format!(
            "login redirected to {} instead of the sandbox",
            strip_query(&authorize)
        ));
    }
    let mut approve = HeaderMap::new();
    approve.insert(
        wechat_sandbox::USER_HEADER,
        HeaderValue::from_str(user).map_err(|e| e.to_string())?,
    );
    // WeChat's page is another site: no cookie of ours goes there.
    let (status, headers, body) = Browser::new(&ctx.http)
        .send(reqwest::Method::GET, &authorize, approve)
        .await?;
    if status != StatusCode::FOUND {
        return Err(format!(
            "authorize answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    let callback = location(&headers)?;
    let (status, headers, body) = browser.get(&callback).await?;
    if status != StatusCode::SEE_OTHER {
        return Err(format!(
            "callback answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    let back = location(&headers)?;
    if back != "/me" {
        return Err(format!("callback sent the browser to {back}"));
    }
    Ok(browser)
}

/// `GET /me` in `browser`, which must answer for `user`.
async fn me(ctx: &Ctx, browser: &mut Browser, user: &str) -> Result<(), String> {
    let (status, _, body) = browser.get(&format!("{}/me", ctx.site)).await?;
    ctx.tally.get_user_calls.fetch_add(1, Ordering::Relaxed);
    if status != StatusCode::OK {
        return Err(format!(
            "/me for {user} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    let expected = ctx.openids.get(user).map(String::as_str).unwrap_or("?");
    if body != expected {
        return Err(format!("/me for {user} answered for someone else"));
    }
    Ok(())
}

async fn login_iteration(ctx: &Ctx, user: &str) -> Result<(), String> {
    let mut browser = log_in(ctx, user).await?;
    me(ctx, &mut browser, user).await?;
    let mut origin = HeaderMap::new();
    origin.insert(
        header::ORIGIN,
        HeaderValue::from_str(&ctx.site).map_err(|e| e.to_string())?,
    );
    let (status, _, _) = browser
        .send(
            reqwest::Method::POST,
            &format!("{}/auth/wechat/logout", ctx.site),
            origin,
        )
        .await?;
    if !status.is_redirection() {
        return Err(format!("logout answered {status}"));
    }
    let (status, headers, _) = browser.get(&format!("{}/me", ctx.site)).await?;
    let to_login = location(&headers).is_ok_and(|l| l.contains("/auth/wechat/login"));
    if !status.is_redirection() || !to_login {
        return Err(format!(
            "/me after logout answered {status} instead of a login"
        ));
    }
    ctx.tally.logins.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The site: the middleware's routes and `/me`, which answers the openid `get_user` gives.
fn site_router(login: &WeChatLogin) -> Router {
    async fn me(State(login): State<WeChatLogin>, user: WeChatUser) -> Response {
        match login.client().get_user(&user.openid).await {
            Ok(info) if info.openid == user.openid => info.openid.into_response(),
            Ok(_) => (StatusCode::BAD_GATEWAY, "get_user answered another openid").into_response(),
            Err(err) => (StatusCode::BAD_GATEWAY, format!("get_user: {err}")).into_response(),
        }
    }
    Router::new()
        .route("/me", get(me))
        .merge(login.routes())
        .with_state(login.clone())
}

async fn sandbox_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut request = http.request(method, &url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    response.json().await.map_err(|e| format!("{url}: {e}"))
}

async fn request_count(http: &reqwest::Client, sandbox: &str, path: &str) -> Result<u64, String> {
    let stats = sandbox_json(
        http,
        reqwest::Method::GET,
        format!("{sandbox}/__sandbox/stats"),
        None,
    )
    .await?;
    Ok(stats["requests"][path].as_u64().unwrap_or(0))
}

fn rss_pair(pid: Option<u32>) -> u64 {
    pid.and_then(|p| rss_kib(&p.to_string())).unwrap_or(0)
}

/// Runs the soak `config` describes and reports what it measured.
///
/// # Errors
/// [`SoakError::Setup`] when Redis, the sandbox or the site cannot be started; failures
/// during the run are counted in the report instead.
pub async fn run(config: &SoakConfig) -> Result<SoakReport, SoakError> {
    let started = Instant::now();
    let redis = tokio::task::spawn_blocking(|| Server::start(Kind::RedisVolatile))
        .await
        .map_err(|e| setup("starting Redis", e))?
        .map_err(|e| setup("starting Redis", e))?;
    let login_users: Vec<String> = (0..config.login_users)
        .map(|i| format!("login{i:02}"))
        .collect();
    let get_users: Vec<String> = (0..config.get_users)
        .map(|i| format!("get{i:02}"))
        .collect();
    let all_users: Vec<String> = login_users.iter().chain(&get_users).cloned().collect();
    let mut sandbox = start_sandbox(&config.sandbox_program, &all_users).await?;
    let sandbox_pid = sandbox.child.id();

    let stores = Stores::new(
        wechat_oauth_redis::RedisStore::connect_with(
            &redis.url(),
            wechat_oauth_redis::RedisOptions::new()
                .prefix("soak:")
                .timeout(Duration::from_secs(5)),
        )
        .await
        .map_err(|e| setup("connecting to Redis", e))?,
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|e| setup("binding the site", e))?;
    let site_addr = listener
        .local_addr()
        .map_err(|e| setup("site address", e))?;
    let site = format!("http://{site_addr}");
    let client = OAuthClient::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(&sandbox.url)
        .open_base(&sandbox.url)
        .stores(stores.clone())
        .build()
        .map_err(|e| setup("building the OAuth client", e))?;
    let login = WeChatLogin::builder(
        client,
        format!("{site}/auth/wechat/callback"),
        Key::generate(),
    )
    .flow(Flow::OfficialAccountUserInfo)
    .stores(stores.clone())
    .build()
    .map_err(|e| setup("building the login", e))?;
    let app = site_router(&login);
    let (stop_site, site_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(wechat_oauth_axum::serve(
        listener,
        app,
        ServeLimits::default(),
        async {
            let _ = site_stopped.await;
        },
    ));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| setup("HTTP client", e))?;
    let mut openids = HashMap::new();
    for user in &all_users {
        let config = sandbox_json(
            &http,
            reqwest::Method::GET,
            format!("{}/__sandbox/config", sandbox.url),
            None,
        )
        .await
        .map_err(|e| setup("reading the sandbox config", e))?;
        let openid = config["users"]
            .as_array()
            .and_then(|users| users.iter().find(|u| u["id"] == user.as_str()))
            .and_then(|u| u["openids"][defaults::OFFICIAL_APPID].as_str())
            .ok_or_else(|| setup("sandbox config", format!("no openid for {user}")))?;
        openids.insert(user.clone(), openid.to_owned());
    }
    let ctx = Arc::new(Ctx {
        site: site.clone(),
        sandbox: sandbox.url.clone(),
        http: http.clone(),
        tally: Tally::default(),
        clock: RwLock::new(()),
        openids,
    });

    // The get_user users sign in once.
    let mut get_browsers = Vec::new();
    for user in &get_users {
        let browser = log_in(&ctx, user)
            .await
            .map_err(|e| setup(&format!("first login of {user}"), e))?;
        get_browsers.push((user.clone(), browser));
    }

    let end = started + config.duration;
    let mut tasks = Vec::new();
    for loop_no in 0..config.login_loops {
        let ctx = ctx.clone();
        let users: Vec<String> = login_users
            .iter()
            .skip(loop_no)
            .step_by(config.login_loops.max(1))
            .cloned()
            .collect();
        let pause = config.login_pause;
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end && !users.is_empty() {
                let user = &users[n % users.len()];
                if let Err(e) = login_iteration(&ctx, user).await {
                    ctx.tally.error(format!("login {user}: {e}"));
                }
                n += 1;
                if !pause.is_zero() {
                    tokio::time::sleep(pause.min(end.saturating_duration_since(Instant::now())))
                        .await;
                }
            }
        }));
    }
    let per_loop = get_browsers.len().div_ceil(config.get_loops.max(1)).max(1);
    let mut chunks: Vec<Vec<(String, Browser)>> = Vec::new();
    for (i, pair) in get_browsers.into_iter().enumerate() {
        if i % per_loop == 0 {
            chunks.push(Vec::new());
        }
        if let Some(last) = chunks.last_mut() {
            last.push(pair);
        }
    }
    // The storm users' cookies, before the loops take the browsers.
    let storm_cookies: Vec<(String, HashMap<String, String>)> = chunks
        .iter()
        .flatten()
        .take(4)
        .map(|(u, b)| (u.clone(), b.cookies.clone()))
        .collect();
    for mut chunk in chunks.into_iter().take(config.get_loops) {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < end {
                let index = n % chunk.len();
                let (user, browser) = &mut chunk[index];
                if let Err(e) = me(&ctx, browser, user).await {
                    ctx.tally.error(format!("get_user {user}: {e}"));
                }
                n += 1;
            }
        }));
    }

    // Storms and RSS samples, until the end.
    let mut storms = 0u64;
    let mut next_storm = Instant::now() + config.storm_every;
    let warmup_end = started + config.warmup;
    let mut rss_after_warmup = None;
    let mut side_after_warmup = (0, 0);
    let mut rss_max = 0u64;
    let trace_every = (config.duration / 20).max(Duration::from_secs(5));
    let mut next_trace = started;
    let mut rss_trace = Vec::new();
    let mut heap_trace = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = Instant::now();
        if now >= next_trace {
            next_trace = now + trace_every;
            let second = (now - started).as_secs();
            rss_trace.push((second, rss_kib("self").unwrap_or(0)));
            if let Some(kib) = heap_kib(config) {
                heap_trace.push((second, kib));
            }
        }
        if now >= warmup_end {
            let rss = rss_kib("self").unwrap_or(0);
            if rss_after_warmup.is_none() {
                rss_after_warmup = Some(rss);
                side_after_warmup = (rss_pair(sandbox_pid), rss_pair(redis.pid()));
            }
            rss_max = rss_max.max(rss);
        }
        if now >= next_storm && now + Duration::from_secs(2) < end {
            next_storm = now + config.storm_every;
            storms += 1;
            {
                let _no_login_in_flight = ctx.clock.write().await;
                if let Err(e) = sandbox_json(
                    &http,
                    reqwest::Method::POST,
                    format!("{}/__sandbox/clock/advance", sandbox.url),
                    Some(serde_json::json!({ "seconds": 7200 })),
                )
                .await
                {
                    ctx.tally.error(format!("clock jump: {e}"));
                }
            }
            let mut storm = Vec::new();
            for i in 0..64 {
                let (user, cookies) = storm_cookies[i % storm_cookies.len()].clone();
                let ctx = ctx.clone();
                storm.push(tokio::spawn(async move {
                    let mut browser = Browser::new(&ctx.http);
                    browser.cookies = cookies;
                    if let Err(e) = me(&ctx, &mut browser, &user).await {
                        ctx.tally.error(format!("storm get_user {user}: {e}"));
                    }
                }));
            }
            for task in storm {
                if let Err(e) = task.await {
                    ctx.tally.error(format!("storm task: {e}"));
                }
            }
        }
    }
    for task in tasks {
        if let Err(e) = task.await {
            ctx.tally.error(format!("loop task: {e}"));
        }
    }
    let rss_end = rss_kib("self").unwrap_or(0);
    if let Some(kib) = heap_kib(config) {
        heap_trace.push((started.elapsed().as_secs(), kib));
    }
    rss_max = rss_max.max(rss_end);
    let side_end = (rss_pair(sandbox_pid), rss_pair(redis.pid()));

    // Every user's token must still be there and work.
    let mut lost = 0u64;
    for user in &all_users {
        let openid = &ctx.openids[user];
        let ok = async {
            stores
                .tokens
                .get(openid)
                .await
                .map_err(|e| format!("reading: {e}"))?
                .ok_or("no token in the store")?;
            let info = login
                .client()
                .get_user(openid)
                .await
                .map_err(|e| format!("get_user: {e}"))?;
            if &info.openid != openid {
                return Err("get_user answered another openid".to_owned());
            }
            let token = stores
                .tokens
                .get(openid)
                .await
                .map_err(|e| format!("reading: {e}"))?
                .ok_or("no token in the store after get_user")?;
            match login
                .client()
                .verify_token(openid, &token.access_token)
                .await
            {
                Ok(TokenStatus::Valid) => Ok(()),
                Ok(other) => Err(format!("sns/auth says {other:?}")),
                Err(e) => Err(format!("sns/auth: {e}")),
            }
        }
        .await;
        if let Err(e) = ok {
            lost += 1;
            ctx.tally.error(format!("final check {user}: {e}"));
        }
    }
    let code_exchanges = request_count(&http, &sandbox.url, "/sns/oauth2/access_token")
        .await
        .unwrap_or(0);
    let refreshes = request_count(&http, &sandbox.url, "/sns/oauth2/refresh_token")
        .await
        .unwrap_or(0);
    let _ = stop_site.send(());
    let _ = server.await;
    let _ = sandbox.child.kill().await;

    let rss_after_warmup = rss_after_warmup.unwrap_or(rss_end);
    let growth = if rss_after_warmup == 0 {
        f64::INFINITY
    } else {
        (rss_end as f64 / rss_after_warmup as f64 - 1.0) * 100.0
    };
    let samples = ctx
        .tally
        .samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(SoakReport {
        seconds: started.elapsed().as_secs_f64(),
        warmup_seconds: config.warmup.as_secs_f64(),
        logins: ctx.tally.logins.load(Ordering::Relaxed),
        get_user_calls: ctx.tally.get_user_calls.load(Ordering::Relaxed),
        storms,
        code_exchanges,
        refreshes,
        refresh_bound: storms * all_users.len() as u64,
        errors: ctx.tally.errors.load(Ordering::Relaxed),
        error_samples: samples,
        lost_tokens: lost,
        users_checked: all_users.len() as u64,
        rss_after_warmup_kib: rss_after_warmup,
        rss_end_kib: rss_end,
        rss_max_kib: rss_max,
        rss_trace_kib: rss_trace,
        allocator: config.heap.map(|h| h.allocator),
        heap_trace_kib: heap_trace,
        rss_growth_percent: growth,
        sandbox_rss_kib: (side_after_warmup.0, side_end.0),
        redis_rss_kib: (side_after_warmup.1, side_end.1),
    })
}

fn heap_kib(config: &SoakConfig) -> Option<u64> {
    config
        .heap
        .and_then(|probe| (probe.allocated_bytes)())
        .map(|bytes| bytes / 1024)
}

/// The report as the lines the binary prints: a human summary, then `SOAK {json}`.
pub fn render(report: &SoakReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "soak: {:.0} s (warm-up {:.0} s): {} logins, {} get_user calls, {} storms, {} code exchanges, {} refreshes (bound {})",
        report.seconds,
        report.warmup_seconds,
        report.logins,
        report.get_user_calls,
        report.storms,
        report.code_exchanges,
        report.refreshes,
        report.refresh_bound
    );
    let _ = writeln!(
        out,
        "soak: RSS {} KiB after warm-up, {} KiB at the end ({:+.1} %), max {} KiB; sandbox {} -> {} KiB, Redis {} -> {} KiB",
        report.rss_after_warmup_kib,
        report.rss_end_kib,
        report.rss_growth_percent,
        report.rss_max_kib,
        report.sandbox_rss_kib.0,
        report.sandbox_rss_kib.1,
        report.redis_rss_kib.0,
        report.redis_rss_kib.1
    );
    if let (Some(allocator), Some(first), Some(last)) = (
        report.allocator,
        report.heap_trace_kib.first(),
        report.heap_trace_kib.last(),
    ) {
        let _ = writeln!(
            out,
            "soak: allocator {allocator}; live heap {} KiB at {} s, {} KiB at {} s (not judged)",
            first.1, first.0, last.1, last.0
        );
    }
    let _ = writeln!(
        out,
        "soak: {} errors, {} lost tokens of {} users",
        report.errors, report.lost_tokens, report.users_checked
    );
    for sample in &report.error_samples {
        let _ = writeln!(out, "soak: error: {sample}");
    }
    let _ = writeln!(
        out,
        "SOAK {}",
        serde_json::to_string(report).unwrap_or_default()
    );
    out
}
