//! The two cookies: the session (who is logged in) and the pending logins (which states this
//! browser started).

use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::WeChatLogin;
use crate::cookie::{open, seal};

const SESSION_PURPOSE: &str = "wechat-oauth-axum/session/v1";
const PENDING_PURPOSE: &str = "wechat-oauth-axum/pending/v1";
/// Logins a browser may have in flight at once (one per tab, roughly); older ones drop out.
const MAX_PENDING: usize = 4;

/// The logged-in WeChat user, read from the session cookie.
///
/// As an extractor it redirects to the login route (with `return_to` = the current path)
/// when nobody is logged in; `Option<WeChatUser>` gives `None` instead. Requires
/// [`WeChatLogin::layer`]. The identity comes only from WeChat's token response, never from
/// the browser (`wechat-protocol.md` §8.2 S7).
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

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    pub user: WeChatUser,
    /// Nonce of the state that created this session: a duplicate callback for the same
    /// state in the same browser finds it here.
    pub nonce: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// One login this browser started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    /// Hash of the state's nonce (the nonce itself travels in URLs; the cookie need not repeat it).
    pub nonce_hash: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// The return path, when it was too long for the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PendingLogins {
    pub logins: Vec<PendingLogin>,
}

pub(crate) fn nonce_hash(nonce: &str) -> String {
    Sha256::digest(nonce.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PendingLogins {
    pub(crate) fn find(&self, nonce: &str) -> Option<&PendingLogin> {
        let hash = nonce_hash(nonce);
        self.logins
            .iter()
            .find(|p| crate::key::ct_eq(&p.nonce_hash, &hash))
    }

    pub(crate) fn remove(&mut self, nonce: &str) {
        let hash = nonce_hash(nonce);
        self.logins.retain(|p| p.nonce_hash != hash);
    }

    pub(crate) fn push(&mut self, login: PendingLogin, now_secs: u64) {
        self.logins.retain(|p| p.expires_at > now_secs);
        self.logins.push(login);
        let excess = self.logins.len().saturating_sub(MAX_PENDING);
        self.logins.drain(..excess);
    }
}

impl WeChatLogin {
    /// The user logged in on the browser that sent `headers`, if any.
    ///
    /// The same check the [`WeChatUser`] extractor makes, for code that has a `HeaderMap`
    /// but no extractor (middleware, WebSocket upgrades).
    pub fn current_user(&self, headers: &HeaderMap) -> Option<WeChatUser> {
        self.session(&CookieJar::from_headers(headers))
            .map(|s| s.user)
    }

    pub(crate) fn session(&self, jar: &CookieJar) -> Option<Session> {
        let inner = &self.inner;
        let cookie = jar.get(&inner.session_cookie)?;
        let session: Session = open(
            &inner.key,
            SESSION_PURPOSE,
            inner.client.appid(),
            cookie.value(),
        )?;
        (session.expires_at > self.now_secs()).then_some(session)
    }

    pub(crate) fn seal_session(&self, session: &Session) -> String {
        seal(
            &self.inner.key,
            SESSION_PURPOSE,
            self.inner.client.appid(),
            session,
        )
    }

    /// The pending logins (empty when the cookie is absent or not authentic) and whether the
    /// browser sent an authentic pending-login cookie at all.
    pub(crate) fn pending(&self, jar: &CookieJar) -> Option<PendingLogins> {
        let inner = &self.inner;
        let cookie = jar.get(&inner.pending_cookie)?;
        open(
            &inner.key,
            PENDING_PURPOSE,
            inner.client.appid(),
            cookie.value(),
        )
    }

    pub(crate) fn seal_pending(&self, pending: &PendingLogins) -> String {
        seal(
            &self.inner.key,
            PENDING_PURPOSE,
            self.inner.client.appid(),
            pending,
        )
    }
}
