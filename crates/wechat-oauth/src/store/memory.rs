//! [`MemoryStore`]: tokens in this process's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Lease, StoreError, TokenStore, validate_for_save};
use crate::AccessToken;

/// Tokens kept in process memory: the default store, as in the seed.
///
/// Fine for one process. With several processes or machines, use a shared store
/// (SQLite for one machine; MySQL, PostgreSQL, Redis or MongoDB beyond), or every process
/// will authorize and refresh on its own.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tokens: Mutex<HashMap<String, AccessToken>>,
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many tokens are stored.
    pub fn len(&self) -> usize {
        self.tokens.lock().map_or(0, |t| t.len())
    }

    /// Whether no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::backend("memory store lock poisoned")
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        Ok(self.tokens.lock().map_err(poisoned)?.get(openid).cloned())
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let mut tokens = self.tokens.lock().map_err(poisoned)?;
        match tokens.get(openid) {
            Some(current) if current.create_at > token.create_at => Ok(false),
            _ => {
                tokens.insert(openid.to_owned(), token.clone());
                Ok(true)
            }
        }
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        self.tokens.lock().map_err(poisoned)?.remove(openid);
        Ok(())
    }

    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let now = Instant::now();
        let mut leases = self.leases.lock().map_err(poisoned)?;
        if leases.len() > 1024 {
            leases.retain(|_, (_, until)| *until > now);
        }
        if leases.get(name).is_some_and(|(_, until)| *until > now) {
            return Ok(None);
        }
        let lease = Lease::new(name);
        leases.insert(name.to_owned(), (lease.holder().to_owned(), now + ttl));
        Ok(Some(lease))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().map_err(poisoned)?;
        if leases
            .get(lease.name())
            .is_some_and(|(holder, _)| holder == lease.holder())
        {
            leases.remove(lease.name());
        }
        Ok(())
    }
}
