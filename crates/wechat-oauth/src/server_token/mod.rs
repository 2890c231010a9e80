//! The app's **server** access token (接口调用凭据), needed by `wxa/checksession`,
//! `wxa/business/getuserphonenumber` and every other server-side API
//! (docs/protocol.md §5).
//!
//! Not to be confused with a user's OAuth [`AccessToken`](crate::AccessToken): this one
//! belongs to the app, is fetched with the app secret, and is shared by all users.
//!
//! [`ServerTokenManager`] keeps it fresh and shares it:
//! - the token lives in the app's [`CredentialStore`] ([`Stores::credentials`], key
//!   `server_token:<appid>`), so every process that shares the store uses one token, and a
//!   restart does not spend a fetch of the daily quota; each process also keeps it in
//!   memory until its refresh point, so the common call touches neither store nor network;
//! - one fetch per expiry however many processes share the store: in a process, callers on
//!   a stale token queue behind one of them; across processes, that one takes the lease
//!   `server_token:<appid>` ([`Stores::leases`]), re-reads the store and fetches only if
//!   the token there is still stale, while the other processes poll the store for it;
//! - it prefers `POST cgi-bin/stable_token`, whose repeated calls return the same token, so
//!   several processes do not invalidate each other's; `GET cgi-bin/token` (which rotates on
//!   every call) is available as [`TokenEndpoint::Legacy`];
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

pub use crate::app::ServerTokenBuilder;
use crate::store::{Credential, CredentialStore, Lease, LeaseStore, StoreError, Stores};
use crate::transport::Transport;
use crate::{AccessTokenValue, AppSecret, Error};

#[cfg(feature = "conformance")]
pub mod two_process;

/// How often a process waiting for another process's fetch re-reads the store.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Milliseconds since the Unix epoch on a clock that follows tokio's: the wall clock when
/// first read, advanced by tokio's monotonic time since. Expiries in the shared store are
/// on this clock; tests move it with `tokio::time::advance`.
fn clock_ms() -> i64 {
    static ANCHOR: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall, at) = *ANCHOR.get_or_init(|| (crate::now_millis(), std::time::Instant::now()));
    // tokio's Instant is std's, shifted by any paused-and-advanced time.
    let elapsed = Instant::now()
        .into_std()
        .saturating_duration_since(at)
        .as_millis();
    wall.saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
}

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
    secret: AppSecret,
    transport: Transport,
    endpoint: TokenEndpoint,
    refresh_margin: Duration,
    credentials: Arc<dyn CredentialStore>,
    leases: Arc<dyn LeaseStore>,
    /// `server_token:<appid>`: the credential's key, and the lease's name.
    key: String,
    lease_ttl: Duration,
    cached: RwLock<Option<Cached>>,
    /// The last token WeChat rejected: not to be taken from the store again, even while
    /// the store says it has not expired.
    rejected: RwLock<Option<AccessTokenValue>>,
    /// Held while fetching: callers that find the cache stale queue here, so a cold cache
    /// under 50 concurrent callers costs one request. Holds the last fetch's failure.
    fetching: tokio::sync::Mutex<Option<Error>>,
    /// How many fetches have finished, so a queued caller can tell that the fetch it waited
    /// for failed, and share that failure instead of trying again itself.
    fetches: AtomicU64,
}

#[derive(Clone)]
struct Cached {
    token: AccessTokenValue,
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

impl ServerTokenManager {
    /// Starts building a manager for the app `appid` with its AppSecret: the app's
    /// builder ([`WeChatApp::builder`](crate::WeChatApp::builder)), returning its
    /// server-token manager.
    pub fn builder(appid: impl Into<String>, secret: impl Into<AppSecret>) -> ServerTokenBuilder {
        ServerTokenBuilder::new(appid.into(), secret.into())
    }

    /// The manager of an app (see [`crate::WeChatApp`]).
    pub(crate) fn new(
        appid: String,
        secret: AppSecret,
        transport: Transport,
        stores: &Stores,
        settings: &crate::app::ClientSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                key: format!("server_token:{appid}"),
                appid,
                secret,
                transport,
                endpoint: settings.token_endpoint,
                refresh_margin: settings.server_token_margin,
                credentials: Arc::clone(&stores.credentials),
                leases: Arc::clone(&stores.leases),
                lease_ttl: settings.lease_ttl,
                cached: RwLock::new(None),
                rejected: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// Whether `other` is this very manager (a clone of it).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The appid whose token this manages.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// A valid server access token: this process's copy, else the shared store's, else a
    /// fresh one from WeChat (fetched by one caller of one process per expiry; see the
    /// [module docs](self)). Concurrent callers share one fetch, and its failure: when
    /// WeChat is down, 50 waiting callers fail together after one request rather than one
    /// after another after 50.
    ///
    /// # Errors
    /// The fetch's error: [`Error::WeChat`] (40013 bad appid, 40125 bad secret, 40164 IP
    /// not allow-listed, …), [`Error::Transport`] or [`Error::Response`]; [`Error::Store`]
    /// if the shared store fails, or if another process held the fetch lease for twice
    /// its time-to-live without storing a token.
    pub async fn access_token(&self) -> Result<AccessTokenValue, Error> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        self.obtain(None).await
    }

    /// Under the in-process lock: this process's copy if another caller just renewed it,
    /// the failure it just met, or [`shared`](Self::shared).
    async fn obtain(&self, rejected: Option<&AccessTokenValue>) -> Result<AccessTokenValue, Error> {
        let remembered = self.inner.rejected.read().ok().and_then(|r| r.clone());
        let rejected = rejected.or(remembered.as_ref());
        let seen = self.inner.fetches.load(Ordering::Acquire);
        let mut last_failure = self.inner.fetching.lock().await;
        // Whoever held the lock before us may have just renewed it, or failed to.
        if let Some(token) = self.fresh().filter(|t| rejected != Some(t)) {
            return Ok(token);
        }
        if self.inner.fetches.load(Ordering::Acquire) != seen
            && let Some(err) = last_failure.as_ref()
        {
            return Err(err.clone());
        }
        let result = self.shared(rejected).await;
        *last_failure = result.as_ref().err().cloned();
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// The store's token if it is usable; else, under the store lease, a fetch from WeChat
    /// (unless the store got a usable token meanwhile); else, while another process holds
    /// the lease, the token it stores.
    async fn shared(&self, rejected: Option<&AccessTokenValue>) -> Result<AccessTokenValue, Error> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.lease_ttl.saturating_mul(2);
        loop {
            if let Some(token) = self.usable_in_store(rejected).await? {
                return Ok(token);
            }
            if let Some(lease) = inner
                .leases
                .acquire_lease(&inner.key, inner.lease_ttl)
                .await?
            {
                let result = match self.usable_in_store(rejected).await {
                    Ok(Some(token)) => Ok(token),
                    Ok(None) => self.fetch(false).await,
                    Err(err) => Err(err),
                };
                self.release(&lease).await;
                return result;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    target: "wechat_oauth::server_token",
                    "gave up waiting for another process to fetch the server access token"
                );
                return Err(StoreError::Timeout.into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn release(&self, lease: &Lease) {
        if let Err(err) = self.inner.leases.release_lease(lease).await {
            // The lease expires by itself; the token stands.
            tracing::warn!(
                target: "wechat_oauth::server_token",
                error = %err,
                "could not release the server-token lease"
            );
        }
    }

    /// The stored token, if it is not `rejected` and not yet at its refresh point; kept in
    /// this process's memory too.
    async fn usable_in_store(
        &self,
        rejected: Option<&AccessTokenValue>,
    ) -> Result<Option<AccessTokenValue>, Error> {
        let inner = &self.inner;
        let Some(credential) = inner.credentials.get_credential(&inner.key).await? else {
            return Ok(None);
        };
        let value = AccessTokenValue::new(credential.value.expose_secret());
        if rejected == Some(&value) {
            return Ok(None);
        }
        let refresh_at = self.refresh_point(&credential);
        if clock_ms() >= refresh_at {
            return Ok(None);
        }
        self.remember(&value, refresh_at);
        Ok(Some(value))
    }

    /// When to stop using `credential`: its expiry minus the refresh margin (capped at half
    /// its lifetime, so a short-lived token is still used for a while).
    fn refresh_point(&self, credential: &Credential) -> i64 {
        let lifetime = credential.expires_at.saturating_sub(credential.obtained_at);
        let margin = i64::try_from(self.inner.refresh_margin.as_millis()).unwrap_or(i64::MAX);
        credential
            .expires_at
            .saturating_sub(margin.min(lifetime / 2))
    }

    /// Keeps `token` in this process until `refresh_at` (on [`clock_ms`]'s clock).
    fn remember(&self, token: &AccessTokenValue, refresh_at: i64) {
        if let Ok(mut rejected) = self.inner.rejected.write()
            && rejected.as_ref().is_some_and(|r| r != token)
        {
            *rejected = None;
        }
        let left = u64::try_from(refresh_at.saturating_sub(clock_ms())).unwrap_or(0);
        let cached = Cached {
            token: token.clone(),
            refresh_at: Instant::now() + Duration::from_millis(left),
        };
        if let Ok(mut slot) = self.inner.cached.write() {
            *slot = Some(cached);
        }
    }

    /// Fetches a new token now, whatever this process or the store holds, and stores it.
    /// With `force`, `stable_token` is called with `force_refresh: true`, which invalidates
    /// the current token for every process and is limited to 20 calls a day: use it only
    /// when a token is known to be compromised. Without `force` on
    /// [`TokenEndpoint::Stable`], WeChat may return the same token.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn refresh(&self, force: bool) -> Result<AccessTokenValue, Error> {
        let mut last_failure = self.inner.fetching.lock().await;
        let result = self.fetch(force).await;
        *last_failure = result.as_ref().err().cloned();
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Marks `token` as rejected by WeChat: the next [`access_token`](Self::access_token)
    /// does not use it, neither from this process's memory nor from the store, and takes
    /// the store's newer token or fetches one (once, however many callers). A token already
    /// replaced is left alone, so concurrent invalidations cost one fetch, not one each.
    pub fn invalidate(&self, token: &AccessTokenValue) {
        if let Ok(mut cached) = self.inner.cached.write()
            && cached.as_ref().is_some_and(|c| c.token == *token)
        {
            *cached = None;
            if let Ok(mut rejected) = self.inner.rejected.write() {
                *rejected = Some(token.clone());
            }
        }
    }

    /// Runs `call` with a valid token; if WeChat rejects the token (40001, 40014, 42001),
    /// gets another (from the store if another process already replaced it, else fetched
    /// once) and runs `call` once more. A second rejection is returned as is.
    ///
    /// Only for calls that are safe to repeat: a call that consumes a single-use code must
    /// not be retried.
    ///
    /// # Errors
    /// The token fetch's error, or `call`'s.
    pub async fn call_with_token<T, F, Fut>(&self, mut call: F) -> Result<T, Error>
    where
        F: FnMut(AccessTokenValue) -> Fut,
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
                let token = self.obtain(Some(&token)).await?;
                call(token).await
            }
            other => other,
        }
    }

    fn fresh(&self) -> Option<AccessTokenValue> {
        let cached = self.inner.cached.read().ok()?;
        cached
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// One request to WeChat for a token, stored for every process; the caller holds
    /// `fetching` (and, unless forced, the store lease).
    async fn fetch(&self, force: bool) -> Result<AccessTokenValue, Error> {
        let inner = &self.inner;
        let requested_at = clock_ms();
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
        // Counted from when the request left, so latency shortens the lifetime.
        let lifetime = i64::try_from(response.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        let credential = Credential::new(
            response.access_token.expose_secret(),
            requested_at,
            requested_at.saturating_add(lifetime),
        );
        if let Err(err) = inner
            .credentials
            .put_credential(&inner.key, &credential)
            .await
        {
            // This process can use the token; the others will fetch their own.
            tracing::warn!(
                target: "wechat_oauth::server_token",
                error = %err,
                "could not store the server access token"
            );
        }
        self.remember(&response.access_token, self.refresh_point(&credential));
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
    access_token: AccessTokenValue,
    #[serde(deserialize_with = "crate::lenient::u64")]
    expires_in: u64,
}
