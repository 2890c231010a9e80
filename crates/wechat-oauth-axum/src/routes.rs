//! The login, callback and logout handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use wechat_oauth::AuthCode;

use crate::WeChatLogin;
use crate::config::{Flow, SnapshotUsers};
use crate::origin::check_same_origin;
use crate::outcome::{Claim, Outcome, wait};
use crate::pages::{LoginFailure, page};
use crate::pending::{PendingLogin, PendingLogins, RETURN_PATH_BUDGET};
use crate::return_path::safe_return_path;
use crate::session::{Session, WeChatUser};
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
    let pending = login.inner.cookies.pending(&headers);
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
    // by whatever the answer loads (RFC 9700 §4.2).
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(response)
}

/// `POST {logout_path}[?return_to=/path]`: end this browser's session, on the server.
pub(crate) async fn logout(
    State(login): State<WeChatLogin>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    no_store(login.sign_out(query.as_deref(), &headers, false).await)
}

/// `POST {logout_everywhere_path}[?return_to=/path]`: end every session of the signed-in
/// user, in every browser.
pub(crate) async fn logout_everywhere(
    State(login): State<WeChatLogin>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    no_store(login.sign_out(query.as_deref(), &headers, true).await)
}

/// The `code` and `state` of a callback; any other parameter is ignored.
#[derive(Default)]
pub(crate) struct CallbackParams {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
}

impl CallbackParams {
    /// Refuses a repeated `code` or `state` (`?code=x&code=y`, docs/protocol.md §7)
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
    async fn sign_out(
        &self,
        query: Option<&str>,
        headers: &HeaderMap,
        everywhere: bool,
    ) -> Response {
        let inner = &self.inner;
        if let Err(why) = check_same_origin(headers, &inner.site_origin) {
            tracing::info!(?why, "cross-site sign-out refused");
            return page(
                StatusCode::FORBIDDEN,
                "Sign-out refused",
                "This sign-out request came from another site, so it was ignored. To sign out, use the button on this site's own pages.",
                "",
            );
        }
        let target = self.requested_return_to(query);
        let ended = match self.session(headers).await {
            Ok(Some(session)) if everywhere => self
                .sign_out_everywhere(&session.user.openid)
                .await
                .map(|_| ()),
            Ok(Some(session)) => self.end_session(session.id.expose_secret()).await,
            // Nothing to end on the server: a stale or unknown cookie.
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = ended {
            tracing::warn!(%error, "web-session store unavailable; could not sign out");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-out is unavailable right now",
                "Your session could not be ended. Please try again in a moment.",
                "",
            );
        }
        inner.cookies.clear_session(see_other(&target))
    }

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
        } else if return_to.len() <= RETURN_PATH_BUDGET {
            (ReturnRef::InCookie, Some(return_to.to_owned()))
        } else {
            // Too long for the bounded pending-login cookie: the login still completes,
            // on the after-login page.
            tracing::debug!(len = return_to.len(), "return path too long to keep");
            (ReturnRef::Default, None)
        };
        let state = self.state_context().mint(&StateClaims {
            flow: inner.flow.tag(),
            restarted,
            expires_at,
            nonce: nonce.clone(),
            return_ref,
        });
        pending.push(PendingLogin::new(&nonce, expires_at, cookie_return), now);
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
        // 302, as WeChat's guide describes the redirect to its authorize page.
        let response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        inner
            .cookies
            .set_pending(response, &pending, inner.state_ttl)
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
        let pending = inner.cookies.pending(headers);
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
        let current = self.session(headers).await.ok().flatten();
        if current
            .as_ref()
            .is_some_and(|session| session.nonce == claims.nonce)
        {
            return see_other(&return_to);
        }
        let Some(code) = params.code else {
            // Refusal comes back as `?state=…` without `code` (§1.1, callback). Nothing is
            // accepted, so no proof of the browser is needed to say so; the pending entry
            // stays, so reloading this page shows the same answer.
            return self.fail(LoginFailure::Denied, &return_to);
        };
        if started_here.is_none() {
            // No proof that this browser started the login: the callback URL may have leaked
            // (session hijack) or been planted (login CSRF). Never accept it as is, whatever
            // the browser says about itself; start a fresh login bound to this browser
            // instead, once. The code is left unused for the browser that owns it.
            tracing::info!("WeChat callback without this browser's pending-login cookie");
            return self.restart_or_fail(&claims, &return_to, LoginFailure::CookieMissing, pending);
        }
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
                let claim_ttl =
                    Duration::from_secs(claims.expires_at.saturating_sub(self.now_secs()) + 60);
                let task = tokio::spawn(async move {
                    let outcome = this.exchange_once(&nonce, code, claim_ttl).await;
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
                // The same browser (checked above) sent WeChat's duplicate callback.
                wait(outcome).await.unwrap_or(Outcome::AlreadyUsed)
            }
        };
        match outcome {
            Outcome::LoggedIn(session) => {
                self.finish(&session, current.as_ref(), &return_to, pending)
                    .await
            }
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

    /// Marks the state used (a single-use claim that outlives the state), then exchanges
    /// the code. Nobody else gets past the claim for this state, in this process or another
    /// sharing the store.
    async fn exchange_once(&self, nonce: &str, code: String, claim_ttl: Duration) -> Outcome {
        let leases = &self.inner.stores.leases;
        match leases
            .claim_once(&format!("state:{nonce}"), claim_ttl)
            .await
        {
            Ok(true) => self.exchange(nonce, code).await,
            Ok(false) => Outcome::AlreadyUsed,
            Err(error) => {
                tracing::warn!(%error, "store unavailable; cannot mark the login state used");
                Outcome::Failed(LoginFailure::StoreUnavailable)
            }
        }
    }

    async fn exchange(&self, nonce: &str, code: String) -> Outcome {
        let inner = &self.inner;
        let client = &inner.client;
        // Never retried: a code is single use (§8.2 S6); the SDK saves the token.
        let token = match client.get_access_token(AuthCode::new(code)).await {
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
            match client.user_info(&token, inner.lang.clone()).await {
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
        match self.start_session(user, nonce).await {
            Ok(session) => Outcome::LoggedIn(Arc::new(session)),
            Err(error) => {
                tracing::warn!(%error, "web-session store unavailable; cannot sign in");
                Outcome::Failed(LoginFailure::StoreUnavailable)
            }
        }
    }

    /// Sends the browser on to a clean URL with its new session, so `code` and `state`
    /// leave the address bar and history. The browser's previous session, if any, ends: a
    /// login always gets a fresh session id.
    async fn finish(
        &self,
        session: &Session,
        previous: Option<&Session>,
        return_to: &str,
        mut pending: PendingLogins,
    ) -> Response {
        let inner = &self.inner;
        if let Some(previous) =
            previous.filter(|p| p.id.expose_secret() != session.id.expose_secret())
            && let Err(error) = self.end_session(previous.id.expose_secret()).await
        {
            tracing::warn!(%error, "could not end the browser's previous session");
        }
        // A snapshot guest session ends with the browser (`SnapshotUsers::GuestSession`).
        let max_age = (!session.user.is_snapshotuser).then_some(inner.session_ttl);
        let response =
            inner
                .cookies
                .set_session(see_other(return_to), session.id.expose_secret(), max_age);
        pending.remove(&session.nonce);
        inner
            .cookies
            .set_pending(response, &pending, inner.state_ttl)
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
        let response = self.fail(failure, return_to);
        pending.remove(nonce);
        self.inner
            .cookies
            .set_pending(response, &pending, self.inner.state_ttl)
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
