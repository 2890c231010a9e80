//! [`SharedCredential`]: one app credential (the server access token, the `jsapi_ticket`)
//! kept fresh once for every process sharing a store.
//!
//! The credential lives in [`Stores::credentials`] under its key (`server_token:<appid>`,
//! `jsapi_ticket:<appid>`), and in each process's memory until its refresh point. One
//! fetch per expiry however many callers and processes: in a process, callers on a stale
//! credential queue behind one of them (and share its failure); across processes, that one
//! takes the lease of the same name ([`Stores::leases`]), re-reads the store and fetches
//! only if the credential there is still stale, while the others poll the store for it. A
//! credential WeChat rejected is never taken from the store again.
//!
//! What a fetch is (which endpoint, which parameters) is the caller's: the
//! [`ServerTokenManager`](super::ServerTokenManager) and the JS-SDK ticket both run on this.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::store::{Credential, CredentialStore, Lease, LeaseStore, StoreError, Stores};
use crate::{Error, Secret};

/// How often a process waiting for another process's fetch re-reads the store.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Milliseconds since the Unix epoch on a clock that follows tokio's: the wall clock when
/// first read, advanced by tokio's monotonic time since. Expiries in the shared store are
/// on this clock; tests move it with `tokio::time::advance`.
pub(crate) fn clock_ms() -> i64 {
    static ANCHOR: std::sync::OnceLock<(i64, std::time::Instant)> = std::sync::OnceLock::new();
    let (wall, at) = *ANCHOR.get_or_init(|| (crate::now_millis(), std::time::Instant::now()));
    // tokio's Instant is std's, shifted by any paused-and-advanced time.
    let elapsed = Instant::now()
        .into_std()
        .saturating_duration_since(at)
        .as_millis();
    wall.saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
}

/// What one fetch from WeChat gave.
pub(crate) struct Fetched {
    /// The credential.
    pub value: Secret,
    /// `expires_in`, seconds.
    pub expires_in: u64,
}

/// One app credential shared across processes. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub(crate) struct SharedCredential {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCredential")
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// The credential's key in the store, and the lease's name.
    key: String,
    /// For logs: `server access token`, `jsapi_ticket`.
    what: &'static str,
    refresh_margin: Duration,
    credentials: Arc<dyn CredentialStore>,
    leases: Arc<dyn LeaseStore>,
    lease_ttl: Duration,
    cached: RwLock<Option<Cached>>,
    /// The last value WeChat rejected: not to be taken from the store again, even while
    /// the store says it has not expired.
    rejected: RwLock<Option<Secret>>,
    /// Held while fetching: callers that find the cache stale queue here, so a cold cache
    /// under 50 concurrent callers costs one request. Holds the last fetch's failure.
    fetching: tokio::sync::Mutex<Option<Error>>,
    /// How many fetches have finished, so a queued caller can tell that the fetch it waited
    /// for failed, and share that failure instead of trying again itself.
    fetches: AtomicU64,
}

#[derive(Clone)]
struct Cached {
    value: Secret,
    /// When to stop using it: `expires_in` minus the refresh margin.
    refresh_at: Instant,
}

impl SharedCredential {
    pub(crate) fn new(
        key: String,
        what: &'static str,
        stores: &Stores,
        refresh_margin: Duration,
        lease_ttl: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                what,
                refresh_margin,
                credentials: Arc::clone(&stores.credentials),
                leases: Arc::clone(&stores.leases),
                lease_ttl,
                cached: RwLock::new(None),
                rejected: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// This process's copy, if it is before its refresh point.
    pub(crate) fn fresh(&self) -> Option<Secret> {
        let cached = self.inner.cached.read().ok()?;
        cached
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.value.clone())
    }

    /// A valid credential: this process's copy, else the store's, else `fetch`ed (by one
    /// caller of one process per expiry).
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Secret, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        self.obtain(None, fetch).await
    }

    /// Under the in-process lock: this process's copy if another caller just renewed it,
    /// the failure it just met, or [`shared`](Self::shared). Never `rejected`.
    pub(crate) async fn obtain<F, Fut>(
        &self,
        rejected: Option<&Secret>,
        fetch: F,
    ) -> Result<Secret, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        let remembered = self.inner.rejected.read().ok().and_then(|r| r.clone());
        let rejected = rejected.or(remembered.as_ref());
        let seen = self.inner.fetches.load(Ordering::Acquire);
        let mut last_failure = self.inner.fetching.lock().await;
        // Whoever held the lock before us may have just renewed it, or failed to.
        if let Some(value) = self.fresh().filter(|v| rejected != Some(v)) {
            return Ok(value);
        }
        if self.inner.fetches.load(Ordering::Acquire) != seen
            && let Some(err) = last_failure.as_ref()
        {
            return Err(err.clone());
        }
        let result = self.shared(rejected, fetch).await;
        *last_failure = result.as_ref().err().cloned();
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Fetches now, whatever this process or the store holds, and stores the result.
    pub(crate) async fn refresh<F, Fut>(&self, fetch: F) -> Result<Secret, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        let mut last_failure = self.inner.fetching.lock().await;
        let result = self.fetch_and_store(fetch).await;
        *last_failure = result.as_ref().err().cloned();
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// The store's credential if it is usable; else, under the store lease, a fetch (unless
    /// the store got a usable one meanwhile); else, while another process holds the lease,
    /// the credential it stores.
    async fn shared<F, Fut>(&self, rejected: Option<&Secret>, fetch: F) -> Result<Secret, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.lease_ttl.saturating_mul(2);
        loop {
            if let Some(value) = self.usable_in_store(rejected).await? {
                return Ok(value);
            }
            if let Some(lease) = inner
                .leases
                .acquire_lease(&inner.key, inner.lease_ttl)
                .await?
            {
                let result = match self.usable_in_store(rejected).await {
                    Ok(Some(value)) => Ok(value),
                    Ok(None) => self.fetch_and_store(fetch).await,
                    Err(err) => Err(err),
                };
                self.release(&lease).await;
                return result;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    target: "wechat_oauth::credential",
                    what = inner.what,
                    "gave up waiting for another process to fetch the credential"
                );
                return Err(StoreError::Timeout.into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn release(&self, lease: &Lease) {
        if let Err(err) = self.inner.leases.release_lease(lease).await {
            // The lease expires by itself; the credential stands.
            tracing::warn!(
                target: "wechat_oauth::credential",
                what = self.inner.what,
                error = %err,
                "could not release the credential's lease"
            );
        }
    }

    /// The stored credential, if it is not `rejected` and not yet at its refresh point;
    /// kept in this process's memory too.
    async fn usable_in_store(&self, rejected: Option<&Secret>) -> Result<Option<Secret>, Error> {
        let inner = &self.inner;
        let Some(credential) = inner.credentials.get_credential(&inner.key).await? else {
            return Ok(None);
        };
        if rejected == Some(&credential.value) {
            return Ok(None);
        }
        let refresh_at = self.refresh_point(&credential);
        if clock_ms() >= refresh_at {
            return Ok(None);
        }
        self.remember(&credential.value, refresh_at);
        Ok(Some(credential.value))
    }

    /// When to stop using `credential`: its expiry minus the refresh margin (capped at half
    /// its lifetime, so a short-lived credential is still used for a while).
    fn refresh_point(&self, credential: &Credential) -> i64 {
        let lifetime = credential.expires_at.saturating_sub(credential.obtained_at);
        let margin = i64::try_from(self.inner.refresh_margin.as_millis()).unwrap_or(i64::MAX);
        credential
            .expires_at
            .saturating_sub(margin.min(lifetime / 2))
    }

    /// Keeps `value` in this process until `refresh_at` (on [`clock_ms`]'s clock).
    fn remember(&self, value: &Secret, refresh_at: i64) {
        if let Ok(mut rejected) = self.inner.rejected.write()
            && rejected.as_ref().is_some_and(|r| r != value)
        {
            *rejected = None;
        }
        let left = u64::try_from(refresh_at.saturating_sub(clock_ms())).unwrap_or(0);
        let cached = Cached {
            value: value.clone(),
            refresh_at: Instant::now() + Duration::from_millis(left),
        };
        if let Ok(mut slot) = self.inner.cached.write() {
            *slot = Some(cached);
        }
    }

    /// Marks `value` as rejected by WeChat: the next [`get`](Self::get) does not use it,
    /// neither from this process's memory nor from the store. A value already replaced is
    /// left alone, so concurrent invalidations cost one fetch, not one each.
    pub(crate) fn invalidate(&self, value: &Secret) {
        if let Ok(mut cached) = self.inner.cached.write()
            && cached.as_ref().is_some_and(|c| c.value == *value)
        {
            *cached = None;
            if let Ok(mut rejected) = self.inner.rejected.write() {
                *rejected = Some(value.clone());
            }
        }
    }

    /// One fetch, stored for every process; the caller holds `fetching` (and, unless
    /// forced, the store lease).
    async fn fetch_and_store<F, Fut>(&self, fetch: F) -> Result<Secret, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, Error>>,
    {
        let inner = &self.inner;
        let requested_at = clock_ms();
        let fetched = fetch().await?;
        // Counted from when the request left, so latency shortens the lifetime.
        let lifetime = i64::try_from(fetched.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        let credential = Credential::new(
            fetched.value.clone(),
            requested_at,
            requested_at.saturating_add(lifetime),
        );
        if let Err(err) = inner
            .credentials
            .put_credential(&inner.key, &credential)
            .await
        {
            // This process can use it; the others will fetch their own.
            tracing::warn!(
                target: "wechat_oauth::credential",
                what = inner.what,
                error = %err,
                "could not store the credential"
            );
        }
        self.remember(&fetched.value, self.refresh_point(&credential));
        tracing::debug!(
            target: "wechat_oauth::credential",
            what = inner.what,
            expires_in = fetched.expires_in,
            "credential fetched"
        );
        Ok(fetched.value)
    }
}
