//! The app's **server** access token (接口调用凭据), needed by `wxa/checksession`,
//! `wxa/business/getuserphonenumber` and every other server-side API
//! (`wechat-protocol.md` §4.6, §8 S16).
//!
//! Not to be confused with a user's OAuth [`AccessToken`](crate::AccessToken): this one
//! belongs to the app, is fetched with the app secret, and is shared by all users.
//!
//! [`ServerTokenManager`] caches it and keeps it fresh:
//! - it prefers `POST cgi-bin/stable_token`, whose repeated calls return the same token, so
//!   several processes do not invalidate each other's; `GET cgi-bin/token` (which rotates on
//!   every call) is available as [`TokenEndpoint::Legacy`];
//! - one fetch at a time: many callers on a cold or stale cache wait for one request;
//! - it refreshes five minutes before the `expires_in` WeChat gave (never an assumed 7200 s);
//! - [`call_with_token`](ServerTokenManager::call_with_token) refreshes once and retries once
//!   when WeChat rejects the token (40001, 40014, 42001).

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::http::Transport;
use crate::{Error, HttpOptions, Secret};

/// Which WeChat endpoint issues the server token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// `POST cgi-bin/stable_token` (recommended): repeat calls return the same token until
    /// WeChat rotates it, with a five-minute overlap.
    #[default]
    Stable,
    /// `GET cgi-bin/token`: every call issues a new token and invalidates the previous one,
    /// so only one process per app may use it.
    Legacy,
}

/// Default: refresh this long before the token expires.
pub(crate) const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Caches and refreshes an app's server access token. Cheap to clone; clones share the cache.
///
/// ```no_run
/// use wechat_oauth::server_token::ServerTokenManager;
///
/// # async fn run() -> wechat_oauth::Result<()> {
/// let tokens = ServerTokenManager::builder("wx5a4d1e0f0a000003", "app-secret")
///     .api_base("http://127.0.0.1:8080")
///     .build()?;
/// let token = tokens.access_token().await?; // fetched once, then cached
/// # let _ = token;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    appid: String,
    secret: Secret,
    transport: Transport,
    endpoint: TokenEndpoint,
    refresh_margin: Duration,
    cached: RwLock<Option<Cached>>,
    /// Held while fetching: callers that find the cache stale queue here, so a cold cache
    /// under 50 concurrent callers costs one request. Holds the last fetch's failure.
    fetching: tokio::sync::Mutex<Option<Error>>,
    /// How many fetches have finished, so a queued caller can tell that the fetch it waited
    /// for failed, and share that failure instead of trying again itself.
    fetches: AtomicU64,
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    /// When to stop using it: `expires_in` minus the refresh margin.
    refresh_at: Instant,
}

impl fmt::Debug for ServerTokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTokenManager")
            .field("appid", &self.inner.appid)
            .field("endpoint", &self.inner.endpoint)
            .field("refresh_margin", &self.inner.refresh_margin)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ServerTokenManager`]; see [`ServerTokenManager::builder`].
#[derive(Debug)]
#[must_use]
pub struct ServerTokenBuilder {
    appid: String,
    secret: Secret,
    api_base: Option<String>,
    http: HttpOptions,
    endpoint: TokenEndpoint,
    refresh_margin: Duration,
    allow_insecure_http: bool,
}

impl ServerTokenBuilder {
    /// Base URL of WeChat's APIs (default `https://api.weixin.qq.com/`); point it at the sandbox in tests.
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = Some(base.into());
        self
    }

    /// All connection settings at once (timeouts, body limit, custom `reqwest::Client`).
    /// A later [`api_base`](Self::api_base) still overrides `options.api_base`.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Which endpoint issues the token (default [`TokenEndpoint::Stable`]).
    pub fn endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// How long before expiry to fetch a new token (default five minutes). Capped at half
    /// the token's lifetime, so a short-lived token is still used for a while.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Allow a plain `http://` base URL on a host other than loopback: the app secret
    /// would travel unencrypted. Off by default.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the manager.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty appid or secret, an invalid or (off loopback)
    /// plain-http base URL, or an HTTP client that cannot be built.
    pub fn build(mut self) -> Result<ServerTokenManager, Error> {
        if let Some(base) = &self.api_base {
            self.http.api_base = crate::config::normalize_base(base)?;
        }
        crate::config::check_scheme(&self.http.api_base, self.allow_insecure_http)?;
        let transport = self.http.transport()?;
        ServerTokenManager::with_transport(
            self.appid,
            self.secret,
            transport,
            self.endpoint,
            self.refresh_margin,
        )
    }
}

impl ServerTokenManager {
    /// Starts building a manager for the app `appid` with its AppSecret.
    pub fn builder(appid: impl Into<String>, secret: impl Into<Secret>) -> ServerTokenBuilder {
        ServerTokenBuilder {
            appid: appid.into(),
            secret: secret.into(),
            api_base: None,
            http: HttpOptions::default(),
            endpoint: TokenEndpoint::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            allow_insecure_http: false,
        }
    }

    /// A manager sharing an existing client's transport (the Mini Program client's).
    pub(crate) fn with_transport(
        appid: String,
        secret: Secret,
        transport: Transport,
        endpoint: TokenEndpoint,
        refresh_margin: Duration,
    ) -> Result<Self, Error> {
        if appid.is_empty() || secret.is_empty() {
            return Err(Error::Config("appid and secret must not be empty".into()));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                appid,
                secret,
                transport,
                endpoint,
                refresh_margin,
                cached: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// The appid whose token this manages.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// A valid server access token: the cached one, or a freshly fetched one when the cache
    /// is empty or within the refresh margin of expiry. Concurrent callers share one fetch,
    /// and its failure: when WeChat is down, 50 waiting callers fail together after one
    /// request rather than one after another after 50.
    ///
    /// # Errors
    /// The fetch's error: [`Error::WeChat`] (40013 bad appid, 40125 bad secret, 40164 IP
    /// not allow-listed, …), [`Error::Transport`] or [`Error::Response`].
    pub async fn access_token(&self) -> Result<Secret, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let seen = self.inner.fetches.load(Ordering::Acquire);
        let mut last_failure = self.inner.fetching.lock().await;
        // Whoever held the lock before us may have just fetched it, or failed to.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        if self.inner.fetches.load(Ordering::Acquire) != seen
            && let Some(err) = last_failure.as_ref()
        {
            return Err(err.duplicate());
        }
        self.fetch_recorded(false, &mut last_failure).await
    }

    /// Fetches a new token now, whatever the cache holds. With `force`, `stable_token` is
    /// called with `force_refresh: true`, which invalidates the current token for every
    /// process and is limited to 20 calls a day: use it only when a token is known to be
    /// compromised. Without `force` on [`TokenEndpoint::Stable`], WeChat may return the
    /// same token.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn refresh(&self, force: bool) -> Result<Secret, Error> {
        let mut last_failure = self.inner.fetching.lock().await;
        self.fetch_recorded(force, &mut last_failure).await
    }

    /// [`fetch`](Self::fetch), recording its outcome for the callers queued behind it.
    async fn fetch_recorded(
        &self,
        force: bool,
        last_failure: &mut Option<Error>,
    ) -> Result<Secret, Error> {
        let result = self.fetch(force).await;
        *last_failure = result.as_ref().err().map(Error::duplicate);
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Forgets `token` if it is the cached one, so the next
    /// [`access_token`](Self::access_token) fetches a new one. A token that was already
    /// replaced is left alone, so concurrent invalidations cost one fetch, not one each.
    pub fn invalidate(&self, token: &Secret) {
        if let Ok(mut cached) = self.inner.cached.write()
            && cached.as_ref().is_some_and(|c| c.token == *token)
        {
            *cached = None;
        }
    }

    /// Runs `call` with a valid token; if WeChat rejects the token (40001, 40014, 42001),
    /// invalidates it, gets a fresh one and runs `call` once more. A second rejection is
    /// returned as is.
    ///
    /// Only for calls that are safe to repeat: a call that consumes a single-use code must
    /// not be retried.
    ///
    /// # Errors
    /// The token fetch's error, or `call`'s.
    pub async fn call_with_token<T, F, Fut>(&self, mut call: F) -> Result<T, Error>
    where
        F: FnMut(Secret) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let token = self.access_token().await?;
        match call(token.clone()).await {
            Err(err) if err.is_token_invalid() => {
                tracing::debug!(
                    target: "wechat_oauth::server_token",
                    errcode = err.errcode(),
                    "server access token rejected; refreshing once"
                );
                self.invalidate(&token);
                let token = self.access_token().await?;
                call(token).await
            }
            other => other,
        }
    }

    fn fresh(&self) -> Option<Secret> {
        let cached = self.inner.cached.read().ok()?;
        cached
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// One request to WeChat for a token; the caller holds `fetching`.
    async fn fetch(&self, force: bool) -> Result<Secret, Error> {
        let inner = &self.inner;
        let requested_at = Instant::now();
        let response: TokenResponse = match inner.endpoint {
            TokenEndpoint::Stable => {
                let body = serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": inner.appid,
                    "secret": inner.secret.expose_secret(),
                    "force_refresh": force,
                });
                inner
                    .transport
                    .post_json("cgi-bin/stable_token", &[], &body)
                    .await?
            }
            TokenEndpoint::Legacy => {
                inner
                    .transport
                    .get(
                        "cgi-bin/token",
                        &[
                            ("grant_type", "client_credential"),
                            ("appid", &inner.appid),
                            ("secret", inner.secret.expose_secret()),
                        ],
                    )
                    .await?
            }
        };
        let lifetime = Duration::from_secs(response.expires_in);
        let margin = inner.refresh_margin.min(lifetime / 2);
        let cached = Cached {
            token: response.access_token.clone(),
            // Counted from when the request left, so latency shortens the lifetime.
            refresh_at: requested_at + (lifetime - margin),
        };
        if let Ok(mut slot) = inner.cached.write() {
            *slot = Some(cached);
        }
        tracing::debug!(
            target: "wechat_oauth::server_token",
            expires_in = response.expires_in,
            "server access token fetched"
        );
        Ok(response.access_token)
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: Secret,
    #[serde(deserialize_with = "crate::lenient::u64")]
    expires_in: u64,
}
