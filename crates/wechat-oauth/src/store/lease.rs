//! Leases and single-use values: the coordination primitive every shared backend provides.
//!
//! A *lease* is a short named lock with a time-to-live. When a token, a server access token
//! or a ticket expires, the process that takes the lease fetches the new one; the others wait
//! and re-read. A *single-use value* (an OAuth `state` nonce, a message's `MsgId` when WeChat
//! retries a push) is claimed once: the first claim within its lifetime wins, every later
//! claim is refused, in this process or any other sharing the backend.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// A held lease: proof that this caller, and no other, holds the named lock until it
/// expires or is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    name: String,
    holder: String,
}

impl Lease {
    /// A lease on `name` held by a fresh random holder id.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            holder: crate::state::random_alphanumeric(32),
        }
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The holder id: release succeeds only for the holder that acquired it.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// Named leases and single-use claims, shared by every process using the same backend.
///
/// Names live in their own namespace, apart from openids, session ids and credential keys.
/// Implementations must be safe to call concurrently from many tasks and processes.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `ttl` if nobody holds an unexpired lease of that name.
    ///
    /// Returns `None` when someone else holds it.
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError>;

    /// Releases `lease` if it is still held by the same holder; a lease that expired and was
    /// taken by someone else is left alone.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Claims the single-use value `key` for `ttl`: `true` the first time, `false` for every
    /// later claim until `ttl` has passed. Never released: this is how a `state` nonce or a
    /// retried message is recognised as already seen.
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
}

#[async_trait]
impl<S: LeaseStore + ?Sized> LeaseStore for std::sync::Arc<S> {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        (**self).acquire_lease(name, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        (**self).release_lease(lease).await
    }
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).claim_once(key, ttl).await
    }
}
