//! Mini Program sessions: [`Session`] (what `jscode2session` gives the server), [`Login`]
//! (what the app may hand its own client) and where sessions live, [`SessionStore`].
//!
//! The seed saved session keys into the OAuth token store, wrapped as access tokens that
//! were never valid (the npm package's Mini Program mode). Here they have their own store, so a
//! session key never lands where OAuth tokens are read, and vice versa.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::SessionKey;
use crate::store::StoreError;

/// A user's Mini Program session, as `sns/jscode2session` returns it (docs/protocol.md §4.1).
///
/// Server-side only: the `session_key` decrypts the user's data and must never reach the
/// Mini Program or any other client (WeChat: "开发者不应该把 session_key 传到小程序客户端").
/// That is why this type does not implement `Serialize`; hand the client a [`Login`]
/// ([`Session::login`]) instead. `Debug` redacts the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The user's id in this Mini Program.
    pub openid: String,
    /// The user's id across the Open Platform account, when the Mini Program is bound to one.
    pub unionid: Option<String>,
    /// The key that decrypts this user's `encryptedData` and signs `rawData`. One user has
    /// one valid key at a time; a new `wx.login` may replace it.
    pub session_key: SessionKey,
    /// When the session was obtained, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl Session {
    /// A session from its parts (for store implementations reading one back).
    pub fn new(
        openid: impl Into<String>,
        unionid: Option<String>,
        session_key: impl Into<SessionKey>,
        created_at: i64,
    ) -> Self {
        Self {
            openid: openid.into(),
            unionid,
            session_key: session_key.into(),
            created_at,
        }
    }

    /// What the app may tell its own client about this login: everything but the key.
    pub fn login(&self) -> Login {
        Login {
            openid: self.openid.clone(),
            unionid: self.unionid.clone(),
        }
    }
}

/// The result of a Mini Program login that is safe to send to the Mini Program: it has no
/// `session_key` field, so serializing it cannot leak the key (docs/protocol.md §4.1).
///
/// Bind the app's own session (a cookie, a token you issue) to `openid`; the session key
/// stays in the [`SessionStore`] under that openid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Login {
    /// The user's id in this Mini Program.
    pub openid: String,
    /// The user's unionid, when the Mini Program is bound to an Open Platform account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

/// Where Mini Program sessions live: one [`Session`] per openid, in a namespace of their
/// own, apart from OAuth tokens. Same pluggable design as [`TokenStore`](crate::TokenStore).
///
/// Implementations must be safe to call concurrently from many tasks and processes, and
/// must keep session keys as carefully as tokens (never log them). [`Session`] is
/// deliberately not `Serialize`: persist its four fields (the key through
/// [`SessionKey::expose_secret`]) and read them back with [`Session::new`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session stored for `openid`, or `None`.
    async fn get_session(&self, openid: &str) -> Result<Option<Session>, StoreError>;

    /// Stores `session` under its openid, unless the store holds a session for that openid
    /// with a later `created_at` (an older login never replaces a newer one).
    ///
    /// Returns `true` when `session` was written, `false` when a newer session was kept.
    async fn save_session(&self, session: &Session) -> Result<bool, StoreError>;

    /// Removes the session for `openid` (nothing happens if there is none).
    async fn delete_session(&self, openid: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    async fn get_session(&self, openid: &str) -> Result<Option<Session>, StoreError> {
        (**self).get_session(openid).await
    }
    async fn save_session(&self, session: &Session) -> Result<bool, StoreError> {
        (**self).save_session(session).await
    }
    async fn delete_session(&self, openid: &str) -> Result<(), StoreError> {
        (**self).delete_session(openid).await
    }
}

/// Checks a session before a store writes it: a non-empty openid of at most 128 bytes and
/// a session key of sane size. Every backend calls this first.
///
/// # Errors
/// [`StoreError::Rejected`] naming what is wrong (never the key).
pub fn validate_session(session: &Session) -> Result<(), StoreError> {
    if session.openid.is_empty() {
        return Err(StoreError::Rejected("empty openid".into()));
    }
    if session.openid.len() > 128 {
        return Err(StoreError::Rejected("openid longer than 128 bytes".into()));
    }
    if session.session_key.expose_secret().len() > 256 {
        return Err(StoreError::Rejected(
            "session key longer than 256 bytes".into(),
        ));
    }
    Ok(())
}

/// Sessions kept in this process's memory: the default session store.
///
/// Fine for one process. With several processes behind a load balancer, a login handled by
/// one process must be visible to the others: implement [`SessionStore`] over a shared
/// backend (Redis, SQL) instead.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    sessions: Mutex<HashMap<String, Session>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are stored.
    pub fn len(&self) -> usize {
        self.sessions.lock().map_or(0, |s| s.len())
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::backend("memory session store lock poisoned")
}

#[async_trait]
impl SessionStore for MemorySessionStore {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(openid: &str, key: &str, created_at: i64) -> Session {
        Session::new(openid, None, key, created_at)
    }

    #[tokio::test]
    async fn newer_session_is_never_replaced_by_an_older_one() {
        let store = MemorySessionStore::new();
        assert_eq!(
            store
                .save_session(&session("o1", "new-key", 2_000))
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            store
                .save_session(&session("o1", "old-key", 1_000))
                .await
                .ok(),
            Some(false)
        );
        let kept = store.get_session("o1").await.ok().flatten();
        assert_eq!(
            kept.map(|s| s.session_key.expose_secret().to_owned())
                .as_deref(),
            Some("new-key")
        );
        assert!(store.delete_session("o1").await.is_ok());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn empty_or_oversized_openids_are_rejected() {
        let store = MemorySessionStore::new();
        assert!(matches!(
            store.save_session(&session("", "k", 1)).await,
            Err(StoreError::Rejected(_))
        ));
        assert!(matches!(
            store.save_session(&session(&"o".repeat(129), "k", 1)).await,
            Err(StoreError::Rejected(_))
        ));
    }

    #[test]
    fn login_serialization_and_session_debug_hide_the_key() {
        let session = Session::new("o1", Some("u1".into()), "tiihtNczf5v6AKRyjwEUhQ==", 1);
        let json = serde_json::to_string(&session.login()).unwrap_or_default();
        assert_eq!(json, r#"{"openid":"o1","unionid":"u1"}"#);
        assert!(!format!("{session:?}").contains("tiihtNczf5v6AKRyjwEUhQ"));
    }
}
