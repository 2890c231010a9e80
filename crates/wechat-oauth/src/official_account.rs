//! [`OfficialAccountClient`]: the Official Account's server-side APIs that take the app's
//! server access token: follower info ([`follower`](crate::follower)) and the JS-SDK
//! ticket and `wx.config` signature ([`jssdk`](crate::jssdk)).

use std::time::Duration;

use crate::http::Transport;
use crate::server_token::{DEFAULT_REFRESH_MARGIN, ServerTokenManager, TokenEndpoint};
use crate::{Error, HttpOptions, Secret};

/// Calls the Official Account's server-side APIs with a cached server access token.
/// Cheap to clone; clones share the token and ticket caches.
///
/// ```no_run
/// use wechat_oauth::OfficialAccountClient;
///
/// # async fn run() -> wechat_oauth::Result<()> {
/// let oa = OfficialAccountClient::builder("wx5a4d1e0f0a000001", "app-secret").build()?;
/// let follower = oa.get_follower("oGZUI0egBJY1zhBYw2KhdUfwVJJE", wechat_oauth::Lang::ZhCn).await?;
/// println!("following: {}, unionid: {:?}", follower.subscribed, follower.unionid);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OfficialAccountClient {
    pub(crate) tokens: ServerTokenManager,
    pub(crate) transport: Transport,
    pub(crate) appid: String,
    pub(crate) tickets: crate::jssdk::TicketCache,
}

/// Configures an [`OfficialAccountClient`].
#[derive(Debug)]
#[must_use]
pub struct OfficialAccountClientBuilder {
    appid: String,
    secret: Secret,
    api_base: Option<String>,
    http: HttpOptions,
    endpoint: TokenEndpoint,
    refresh_margin: Duration,
    allow_insecure_http: bool,
}

impl OfficialAccountClientBuilder {
    crate::config::http_option_setters!();

    /// Base URL of the JSON APIs (default `https://api.weixin.qq.com`); the sandbox's URL in
    /// tests.
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = Some(base.into());
        self
    }

    /// Which endpoint issues the server token ([`TokenEndpoint::Stable`] by default).
    pub fn token_endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Refresh the server token (and the JS-SDK ticket) this long before they expire
    /// (default 5 minutes).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Allows a plain-`http` API base (for the local sandbox only).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty appid or secret, or an unusable base URL.
    pub fn build(mut self) -> Result<OfficialAccountClient, Error> {
        if let Some(base) = &self.api_base {
            self.http.api_base = crate::config::normalize_base(base)?;
        }
        crate::config::check_scheme(&self.http.api_base, self.allow_insecure_http)?;
        let transport = self.http.transport()?;
        let tokens = ServerTokenManager::with_transport(
            self.appid.clone(),
            self.secret,
            transport.clone(),
            self.endpoint,
            self.refresh_margin,
        )?;
        Ok(OfficialAccountClient {
            tokens,
            transport,
            appid: self.appid,
            tickets: crate::jssdk::TicketCache::new(self.refresh_margin),
        })
    }
}

impl OfficialAccountClient {
    /// Starts configuring a client for the Official Account `appid`.
    pub fn builder(
        appid: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> OfficialAccountClientBuilder {
        OfficialAccountClientBuilder {
            appid: appid.into(),
            secret: secret.into(),
            api_base: None,
            http: HttpOptions::default(),
            endpoint: TokenEndpoint::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            allow_insecure_http: false,
        }
    }

    /// The appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The server-token manager the client uses (for other server-side calls).
    pub fn server_tokens(&self) -> &ServerTokenManager {
        &self.tokens
    }
}
