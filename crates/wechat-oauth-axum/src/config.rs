//! [`WeChatLogin`]: the configured login, built with [`WeChatLoginBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, post};
use wechat_oauth::store::Stores;
use wechat_oauth::{Lang, OAuthClient, Scope};

use crate::cookie::{Cookies, is_valid_cookie_name};
use crate::key::Key;
use crate::outcome::OutcomeCache;
use crate::pages::{LoginFailure, default_failure_page};
use crate::return_path::safe_return_path;
use crate::state::{FlowTag, StateContext};

/// Which WeChat authorization the login runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flow {
    /// Official Account web authorization with `snsapi_base`: silent, openid (and unionid
    /// when bound) only.
    #[default]
    OfficialAccountBase,
    /// Official Account web authorization with `snsapi_userinfo`: a consent page, then the
    /// nickname and avatar.
    OfficialAccountUserInfo,
    /// Website QR-code login (`qrconnect`, `snsapi_login`) for an Open Platform website app.
    WebsiteQrLogin,
}

impl Flow {
    /// The scope WeChat is asked for.
    pub fn scope(self) -> Scope {
        match self {
            Self::OfficialAccountBase => Scope::Base,
            Self::OfficialAccountUserInfo => Scope::UserInfo,
            Self::WebsiteQrLogin => Scope::Login,
        }
    }

    pub(crate) fn tag(self) -> FlowTag {
        match self {
            Self::OfficialAccountBase => FlowTag::Base,
            Self::OfficialAccountUserInfo => FlowTag::UserInfo,
            Self::WebsiteQrLogin => FlowTag::WebsiteLogin,
        }
    }

    /// Whether the token allows `sns/userinfo` (nickname, avatar).
    pub(crate) fn fetches_profile(self) -> bool {
        !matches!(self, Self::OfficialAccountBase)
    }
}

/// What happens when WeChat answers with a snapshot-mode user (`is_snapshotuser`, 快照页).
///
/// Since 2022 WeChat opens a `snsapi_userinfo` page in "snapshot mode" when it judges the
/// login was forced on page open; the openid and unionid it then gives belong to a virtual
/// account (docs/protocol.md §7). They must never become a real account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SnapshotUsers {
    /// No session: the callback shows a page asking the user to tap "使用完整服务" (use the
    /// full service), and the virtual user's token is removed from the store (the default).
    #[default]
    Refuse,
    /// A guest session that lasts until the browser closes; [`WeChatUser::is_snapshotuser`]
    /// is `true` and the application must not link it to an account.
    ///
    /// [`WeChatUser::is_snapshotuser`]: crate::WeChatUser::is_snapshotuser
    GuestSession,
}

/// Why a [`WeChatLoginBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The callback URL is not an absolute `http`/`https` URL without query or fragment.
    #[error("invalid callback URL: {0}")]
    CallbackUrl(String),
    /// A plain-http callback on a host other than loopback, without
    /// [`allow_http_callback`](WeChatLoginBuilder::allow_http_callback).
    #[error(
        "callback URL uses http on a non-loopback host: codes and session cookies would travel in clear (use https, or allow_http_callback for a test account)"
    )]
    InsecureCallback,
    /// A route path is not a plain absolute path.
    #[error(
        "invalid {which} path {path:?}: must start with '/' and hold no query, fragment or route parameters"
    )]
    Path {
        /// Which path (`login`, `logout`, `callback`, `after-login`).
        which: &'static str,
        /// The offending value.
        path: String,
    },
    /// Two routes share a path.
    #[error("the login, callback and logout routes must have distinct paths")]
    PathConflict,
    /// The session cookie name is not an RFC 6265 token.
    #[error("invalid cookie name {0:?}")]
    CookieName(String),
    /// A state lifetime of zero or longer than ten minutes.
    #[error("the state lifetime must be between 1 second and 10 minutes")]
    StateTtl,
    /// A route path outside the prefix given to
    /// [`nested_under`](WeChatLoginBuilder::nested_under).
    #[error("the {which} path {path:?} is not under the prefix the routes are nested under")]
    OutsidePrefix {
        /// Which path (`login`, `logout`, `logout-everywhere`, `callback`).
        which: &'static str,
        /// The offending value.
        path: String,
    },
    /// A session lifetime (absolute or idle) of zero.
    #[error("session lifetimes must be at least 1 second")]
    SessionTtl,
    /// A follow-to-login setting out of range ([`FollowLoginBuilder`](crate::FollowLoginBuilder)).
    #[error("invalid follow-to-login setting: {0}")]
    Follow(String),
}

/// Renders the page shown when a callback fails; see
/// [`WeChatLoginBuilder::failure_page`].
pub type FailurePage = Arc<dyn Fn(&LoginFailure, &str) -> Response + Send + Sync>;

/// WeChat login for an axum app: the login, callback and logout routes
/// ([`routes`](Self::routes)) and the configuration the [`WeChatUser`] extractor reads from
/// the router's state (through [`FromRef`](axum::extract::FromRef)). Cheap to clone.
///
/// See the [crate documentation](crate) for an example.
///
/// [`WeChatUser`]: crate::WeChatUser
#[derive(Clone)]
pub struct WeChatLogin {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub client: OAuthClient,
    pub flow: Flow,
    pub callback_url: String,
    pub callback_path: String,
    pub login_path: String,
    pub logout_path: String,
    pub after_login: String,
    pub logout_everywhere_path: String,
    /// The prefix the routes are nested under (empty: merged at the root).
    pub prefix: String,
    pub key: Key,
    pub cookies: Cookies,
    /// `scheme://host[:port]` of the callback URL: where this site's own pages come from.
    pub site_origin: String,
    pub stores: Stores,
    pub session_ttl: Duration,
    pub session_idle_ttl: Duration,
    pub state_ttl: Duration,
    pub lang: Lang,
    pub snapshot: SnapshotUsers,
    pub failure_page: FailurePage,
    pub outcomes: OutcomeCache,
    /// Seconds added to the wall clock; lets tests expire a state without sleeping.
    pub clock_skew: std::sync::atomic::AtomicU64,
}

impl WeChatLogin {
    /// Starts configuring a login that exchanges codes with `client`, receives WeChat's
    /// callback at exactly `callback_url` (never derived from request headers,
    /// docs/protocol.md §7), and signs states and cookies with `key`.
    ///
    /// The callback route is mounted at the path of `callback_url`.
    pub fn builder(
        client: OAuthClient,
        callback_url: impl Into<String>,
        key: Key,
    ) -> WeChatLoginBuilder {
        WeChatLoginBuilder {
            client,
            callback_url: callback_url.into(),
            key,
            flow: Flow::default(),
            login_path: "/auth/wechat/login".into(),
            logout_path: "/auth/wechat/logout".into(),
            logout_everywhere_path: "/auth/wechat/logout-everywhere".into(),
            after_login: "/".into(),
            session_cookie: "wechat_session".into(),
            stores: None,
            prefix: String::new(),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            session_idle_ttl: Duration::from_secs(24 * 3600),
            state_ttl: Duration::from_secs(600),
            lang: Lang::default(),
            snapshot: SnapshotUsers::default(),
            allow_http: false,
            failure_page: None,
        }
    }

    /// The login (`GET`), callback (`GET`), logout and logout-everywhere (`POST`) routes, to
    /// [`merge`](Router::merge) into the app's router, or to [`nest`](Router::nest) under the
    /// prefix given to [`WeChatLoginBuilder::nested_under`].
    ///
    /// The router's state must provide this login through [`FromRef`](axum::extract::FromRef)
    /// (the login itself, or an app state with `impl FromRef<AppState> for WeChatLogin`), so
    /// a router without it does not compile.
    pub fn routes<S>(&self) -> Router<S>
    where
        WeChatLogin: axum::extract::FromRef<S>,
        S: Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        let local = |path: &str| path[inner.prefix.len()..].to_owned();
        Router::new()
            .route(&local(&inner.login_path), get(crate::routes::login))
            .route(&local(&inner.callback_path), get(crate::routes::callback))
            .route(&local(&inner.logout_path), post(crate::routes::logout))
            .route(
                &local(&inner.logout_everywhere_path),
                post(crate::routes::logout_everywhere),
            )
    }

    /// The local URL that starts a login and comes back to `return_to` (a same-site path;
    /// anything else comes back to the after-login default).
    ///
    /// ```
    /// # use wechat_oauth_axum::{Key, WeChatLogin};
    /// # let client = wechat_oauth::OAuthClient::builder("wx1", "secret").build().unwrap();
    /// let login = WeChatLogin::builder(client, "https://example.com/auth/wechat/callback", Key::generate())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(login.login_url("/orders?id=7"), "/auth/wechat/login?return_to=%2Forders%3Fid%3D7");
    /// ```
    pub fn login_url(&self, return_to: &str) -> String {
        let target = safe_return_path(return_to).unwrap_or(&self.inner.after_login);
        format!(
            "{}?return_to={}",
            self.inner.login_path,
            percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    /// The SDK client used for code exchanges and profiles.
    pub fn client(&self) -> &OAuthClient {
        &self.inner.client
    }

    /// The configured flow.
    pub fn flow(&self) -> Flow {
        self.inner.flow
    }

    /// The path of the logout route (`POST`).
    pub fn logout_path(&self) -> &str {
        &self.inner.logout_path
    }

    #[doc(hidden)]
    /// Moves this login's clock forward (tests only: expires states without sleeping).
    pub fn advance_clock_for_tests(&self, by: Duration) {
        self.inner
            .clock_skew
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The path of the "sign out everywhere" route (`POST`).
    pub fn logout_everywhere_path(&self) -> &str {
        &self.inner.logout_everywhere_path
    }

    /// The store set holding this login's web sessions and used states.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    pub(crate) fn now_millis(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let skew = self
            .inner
            .clock_skew
            .load(std::sync::atomic::Ordering::Relaxed);
        wall.saturating_add(i64::try_from(skew).unwrap_or(0).saturating_mul(1000))
    }

    pub(crate) fn now_secs(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        wall + self
            .inner
            .clock_skew
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn state_context(&self) -> StateContext<'_> {
        StateContext {
            key: &self.inner.key,
            appid: self.inner.client.appid(),
            callback_url: &self.inner.callback_url,
        }
    }
}

impl fmt::Debug for WeChatLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("WeChatLogin")
            .field("appid", &inner.client.appid())
            .field("flow", &inner.flow)
            .field("callback_url", &inner.callback_url)
            .field("login_path", &inner.login_path)
            .field("logout_path", &inner.logout_path)
            .field("after_login", &inner.after_login)
            .field("session_cookie", &inner.cookies.session_name)
            .field("snapshot", &inner.snapshot)
            .finish_non_exhaustive()
    }
}

/// Configures a [`WeChatLogin`]; start with [`WeChatLogin::builder`].
#[must_use]
pub struct WeChatLoginBuilder {
    client: OAuthClient,
    callback_url: String,
    key: Key,
    flow: Flow,
    login_path: String,
    logout_path: String,
    logout_everywhere_path: String,
    after_login: String,
    session_cookie: String,
    stores: Option<Stores>,
    prefix: String,
    session_ttl: Duration,
    session_idle_ttl: Duration,
    state_ttl: Duration,
    lang: Lang,
    snapshot: SnapshotUsers,
    allow_http: bool,
    failure_page: Option<FailurePage>,
}

impl fmt::Debug for WeChatLoginBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatLoginBuilder")
            .field("callback_url", &self.callback_url)
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

impl WeChatLoginBuilder {
    /// Which authorization to run (default [`Flow::OfficialAccountBase`]).
    pub fn flow(mut self, flow: Flow) -> Self {
        self.flow = flow;
        self
    }

    /// Path of the login route (default `/auth/wechat/login`; query `return_to`).
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.login_path = path.into();
        self
    }

    /// Path of the logout route (default `/auth/wechat/logout`, `POST`).
    pub fn logout_path(mut self, path: impl Into<String>) -> Self {
        self.logout_path = path.into();
        self
    }

    /// Path of the "sign out everywhere" route (default `/auth/wechat/logout-everywhere`,
    /// `POST`): ends every session of the signed-in user, in every browser.
    pub fn logout_everywhere_path(mut self, path: impl Into<String>) -> Self {
        self.logout_everywhere_path = path.into();
        self
    }

    /// Says that [`routes`](WeChatLogin::routes) will be mounted with
    /// `Router::nest(prefix, login.routes())`. The route paths (login, logout, callback)
    /// stay the full paths the browser sees and must all start with `prefix`.
    ///
    /// ```
    /// # use wechat_oauth_axum::{Key, WeChatLogin};
    /// # let client = wechat_oauth::OAuthClient::builder("wx1", "secret").build().unwrap();
    /// let login = WeChatLogin::builder(client, "https://example.com/auth/wechat/callback", Key::generate())
    ///     .nested_under("/auth")
    ///     .build()
    ///     .unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/auth", login.routes())
    ///     .with_state(login);
    /// # let _ = app;
    /// ```
    pub fn nested_under(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Where the web sessions and the single-use `state` nonces live (default: the OAuth
    /// client's own [`Stores`], so a client built on a shared backend shares sessions too).
    /// A site served by more than one process needs a shared set (for example from
    /// `wechat_oauth_stores::open(url)`), or sessions started on one process are unknown on
    /// the others and a state could be used once per process.
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Where to go after login when no valid `return_to` was given, and after logout
    /// (default `/`).
    pub fn after_login(mut self, path: impl Into<String>) -> Self {
        self.after_login = path.into();
        self
    }

    /// Name of the session cookie (default `wechat_session`; it holds a random session id
    /// only); the pending-login cookie is this name plus `_pending`.
    pub fn session_cookie(mut self, name: impl Into<String>) -> Self {
        self.session_cookie = name.into();
        self
    }

    /// How long a session lasts at most, however active (default 7 days): its absolute
    /// lifetime.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// How long a session lasts without a request (default 24 hours): its idle lifetime,
    /// never beyond the absolute one.
    pub fn session_idle_ttl(mut self, ttl: Duration) -> Self {
        self.session_idle_ttl = ttl;
        self
    }

    /// How long a login may take from the login route to the callback (default and
    /// maximum 10 minutes, docs/protocol.md §7).
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// Language of the profile's place names (default `zh_CN`).
    pub fn lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// What to do with snapshot-mode users (see [`SnapshotUsers`]).
    pub fn snapshot_users(mut self, policy: SnapshotUsers) -> Self {
        self.snapshot = policy;
        self
    }

    /// Accepts a plain-http callback on a non-loopback host (a WeChat test account on a LAN);
    /// cookies are then sent without `Secure`.
    pub fn allow_http_callback(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Replaces the built-in pages shown when a callback fails. The function gets the
    /// failure and a local URL that starts a fresh login; the response's status is kept,
    /// and `Referrer-Policy: no-referrer` and `Cache-Control: no-store` are added.
    pub fn failure_page<F>(mut self, render: F) -> Self
    where
        F: Fn(&LoginFailure, &str) -> Response + Send + Sync + 'static,
    {
        self.failure_page = Some(Arc::new(render));
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first problem.
    pub fn build(self) -> Result<WeChatLogin, ConfigError> {
        let (callback_path, secure) = check_callback_url(&self.callback_url, self.allow_http)?;
        check_path("login", &self.login_path)?;
        check_path("logout", &self.logout_path)?;
        check_path("logout-everywhere", &self.logout_everywhere_path)?;
        if safe_return_path(&self.after_login).is_none() {
            return Err(ConfigError::Path {
                which: "after-login",
                path: self.after_login,
            });
        }
        let paths = [
            &self.login_path,
            &self.logout_path,
            &self.logout_everywhere_path,
            &callback_path,
        ];
        if (1..paths.len()).any(|i| paths[..i].contains(&paths[i])) {
            return Err(ConfigError::PathConflict);
        }
        if !is_valid_cookie_name(&self.session_cookie) {
            return Err(ConfigError::CookieName(self.session_cookie));
        }
        if self.state_ttl.is_zero() || self.state_ttl > Duration::from_secs(600) {
            return Err(ConfigError::StateTtl);
        }
        if !self.prefix.is_empty() {
            check_path("prefix", &self.prefix)?;
            if self.prefix.ends_with('/') {
                return Err(ConfigError::Path {
                    which: "prefix",
                    path: self.prefix,
                });
            }
            for (which, path) in [
                ("login", &self.login_path),
                ("logout", &self.logout_path),
                ("logout-everywhere", &self.logout_everywhere_path),
                ("callback", &callback_path),
            ] {
                let inside = path
                    .strip_prefix(&self.prefix)
                    .is_some_and(|rest| rest.starts_with('/'));
                if !inside {
                    return Err(ConfigError::OutsidePrefix {
                        which,
                        path: path.clone(),
                    });
                }
            }
        }
        if self.session_ttl.as_secs() == 0 || self.session_idle_ttl.as_secs() == 0 {
            return Err(ConfigError::SessionTtl);
        }
        let site_origin = crate::origin::origin_of(
            &self
                .callback_url
                .parse()
                .map_err(|_| ConfigError::CallbackUrl(self.callback_url.clone()))?,
        );
        let cookies = Cookies::new(&self.key, self.client.appid(), &self.session_cookie, secure);
        let stores = self.stores.unwrap_or_else(|| self.client.stores().clone());
        Ok(WeChatLogin {
            inner: Arc::new(Inner {
                client: self.client,
                flow: self.flow,
                callback_url: self.callback_url,
                callback_path,
                login_path: self.login_path,
                logout_path: self.logout_path,
                logout_everywhere_path: self.logout_everywhere_path,
                prefix: self.prefix,
                after_login: self.after_login,
                key: self.key,
                cookies,
                site_origin,
                stores,
                session_ttl: self.session_ttl,
                session_idle_ttl: self.session_idle_ttl.min(self.session_ttl),
                state_ttl: self.state_ttl,
                lang: self.lang,
                snapshot: self.snapshot,
                failure_page: self
                    .failure_page
                    .unwrap_or_else(|| Arc::new(default_failure_page)),
                outcomes: OutcomeCache::default(),
                clock_skew: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// Checks the callback URL and returns its path and whether cookies get `Secure`.
fn check_callback_url(url: &str, allow_http: bool) -> Result<(String, bool), ConfigError> {
    let bad = |why: &str| ConfigError::CallbackUrl(format!("{url:?}: {why}"));
    if url.contains('#') {
        // WeChat inserts `?code=` before a fragment (docs/protocol.md §2.1).
        return Err(bad("no fragment allowed"));
    }
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    if uri.query().is_some() {
        return Err(bad("no query allowed"));
    }
    let secure = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if is_loopback(host) => false,
        Some("http") if allow_http => false,
        Some("http") => return Err(ConfigError::InsecureCallback),
        _ => return Err(bad("scheme must be http or https")),
    };
    let path = uri.path().to_owned();
    check_path("callback", &path)?;
    Ok((path, secure))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_path(which: &'static str, path: &str) -> Result<(), ConfigError> {
    let ok = safe_return_path(path).is_some() && !path.contains(['?', '#', '{', '}', '*', '%']);
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Path {
            which,
            path: path.to_owned(),
        })
    }
}
