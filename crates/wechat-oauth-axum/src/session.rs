//! The two cookies: the session (who is logged in) and the pending logins (which states this
//! browser started).

use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};

use crate::WeChatLogin;
use crate::cookie::{open, seal};
use crate::pending::PendingLogins;

const SESSION_PURPOSE: &str = "wechat-oauth-axum/session/v1";
const PENDING_PURPOSE: &str = "wechat-oauth-axum/pending/v2";

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
        let encoded: String = open(
            &inner.key,
            PENDING_PURPOSE,
            inner.client.appid(),
            cookie.value(),
        )?;
        PendingLogins::decode(&encoded)
    }

    pub(crate) fn seal_pending(&self, pending: &PendingLogins) -> String {
        seal(
            &self.inner.key,
            PENDING_PURPOSE,
            self.inner.client.appid(),
            &pending.encode(),
        )
    }
}
