//! [`Stores`]: every kind of state the SDK keeps, from one backend.

use std::fmt;
use std::sync::Arc;

use super::{CredentialStore, LeaseStore, MemoryStore, TokenStore, WebSessionStore};
use crate::miniprogram::SessionStore;

/// A backend that keeps every kind of state: user tokens, leases and single-use values,
/// Mini Program sessions, web login sessions and app credentials.
///
/// Implemented automatically for any type that implements the five traits; every store in
/// this workspace does.
pub trait Backend:
    TokenStore + LeaseStore + SessionStore + WebSessionStore + CredentialStore + 'static
{
}

impl<T> Backend for T where
    T: TokenStore + LeaseStore + SessionStore + WebSessionStore + CredentialStore + 'static
{
}

/// One handle per kind of state. Cheap to clone; clones share the backends.
///
/// Usually all five come from one backend ([`Stores::new`]); each field can be replaced to
/// keep one kind elsewhere (say, web sessions in Redis and tokens in PostgreSQL).
///
/// ```
/// use wechat_oauth::store::{MemoryStore, Stores};
///
/// let stores = Stores::new(MemoryStore::new());
/// let same_backend = stores.clone();
/// # let _ = same_backend;
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Stores {
    /// OAuth user tokens, one per openid.
    pub tokens: Arc<dyn TokenStore>,
    /// Leases (refresh locks) and single-use values (`state` nonces, message ids).
    pub leases: Arc<dyn LeaseStore>,
    /// Mini Program sessions and their session keys.
    pub sessions: Arc<dyn SessionStore>,
    /// Web login sessions of the axum middleware.
    pub web_sessions: Arc<dyn WebSessionStore>,
    /// App credentials: the server access token, the JS-SDK ticket.
    pub credentials: Arc<dyn CredentialStore>,
}

impl Stores {
    /// Every kind of state in `backend`.
    pub fn new<B: Backend>(backend: B) -> Self {
        Self::from_arc(Arc::new(backend))
    }

    /// Every kind of state in a shared `backend`.
    pub fn from_arc<B: Backend>(backend: Arc<B>) -> Self {
        Self {
            tokens: backend.clone(),
            leases: backend.clone(),
            sessions: backend.clone(),
            web_sessions: backend.clone(),
            credentials: backend,
        }
    }

    /// Everything in this process's memory: the default, fine for one process.
    pub fn memory() -> Self {
        Self::new(MemoryStore::new())
    }

    /// The same set with user tokens kept in `tokens` instead.
    pub fn with_tokens(mut self, tokens: impl TokenStore + 'static) -> Self {
        self.tokens = Arc::new(tokens);
        self
    }

    /// The same set with Mini Program sessions kept in `sessions` instead.
    pub fn with_sessions(mut self, sessions: impl SessionStore + 'static) -> Self {
        self.sessions = Arc::new(sessions);
        self
    }
}

impl Default for Stores {
    fn default() -> Self {
        Self::memory()
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}
