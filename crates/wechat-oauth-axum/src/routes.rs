//! The login, callback and logout handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use wechat_oauth::Secret;

use crate::WeChatLogin;
use crate::config::{BrowserBinding, Flow, SnapshotUsers};
use crate::outcome::{Claim, Outcome, wait};
use crate::pages::LoginFailure;
use crate::return_path::safe_return_path;
use crate::session::{PendingLogin, PendingLogins, Session, WeChatUser, nonce_hash};
use crate::state::{NONCE_LEN, ReturnRef, StateClaims, fits_inline};

/// Longest `code` or `state` value looked at; WeChat's are well under 128 bytes.
pub(crate) const MAX_PARAM_LEN: usize = 512;

/// `GET {login_path}?return_to=/path`: redirect to WeChat's authorize page with a fresh state.
pub(crate) async fn login(
    State(login): State<WeChatLogin>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let return_to = login.requested_return_to(query.as_deref());
    let pending = login
        .pending(&CookieJar::from_headers(&headers))
        .unwrap_or_default();
    no_store(login.begin(&return_to, false, pending))
}

/// `GET {callback path}?code=…&state=…`: WeChat's redirect back to the site.
pub(crate) async fn callback(
    State(login): State<WeChatLogin>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut response = login
        .complete(query.as_deref().unwrap_or(""), &headers)
        .await;
    // The callback URL holds the code and state: keep them out of `Referer` headers sent
    // by whatever the answer loads (RFC 9700 §4.2, `wechat-protocol.md` §8.2 S18).
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(response)
}

/// `POST {logout_path}[?return_to=/path]`: end the session.
pub(crate) async fn logout(
    State(login): State<WeChatLogin>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut response = see_other(&login.requested_return_to(query.as_deref()));
    let inner = &login.inner;
    response.headers_mut().append(
        header::SET_COOKIE,
        inner.cookies.remove(&inner.session_cookie),
    );
    no_store(response)
}

/// The `code` and `state` of a callback; any other parameter is ignored.
#[derive(Default)]
pub(crate) struct CallbackParams {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
}

impl CallbackParams {
    /// Refuses a repeated `code` or `state` (`?code=x&code=y`, `wechat-protocol.md` §8.2 S5)
    /// and oversized values.
    pub(crate) fn parse(query: &str) -> Result<Self, ()> {
        let mut params = Self::default();
        for (name, value) in parse_query(query)? {
            let slot = match name.as_str() {
                "code" => &mut params.code,
                "state" => &mut params.state,
                _ => continue,
            };
            if slot.is_some() || value.len() > MAX_PARAM_LEN {
                return Err(());
            }
            *slot = Some(value);
        }
        // An empty `code` is no code at all.
        params.code = params.code.filter(|c| !c.is_empty());
        Ok(params)
    }
}

/// `application/x-www-form-urlencoded` pairs; `Err` on invalid UTF-8.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, ()> {
    let decode = |s: &str| -> Result<String, ()> {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced)
            .decode_utf8()
            .map(|v| v.into_owned())
            .map_err(|_| ())
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

impl WeChatLogin {
    /// The `return_to` query parameter of the login and logout routes if it is a same-site
    /// path (S3), else the after-login default.
    pub(crate) fn requested_return_to(&self, query: Option<&str>) -> String {
        let requested = parse_query(query.unwrap_or(""))
            .ok()
            .and_then(|params| params.into_iter().find(|(k, _)| k == "return_to"))
            .map(|(_, v)| v);
        requested
            .as_deref()
            .and_then(safe_return_path)
            .unwrap_or(&self.inner.after_login)
            .to_owned()
    }

    /// Mints a state for `return_to`, remembers it in the pending-login cookie, and
    /// redirects to WeChat's authorize page.
    fn begin(&self, return_to: &str, restarted: bool, mut pending: PendingLogins) -> Response {
        let inner = &self.inner;
        let now = self.now_secs();
        let nonce = wechat_oauth::state::random_alphanumeric(NONCE_LEN);
        let expires_at = now + inner.state_ttl.as_secs();
        let (return_ref, cookie_return) = if return_to == inner.after_login {
            (ReturnRef::Default, None)
        } else if fits_inline(return_to) {
            (ReturnRef::Inline(return_to.to_owned()), None)
        } else {
            (ReturnRef::InCookie, Some(return_to.to_owned()))
        };
        let state = self.state_context().mint(&StateClaims {
            flow: inner.flow.tag(),
            restarted,
            expires_at,
            nonce: nonce.clone(),
            return_ref,
        });
        pending.push(
            PendingLogin {
                nonce_hash: nonce_hash(&nonce),
                expires_at,
                return_to: cookie_return,
            },
            now,
        );
        let url = match inner.flow {
            Flow::WebsiteQrLogin => inner
                .client
                .authorize_url_for_website(&inner.callback_url, &state),
            flow => inner
                .client
                .authorize_url(&inner.callback_url, &state, flow.scope()),
        };
        let Ok(location) = HeaderValue::from_str(&url) else {
            tracing::error!("the authorize URL is not a valid Location header");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        // 302, as WeChat's guide describes the redirect to its authorize page (§1.1).
        let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        response.headers_mut().append(
            header::SET_COOKIE,
            inner.cookies.set(
                &inner.pending_cookie,
                &self.seal_pending(&pending),
                Some(inner.state_ttl.as_secs()),
            ),
        );
        response
    }

    async fn complete(&self, query: &str, headers: &HeaderMap) -> Response {
        let inner = &self.inner;
        let Ok(params) = CallbackParams::parse(query) else {
            return self.fail(LoginFailure::BadRequest, &inner.after_login);
        };
        let Some(state) = params.state else {
            return self.fail(LoginFailure::BadRequest, &inner.after_login);
        };
        let claims = match self.state_context().verify(&state, inner.flow.tag()) {
            Ok(claims) => claims,
            Err(why) => {
                tracing::info!(?why, "WeChat callback with a state this site did not mint");
                return self.fail(LoginFailure::InvalidState, &inner.after_login);
            }
        };
        let jar = CookieJar::from_headers(headers);
        let pending = self.pending(&jar).unwrap_or_default();
        let started_here = pending.find(&claims.nonce).cloned();
        let return_to = match &claims.return_ref {
            ReturnRef::Default => None,
            ReturnRef::Inline(path) => safe_return_path(path).map(str::to_owned),
            ReturnRef::InCookie => started_here
                .as_ref()
                .and_then(|p| p.return_to.as_deref())
                .and_then(safe_return_path)
                .map(str::to_owned),
        }
        .unwrap_or_else(|| inner.after_login.clone());

        // A duplicate callback whose first answer already reached this browser.
        if self
            .session(&jar)
            .is_some_and(|session| session.nonce == claims.nonce)
        {
            return see_other(&return_to);
        }
        let same_browser = started_here.is_some();
        if !same_browser && !self.accepts_without_cookie(headers) {
            return self.fail(LoginFailure::WrongBrowser, &return_to);
        }
        let Some(code) = params.code else {
            // Refusal comes back as `?state=…` without `code` (§1.1, callback). The pending
            // entry stays, so reloading this page shows the same answer.
            return self.fail(LoginFailure::Denied, &return_to);
        };
        if claims.is_expired(self.now_secs()) {
            return self.restart_or_fail(&claims, &return_to, LoginFailure::Expired, pending);
        }

        let code_hash: [u8; 32] = Sha256::digest(code.as_bytes()).into();
        let outcome = match inner.outcomes.claim(&claims.nonce, code_hash) {
            Claim::First(sender) => {
                // Run the exchange in its own task: WeChat's duplicate callback often
                // aborts the first request, and the outcome must still be recorded for
                // the second.
                let this = self.clone();
                let nonce = claims.nonce.clone();
                let lease_ttl =
                    Duration::from_secs(claims.expires_at.saturating_sub(self.now_secs()) + 60);
                let task = tokio::spawn(async move {
                    let outcome = this.exchange_once(&nonce, code, lease_ttl).await;
                    sender.send_replace(Some(outcome.clone()));
                    outcome
                });
                task.await
                    .unwrap_or(Outcome::Failed(LoginFailure::WeChatUnavailable))
            }
            Claim::Duplicate { outcome, same_code } => {
                if !same_code {
                    return self.fail(LoginFailure::Replayed, &return_to);
                }
                if !same_browser {
                    // The outcome belongs to the browser that started the login only (S6).
                    return self.restart_or_fail(
                        &claims,
                        &return_to,
                        LoginFailure::Replayed,
                        pending,
                    );
                }
                wait(outcome).await.unwrap_or(Outcome::AlreadyUsed)
            }
        };
        match outcome {
            Outcome::LoggedIn(session) => self.finish(&session, &return_to, pending),
            Outcome::AlreadyUsed => {
                self.restart_or_fail(&claims, &return_to, LoginFailure::Replayed, pending)
            }
            Outcome::CodeRejected => {
                self.restart_or_fail(&claims, &return_to, LoginFailure::CodeRejected, pending)
            }
            Outcome::Failed(failure @ LoginFailure::SnapshotUser) => {
                self.fail_and_forget(failure, &return_to, pending, &claims.nonce)
            }
            Outcome::Failed(failure) => self.fail(failure, &return_to),
        }
    }

    fn accepts_without_cookie(&self, headers: &HeaderMap) -> bool {
        match self.inner.binding {
            BrowserBinding::Required => false,
            BrowserBinding::Optional => true,
            BrowserBinding::ExemptWeChatBrowser => headers
                .get(header::USER_AGENT)
                .and_then(|ua| ua.to_str().ok())
                .is_some_and(|ua| ua.contains("MicroMessenger")),
        }
    }

    /// Marks the state used (a lease that is never released, so it lasts past the state's
    /// expiry), then exchanges the code. Nobody else can get past the lease for this state,
    /// in this process or another sharing the token store.
    async fn exchange_once(&self, nonce: &str, code: String, lease_ttl: Duration) -> Outcome {
        let store = self.inner.client.token_store();
        match store
            .acquire_lease(&format!("state:{nonce}"), lease_ttl)
            .await
        {
            Ok(Some(_used)) => self.exchange(nonce, code).await,
            Ok(None) => Outcome::AlreadyUsed,
            Err(error) => {
                tracing::warn!(%error, "token store unavailable; cannot mark the login state used");
                Outcome::Failed(LoginFailure::StoreUnavailable)
            }
        }
    }

    async fn exchange(&self, nonce: &str, code: String) -> Outcome {
        let inner = &self.inner;
        let client = &inner.client;
        // Never retried: a code is single use (§8.2 S6); the SDK saves the token.
        let token = match client.get_access_token(Secret::new(code)).await {
            Ok(token) => token,
            Err(error) if error.is_invalid_code() || error.is_code_used() => {
                return Outcome::CodeRejected;
            }
            Err(error) => {
                tracing::warn!(%error, "WeChat code exchange failed");
                return Outcome::Failed(LoginFailure::WeChatUnavailable);
            }
        };
        if token.is_snapshotuser && inner.snapshot == SnapshotUsers::Refuse {
            // A virtual account: keep nothing of it (§1.7).
            if let Err(error) = client.token_store().delete(&token.openid).await {
                tracing::warn!(%error, "could not remove a snapshot user's token");
            }
            return Outcome::Failed(LoginFailure::SnapshotUser);
        }
        let mut user = WeChatUser {
            openid: token.openid.clone(),
            unionid: token.unionid.clone(),
            scope: token.scope.clone(),
            nickname: None,
            headimgurl: None,
            is_snapshotuser: token.is_snapshotuser,
        };
        let may_read_profile =
            token.has_scope("snsapi_userinfo") || token.has_scope("snsapi_login");
        if inner.flow.fetches_profile() && may_read_profile {
            // The profile is a nicety: a failure here still logs the user in by openid,
            // and the app can fetch it later with `client.get_user(openid)`.
            match client.user_info(&token, inner.lang).await {
                Ok(info) => {
                    user.nickname = Some(info.nickname).filter(|n| !n.is_empty());
                    user.headimgurl = Some(info.headimgurl).filter(|h| !h.is_empty());
                    if user.unionid.is_none() {
                        user.unionid = info.unionid;
                    }
                }
                Err(error) => tracing::warn!(%error, "WeChat profile unavailable after login"),
            }
        }
        Outcome::LoggedIn(Arc::new(Session {
            user,
            nonce: nonce.to_owned(),
            expires_at: self.now_secs() + inner.session_ttl.as_secs(),
        }))
    }

    /// Starts the session and sends the browser on to a clean URL, so `code` and `state`
    /// leave the address bar and history (§8.2 S18).
    fn finish(&self, session: &Session, return_to: &str, mut pending: PendingLogins) -> Response {
        let inner = &self.inner;
        let mut response = see_other(return_to);
        // A snapshot guest session ends with the browser (`SnapshotUsers::GuestSession`).
        let max_age = (!session.user.is_snapshotuser).then(|| inner.session_ttl.as_secs());
        response.headers_mut().append(
            header::SET_COOKIE,
            inner
                .cookies
                .set(&inner.session_cookie, &self.seal_session(session), max_age),
        );
        pending.remove(&session.nonce);
        self.set_pending(&mut response, &pending);
        response
    }

    /// The one automatic restart: a fresh state (marked as a restart) for the same return
    /// path. A restart of a restart is a failure page instead, so it never loops.
    fn restart_or_fail(
        &self,
        claims: &StateClaims,
        return_to: &str,
        failure: LoginFailure,
        mut pending: PendingLogins,
    ) -> Response {
        if claims.restarted {
            return self.fail(failure, return_to);
        }
        tracing::info!(%failure, "restarting the WeChat login once");
        pending.remove(&claims.nonce);
        self.begin(return_to, true, pending)
    }

    fn fail(&self, failure: LoginFailure, return_to: &str) -> Response {
        let mut response = (self.inner.failure_page)(&failure, &self.login_url(return_to));
        *response.status_mut() = failure.status();
        response
    }

    /// A failure that ends this login for good: its pending entry is dropped too.
    fn fail_and_forget(
        &self,
        failure: LoginFailure,
        return_to: &str,
        mut pending: PendingLogins,
        nonce: &str,
    ) -> Response {
        let mut response = self.fail(failure, return_to);
        pending.remove(nonce);
        self.set_pending(&mut response, &pending);
        response
    }

    fn set_pending(&self, response: &mut Response, pending: &PendingLogins) {
        let inner = &self.inner;
        let cookie = if pending.logins.is_empty() {
            inner.cookies.remove(&inner.pending_cookie)
        } else {
            inner.cookies.set(
                &inner.pending_cookie,
                &self.seal_pending(pending),
                Some(inner.state_ttl.as_secs()),
            )
        };
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

/// `303 See Other` to a local path (already checked by `safe_return_path`).
fn see_other(path: &str) -> Response {
    match HeaderValue::from_str(path) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, HeaderValue::from_static("/"))],
        )
            .into_response(),
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
