//! Deduplicating WeChat's retries.
//!
//! When an answer takes more than 5 seconds, WeChat drops the connection and delivers the
//! same push again, three more times at most ("总共重试三次"); design for up to four
//! deliveries within about 20 seconds. A [`Dedupe`] remembers each push's
//! [`dedupe_key`](crate::Message::dedupe_key) for a while, so only the first delivery
//! reaches the handler and the retries are answered `success`.
//!
//! [`MemoryDedupe`] serves one process. With several instances behind a load balancer
//! the retry may reach another instance: every SDK store implementing
//! [`LeaseStore`] is a [`Dedupe`] through its single-use claim, so pass the store the
//! instances share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use wechat_oauth::store::LeaseStore;

/// A boxed error from a dedupe backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Remembers which pushes were already delivered.
#[async_trait]
pub trait Dedupe: Send + Sync {
    /// `true` the first time `key` is seen within `ttl`, `false` for every later call
    /// until `ttl` has passed. Must be atomic across every process sharing the backend.
    async fn first_delivery(&self, key: &str, ttl: Duration) -> Result<bool, BoxError>;
}

/// Every SDK store with leases dedupes: a delivery is first when its key's single-use
/// claim ([`LeaseStore::claim_once`]) succeeds. Processes sharing the store (Redis, SQL,
/// MongoDB, a file directory) then share the dedupe, so a retry that reaches another
/// instance is still recognised.
///
/// ```
/// use wechat_oauth::store::Stores;
/// use wechat_oauth_message::MessageServer;
///
/// let stores = Stores::memory(); // or the app's shared stores (`app.stores()`)
/// let server = MessageServer::builder("token", "wx5a4d1e0f0a000001")
///     .dedupe(stores.leases.clone())
///     .build()?;
/// # let _ = server;
/// # Ok::<(), wechat_oauth_message::MessageError>(())
/// ```
#[async_trait]
impl<S: LeaseStore + ?Sized> Dedupe for S {
    async fn first_delivery(&self, key: &str, ttl: Duration) -> Result<bool, BoxError> {
        self.claim_once(key, ttl).await.map_err(Into::into)
    }
}

/// How many keys [`MemoryDedupe`] holds before it sweeps expired ones.
const SWEEP_AT: usize = 4096;

/// In-process dedupe: a map of keys to their expiry, swept as it grows.
#[derive(Debug, Default)]
pub struct MemoryDedupe {
    seen: Mutex<HashMap<String, Instant>>,
}

impl MemoryDedupe {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Dedupe for MemoryDedupe {
    async fn first_delivery(&self, key: &str, ttl: Duration) -> Result<bool, BoxError> {
        let now = Instant::now();
        let expiry = now.checked_add(ttl).unwrap_or(now);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, until| *until > now);
        }
        match seen.get_mut(key) {
            Some(until) if *until > now => Ok(false),
            Some(until) => {
                *until = expiry;
                Ok(true)
            }
            None => {
                seen.insert(key.to_owned(), expiry);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_first_once_within_its_ttl() {
        let dedupe = MemoryDedupe::new();
        let ttl = Duration::from_secs(60);
        assert!(dedupe.first_delivery("k", ttl).await.unwrap_or(false));
        assert!(!dedupe.first_delivery("k", ttl).await.unwrap_or(true));
        assert!(dedupe.first_delivery("other", ttl).await.unwrap_or(false));
    }

    #[tokio::test]
    async fn a_key_is_first_again_after_its_ttl() {
        let dedupe = MemoryDedupe::new();
        assert!(
            dedupe
                .first_delivery("k", Duration::ZERO)
                .await
                .unwrap_or(false)
        );
        assert!(
            dedupe
                .first_delivery("k", Duration::ZERO)
                .await
                .unwrap_or(false)
        );
    }
}
