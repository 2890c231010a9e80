//! Web login sessions, kept on the server: the browser's cookie carries only a random
//! session id, so logging out (here or "everywhere") revokes every copy of that cookie.

use async_trait::async_trait;

use super::StoreError;
use crate::Secret;

/// A signed-in browser, as the login middleware keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSession {
    /// The random session id the cookie carries (at least 128 bits from a CSPRNG). Redacted
    /// in `Debug`: whoever has it is signed in.
    pub id: Secret,
    /// The signed-in user's openid.
    pub openid: String,
    /// What the middleware keeps about the user (its profile as JSON), of any size up to
    /// [`MAX_WEB_SESSION_DATA_BYTES`].
    pub data: String,
    /// When the session was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it ends whatever happens (absolute lifetime), in milliseconds since the epoch.
    pub expires_at: i64,
    /// When it ends unless used again (idle lifetime), in milliseconds since the epoch;
    /// never later than `expires_at`.
    pub idle_expires_at: i64,
}

impl WebSession {
    /// A session for `openid` created at `created_at` that ends at `expires_at` at the latest
    /// (milliseconds since the Unix epoch); its idle expiry starts equal to `expires_at`.
    pub fn new(
        id: impl Into<Secret>,
        openid: impl Into<String>,
        data: impl Into<String>,
        created_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            id: id.into(),
            openid: openid.into(),
            data: data.into(),
            created_at,
            expires_at,
            idle_expires_at: expires_at,
        }
    }

    /// Whether the session has ended (absolute or idle lifetime) at `now_millis`.
    pub fn is_expired_at(&self, now_millis: i64) -> bool {
        now_millis >= self.expires_at || now_millis >= self.idle_expires_at
    }
}

/// Largest `data` a web session may hold (a generous profile, a 6,000-character nickname
/// included).
pub const MAX_WEB_SESSION_DATA_BYTES: usize = 64 * 1024;

/// Checks a web session before a store writes it.
///
/// # Errors
/// [`StoreError::Rejected`] naming what is wrong (never the id or the data).
pub fn validate_web_session(session: &WebSession) -> Result<(), StoreError> {
    let id = session.id.expose_secret();
    if id.len() < 16 || id.len() > 128 {
        return Err(StoreError::Rejected(
            "session id must be 16 to 128 bytes".into(),
        ));
    }
    if session.openid.is_empty() || session.openid.len() > 128 {
        return Err(StoreError::Rejected("openid must be 1 to 128 bytes".into()));
    }
    if session.data.len() > MAX_WEB_SESSION_DATA_BYTES {
        return Err(StoreError::Rejected(format!(
            "session data longer than {MAX_WEB_SESSION_DATA_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Where web login sessions live, shared by every instance of the site.
#[async_trait]
pub trait WebSessionStore: Send + Sync {
    /// Stores a new session (its id is fresh; an existing session with the same id is
    /// replaced).
    async fn create_web_session(&self, session: &WebSession) -> Result<(), StoreError>;

    /// The unexpired session with this id, or `None` (unknown, deleted or expired).
    async fn get_web_session(&self, id: &str) -> Result<Option<WebSession>, StoreError>;

    /// Moves the session's idle expiry to `idle_expires_at` (capped at its absolute expiry).
    /// Returns `false` when there is no such unexpired session.
    async fn touch_web_session(&self, id: &str, idle_expires_at: i64) -> Result<bool, StoreError>;

    /// Deletes the session with this id (logout); nothing happens if there is none.
    async fn delete_web_session(&self, id: &str) -> Result<(), StoreError>;

    /// Deletes every session of `openid` ("sign out everywhere"). Returns how many were
    /// deleted.
    async fn delete_web_sessions_for(&self, openid: &str) -> Result<u64, StoreError>;
}

#[async_trait]
impl<S: WebSessionStore + ?Sized> WebSessionStore for std::sync::Arc<S> {
    async fn create_web_session(&self, session: &WebSession) -> Result<(), StoreError> {
        (**self).create_web_session(session).await
    }
    async fn get_web_session(&self, id: &str) -> Result<Option<WebSession>, StoreError> {
        (**self).get_web_session(id).await
    }
    async fn touch_web_session(&self, id: &str, idle_expires_at: i64) -> Result<bool, StoreError> {
        (**self).touch_web_session(id, idle_expires_at).await
    }
    async fn delete_web_session(&self, id: &str) -> Result<(), StoreError> {
        (**self).delete_web_session(id).await
    }
    async fn delete_web_sessions_for(&self, openid: &str) -> Result<u64, StoreError> {
        (**self).delete_web_sessions_for(openid).await
    }
}
