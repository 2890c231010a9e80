//! # wechat-sandbox: a local WeChat for tests, benchmarks, demos and offline development
//!
//! One listener serves both WeChat hosts: the `open.weixin.qq.com` authorize pages
//! (`/connect/*`) and the `api.weixin.qq.com` JSON APIs. It is an independent implementation
//! of WeChat's side of the wire format described in `wechat-protocol.md` §0–§7.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wechat_sandbox::{Sandbox, defaults};
//!
//! let sandbox = Sandbox::builder().start().await?; // default apps and users, 127.0.0.1:0
//! let code = sandbox.mint_code(defaults::OFFICIAL_APPID, "alice", "snsapi_userinfo")?;
//! assert!(sandbox.url().starts_with("http://127.0.0.1:"));
//! assert_eq!(code.len(), 32);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod connect;
mod control;
pub mod defaults;
mod fault;
mod journal;
mod miniprogram;
mod model;
mod reply;
mod request;
mod server;
mod server_token;
mod sns;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use connect::{ACTION_HEADER, USER_HEADER};
pub use fault::Fault;
pub use journal::JournalEntry;
pub use miniprogram::MpUserInfo;
pub use model::{AppInfo, AppKind, UserInfo};

use model::{App, Directory, Scope};
use request::Ctx;
use state::Shared;

/// Everything that can go wrong when configuring, starting or driving a sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder or command line was given something unusable.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// No app with this appid is configured.
    #[error("unknown appid `{0}`")]
    UnknownApp(String),
    /// No user with this id is configured.
    #[error("unknown sandbox user `{0}`")]
    UnknownUser(String),
    /// The app exists but is of another kind than the operation needs.
    #[error("appid `{appid}` is not a {expected} app")]
    WrongAppKind {
        /// The appid given.
        appid: String,
        /// The kind the operation needs.
        expected: AppKind,
    },
    /// The scope is unknown or not allowed for the app's kind.
    #[error("scope `{scope}` is not allowed for appid `{appid}`")]
    Scope {
        /// The appid given.
        appid: String,
        /// The scope given.
        scope: String,
    },
    /// `mp_userinfo` before any `mp_login`: the user has no session_key yet.
    #[error("user `{user}` has no session with `{appid}` yet: call mp_login first")]
    NoSession {
        /// The appid given.
        appid: String,
        /// The user given.
        user: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default journal capacity: the oldest entries are dropped beyond it.
pub const DEFAULT_JOURNAL_CAPACITY: usize = 10_000;

/// Configures a [`Sandbox`]. With no [`app`](Self::app) the three default apps of
/// [`defaults`] exist; with no [`user`](Self::user) the default users do.
#[derive(Debug)]
pub struct SandboxBuilder {
    apps: Vec<App>,
    users: Vec<(String, bool)>,
    listen: SocketAddr,
    journal_capacity: usize,
    problems: Vec<String>,
}

impl SandboxBuilder {
    /// Adds an app. Call [`domain`](Self::domain) right after to set its callback host.
    pub fn app(
        mut self,
        appid: impl Into<String>,
        secret: impl Into<String>,
        kind: AppKind,
    ) -> Self {
        self.apps.push(App {
            appid: appid.into(),
            secret: secret.into(),
            kind,
            domain: None,
        });
        self
    }

    /// Sets the authorized callback domain of the app added last: `host` (ports 80/443 only,
    /// as on WeChat) or `host:port` (as test accounts may register). Without it, any loopback
    /// host on any port is accepted.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        match self.apps.last_mut() {
            Some(app) => app.domain = Some(domain.into()),
            None => self
                .problems
                .push("domain() must follow an app()".to_owned()),
        }
        self
    }

    /// Adds a user.
    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.users.push((id.into(), false));
        self
    }

    /// Adds a snapshot-mode user: Official Account tokens carry `is_snapshotuser: 1`, and the
    /// openid/unionid are virtual-account ids (`wechat-protocol.md` §1.7).
    pub fn snapshot_user(mut self, id: impl Into<String>) -> Self {
        self.users.push((id.into(), true));
        self
    }

    /// The address to bind; default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// How many requests the journal keeps (oldest dropped first); 0 disables it.
    /// Default [`DEFAULT_JOURNAL_CAPACITY`].
    pub fn journal_capacity(mut self, capacity: usize) -> Self {
        self.journal_capacity = capacity;
        self
    }

    fn directory(self) -> Result<(Directory, SocketAddr, usize)> {
        let mut problems = self.problems;
        let apps = if self.apps.is_empty() {
            default_apps()
        } else {
            self.apps
        };
        let users = if self.users.is_empty() {
            defaults::USERS
                .iter()
                .map(|id| (id.to_string(), *id == defaults::SNAPSHOT_USER))
                .collect()
        } else {
            self.users
        };
        for (i, app) in apps.iter().enumerate() {
            if app.appid.is_empty() || app.secret.is_empty() {
                problems.push(format!("app #{} needs a non-empty appid and secret", i + 1));
            }
            if apps[..i].iter().any(|a| a.appid == app.appid) {
                problems.push(format!("appid `{}` is configured twice", app.appid));
            }
        }
        for (i, (id, _)) in users.iter().enumerate() {
            if id.is_empty() || id.contains(|c: char| c.is_control() || c == ';' || c == ',') {
                problems.push(format!(
                    "user id `{id}` must be non-empty, without control characters, `;` or `,`"
                ));
            }
            if users[..i].iter().any(|(other, _)| other == id) {
                problems.push(format!("user `{id}` is configured twice"));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Config(problems.join("; ")));
        }
        let users = users
            .iter()
            .map(|(id, snapshot)| model::new_user(id, *snapshot))
            .collect();
        Ok((
            Directory::new(apps, users),
            self.listen,
            self.journal_capacity,
        ))
    }

    /// Binds the listener and starts serving on the current tokio runtime. The server stops
    /// when the last [`Sandbox`] handle is dropped.
    pub async fn start(self) -> Result<Sandbox> {
        let (dir, listen, journal_capacity) = self.directory()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let shared = Arc::new(Shared::new(dir, journal_capacity));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), stopped));
        let url = match addr {
            SocketAddr::V4(v4) => format!("http://{v4}"),
            SocketAddr::V6(v6) => format!("http://[{}]:{}", v6.ip(), v6.port()),
        };
        Ok(Sandbox {
            shared,
            url,
            addr,
            _stop: Arc::new(StopOnDrop(stop)),
        })
    }
}

fn default_apps() -> Vec<App> {
    use defaults::*;
    [
        (OFFICIAL_APPID, OFFICIAL_SECRET, AppKind::Official),
        (WEBSITE_APPID, WEBSITE_SECRET, AppKind::Website),
        (MINIPROGRAM_APPID, MINIPROGRAM_SECRET, AppKind::MiniProgram),
    ]
    .into_iter()
    .map(|(appid, secret, kind)| App {
        appid: appid.to_owned(),
        secret: secret.to_owned(),
        kind,
        domain: None,
    })
    .collect()
}

#[derive(Debug)]
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running sandbox. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    url: String,
    addr: SocketAddr,
    _stop: Arc<StopOnDrop>,
}

impl Sandbox {
    /// Starts configuring a sandbox.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            apps: Vec::new(),
            users: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            journal_capacity: DEFAULT_JOURNAL_CAPACITY,
            problems: Vec::new(),
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`, no trailing slash. It serves both the
    /// `open.weixin.qq.com` pages (`/connect/*`) and the `api.weixin.qq.com` APIs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured apps (no secrets).
    pub fn apps(&self) -> Vec<AppInfo> {
        self.shared.dir.app_infos()
    }

    /// The configured users.
    pub fn users(&self) -> Vec<UserInfo> {
        self.shared.dir.user_infos()
    }

    /// Every journaled request since start, the last [`clear_journal`](Self::clear_journal)
    /// or [`reset`](Self::reset), oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().journal.iter().cloned().collect()
    }

    /// Forgets the journal.
    pub fn clear_journal(&self) {
        self.shared.lock().journal.clear();
    }

    /// Back to the state right after start: no codes, tokens, session keys, faults or journal,
    /// and the clock back to wall time. Apps, users and ids stay.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Moves the sandbox clock forward: codes, tokens and refresh tokens expire without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .advance_clock_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Sandbox time, unix milliseconds (wall clock plus every `advance_clock`).
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }

    fn with_ctx<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let now_ms = self.shared.now_ms();
        let mut st = self.shared.lock();
        let mut ctx = Ctx {
            dir: &self.shared.dir,
            st: &mut st,
            now_ms,
        };
        f(&mut ctx)
    }

    /// A code exactly as if `user` approved `scope` (`snsapi_base`, `snsapi_userinfo` for
    /// Official Accounts, `snsapi_login` for websites) on the authorize page. For benchmarks
    /// and tests that do not exercise the pages.
    pub fn mint_code(&self, appid: &str, user: &str, scope: &str) -> Result<String> {
        self.with_ctx(|ctx| mint_code_in(ctx, appid, user, scope))
    }

    /// The openid `user` has under `appid`: deterministic, stable across runs. For a snapshot
    /// user it is the virtual-account openid its tokens carry.
    pub fn openid(&self, appid: &str, user: &str) -> String {
        let snapshot = self
            .shared
            .dir
            .user(user)
            .is_some_and(|u| self.shared.dir.users[u].snapshot);
        model::openid_for(appid, user, snapshot)
    }

    /// The unionid of `user` (all sandbox apps are bound to one Open Platform account).
    pub fn unionid(&self, user: &str) -> String {
        let snapshot = self
            .shared
            .dir
            .user(user)
            .is_some_and(|u| self.shared.dir.users[u].snapshot);
        model::unionid_for(user, snapshot)
    }

    /// Queues `fault` for the next request to `path` (e.g. `"/sns/userinfo"`); faults for one
    /// path are used first in, first out, one per request.
    pub fn inject_fault(&self, path: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// `wx.login()` on a device: returns a `js_code` for `/sns/jscode2session` and rotates the
    /// user's session_key (the old one stops verifying).
    pub fn mp_login(&self, appid: &str, user: &str) -> Result<String> {
        self.with_ctx(|ctx| miniprogram::login(ctx, appid, user))
    }

    /// `wx.getUserInfo()` on a device: `rawData`, `signature`, `encryptedData`, `iv`, made with
    /// the user's current session_key. Needs a prior [`mp_login`](Self::mp_login).
    pub fn mp_userinfo(&self, appid: &str, user: &str) -> Result<MpUserInfo> {
        self.with_ctx(|ctx| miniprogram::userinfo(ctx, appid, user))
    }

    /// The `getPhoneNumber` button: a code for `/wxa/business/getuserphonenumber`.
    pub fn mp_phone_code(&self, appid: &str, user: &str) -> Result<String> {
        self.with_ctx(|ctx| miniprogram::phone_code(ctx, appid, user))
    }

    /// The user's current session_key under a Mini Program, if it has logged in. A test
    /// fixture: real servers never reveal it to the device.
    pub fn session_key(&self, appid: &str, user: &str) -> Option<String> {
        let dir = &self.shared.dir;
        let key = (dir.app(appid)?, dir.user(user)?);
        self.shared.lock().session_keys.get(&key).cloned()
    }
}

pub(crate) fn mint_code_in(
    ctx: &mut Ctx<'_>,
    appid: &str,
    user: &str,
    scope: &str,
) -> Result<String> {
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Error::UnknownApp(appid.to_owned()))?;
    let user_idx = ctx
        .dir
        .user(user)
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    let scope_ok = Scope::parse(scope).filter(|s| s.allowed_for(ctx.dir.apps[app].kind));
    let Some(scope) = scope_ok else {
        return Err(Error::Scope {
            appid: appid.to_owned(),
            scope: scope.to_owned(),
        });
    };
    Ok(sns::mint_web_code(ctx, app, user_idx, scope))
}
