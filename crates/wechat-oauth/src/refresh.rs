//! Coordinated refresh: when a stored token has expired (or WeChat rejected it), exactly
//! one caller refreshes it with WeChat and everyone else gets the result.
//!
//! Two layers, because the seed has neither (its bug: 200 concurrent `getUser` calls
//! on one expired token sent 200 refreshes, and refresh tokens may be invalidated by a
//! competing refresh):
//!
//! 1. **In this process**, a single-flight per openid: the first caller runs the refresh,
//!    concurrent callers for the same openid await its outcome; other openids are not
//!    blocked.
//! 2. **Across processes**, the stores: the flight re-reads the token store (another process
//!    may have refreshed already), then takes the lease `refresh:<openid>` ([`LeaseStore`]). The
//!    holder re-reads once more, refreshes, saves (a store never lets an older token
//!    overwrite a newer one) and releases. A process that finds the lease taken polls the
//!    store until the new token appears, for at most twice the lease's time-to-live.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::client::Inner;
use crate::store::Lease;
use crate::{AccessToken, Error, LeaseStore, Result, StoreError};

/// How often a process waiting on another process's refresh re-reads the store.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Releases a held lease, also when the refreshing caller is cancelled mid-way (then in a
/// background task), so other processes need not wait for the lease to expire.
struct LeaseGuard {
    store: Arc<dyn LeaseStore>,
    lease: Option<Lease>,
}

impl LeaseGuard {
    async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            release(self.store.as_ref(), &lease).await;
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = Arc::clone(&self.store);
            runtime.spawn(async move { release(store.as_ref(), &lease).await });
        }
    }
}

async fn release(store: &dyn LeaseStore, lease: &Lease) {
    if let Err(err) = store.release_lease(lease).await {
        // The lease expires by itself; the refresh result stands.
        tracing::warn!(error = %err, "could not release the refresh lease");
    }
}

/// One refresh in flight for one openid; its outcome is shared by every caller that joined.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    outcome: OnceCell<Result<AccessToken>>,
}

impl Inner {
    /// A token for `openid` that supersedes `stale` (which is expired or was rejected),
    /// refreshing with WeChat only if nobody else already did.
    pub(crate) async fn refresh_for(
        &self,
        openid: &str,
        stale: &AccessToken,
    ) -> Result<AccessToken> {
        let mut result = self.join_flight(openid, stale).await;
        // A flight that had already finished when we joined may hand back the very token
        // we found stale (it was rejected after that flight saved it): run our own.
        if let (Ok(token), true) = &result
            && token.create_at == stale.create_at
            && token.access_token == stale.access_token
        {
            result = (self.join_flight(openid, stale).await.0, false);
        }
        result.0
    }

    /// Joins (or starts) the flight for `openid`; also says whether it had already finished.
    async fn join_flight(&self, openid: &str, stale: &AccessToken) -> (Result<AccessToken>, bool) {
        let (flight, finished) = {
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            let flight = Arc::clone(flights.entry(openid.to_owned()).or_default());
            let finished = flight.outcome.initialized();
            (flight, finished)
        };
        // If the caller running the refresh is cancelled, the next waiter takes over.
        let outcome = flight
            .outcome
            .get_or_init(|| self.coordinated_refresh(openid, stale))
            .await;
        let result = match outcome {
            Ok(token) => Ok(token.clone()),
            Err(err) => Err(err.clone()),
        };
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if flights
            .get(openid)
            .is_some_and(|current| Arc::ptr_eq(current, &flight))
        {
            flights.remove(openid);
        }
        (result, finished)
    }

    /// Whether `current` (read from the store) can be used instead of refreshing `stale`.
    fn supersedes(&self, current: &AccessToken, stale: &AccessToken) -> bool {
        (current.create_at > stale.create_at || current.access_token != stale.access_token)
            && self.is_fresh(current)
    }

    /// The store-coordinated part: runs once per flight.
    async fn coordinated_refresh(&self, openid: &str, stale: &AccessToken) -> Result<AccessToken> {
        let lease_name = format!("refresh:{openid}");
        let deadline = Instant::now() + self.lease_ttl.saturating_mul(2);
        loop {
            if let Some(token) = self.newer_in_store(openid, stale).await? {
                return Ok(token);
            }
            if let Some(lease) = self
                .leases
                .acquire_lease(&lease_name, self.lease_ttl)
                .await?
            {
                let guard = LeaseGuard {
                    store: Arc::clone(&self.leases),
                    lease: Some(lease),
                };
                let result = self.refresh_under_lease(openid, stale).await;
                guard.release().await;
                return result;
            }
            if Instant::now() >= deadline {
                tracing::warn!("gave up waiting for another process to refresh the token");
                return Err(StoreError::Timeout.into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `Some(token)` if the store holds a token that supersedes `stale`; [`Error::NoToken`]
    /// if the token was deleted meanwhile (another process found the refresh token dead).
    async fn newer_in_store(
        &self,
        openid: &str,
        stale: &AccessToken,
    ) -> Result<Option<AccessToken>> {
        match self.store.get(openid).await? {
            None => Err(Error::NoToken {
                openid: openid.to_owned(),
            }),
            Some(current) if self.supersedes(&current, stale) => Ok(Some(current)),
            Some(_) => Ok(None),
        }
    }

    async fn refresh_under_lease(&self, openid: &str, stale: &AccessToken) -> Result<AccessToken> {
        let current = match self.store.get(openid).await? {
            None => {
                return Err(Error::NoToken {
                    openid: openid.to_owned(),
                });
            }
            Some(current) if self.supersedes(&current, stale) => return Ok(current),
            Some(current) => current,
        };
        tracing::debug!("refreshing the access token");
        match self.refresh(&current.refresh_token).await {
            Err(err) if err.is_reauthorize_required() => {
                // The refresh token is dead (40030/42002/42007): forget the token so the
                // next call says "authorize first" instead of failing the same way, unless a
                // new login stored a different one meanwhile (docs/protocol.md §3.2).
                let still_ours = self
                    .store
                    .get(openid)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.refresh_token == current.refresh_token);
                if still_ours && let Err(store_err) = self.store.delete(openid).await {
                    tracing::warn!(error = %store_err, "could not delete the dead token");
                }
                Err(err)
            }
            result => result,
        }
    }
}
