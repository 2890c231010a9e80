//! The app's **server** access token (接口调用凭据), needed by `wxa/checksession`,
//! `wxa/business/getuserphonenumber` and every other server-side API
//! (docs/protocol.md §5).
//!
//! Not to be confused with a user's OAuth [`AccessToken`](crate::AccessToken): this one
//! belongs to the app, is fetched with the app secret, and is shared by all users.
//!
//! [`ServerTokenManager`] keeps it fresh and shares it:
//! - the token lives in the app's [`CredentialStore`](crate::store::CredentialStore)
//!   ([`Stores::credentials`], key
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
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use crate::app::ServerTokenBuilder;
use crate::store::Stores;
use crate::transport::Transport;
use crate::{AccessTokenValue, AppSecret, Error, Secret};

pub(crate) mod shared;

use shared::{Fetched, SharedCredential};

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
    /// `server_token:<appid>` in the store, one fetch per expiry across processes.
    token: SharedCredential,
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
        let token = SharedCredential::new(
            format!("server_token:{appid}"),
            "server access token",
            stores,
            settings.server_token_margin,
            settings.lease_ttl,
        );
        Self {
            inner: Arc::new(Inner {
                appid,
                secret,
                transport,
                endpoint: settings.token_endpoint,
                refresh_margin: settings.server_token_margin,
                token,
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
        let value = self.inner.token.get(|| self.fetch(false)).await?;
        Ok(AccessTokenValue::new(value.expose_secret()))
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
        let value = self.inner.token.refresh(|| self.fetch(force)).await?;
        Ok(AccessTokenValue::new(value.expose_secret()))
    }

    /// Marks `token` as rejected by WeChat: the next [`access_token`](Self::access_token)
    /// does not use it, neither from this process's memory nor from the store, and takes
    /// the store's newer token or fetches one (once, however many callers). A token already
    /// replaced is left alone, so concurrent invalidations cost one fetch, not one each.
    pub fn invalidate(&self, token: &AccessTokenValue) {
        self.inner
            .token
            .invalidate(&Secret::new(token.expose_secret()));
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
                let rejected = Secret::new(token.expose_secret());
                self.inner.token.invalidate(&rejected);
                let token = self
                    .inner
                    .token
                    .obtain(Some(&rejected), || self.fetch(false))
                    .await?;
                call(AccessTokenValue::new(token.expose_secret())).await
            }
            other => other,
        }
    }

    /// One request to WeChat for a token; [`SharedCredential`] stores it for every process.
    async fn fetch(&self, force: bool) -> Result<Fetched, Error> {
        let inner = &self.inner;
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
        tracing::debug!(
            target: "wechat_oauth::server_token",
            expires_in = response.expires_in,
            "server access token fetched"
        );
        Ok(Fetched {
            value: Secret::new(response.access_token.expose_secret()),
            expires_in: response.expires_in,
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: AccessTokenValue,
    #[serde(deserialize_with = "crate::lenient::u64")]
    expires_in: u64,
}
