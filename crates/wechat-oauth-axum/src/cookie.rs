//! The two cookies this crate sets, through `axum-extra`'s [`SignedCookieJar`]: the
//! session cookie (a random session id; the session itself lives in the store) and the
//! pending-login cookie ([`PendingLogins`]).
//!
//! Each is signed (HMAC-SHA256) under its own key, derived from the site [`Key`], a purpose
//! label and the appid, so a value made for one cookie, app or site never verifies as
//! another. Neither holds anything secret beyond the session id itself: no token, no profile.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, Key as CookieKey, SameSite, SignedCookieJar};

use crate::key::Key;
use crate::pending::PendingLogins;

/// The cookie settings of one [`WeChatLogin`](crate::WeChatLogin).
#[derive(Clone)]
pub(crate) struct Cookies {
    /// `Secure` is left off only for a plain-http site (local development, or with
    /// `allow_http_callback`).
    pub secure: bool,
    pub session_name: String,
    pub pending_name: String,
    session_key: CookieKey,
    pending_key: CookieKey,
}

impl Cookies {
    pub(crate) fn new(key: &Key, appid: &str, session_name: &str, secure: bool) -> Self {
        Self {
            secure,
            session_name: session_name.to_owned(),
            pending_name: format!("{session_name}_pending"),
            session_key: key.cookie_key("wechat-oauth-axum/cookie/session/v2", appid),
            pending_key: key.cookie_key("wechat-oauth-axum/cookie/pending/v2", appid),
        }
    }

    /// The session id of an authentic session cookie, if the browser sent one.
    pub(crate) fn session_id(&self, headers: &HeaderMap) -> Option<String> {
        let jar = SignedCookieJar::from_headers(headers, self.session_key.clone());
        jar.get(&self.session_name).map(|c| c.value().to_owned())
    }

    /// The pending logins of an authentic pending-login cookie (empty when there is none).
    pub(crate) fn pending(&self, headers: &HeaderMap) -> PendingLogins {
        let jar = SignedCookieJar::from_headers(headers, self.pending_key.clone());
        jar.get(&self.pending_name)
            .and_then(|c| PendingLogins::decode(c.value()))
            .unwrap_or_default()
    }

    /// Adds a session cookie for `id` living `max_age` (`None`: until the browser closes).
    pub(crate) fn set_session(
        &self,
        response: Response,
        id: &str,
        max_age: Option<Duration>,
    ) -> Response {
        let jar = SignedCookieJar::new(self.session_key.clone()).add(self.cookie(
            &self.session_name,
            id.to_owned(),
            max_age,
        ));
        (jar, response).into_response()
    }

    /// Adds the deletion of the session cookie.
    pub(crate) fn clear_session(&self, response: Response) -> Response {
        let jar = CookieJar::new().add(self.removal(&self.session_name));
        (jar, response).into_response()
    }

    /// Adds the pending-login cookie (or its deletion when no login is pending).
    pub(crate) fn set_pending(
        &self,
        response: Response,
        pending: &PendingLogins,
        max_age: Duration,
    ) -> Response {
        if pending.is_empty() {
            let jar = CookieJar::new().add(self.removal(&self.pending_name));
            return (jar, response).into_response();
        }
        let cookie = self.cookie(&self.pending_name, pending.encode(), Some(max_age));
        let jar = SignedCookieJar::new(self.pending_key.clone()).add(cookie);
        (jar, response).into_response()
    }

    /// `HttpOnly`, `Path=/`, and `SameSite=Lax`, not `Strict`: the callback is a
    /// cross-site top-level navigation from open.weixin.qq.com and must carry the
    /// pending-login cookie.
    pub(crate) fn cookie(
        &self,
        name: &str,
        value: String,
        max_age: Option<Duration>,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build((name.to_owned(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build();
        if let Some(age) = max_age {
            let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
            cookie.set_max_age(cookie::time::Duration::seconds(secs));
        }
        cookie
    }

    /// A deletion: nothing to sign (an unsigned jar writes it), same attributes.
    fn removal(&self, name: &str) -> Cookie<'static> {
        let mut cookie = self.cookie(name, String::new(), None);
        cookie.make_removal();
        cookie
    }
}

/// Whether `name` is a valid cookie name (RFC 6265 token).
pub(crate) fn is_valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn echo(response: &Response) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let pairs: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        headers.insert(header::COOKIE, pairs.join("; ").parse().unwrap());
        headers
    }

    #[test]
    fn a_session_cookie_verifies_only_with_the_same_key_and_app() {
        let key = Key::generate();
        let cookies = Cookies::new(&key, "wx1", "s", true);
        let response =
            cookies.set_session(().into_response(), "the-id", Some(Duration::from_secs(60)));
        let set = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"),
            "{set}"
        );
        assert!(set.contains("Max-Age=60"), "{set}");
        let headers = echo(&response);
        assert_eq!(cookies.session_id(&headers).as_deref(), Some("the-id"));
        assert_eq!(
            Cookies::new(&key, "wx2", "s", true).session_id(&headers),
            None
        );
        assert_eq!(
            Cookies::new(&Key::generate(), "wx1", "s", true).session_id(&headers),
            None
        );
    }

    #[test]
    fn a_value_signed_for_one_cookie_does_not_verify_as_the_other() {
        let cookies = Cookies::new(&Key::generate(), "wx1", "s", false);
        let response = cookies.set_session(().into_response(), "the-id", None);
        let pair = echo(&response)[header::COOKIE].to_str().unwrap().to_owned();
        let moved = pair.replacen("s=", "s_pending=", 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, moved.parse().unwrap());
        assert!(cookies.pending(&headers).is_empty());
    }

    #[test]
    fn tampered_and_unsigned_values_do_not_verify() {
        let cookies = Cookies::new(&Key::generate(), "wx1", "s", false);
        for forged in [
            "s=the-id",
            "s=",
            "s=!!!!",
            "s=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAthe-id",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, forged.parse().unwrap());
            assert_eq!(cookies.session_id(&headers), None, "{forged}");
        }
    }
}
