//! [`MemoryStore`]: tokens in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    Credential, CredentialStore, Lease, LeaseStore, StoreError, TokenStore, WebSession,
    WebSessionStore, validate_credential, validate_for_save, validate_web_session,
};
use crate::miniprogram::{Session, SessionStore, validate_session};
use crate::{AccessToken, now_millis};

/// Tokens kept in process memory: the default store, as in the seed.
///
/// Fine for one process. With several processes or machines, use a shared store
/// (SQLite for one machine; MySQL, PostgreSQL, Redis or MongoDB beyond), or every process
/// will authorize and refresh on its own.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Behind `Arc`s, so that reading a token (every API call does) copies no secret.
    tokens: Mutex<HashMap<String, Arc<AccessToken>>>,
    leases: Mutex<HashMap<String, (String, Instant)>>,
    claims: Mutex<Claims>,
    sessions: Mutex<HashMap<String, Session>>,
    web_sessions: Mutex<HashMap<String, WebSession>>,
    credentials: Mutex<HashMap<String, Credential>>,
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

/// Single-use values and when each claim ends. Expired claims are swept when the map has
/// grown to twice its size after the last sweep (at least [`Claims::FIRST_SWEEP`]), so a
/// claim costs O(1) amortized however many live claims there are.
#[derive(Debug)]
struct Claims {
    until: HashMap<String, Instant>,
    sweep_at: usize,
}

impl Claims {
    const FIRST_SWEEP: usize = 4096;
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            until: HashMap::new(),
            sweep_at: Self::FIRST_SWEEP,
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::backend("memory store lock poisoned")
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        Ok(self
            .tokens
            .lock()
            .map_err(poisoned)?
            .get(openid)
            .map(|token| AccessToken::clone(token)))
    }

    async fn get_shared(&self, openid: &str) -> Result<Option<Arc<AccessToken>>, StoreError> {
        Ok(self.tokens.lock().map_err(poisoned)?.get(openid).cloned())
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let mut tokens = self.tokens.lock().map_err(poisoned)?;
        match tokens.get(openid) {
            Some(current) if current.create_at > token.create_at => Ok(false),
            _ => {
                tokens.insert(openid.to_owned(), Arc::new(token.clone()));
                Ok(true)
            }
        }
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        self.tokens.lock().map_err(poisoned)?.remove(openid);
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
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

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut claims = self.claims.lock().map_err(poisoned)?;
        if claims.until.len() >= claims.sweep_at {
            claims.until.retain(|_, until| *until > now);
            claims.sweep_at = (claims.until.len() * 2).max(Claims::FIRST_SWEEP);
        }
        if claims.until.get(key).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        claims.until.insert(key.to_owned(), now + ttl);
        Ok(true)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get_session(&self, openid: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions.lock().map_err(poisoned)?.get(openid).cloned())
    }

    async fn save_session(&self, session: &Session) -> Result<bool, StoreError> {
        validate_session(session)?;
        let mut sessions = self.sessions.lock().map_err(poisoned)?;
        match sessions.get(&session.openid) {
            Some(current) if current.created_at > session.created_at => Ok(false),
            _ => {
                sessions.insert(session.openid.clone(), session.clone());
                Ok(true)
            }
        }
    }

    async fn delete_session(&self, openid: &str) -> Result<(), StoreError> {
        self.sessions.lock().map_err(poisoned)?.remove(openid);
        Ok(())
    }
}

#[async_trait]
impl WebSessionStore for MemoryStore {
    async fn create_web_session(&self, session: &WebSession) -> Result<(), StoreError> {
        validate_web_session(session)?;
        let now = now_millis();
        let mut sessions = self.web_sessions.lock().map_err(poisoned)?;
        if sessions.len() > 4096 {
            sessions.retain(|_, s| !s.is_expired_at(now));
        }
        sessions.insert(session.id.expose_secret().to_owned(), session.clone());
        Ok(())
    }

    async fn get_web_session(&self, id: &str) -> Result<Option<WebSession>, StoreError> {
        let sessions = self.web_sessions.lock().map_err(poisoned)?;
        Ok(sessions
            .get(id)
            .filter(|s| !s.is_expired_at(now_millis()))
            .cloned())
    }

    async fn touch_web_session(&self, id: &str, idle_expires_at: i64) -> Result<bool, StoreError> {
        let mut sessions = self.web_sessions.lock().map_err(poisoned)?;
        match sessions.get_mut(id) {
            Some(s) if !s.is_expired_at(now_millis()) => {
                s.idle_expires_at = idle_expires_at.min(s.expires_at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_web_session(&self, id: &str) -> Result<(), StoreError> {
        self.web_sessions.lock().map_err(poisoned)?.remove(id);
        Ok(())
    }

    async fn delete_web_sessions_for(&self, openid: &str) -> Result<u64, StoreError> {
        let mut sessions = self.web_sessions.lock().map_err(poisoned)?;
        let before = sessions.len();
        sessions.retain(|_, s| s.openid != openid);
        Ok((before - sessions.len()) as u64)
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn get_credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        Ok(self.credentials.lock().map_err(poisoned)?.get(key).cloned())
    }

    async fn put_credential(&self, key: &str, credential: &Credential) -> Result<bool, StoreError> {
        validate_credential(key, credential)?;
        let mut credentials = self.credentials.lock().map_err(poisoned)?;
        match credentials.get(key) {
            Some(current) if current.obtained_at > credential.obtained_at => Ok(false),
            _ => {
                credentials.insert(key.to_owned(), credential.clone());
                Ok(true)
            }
        }
    }

    async fn delete_credential(&self, key: &str) -> Result<(), StoreError> {
        self.credentials.lock().map_err(poisoned)?.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_live_claims_stay_single_use_across_sweeps_and_expired_ones_are_swept() {
        let store = MemoryStore::new();
        let live = Duration::from_secs(600);
        for i in 0..10_000 {
            assert!(store.claim_once(&format!("k{i}"), live).await.unwrap());
        }
        for i in (0..10_000).step_by(997) {
            assert!(
                !store.claim_once(&format!("k{i}"), live).await.unwrap(),
                "k{i}"
            );
        }
        // Expired claims go at the next sweep and can be claimed again meanwhile.
        assert!(store.claim_once("short", Duration::ZERO).await.unwrap());
        assert!(store.claim_once("short", live).await.unwrap());
        let claims = store.claims.lock().unwrap();
        assert!(
            claims.sweep_at > claims.until.len(),
            "{} live",
            claims.until.len()
        );
    }
}
