//! Persistence: one small trait per kind of state, and the built-in stores.
//!
//! The seed keeps one token per openid behind a `getToken` / `saveToken` pair so that
//! "cluster mode and many machines" share tokens. Here every kind of state the SDK keeps has
//! that promise:
//!
//! - [`TokenStore`]: OAuth user tokens. [`save`](TokenStore::save) never lets an older token
//!   (smaller `create_at`) overwrite a newer one, so a slow process cannot roll back a
//!   refresh done by a faster one;
//! - [`LeaseStore`]: short named locks with a time-to-live, so that when a token expires only
//!   one process refreshes it with WeChat while the others wait and re-read, and single-use
//!   values ([`claim_once`](LeaseStore::claim_once): an OAuth `state` nonce);
//! - [`SessionStore`](crate::miniprogram::SessionStore): Mini Program sessions;
//! - [`WebSessionStore`]: the axum middleware's server-side login sessions;
//! - [`CredentialStore`]: app credentials (the server access token, the JS-SDK ticket).
//!
//! [`Stores`] holds one handle of each, usually all from one backend.
//!
//! Shared backends keep sessions, web sessions, credentials and claims as records
//! ([`RecordStore`]) with an expiry. Expired records are never returned, and
//! [`RecordStore::purge_expired`] deletes them: [`claim_record`] runs it after every
//! [`PURGE_EVERY_CLAIMS`]th claim of a process (one claim per login and per message), so
//! what piles up is bounded by the traffic between two purges; a quiet site may also call
//! it from a scheduled job.
//!
//! Backends: [`MemoryStore`] (the default), [`FileStore`] (one JSON file per openid, as in
//! the seed's example) and [`FnStore`] (your own `getToken` / `saveToken` pair as two async
//! closures) here; SQLite, MySQL/MariaDB and PostgreSQL in `wechat-oauth-sqlx`, Redis in
//! `wechat-oauth-redis`, MongoDB in `wechat-oauth-mongodb`, and `wechat-oauth-stores` opens
//! any of them from a URL.

mod codec;
mod credential;
mod file;
mod fn_store;
mod lease;
mod memory;
mod record;
mod set;
mod web_session;

pub use codec::{decode_stored, decode_stored_str, encode_for_store};
pub use credential::{Credential, CredentialStore, MAX_CREDENTIAL_BYTES, validate_credential};
pub use file::FileStore;
pub use fn_store::FnStore;
pub use lease::{Lease, LeaseStore};
pub use memory::MemoryStore;
pub use record::{Guard, PURGE_EVERY_CLAIMS, Record, RecordKind, RecordStore, claim_record};
pub use set::{Backend, Stores};
pub use web_session::{
    MAX_WEB_SESSION_DATA_BYTES, WebSession, WebSessionStore, validate_web_session,
};

use async_trait::async_trait;
use std::sync::Arc;

use crate::AccessToken;

/// The error type of a failing store operation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
///
/// Messages never contain token values: a malformed stored token is reported by what is
/// wrong with it, not by its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached (connection refused, reset, server down).
    #[error("token store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The backend did not answer in time.
    #[error("token store timed out")]
    Timeout,
    /// A stored value could not be read back as a token.
    #[error("stored token for this openid is malformed: {0}")]
    Malformed(String),
    /// The value was refused before it was written (too large, invalid key).
    #[error("token rejected by the store: {0}")]
    Rejected(String),
    /// Any other backend failure.
    #[error("token store error: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend error as [`StoreError::Backend`].
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// Wraps a connection-level error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Whether retrying later may succeed (the backend was down or slow).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }
}

/// Largest serialized token a store accepts. WeChat tokens are a few hundred bytes; the
/// seed's MySQL table allows 200 characters per token.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Checks a token before a store writes it: no empty openid, nothing oversized.
///
/// Every backend calls this first, so all of them reject the same inputs the same way.
///
/// # Errors
/// [`StoreError::Rejected`] naming what is wrong (never the token's value).
pub fn validate_for_save(openid: &str, token: &AccessToken) -> Result<(), StoreError> {
    if openid.is_empty() {
        return Err(StoreError::Rejected("empty openid".into()));
    }
    if openid.len() > 128 {
        return Err(StoreError::Rejected("openid longer than 128 bytes".into()));
    }
    let size = token.access_token.expose_secret().len()
        + token.refresh_token.expose_secret().len()
        + token.openid.len()
        + token.scope.len()
        + token.unionid.as_ref().map_or(0, String::len);
    if size > MAX_TOKEN_BYTES {
        return Err(StoreError::Rejected(format!(
            "token of {size} bytes exceeds the {MAX_TOKEN_BYTES}-byte limit"
        )));
    }
    Ok(())
}

/// Where tokens live: one [`AccessToken`] per openid, shared by every process that uses the
/// same backend.
///
/// Implementations must be safe to call concurrently from many tasks and processes.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The token stored for `openid`, or `None`.
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError>;

    /// Stores `token` for `openid`, unless the store already holds a token for that openid
    /// with a later `create_at` (a newer token is never overwritten by an older one).
    ///
    /// Returns `true` when `token` was written, `false` when a newer token was kept.
    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError>;

    /// Removes the token for `openid` (nothing happens if there is none).
    async fn delete(&self, openid: &str) -> Result<(), StoreError>;

    /// [`get`](Self::get), shared rather than copied. The client reads tokens this way on
    /// every call; a store that keeps tokens in memory overrides it to hand out a
    /// reference count instead of a copy of every secret (the memory store does). The
    /// provided implementation wraps [`get`](Self::get)'s answer.
    async fn get_shared(&self, openid: &str) -> Result<Option<Arc<AccessToken>>, StoreError> {
        Ok(self.get(openid).await?.map(Arc::new))
    }
}

#[async_trait]
impl<S: TokenStore + ?Sized> TokenStore for Arc<S> {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        (**self).get(openid).await
    }
    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        (**self).save(openid, token).await
    }
    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        (**self).delete(openid).await
    }
    async fn get_shared(&self, openid: &str) -> Result<Option<Arc<AccessToken>>, StoreError> {
        (**self).get_shared(openid).await
    }
}
