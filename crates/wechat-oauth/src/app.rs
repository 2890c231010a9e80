//! [`WeChatApp`]: one app's credentials, connection and stores, given once; the OAuth
//! client, the Mini Program client and the server-token manager come from it and share its
//! connection pool and its stores.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::client::{DEFAULT_REFRESH_LEASE_TTL, DEFAULT_REFRESH_SKEW};
use crate::config::{HttpOptions, check_scheme, normalize_base};
use crate::miniprogram::{MiniProgramClient, SessionStore};
use crate::server_token::{DEFAULT_REFRESH_MARGIN, ServerTokenManager, TokenEndpoint};
use crate::store::Stores;
use crate::{AppSecret, Error, Lang, OAuthClient, OfficialAccountClient, Result, TokenStore};

/// One WeChat app (an Official Account, a website app or a Mini Program): its appid and
/// AppSecret, how to reach WeChat, and where its state is kept.
///
/// Build it once; take the clients from it. They share one connection pool (and its cap on
/// connections), one set of [`Stores`] and one server-token manager, so an app that does
/// web login, Mini Program login and server calls opens one pool and fetches one server
/// token. Cheap to clone.
///
/// ```
/// # fn main() -> Result<(), wechat_oauth::Error> {
/// use wechat_oauth::WeChatApp;
/// use wechat_oauth::store::Stores;
///
/// let app = WeChatApp::builder("wx5a4d1e0f0a000001", "app-secret")
///     .stores(Stores::memory()) // or wechat_oauth_stores::open("postgres://…")
///     .build()?;
/// let oauth = app.oauth();               // web authorization, website login
/// let mini_program = app.mini_program(); // wx.login, decryption, phone numbers
/// let server_tokens = app.server_tokens(); // the app's server access token
/// # let _ = (oauth, mini_program, server_tokens);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WeChatApp {
    inner: Arc<AppInner>,
}

struct AppInner {
    appid: String,
    stores: Stores,
    oauth: OAuthClient,
    mini_program: MiniProgramClient,
    server_tokens: ServerTokenManager,
    official_account: OfficialAccountClient,
}

impl fmt::Debug for WeChatApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatApp")
            .field("appid", &self.inner.appid)
            .field("oauth", &self.inner.oauth)
            .finish_non_exhaustive()
    }
}

impl WeChatApp {
    /// Starts configuring the app `appid` with its AppSecret.
    pub fn builder(appid: impl Into<String>, secret: impl Into<AppSecret>) -> WeChatAppBuilder {
        AppBuilder::new(appid.into(), secret.into())
    }

    /// The appid.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// The stores the clients keep their state in.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The OAuth client: Official Account web authorization and website QR login.
    pub fn oauth(&self) -> OAuthClient {
        self.inner.oauth.clone()
    }

    /// The Mini Program client: `wx.login` codes, decryption, signatures, phone numbers.
    pub fn mini_program(&self) -> MiniProgramClient {
        self.inner.mini_program.clone()
    }

    /// The manager of the app's server access token (shared across processes through
    /// [`Stores::credentials`] and [`Stores::leases`]).
    pub fn server_tokens(&self) -> ServerTokenManager {
        self.inner.server_tokens.clone()
    }

    /// The Official Account client: follower info and the JS-SDK (`jsapi_ticket`,
    /// `wx.config` signatures), on the app's server access token.
    pub fn official_account(&self) -> OfficialAccountClient {
        self.inner.official_account.clone()
    }
}

/// Settings for one kind of client, kept by the builder until `build`.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub(crate) connect_redirect: bool,
    pub(crate) default_lang: Lang,
    pub(crate) refresh_skew: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) max_watermark_age: Option<Duration>,
    pub(crate) token_endpoint: TokenEndpoint,
    pub(crate) server_token_margin: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_redirect: true,
            default_lang: Lang::default(),
            refresh_skew: DEFAULT_REFRESH_SKEW,
            lease_ttl: DEFAULT_REFRESH_LEASE_TTL,
            max_watermark_age: None,
            token_endpoint: TokenEndpoint::default(),
            server_token_margin: DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// The one builder of the SDK: credentials, connection settings, stores and client
/// settings. `T` is what [`build`](AppBuilder::build) returns: a [`WeChatApp`]
/// ([`WeChatApp::builder`]) or one of its clients directly
/// ([`OAuthClient::builder`], [`MiniProgramClient::builder`],
/// [`ServerTokenManager::builder`], each the app's builder followed by taking that client).
///
/// Every setting is validated in `build`, in one place for all clients: a blank appid or
/// secret, a base URL that is not absolute http(s), a plain-http base off loopback (unless
/// [`allow_insecure_http`](Self::allow_insecure_http)).
#[must_use = "call .build() to get the app or client"]
pub struct AppBuilder<T = WeChatApp> {
    appid: String,
    secret: AppSecret,
    api_base: Option<String>,
    open_base: Option<String>,
    http: HttpOptions,
    stores: Stores,
    allow_insecure_http: bool,
    settings: ClientSettings,
    built: PhantomData<fn() -> T>,
}

/// Builds a [`WeChatApp`].
pub type WeChatAppBuilder = AppBuilder<WeChatApp>;
/// Builds an [`OAuthClient`] (an app's builder that returns its OAuth client).
pub type OAuthClientBuilder = AppBuilder<OAuthClient>;
/// Builds a [`MiniProgramClient`] (an app's builder that returns its Mini Program client).
pub type MiniProgramClientBuilder = AppBuilder<MiniProgramClient>;
/// Builds a [`ServerTokenManager`] (an app's builder that returns its server-token manager).
pub type ServerTokenBuilder = AppBuilder<ServerTokenManager>;
/// Builds an [`OfficialAccountClient`] (an app's builder that returns its Official Account
/// client).
pub type OfficialAccountClientBuilder = AppBuilder<OfficialAccountClient>;

impl<T> fmt::Debug for AppBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppBuilder")
            .field("appid", &self.appid)
            .field("secret", &self.secret)
            .field("api_base", &self.api_base)
            .field("open_base", &self.open_base)
            .field("http", &self.http)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<T> AppBuilder<T> {
    pub(crate) fn new(appid: String, secret: AppSecret) -> Self {
        Self {
            appid,
            secret,
            api_base: None,
            open_base: None,
            http: HttpOptions::default(),
            stores: Stores::memory(),
            allow_insecure_http: false,
            settings: ClientSettings::default(),
            built: PhantomData,
        }
    }

    /// Base URL of the JSON APIs (default `https://api.weixin.qq.com/`); point it at the
    /// sandbox in tests. Checked in `build`.
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// Base URL of the authorization pages (default `https://open.weixin.qq.com/`).
    /// Checked in `build`.
    pub fn open_base(mut self, url: impl Into<String>) -> Self {
        self.open_base = Some(url.into());
        self
    }

    crate::config::http_option_setters!();

    /// Replaces all connection settings at once. A later [`api_base`](Self::api_base) or
    /// [`open_base`](Self::open_base) still overrides the options' base URLs.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Allow plain `http://` base URLs on hosts other than loopback. By default only
    /// `https://` and `http://` on `127.0.0.0/8`, `::1` or `localhost` (the sandbox) are
    /// accepted, because the app secret travels in query strings (docs/protocol.md §7).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Where everything is kept: user tokens, leases, Mini Program sessions, web
    /// sessions, app credentials (default [`Stores::memory`], fine for one process). One
    /// shared backend (`wechat_oauth_stores::open(url)`) serves every process.
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = stores;
        self
    }

    /// Where user tokens and their refresh locks are kept, replacing [`Stores::tokens`] and
    /// [`Stores::leases`]: the locks must live where the tokens do, or two processes
    /// sharing the tokens would both refresh. Any backend that is both a [`TokenStore`] and
    /// a [`LeaseStore`](crate::LeaseStore) works (every store in this workspace is).
    pub fn token_store<S: TokenStore + crate::LeaseStore + 'static>(mut self, store: S) -> Self {
        let store = Arc::new(store);
        self.stores.tokens = store.clone();
        self.stores.leases = store;
        self
    }

    /// Where Mini Program sessions are kept, replacing [`Stores::sessions`] only.
    pub fn session_store<S: SessionStore + 'static>(mut self, store: S) -> Self {
        self.stores.sessions = Arc::new(store);
        self
    }

    /// Whether Official Account authorize URLs carry `connect_redirect=1` (default `true`;
    /// it stops WeChat's duplicate callbacks). The npm package never adds it; website
    /// (`qrconnect`) URLs never carry it by default.
    pub fn connect_redirect(mut self, on: bool) -> Self {
        self.settings.connect_redirect = on;
        self
    }

    /// The `lang` used by [`OAuthClient::get_user`] and [`OAuthClient::get_user_by_code`]
    /// (default [`Lang::ZhCn`]).
    pub fn default_lang(mut self, lang: Lang) -> Self {
        self.settings.default_lang = lang;
        self
    }

    /// How long before its expiry a stored user token is already treated as expired and
    /// refreshed (default 60 s, capped at half the token's lifetime), so a token does not
    /// die between the check and WeChat's answer. [`AccessToken::is_valid`](crate::AccessToken::is_valid)
    /// itself has no margin, like the seed's.
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.settings.refresh_skew = skew;
        self
    }

    /// How long one process may hold the lease `refresh:<openid>` while it refreshes a
    /// user token (default 10 s). Other processes wait for the new token at most twice
    /// this long.
    pub fn refresh_lease_ttl(mut self, ttl: Duration) -> Self {
        self.settings.lease_ttl = ttl;
        self
    }

    /// Refuse decrypted Mini Program data whose `watermark.timestamp` is older than `age`
    /// (default: no limit). Limits how long a captured `encryptedData` can be replayed.
    pub fn max_watermark_age(mut self, age: Duration) -> Self {
        self.settings.max_watermark_age = Some(age);
        self
    }

    /// Which endpoint issues the server access token (default [`TokenEndpoint::Stable`]).
    pub fn token_endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.settings.token_endpoint = endpoint;
        self
    }

    /// How long before its expiry the server access token is fetched again (default five
    /// minutes, capped at half the token's lifetime).
    pub fn server_token_refresh_margin(mut self, margin: Duration) -> Self {
        self.settings.server_token_margin = margin;
        self
    }

    /// Validates everything and builds the app.
    fn build_app(self) -> Result<WeChatApp> {
        if self.appid.trim().is_empty() {
            return Err(Error::Config("appid is empty".into()));
        }
        if self.secret.is_blank() {
            return Err(Error::Config("app secret is empty".into()));
        }
        let mut http = self.http;
        if let Some(base) = &self.api_base {
            http.api_base = normalize_base(base)?;
        }
        if let Some(base) = &self.open_base {
            http.open_base = normalize_base(base)?;
        }
        for base in [&http.api_base, &http.open_base] {
            check_scheme(base, self.allow_insecure_http)?;
        }
        let transport = http.transport()?;
        let open_base: Url = http.open_base;
        let server_tokens = ServerTokenManager::new(
            self.appid.clone(),
            self.secret.clone(),
            transport.clone(),
            &self.stores,
            &self.settings,
        );
        let oauth = OAuthClient::new(
            self.appid.clone(),
            self.secret.clone(),
            transport.clone(),
            open_base,
            &self.stores,
            &self.settings,
        );
        let official_account = OfficialAccountClient::new(
            self.appid.clone(),
            transport.clone(),
            server_tokens.clone(),
            &self.stores,
            &self.settings,
        );
        let mini_program = MiniProgramClient::new(
            self.appid.clone(),
            self.secret,
            transport,
            Arc::clone(&self.stores.sessions),
            server_tokens.clone(),
            self.settings.max_watermark_age,
        );
        Ok(WeChatApp {
            inner: Arc::new(AppInner {
                appid: self.appid,
                stores: self.stores,
                oauth,
                mini_program,
                server_tokens,
                official_account,
            }),
        })
    }
}

impl AppBuilder<WeChatApp> {
    /// Checks the configuration and builds the app.
    ///
    /// # Errors
    /// [`Error::Config`] for a blank appid or secret, an invalid base URL, a plain-http
    /// base URL on a non-loopback host (see
    /// [`allow_insecure_http`](Self::allow_insecure_http)), or an HTTP client that cannot
    /// be built.
    pub fn build(self) -> Result<WeChatApp> {
        self.build_app()
    }
}

impl AppBuilder<OAuthClient> {
    /// Checks the configuration and builds the app's OAuth client.
    ///
    /// # Errors
    /// As [`WeChatAppBuilder::build`](AppBuilder::<WeChatApp>::build).
    pub fn build(self) -> Result<OAuthClient> {
        Ok(self.build_app()?.oauth())
    }
}

impl AppBuilder<MiniProgramClient> {
    /// Checks the configuration and builds the app's Mini Program client.
    ///
    /// # Errors
    /// As [`WeChatAppBuilder::build`](AppBuilder::<WeChatApp>::build).
    pub fn build(self) -> Result<MiniProgramClient> {
        Ok(self.build_app()?.mini_program())
    }
}

impl AppBuilder<OfficialAccountClient> {
    /// Checks the configuration and builds the app's Official Account client.
    ///
    /// # Errors
    /// As [`WeChatAppBuilder::build`](AppBuilder::<WeChatApp>::build).
    pub fn build(self) -> Result<OfficialAccountClient> {
        Ok(self.build_app()?.official_account())
    }
}

impl AppBuilder<ServerTokenManager> {
    /// Checks the configuration and builds the app's server-token manager.
    ///
    /// # Errors
    /// As [`WeChatAppBuilder::build`](AppBuilder::<WeChatApp>::build).
    pub fn build(self) -> Result<ServerTokenManager> {
        Ok(self.build_app()?.server_tokens())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_blank_credentials_in_every_builder() {
        for (appid, secret) in [("", "s"), ("  ", "s"), ("wx1", ""), ("wx1", " \t")] {
            assert!(matches!(
                WeChatApp::builder(appid, secret).build(),
                Err(Error::Config(_))
            ));
            assert!(OAuthClient::builder(appid, secret).build().is_err());
            assert!(MiniProgramClient::builder(appid, secret).build().is_err());
            assert!(ServerTokenManager::builder(appid, secret).build().is_err());
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback_for_both_bases() {
        let build = |api: &str, open: &str| {
            WeChatApp::builder("wx1", "s")
                .api_base(api)
                .open_base(open)
                .build()
        };
        assert!(build("http://127.0.0.1:9", "http://localhost:9").is_ok());
        assert!(build("http://example.com", "https://open.weixin.qq.com").is_err());
        assert!(build("https://api.weixin.qq.com", "http://example.com").is_err());
        assert!(
            WeChatApp::builder("wx1", "s")
                .api_base("http://example.com")
                .allow_insecure_http(true)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn the_clients_share_the_app_stores_and_server_token_manager() {
        let app = WeChatApp::builder("wx1", "s").build().unwrap();
        assert!(Arc::ptr_eq(
            &app.stores().tokens,
            &app.oauth().token_store()
        ));
        assert!(Arc::ptr_eq(
            &app.stores().sessions,
            &app.mini_program().session_store()
        ));
        assert!(
            app.mini_program()
                .server_token()
                .same_as(&app.server_tokens())
        );
        assert!(!format!("{app:?}").contains("\"s\""));
    }
}
