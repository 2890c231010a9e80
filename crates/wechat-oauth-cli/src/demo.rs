//! `wechat-oauth demo`: a small site with WeChat login, built on `wechat-oauth-axum`.
//!
//! With no app credentials it starts a WeChat sandbox in-process, so a newcomer sees a whole
//! login (consent page included) with no account and no network. With `WECHAT_APPID` and
//! `WECHAT_SECRET` set and no API base override it talks to the real WeChat; the site must
//! then be reachable at the authorized domain, given by `WECHAT_DEMO_PUBLIC_URL`
//! (for example `https://login.example.com/`), and opened inside WeChat.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wechat_oauth::{OAuthClient, Secret, Stores};
use wechat_oauth_axum::{Flow, Key, WeChatLogin, WeChatUser};
use wechat_sandbox::{Sandbox, defaults};

/// Environment variable naming the site's public URL when it runs against the real WeChat.
pub const PUBLIC_URL_ENV: &str = "WECHAT_DEMO_PUBLIC_URL";

/// What the demo site needs to start.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The app's appid; `None` runs an in-process sandbox.
    pub appid: Option<String>,
    /// The app secret (redacted in `Debug`).
    pub secret: Option<Secret>,
    /// Base URL of WeChat's JSON APIs (an external sandbox, say).
    pub api_base: Option<String>,
    /// Base URL of WeChat's authorization pages (defaults to `api_base` when that is set).
    pub open_base: Option<String>,
    /// Token store URL (`sqlite://…`, `redis://…`, `memory:` …).
    pub token_store: String,
}

/// A demo site serving in the background; stops when [`stop`](Self::stop)ped or dropped
/// with its runtime.
#[derive(Debug)]
pub struct RunningDemo {
    url: String,
    sandbox: Option<Sandbox>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningDemo {
    /// The site's URL, with a trailing slash (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The in-process sandbox, when the site runs against one.
    #[allow(dead_code)] // used by tests/browser.rs
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Stops accepting requests, lets running ones finish, and waits for the server.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.server).await.context("demo server task")??;
        Ok(())
    }
}

/// Starts the site (and the sandbox unless real WeChat is configured), prints
/// `demo running at URL` as the first line on stdout, and serves until Ctrl-C.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let demo = start(opts).await?;
    println!("demo running at {}", demo.url());
    if let Some(sandbox) = demo.sandbox() {
        println!(
            "WeChat sandbox at {} (approve as {}; no account or network needed)",
            sandbox.url(),
            defaults::USERS.join(", ")
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    demo.stop().await
}

/// Starts the site in the background and returns once it accepts connections.
pub async fn start(opts: DemoOptions) -> anyhow::Result<RunningDemo> {
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let backend = Backend::choose(&opts).await?;
    let url = match std::env::var(PUBLIC_URL_ENV) {
        Ok(public) if backend.sandbox.is_none() => {
            format!("{}/", public.trim_end_matches('/'))
        }
        _ => local_url(addr),
    };
    let stores = open_stores(&opts.token_store).await?;
    let client = backend.client(stores.clone())?;
    let login = WeChatLogin::builder(
        client,
        format!("{url}auth/wechat/callback"),
        Key::generate(),
    )
    .stores(stores)
    .flow(Flow::OfficialAccountUserInfo)
    .build()
    .context("login configuration")?;
    let app = site(&login, backend.sandbox.is_some());

    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningDemo {
        url,
        sandbox: backend.sandbox,
        shutdown: Some(shutdown),
        server,
    })
}

/// The browser-facing URL of a listener: a wildcard address is reached through loopback.
fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}

/// Which WeChat the site talks to.
struct Backend {
    appid: String,
    secret: Secret,
    api_base: Option<String>,
    open_base: Option<String>,
    sandbox: Option<Sandbox>,
}

impl Backend {
    async fn choose(opts: &DemoOptions) -> anyhow::Result<Self> {
        match (&opts.appid, &opts.secret) {
            (Some(appid), Some(secret)) => Ok(Self {
                appid: appid.clone(),
                secret: secret.clone(),
                api_base: opts.api_base.clone(),
                open_base: opts.open_base.clone().or_else(|| opts.api_base.clone()),
                sandbox: None,
            }),
            (None, None) => {
                let sandbox = Sandbox::builder()
                    .start()
                    .await
                    .context("starting the WeChat sandbox")?;
                Ok(Self {
                    appid: defaults::OFFICIAL_APPID.to_owned(),
                    secret: Secret::new(defaults::OFFICIAL_SECRET),
                    api_base: Some(sandbox.url().to_owned()),
                    open_base: Some(sandbox.url().to_owned()),
                    sandbox: Some(sandbox),
                })
            }
            (Some(_), None) => bail!("WECHAT_APPID is set but WECHAT_SECRET is not"),
            (None, Some(_)) => bail!("WECHAT_SECRET is set but WECHAT_APPID is not"),
        }
    }

    fn client(&self, stores: Stores) -> anyhow::Result<OAuthClient> {
        let mut builder =
            OAuthClient::builder(self.appid.clone(), self.secret.expose_secret()).stores(stores);
        if let Some(base) = &self.api_base {
            builder = builder.api_base(base.clone());
        }
        if let Some(base) = &self.open_base {
            builder = builder.open_base(base.clone());
        }
        builder.build().context("WeChat client configuration")
    }
}

/// Opens the store set named by `url` (errors name the URL with its password redacted).
async fn open_stores(url: &str) -> anyhow::Result<Stores> {
    Ok(wechat_oauth_stores::open(url).await?)
}

#[derive(Clone)]
struct Page {
    login: WeChatLogin,
    sandbox: bool,
}

impl axum::extract::FromRef<Page> for WeChatLogin {
    fn from_ref(page: &Page) -> Self {
        page.login.clone()
    }
}

fn site(login: &WeChatLogin, sandbox: bool) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/profile", get(profile))
        .merge(login.routes())
        .with_state(Page {
            login: login.clone(),
            sandbox,
        })
}

async fn home(State(page): State<Page>, user: Option<WeChatUser>) -> Response {
    let body = match user {
        Some(user) => format!(
            r#"<p>Signed in as <strong>{name}</strong>.</p>
<p><a class="button" id="profile" href="/profile">Your profile</a></p>
{logout}"#,
            name = escape(display_name(&user)),
            logout = logout_form(&page.login),
        ),
        None => format!(
            r#"<p>This site knows nobody yet.</p>
<p><a class="button" id="login" href="{href}">Sign in with WeChat</a></p>"#,
            href = escape(&page.login.login_url("/profile")),
        ),
    };
    render("wechat-oauth demo", &body, page.sandbox)
}

async fn profile(State(page): State<Page>, user: WeChatUser) -> Response {
    let avatar = match (&user.headimgurl, page.sandbox) {
        // Real WeChat: the avatar is on WeChat's image host, sent without a Referer.
        (Some(url), false) => format!(
            r#"<img class="avatar" src="{}" alt="" referrerpolicy="no-referrer">"#,
            escape(url)
        ),
        // Sandbox avatars point at an image host this machine cannot reach: draw an initial.
        _ => format!(
            r#"<span class="avatar initial" aria-hidden="true">{}</span>"#,
            escape(
                &display_name(&user)
                    .chars()
                    .next()
                    .unwrap_or('?')
                    .to_string()
            )
        ),
    };
    let field = |label: &str, id: &str, value: Option<&str>| {
        format!(
            r#"<dt>{label}</dt><dd id="{id}">{}</dd>"#,
            value.map_or_else(|| "<em>not shared</em>".to_owned(), escape)
        )
    };
    let body = format!(
        r#"<div class="card">{avatar}<h2 id="nickname">{nickname}</h2></div>
<dl>
{openid}
{unionid}
{scope}
{headimgurl}
</dl>
<p><a href="/">Home</a></p>
{logout}"#,
        nickname = escape(display_name(&user)),
        openid = field("openid", "openid", Some(&user.openid)),
        unionid = field("unionid", "unionid", user.unionid.as_deref()),
        scope = field("scope", "scope", Some(&user.scope)),
        headimgurl = field("avatar URL", "headimgurl", user.headimgurl.as_deref()),
        logout = logout_form(&page.login),
    );
    render("Your WeChat profile", &body, page.sandbox)
}

fn display_name(user: &WeChatUser) -> &str {
    user.nickname.as_deref().unwrap_or(&user.openid)
}

fn logout_form(login: &WeChatLogin) -> String {
    format!(
        r#"<form method="post" action="{}"><button id="logout" type="submit">Sign out</button></form>"#,
        escape(login.logout_path())
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}\
a{color:#07c160}.button,button{display:inline-block;background:#07c160;color:#fff;border:0;border-radius:.4rem;padding:.6rem 1.2rem;font-size:1rem;text-decoration:none;cursor:pointer}\
button{background:#555}.card{display:flex;align-items:center;gap:1rem}\
.avatar{width:4rem;height:4rem;border-radius:50%}.initial{display:flex;align-items:center;justify-content:center;background:#07c160;color:#fff;font-size:2rem}\
dt{font-weight:600;margin-top:.5rem}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
.note{font-size:.9rem;color:#666;border-top:1px solid #ddd;margin-top:2rem;padding-top:.5rem}";

fn render(title: &str, body: &str, sandbox: bool) -> Response {
    let note = if sandbox {
        r#"<p class="note">WeChat here is a local sandbox: pick a user on its consent page. <code>guest</code> is a snapshot-mode user, who gets no account.</p>"#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head>
<body><h1>{title}</h1>
{body}
{note}
</body></html>"#,
        title = escape(title),
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    // No scripts, no third-party resources except WeChat's avatar host.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https://thirdwx.qlogo.cn https://wx.qlogo.cn; form-action 'self'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
