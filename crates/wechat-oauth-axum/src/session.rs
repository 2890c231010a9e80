//! Web sessions, kept on the server through [`Stores::web_sessions`]: the session cookie
//! carries only a random session id, so logging out deletes the session for every copy of
//! the cookie, and a profile of any size fits.
//!
//! [`Stores::web_sessions`]: wechat_oauth::store::Stores

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use wechat_oauth::Secret;
use wechat_oauth::store::{StoreError, WebSession};

use crate::WeChatLogin;

/// Length of a session id: 32 characters from `[A-Za-z0-9]` drawn from the thread-local
/// CSPRNG (ChaCha, seeded by the OS), about 190 bits.
const SESSION_ID_LEN: usize = 32;
/// The idle expiry is pushed forward at most once a minute, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The logged-in WeChat user, read from the session.
///
/// As an extractor it redirects to the login route (with `return_to` = the current path)
/// when nobody is logged in; `Option<WeChatUser>` gives `None` instead. The router's state
/// must provide the [`WeChatLogin`] (through [`FromRef`](axum::extract::FromRef)). The
/// identity comes only from WeChat's token response, never from the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WeChatUser {
    /// The user's id within this app.
    pub openid: String,
    /// The user's id across the Open Platform account, when the app is bound to one.
    pub unionid: Option<String>,
    /// Scopes the user granted, comma-separated (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    pub scope: String,
    /// Nickname, when the flow fetched the profile.
    pub nickname: Option<String>,
    /// Avatar URL, when the flow fetched the profile and the user has one.
    pub headimgurl: Option<String>,
    /// A snapshot-mode virtual user (only with [`SnapshotUsers::GuestSession`]): never link
    /// this to an account.
    ///
    /// [`SnapshotUsers::GuestSession`]: crate::SnapshotUsers::GuestSession
    pub is_snapshotuser: bool,
}

/// What the store keeps in a web session's `data`.
#[derive(Serialize, Deserialize)]
struct SessionData {
    /// The app the session belongs to: a store shared by two apps never mixes them.
    appid: String,
    /// Nonce of the state that created this session: a duplicate callback for the same
    /// state in the same browser finds it here.
    nonce: String,
    user: WeChatUser,
}

/// A live session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The session id (the cookie's value); never logged.
    pub id: Secret,
    pub user: WeChatUser,
    pub nonce: String,
}

impl WeChatLogin {
    /// The user logged in on the browser that sent `headers`, if any.
    ///
    /// The same check the [`WeChatUser`] extractor makes, for code that has a `HeaderMap`
    /// but no extractor (middleware, WebSocket upgrades).
    ///
    /// # Errors
    /// The web-session store could not be read.
    pub async fn current_user(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<WeChatUser>, StoreError> {
        Ok(self.session(headers).await?.map(|s| s.user))
    }

    /// Signs `openid` out everywhere: deletes every session of that user, in every browser
    /// and on every process sharing the store. Returns how many sessions ended.
    ///
    /// # Errors
    /// The web-session store could not be written.
    pub async fn sign_out_everywhere(&self, openid: &str) -> Result<u64, StoreError> {
        self.inner
            .stores
            .web_sessions
            .delete_web_sessions_for(openid)
            .await
    }

    /// The live session of the browser that sent `headers`, extending its idle lifetime.
    pub(crate) async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
        let Some(id) = self.inner.cookies.session_id(headers) else {
            return Ok(None);
        };
        let store = &self.inner.stores.web_sessions;
        let Some(stored) = store.get_web_session(&id).await? else {
            return Ok(None);
        };
        let now = self.now_millis();
        if stored.is_expired_at(now) {
            return Ok(None);
        }
        let Ok(data) = serde_json::from_str::<SessionData>(&stored.data) else {
            tracing::warn!("a web session in the store is not one this crate wrote");
            return Ok(None);
        };
        if data.appid != self.inner.client.appid() {
            return Ok(None);
        }
        let idle_ms = millis(self.inner.session_idle_ttl);
        let idle_expires_at = now.saturating_add(idle_ms).min(stored.expires_at);
        if idle_expires_at - stored.idle_expires_at >= TOUCH_EVERY_MS.min(idle_ms / 2) {
            // A failed extension does not sign the user out now; the next request retries.
            if let Err(error) = store.touch_web_session(&id, idle_expires_at).await {
                tracing::warn!(%error, "could not extend a web session");
            }
        }
        Ok(Some(Session {
            id: Secret::new(id),
            user: data.user,
            nonce: data.nonce,
        }))
    }

    /// Creates a session with a fresh id for `user` (never one the browser offered, so a
    /// planted session id cannot become a signed-in one).
    pub(crate) async fn start_session(
        &self,
        user: WeChatUser,
        nonce: &str,
    ) -> Result<Session, StoreError> {
        let inner = &self.inner;
        let id = wechat_oauth::state::random_alphanumeric(SESSION_ID_LEN);
        let now = self.now_millis();
        let data = SessionData {
            appid: inner.client.appid().to_owned(),
            nonce: nonce.to_owned(),
            user,
        };
        let json = serde_json::to_string(&data)
            .map_err(|e| StoreError::Rejected(format!("session data: {e}")))?;
        let expires_at = now.saturating_add(millis(inner.session_ttl));
        let mut stored = WebSession::new(
            Secret::new(id.clone()),
            data.user.openid.clone(),
            json,
            now,
            expires_at,
        );
        stored.idle_expires_at = now
            .saturating_add(millis(inner.session_idle_ttl))
            .min(expires_at);
        inner
            .stores
            .web_sessions
            .create_web_session(&stored)
            .await?;
        Ok(Session {
            id: Secret::new(id),
            user: data.user,
            nonce: data.nonce,
        })
    }

    /// Deletes the session with this id.
    pub(crate) async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.inner.stores.web_sessions.delete_web_session(id).await
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
