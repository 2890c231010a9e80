//! [`OAuthClient`]: the seed's `OAuth` class — authorize URLs, code exchange, refresh, user
//! info and token checks for one app (Official Account or website app).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::app::{ClientSettings, OAuthClientBuilder};
use crate::authorize::{AuthorizeUrl, Scope};
use crate::lenient;
use crate::refresh::Flight;
use crate::transport::Transport;
use crate::user::{Lang, TokenStatus, UserInfo, means_invalid_token};
use crate::{
    AccessToken, AccessTokenValue, AppSecret, AuthCode, Error, LeaseStore, RefreshToken, Result,
    Stores, TokenStore, now_millis,
};

/// Default for [`AppBuilder::refresh_skew`](crate::AppBuilder::refresh_skew).
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(60);
/// Default for [`AppBuilder::refresh_lease_ttl`](crate::AppBuilder::refresh_lease_ttl).
pub const DEFAULT_REFRESH_LEASE_TTL: Duration = Duration::from_secs(10);

/// A WeChat OAuth client for one app: the Rust form of the npm package's `new OAuth(appid, secret)`.
///
/// Cheap to clone (an `Arc` inside); share one per app across tasks. `Debug` never shows
/// the app secret. See the [crate docs](crate) for a guided tour.
///
/// ```
/// # fn main() -> Result<(), wechat_oauth::Error> {
/// use wechat_oauth::{OAuthClient, Scope};
///
/// let client = OAuthClient::builder("wx5a4d1e0f0a000001", "app-secret").build()?;
/// let url = client.authorize_url("https://example.com/callback", "state123", Scope::UserInfo);
/// assert!(url.starts_with("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx5a4d1e0f0a000001&"));
/// assert!(!format!("{client:?}").contains("app-secret"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) appid: String,
    pub(crate) secret: AppSecret,
    pub(crate) transport: Transport,
    pub(crate) open_base: Url,
    pub(crate) store: Arc<dyn TokenStore>,
    /// Refresh locks, shared with every process using the same backend.
    pub(crate) leases: Arc<dyn LeaseStore>,
    /// The app's whole store set, for middleware that keeps its own state beside the tokens.
    pub(crate) stores: Stores,
    pub(crate) connect_redirect: bool,
    pub(crate) default_lang: Lang,
    pub(crate) refresh_skew: Duration,
    pub(crate) lease_ttl: Duration,
    /// Refreshes in flight in this process, one per openid (single-flight).
    pub(crate) flights: Mutex<HashMap<String, Arc<Flight>>>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("OAuthClient")
            .field("appid", &inner.appid)
            .field("secret", &inner.secret)
            .field("api_base", &inner.transport.api_base().as_str())
            .field("open_base", &inner.open_base.as_str())
            .field("connect_redirect", &inner.connect_redirect)
            .field("default_lang", &inner.default_lang)
            .field("refresh_skew", &inner.refresh_skew)
            .field("refresh_lease_ttl", &inner.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// WeChat's answer to a code exchange or a refresh (docs/protocol.md §3.1, §3.2).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: AccessTokenValue,
    #[serde(deserialize_with = "lenient::u64")]
    expires_in: u64,
    #[serde(default)]
    refresh_token: RefreshToken,
    openid: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    is_snapshotuser: bool,
    /// Fields WeChat adds later.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl TokenResponse {
    fn into_token(self, create_at: i64) -> AccessToken {
        AccessToken {
            access_token: self.access_token,
            expires_in: self.expires_in,
            refresh_token: self.refresh_token,
            openid: self.openid,
            scope: self.scope,
            unionid: self.unionid.filter(|u| !u.is_empty()),
            is_snapshotuser: self.is_snapshotuser,
            create_at,
            extra: self.extra,
        }
    }
}

impl OAuthClient {
    /// Starts configuring a client for the app `appid` with its app secret: the app's
    /// builder ([`WeChatApp::builder`](crate::WeChatApp::builder)), returning its OAuth
    /// client.
    pub fn builder(appid: impl Into<String>, secret: impl Into<AppSecret>) -> OAuthClientBuilder {
        OAuthClientBuilder::new(appid.into(), secret.into())
    }

    /// The client of an app (see [`crate::WeChatApp`]).
    pub(crate) fn new(
        appid: String,
        secret: AppSecret,
        transport: Transport,
        open_base: Url,
        stores: &Stores,
        settings: &ClientSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                appid,
                secret,
                transport,
                open_base,
                store: Arc::clone(&stores.tokens),
                leases: Arc::clone(&stores.leases),
                stores: stores.clone(),
                connect_redirect: settings.connect_redirect,
                default_lang: settings.default_lang.clone(),
                refresh_skew: settings.refresh_skew,
                lease_ttl: settings.lease_ttl,
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The app's appid.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// The app's whole store set (tokens, leases, sessions, web sessions, credentials).
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The store tokens are kept in.
    pub fn token_store(&self) -> Arc<dyn TokenStore> {
        Arc::clone(&self.inner.store)
    }

    /// A builder for an authorize URL with every option (`forcePopup`, the website page,
    /// `connect_redirect` per URL). [`authorize_url`](Self::authorize_url) and
    /// [`authorize_url_for_website`](Self::authorize_url_for_website) cover the usual cases.
    pub fn authorize<'a>(&'a self, redirect_uri: &'a str) -> AuthorizeUrl<'a> {
        AuthorizeUrl::new(
            &self.inner.open_base,
            &self.inner.appid,
            redirect_uri,
            self.inner.connect_redirect,
        )
    }

    /// The seed's `getAuthorizeURL(redirect, state, scope)`: the Official Account page
    /// (`connect/oauth2/authorize`) the user opens inside WeChat.
    ///
    /// `redirect_uri` is percent-encoded once; pass it plain. Unlike the seed, the URL
    /// ends in `&connect_redirect=1#wechat_redirect` unless the client was built with
    /// `.connect_redirect(false)`.
    pub fn authorize_url(
        &self,
        redirect_uri: impl AsRef<str>,
        state: impl AsRef<str>,
        scope: Scope,
    ) -> String {
        self.authorize(redirect_uri.as_ref())
            .state(state.as_ref())
            .scope(scope)
            .build()
    }

    /// The seed's `getAuthorizeURLForWebsite(redirect, state)`: the website QR-login page
    /// (`connect/qrconnect`, scope `snsapi_login`). For another scope use
    /// [`authorize`](Self::authorize)`(..).website().scope(..)`.
    pub fn authorize_url_for_website(
        &self,
        redirect_uri: impl AsRef<str>,
        state: impl AsRef<str>,
    ) -> String {
        self.authorize(redirect_uri.as_ref())
            .website()
            .state(state.as_ref())
            .build()
    }

    /// The seed's `getAccessToken(code)`: exchanges the callback's `code` for the user's
    /// token (`GET sns/oauth2/access_token`), saves it through the store under its openid,
    /// and returns it.
    ///
    /// `create_at` is taken before the request is sent, as the seed does (its PR #28).
    /// Never retried: a code is single-use, and a retry after a lost answer would only
    /// earn 40163.
    ///
    /// # Errors
    /// [`Error::WeChat`] (check [`Error::is_invalid_code`], [`Error::is_code_used`]),
    /// transport and response errors, and [`Error::Store`] if saving fails.
    pub async fn get_access_token(&self, code: impl Into<AuthCode>) -> Result<AccessToken> {
        let code = code.into();
        let inner = &self.inner;
        let create_at = now_millis();
        let response: TokenResponse = inner
            .transport
            .get(
                "sns/oauth2/access_token",
                &[
                    ("appid", inner.appid.as_str()),
                    ("secret", inner.secret.expose_secret()),
                    ("code", code.expose_secret()),
                    ("grant_type", "authorization_code"),
                ],
            )
            .await?;
        let token = response.into_token(create_at);
        inner.store.save(&token.openid, &token).await?;
        Ok(token)
    }

    /// The seed's `refreshAccessToken(refresh_token)`: a new access token
    /// (`GET sns/oauth2/refresh_token`, which takes no app secret), saved under the openid
    /// WeChat returns.
    ///
    /// Retried on transport errors and -1. [`get_user`](Self::get_user) refreshes by itself;
    /// call this only to manage tokens by hand.
    ///
    /// # Errors
    /// [`Error::WeChat`] ([`Error::is_reauthorize_required`] for 40030, 42002, 42007:
    /// the user must authorize again; unlike [`get_user`](Self::get_user), this call does
    /// not know the openid and so leaves the store alone), transport, response and store
    /// errors.
    pub async fn refresh_access_token(
        &self,
        refresh_token: impl Into<RefreshToken>,
    ) -> Result<AccessToken> {
        self.inner.refresh(&refresh_token.into()).await
    }

    /// The seed's `getUser(openid)`: the user's profile, with the client's default
    /// `lang` ([`Lang::ZhCn`] unless configured).
    ///
    /// Reads the token from the store, refreshes it first if it is (about to be) expired,
    /// and if WeChat rejects it anyway (40001, 40014, 42001) refreshes once and retries
    /// once. Concurrent calls for one openid share a single refresh, in this process and,
    /// through the store's lease, across processes.
    ///
    /// # Errors
    /// [`Error::NoToken`] if the store has no token for `openid` (the seed's
    /// `NoOAuthTokenError`), [`Error::is_reauthorize_required`] if the refresh token is dead
    /// (the stored token is then deleted), [`Error::is_scope_insufficient`] for a
    /// `snsapi_base` token (48001), transport, response and store errors.
    pub async fn get_user(&self, openid: impl AsRef<str>) -> Result<UserInfo> {
        self.user_with_lang(openid.as_ref(), &self.inner.default_lang)
            .await
    }

    /// [`get_user`](Self::get_user) with an explicit `lang`.
    ///
    /// # Errors
    /// As [`get_user`](Self::get_user).
    pub async fn get_user_with_lang(
        &self,
        openid: impl AsRef<str>,
        lang: Lang,
    ) -> Result<UserInfo> {
        self.user_with_lang(openid.as_ref(), &lang).await
    }

    async fn user_with_lang(&self, openid: &str, lang: &Lang) -> Result<UserInfo> {
        let token = self.latest_token(openid).await?;
        match self.user_info_in(&token, lang).await {
            Err(err) if err.is_token_invalid() => {
                // WeChat dropped the token before its time (docs/protocol.md §3.4).
                tracing::debug!(
                    errcode = err.errcode(),
                    "user info rejected the token; refreshing once"
                );
                // Boxed, like the refresh in `get_latest_access_token`: the rare path
                // should not size every call's future.
                Box::pin(async {
                    let fresh = self.inner.refresh_for(openid, &token).await?;
                    self.user_info_in(&fresh, lang).await
                })
                .await
            }
            result => result,
        }
    }

    /// A usable access token for `openid`: the stored one, or a refreshed one if it is
    /// (about to be) expired — what the seed's issue #20 asked for as `getLatestAccessToken`.
    ///
    /// # Errors
    /// As [`get_user`](Self::get_user), minus the user-info call.
    pub async fn get_latest_access_token(&self, openid: impl AsRef<str>) -> Result<AccessToken> {
        self.latest_token(openid.as_ref())
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// [`get_latest_access_token`](Self::get_latest_access_token), shared: a fresh token
    /// in a memory store is not copied (see [`crate::TokenStore::get_shared`]).
    async fn latest_token(&self, openid: &str) -> Result<Arc<AccessToken>> {
        let inner = &self.inner;
        let token = inner
            .store
            .get_shared(openid)
            .await?
            .ok_or_else(|| Error::NoToken {
                openid: openid.to_owned(),
            })?;
        if inner.is_fresh(&token) {
            Ok(token)
        } else {
            // Boxed: the refresh machinery is a large future, and inlining it would make
            // every call's future (the common, fresh-token case included) that large.
            Box::pin(inner.refresh_for(openid, &token))
                .await
                .map(Arc::new)
        }
    }

    /// `GET sns/userinfo` with a token in hand: no store, no refresh. Retried on transport
    /// errors and -1.
    ///
    /// # Errors
    /// [`Error::WeChat`] ([`Error::is_token_invalid`], [`Error::is_scope_insufficient`]),
    /// transport and response errors.
    pub async fn user_info(&self, token: &AccessToken, lang: Lang) -> Result<UserInfo> {
        self.user_info_in(token, &lang).await
    }

    async fn user_info_in(&self, token: &AccessToken, lang: &Lang) -> Result<UserInfo> {
        self.inner
            .transport
            .get_idempotent(
                "sns/userinfo",
                &[
                    ("access_token", token.access_token.expose_secret()),
                    ("openid", token.openid.as_str()),
                    ("lang", lang.as_str()),
                ],
            )
            .await
    }

    /// The seed's `verifyToken(openid, access_token)` (`GET sns/auth`), as a tri-state:
    /// `Ok(`[`TokenStatus::Valid`]`)`, `Ok(`[`TokenStatus::Invalid`]`)` when WeChat rejects
    /// the token or openid (40001, 40003, 40014, 42001), and `Err` when the answer says
    /// nothing about the token (busy, unreachable, garbage) — so a WeChat hiccup is never
    /// mistaken for a logout. Does not touch the store.
    ///
    /// # Errors
    /// Transport and response errors, and WeChat errors other than the four above.
    pub async fn verify_token(
        &self,
        openid: impl AsRef<str>,
        access_token: &AccessTokenValue,
    ) -> Result<TokenStatus> {
        let answer = self
            .inner
            .transport
            .get_idempotent::<crate::response::Ack>(
                "sns/auth",
                &[
                    ("access_token", access_token.expose_secret()),
                    ("openid", openid.as_ref()),
                ],
            )
            .await;
        match answer {
            Ok(_) => Ok(TokenStatus::Valid),
            Err(Error::WeChat(e)) if means_invalid_token(e.errcode) => Ok(TokenStatus::Invalid(e)),
            Err(e) => Err(e),
        }
    }

    /// The seed's `getUserByCode(code)`: [`get_access_token`](Self::get_access_token)
    /// (which saves the token), then the profile fetched with the token just received —
    /// not re-read through the store, so an eventually consistent store cannot fail it.
    ///
    /// # Errors
    /// As [`get_access_token`](Self::get_access_token) and [`user_info`](Self::user_info).
    pub async fn get_user_by_code(&self, code: impl Into<AuthCode>) -> Result<UserInfo> {
        let token = self.get_access_token(code).await?;
        self.user_info_in(&token, &self.inner.default_lang).await
    }

    /// [`get_user_by_code`](Self::get_user_by_code) with an explicit `lang`.
    ///
    /// # Errors
    /// As [`get_user_by_code`](Self::get_user_by_code).
    pub async fn get_user_by_code_with_lang(
        &self,
        code: impl Into<AuthCode>,
        lang: Lang,
    ) -> Result<UserInfo> {
        let token = self.get_access_token(code).await?;
        self.user_info_in(&token, &lang).await
    }
}

impl Inner {
    /// `GET sns/oauth2/refresh_token` and save the result under the returned openid.
    pub(crate) async fn refresh(&self, refresh_token: &RefreshToken) -> Result<AccessToken> {
        let create_at = now_millis();
        let response: TokenResponse = self
            .transport
            .get_idempotent(
                "sns/oauth2/refresh_token",
                &[
                    ("appid", self.appid.as_str()),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.expose_secret()),
                ],
            )
            .await?;
        let token = response.into_token(create_at);
        self.store.save(&token.openid, &token).await?;
        Ok(token)
    }

    /// Whether `token` is usable for a while yet: valid `refresh_skew` from now (the skew
    /// capped at half the token's lifetime, so a short-lived token is not refreshed at once).
    pub(crate) fn is_fresh(&self, token: &AccessToken) -> bool {
        let lifetime_ms = token.expires_in.saturating_mul(1000) / 2;
        let skew_ms = u64::try_from(self.refresh_skew.as_millis())
            .unwrap_or(u64::MAX)
            .min(lifetime_ms);
        let skew_ms = i64::try_from(skew_ms).unwrap_or(i64::MAX);
        token.is_valid_at(now_millis().saturating_add(skew_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_futures_are_send_so_they_can_be_spawned() {
        let Ok(client) = OAuthClient::builder("wxid", "secret").build() else {
            panic!("default build failed");
        };
        assert_send(&client.get_user("o"));
        assert_send(&client.get_access_token("c"));
        assert_send(&client.verify_token("o", &AccessTokenValue::new("t")));
        assert_send(&client.get_user_by_code("c"));
        assert_send(&client.refresh_access_token("r"));
    }

    #[test]
    fn plain_http_is_only_accepted_on_loopback() {
        let build = |base: &str| {
            OAuthClient::builder("wxid", "secret")
                .api_base(base)
                .build()
        };
        assert!(build("http://127.0.0.1:8080").is_ok());
        assert!(build("http://localhost:8080").is_ok());
        assert!(build("http://[::1]:8080").is_ok());
        assert!(build("https://proxy.example.com/wechat").is_ok());
        assert!(build("http://proxy.example.com").is_err_and(|e| matches!(e, Error::Config(_))));
        assert!(
            OAuthClient::builder("wxid", "secret")
                .api_base("http://proxy.example.com")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn empty_credentials_and_bad_bases_are_config_errors() {
        assert!(OAuthClient::builder("", "secret").build().is_err());
        assert!(OAuthClient::builder("wxid", "").build().is_err());
        assert!(
            OAuthClient::builder("wxid", "secret")
                .open_base("not a url")
                .build()
                .is_err()
        );
    }

    #[test]
    fn debug_of_client_and_builder_hides_the_secret() {
        let builder = OAuthClient::builder("wxid", "TOP-SECRET-VALUE");
        assert!(!format!("{builder:?}").contains("TOP-SECRET"));
        let Ok(client) = builder.build() else {
            panic!("build failed");
        };
        let shown = format!("{client:?}");
        assert!(
            shown.contains("wxid") && !shown.contains("TOP-SECRET"),
            "{shown}"
        );
    }

    #[test]
    fn freshness_skew_is_capped_at_half_the_lifetime() {
        let Ok(client) = OAuthClient::builder("wxid", "secret").build() else {
            panic!("build failed");
        };
        let now = now_millis();
        // 7200 s token with 30 s left: inside the 60 s skew, so not fresh.
        let t = AccessToken::new("A", 7200, "R", "o", "s", now - 7_170_000);
        assert!(t.is_valid() && !client.inner.is_fresh(&t));
        // 60 s token just issued (the seed's test 17): the skew shrinks to 30 s.
        let t = AccessToken::new("A", 60, "R", "o", "s", now);
        assert!(client.inner.is_fresh(&t));
    }
}
