//! `wechat-oauth demo`: the demo site of `wechat-oauth-axum` (`wechat_oauth_axum::demo`,
//! the same code its `examples/demo.rs` and `examples/follow_demo.rs` run), served on WeChat
//! or on a sandbox.
//!
//! With no app credentials it starts a WeChat sandbox in-process, so a newcomer sees a whole
//! login (consent page included) with no account and no network: the redirect login, the
//! desktop "scan to follow and sign in" page (its message endpoint registered with the
//! sandbox, and a phone panel that scans as a sandbox user), and `wx.config` on the profile
//! page. With `WECHAT_APPID` and `WECHAT_SECRET` set and no API base override it talks to
//! the real WeChat; the site must then be reachable at the authorized domain, given by
//! `WECHAT_DEMO_PUBLIC_URL` (for example `https://login.example.com/`), and opened inside
//! WeChat. Follow-to-login then needs the account's server token (`WECHAT_SERVER_TOKEN`,
//! and `WECHAT_ENCODING_AES_KEY` for the compatible and safe modes) and the server URL
//! configured at WeChat as the site's `/wechat`.
//!
//! Everything the site keeps (tokens, web sessions, used states) goes to the one store URL
//! it is given. With a persistent store and the same key (`WECHAT_DEMO_KEY`, at least 32
//! bytes), a restarted demo keeps its users signed in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wechat_oauth::store::Stores;
use wechat_oauth::{Secret, WeChatApp};
use wechat_oauth_axum::demo::{DemoSite, MESSAGE_PATH};
use wechat_oauth_axum::{Flow, FollowLogin, JsSdk, Key, WeChatLogin};
use wechat_oauth_message::{MessageServer, Mode};
use wechat_sandbox::{Sandbox, ServerConfig, defaults};

/// Environment variable naming the site's public URL when it runs against the real WeChat.
pub const PUBLIC_URL_ENV: &str = "WECHAT_DEMO_PUBLIC_URL";

/// Environment variable holding the site key (at least 32 bytes of text), so that a
/// restarted demo still recognises its states and session cookies.
pub const KEY_ENV: &str = "WECHAT_DEMO_KEY";

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
    /// Store URL (`sqlite://…`, `redis://…`, `memory:` …) for everything the site keeps.
    pub store: String,
    /// The key that signs states and cookies; `None` picks a random one (sessions then end
    /// when the demo stops).
    pub key: Option<Key>,
    /// The Official Account's server token (令牌), for follow-to-login on the real WeChat
    /// (on the in-process sandbox a random one is registered).
    pub server_token: Option<Secret>,
    /// The account's EncodingAESKey, for the compatible and safe modes.
    pub encoding_aes_key: Option<Secret>,
}

impl DemoOptions {
    /// The key from [`KEY_ENV`], if set.
    ///
    /// # Errors
    /// The variable is set but shorter than 32 bytes.
    pub fn key_from_env() -> anyhow::Result<Option<Key>> {
        match std::env::var(KEY_ENV) {
            Ok(text) => Key::from_bytes(text.as_bytes())
                .map(Some)
                .with_context(|| format!("{KEY_ENV} must be at least 32 bytes")),
            Err(_) => Ok(None),
        }
    }
}

/// A demo site serving in the background; stops when [`stop`](Self::stop)ped or dropped
/// with its runtime.
#[derive(Debug)]
pub struct RunningDemo {
    url: String,
    message_url: Option<String>,
    sandbox: Option<Sandbox>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningDemo {
    /// The site's URL, with a trailing slash (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The message interface's URL (the account's server URL), when follow-to-login is on.
    pub fn message_url(&self) -> Option<&str> {
        self.message_url.as_deref()
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
    match demo.message_url() {
        Some(url) => println!("message interface (server URL) at {url}"),
        None => tracing::info!(
            "no WECHAT_SERVER_TOKEN: the follow-to-login page is off (set it and configure the server URL as {}{})",
            demo.url().trim_end_matches('/'),
            MESSAGE_PATH
        ),
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
    let stores = open_stores(&opts.store).await?;
    let app = backend.app(&stores)?;
    let key = opts.key.clone().unwrap_or_else(|| {
        tracing::info!("no {KEY_ENV}: a random key, so sessions end when the demo stops");
        Key::generate()
    });
    let login = WeChatLogin::builder(app.oauth(), format!("{url}auth/wechat/callback"), key)
        .flow(Flow::OfficialAccountUserInfo)
        .stores(stores.clone())
        .build()
        .context("login configuration")?;
    let mut site = DemoSite::new(&login)
        .sandbox(backend.sandbox.is_some())
        .jssdk(JsSdk::for_login(&login, app.official_account()));
    // The server token: given for the real WeChat, random for the in-process sandbox.
    let server_token = match (&opts.server_token, &backend.sandbox) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(_)) => Some(Secret::new(wechat_oauth::new_state())),
        (None, None) => None,
    };
    let message_url = format!("{}{MESSAGE_PATH}", url.trim_end_matches('/'));
    if let Some(token) = &server_token {
        let mut follow = FollowLogin::builder(login.clone(), app.official_account());
        if let Some(sandbox) = &backend.sandbox {
            follow = follow.qr_image_base(sandbox.url());
        }
        let follow = follow.build().context("follow-to-login configuration")?;
        let mut messages = MessageServer::builder(token.expose_secret(), app.appid())
            .dedupe(stores.leases.clone());
        if let Some(aes_key) = &opts.encoding_aes_key {
            // Compatible accepts what either encrypted mode of the account sends.
            messages = messages
                .mode(Mode::Compatible)
                .encoding_aes_key(aes_key.expose_secret());
        }
        let messages = messages
            .build()
            .context("message interface configuration (WECHAT_ENCODING_AES_KEY)")?;
        site = site.follow_login(follow, messages);
        if let Some(sandbox) = &backend.sandbox {
            site = site.phone(sandbox.clone());
        }
    }
    let router = site.router();

    let (shutdown, stopped) = oneshot::channel::<()>();
    // Header-read and idle timeouts and a connection cap: a public page must not let one
    // client hold connections open for ever (slowloris).
    let server = tokio::spawn(wechat_oauth_axum::serve(
        listener,
        router,
        wechat_oauth_axum::ServeLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    if let (Some(sandbox), Some(token)) = (&backend.sandbox, &server_token) {
        // Like the admin console's 提交: the sandbox checks the URL with an echostr first.
        let local = format!("{}{MESSAGE_PATH}", local_url(addr).trim_end_matches('/'));
        let registered = sandbox
            .register_server(app.appid(), ServerConfig::new(local, token.expose_secret()))
            .await;
        if let Err(error) = registered {
            let _ = shutdown.send(());
            return Err(anyhow::Error::new(error)
                .context("registering the message interface with the sandbox"));
        }
    }
    Ok(RunningDemo {
        url,
        message_url: server_token.map(|_| message_url),
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

    /// The OAuth and Official Account clients on the site's stores.
    fn app(&self, stores: &Stores) -> anyhow::Result<WeChatApp> {
        let mut builder = WeChatApp::builder(self.appid.clone(), self.secret.expose_secret())
            .stores(stores.clone());
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
