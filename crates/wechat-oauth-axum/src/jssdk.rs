//! The page's `wx.config` request: `GET {path}?url=<the page's URL>` answers the JS-SDK
//! configuration (`appId`, `timestamp`, `nonceStr`, `signature`) for that URL, and only for
//! a URL on the site's own origins.
//!
//! A signature is a capability: with one, a page may call the JS-SDK as this Official
//! Account. Signing whatever URL a client sends would let any site (a phishing copy on
//! another domain, say) borrow the account's JS-SDK, so the URL must be on an origin this
//! site was configured with (the login's callback origin, plus any given to
//! [`JsSdk::allow_origin`]); anything else is refused with `400` before the ticket is
//! touched. The ticket itself is the app credential of
//! [`OfficialAccountClient::jsapi_ticket`], shared by every process.
//!
//! The page sends `location.href.split('#')[0]` (WeChat signs the URL without its
//! fragment; the SDK drops one anyway) and passes the answer to `wx.config` with its
//! `jsApiList`.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wechat_oauth::OfficialAccountClient;
use wechat_oauth::jssdk::JsSdkConfig;

use crate::WeChatLogin;
use crate::config::ConfigError;
use crate::origin::origin_of;

/// Longest page URL signed.
const MAX_URL_LEN: usize = 2048;

/// Why [`JsSdk::config_for`] did not sign a URL.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JsSdkError {
    /// Not an absolute `http`/`https` URL without user info, or too long.
    #[error("not a page URL this site can sign")]
    InvalidUrl,
    /// A URL on an origin that is not this site's.
    #[error("the URL is not on this site's origin")]
    ForeignOrigin,
    /// The ticket could not be obtained (WeChat or the store failed).
    #[error("the JS-SDK ticket is unavailable: {0}")]
    Ticket(#[source] wechat_oauth::Error),
}

impl JsSdkError {
    /// Whether the URL itself was refused (a 400), rather than the ticket unavailable.
    pub fn is_refused_url(&self) -> bool {
        matches!(self, Self::InvalidUrl | Self::ForeignOrigin)
    }
}

/// Signs `wx.config` for the site's own pages; [`routes`](Self::routes) serves it to the
/// page. Cheap to clone.
///
/// ```no_run
/// # fn demo(login: wechat_oauth_axum::WeChatLogin, oa: wechat_oauth::OfficialAccountClient) {
/// use wechat_oauth_axum::JsSdk;
///
/// let jssdk = JsSdk::for_login(&login, oa); // https://<callback's origin> only
/// let app: axum::Router = axum::Router::new().merge(jssdk.routes());
/// // page: fetch('/auth/wechat/jssdk-config?url=' + encodeURIComponent(location.href.split('#')[0]))
/// # let _ = app; }
/// ```
#[derive(Clone)]
pub struct JsSdk {
    inner: Arc<Inner>,
}

struct Inner {
    oa: OfficialAccountClient,
    origins: Vec<String>,
    path: String,
}

impl fmt::Debug for JsSdk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsSdk")
            .field("appid", &self.inner.oa.appid())
            .field("origins", &self.inner.origins)
            .field("path", &self.inner.path)
            .finish()
    }
}

impl JsSdk {
    /// Signs for pages on `login`'s site origin (the origin of its callback URL), with the
    /// Official Account `oa`, at `GET /auth/wechat/jssdk-config`.
    pub fn for_login(login: &WeChatLogin, oa: OfficialAccountClient) -> Self {
        Self {
            inner: Arc::new(Inner {
                oa,
                origins: vec![login.inner.site_origin.clone()],
                path: "/auth/wechat/jssdk-config".into(),
            }),
        }
    }

    /// Also signs for pages on `origin` (`https://m.example.com`; the JS-SDK's 安全域名).
    ///
    /// # Errors
    /// [`ConfigError::CallbackUrl`] when `origin` is not an absolute http(s) URL.
    pub fn allow_origin(self, origin: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::CallbackUrl(format!("JS-SDK origin {origin:?}"));
        let uri: Uri = origin.parse().map_err(|_| bad())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(bad());
        }
        let mut inner = Inner {
            oa: self.inner.oa.clone(),
            origins: self.inner.origins.clone(),
            path: self.inner.path.clone(),
        };
        inner.origins.push(origin_of(&uri));
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Serves the configuration at `path` instead (default `/auth/wechat/jssdk-config`).
    ///
    /// # Errors
    /// [`ConfigError::Path`] for a path that is not a plain absolute path.
    pub fn path(self, path: impl Into<String>) -> Result<Self, ConfigError> {
        let path = path.into();
        if crate::return_path::safe_return_path(&path).is_none()
            || path.contains(['?', '#', '{', '}', '*', '%'])
        {
            return Err(ConfigError::Path {
                which: "jssdk-config",
                path,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                oa: self.inner.oa.clone(),
                origins: self.inner.origins.clone(),
                path,
            }),
        })
    }

    /// The `GET {path}?url=` route, to [`merge`](Router::merge) into the site's router; it
    /// carries its own state.
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new()
            .route(&self.inner.path, get(config_route))
            .with_state(self.clone())
    }

    /// The `wx.config` parameters for `url`, if it is on one of the site's origins.
    ///
    /// # Errors
    /// [`JsSdkError::InvalidUrl`], [`JsSdkError::ForeignOrigin`], or
    /// [`JsSdkError::Ticket`] when the ticket is unavailable.
    pub async fn config_for(&self, url: &str) -> Result<JsSdkConfig, JsSdkError> {
        self.check(url)?;
        self.inner
            .oa
            .js_sdk_config(url)
            .await
            .map_err(JsSdkError::Ticket)
    }

    fn check(&self, url: &str) -> Result<(), JsSdkError> {
        let page = url.split('#').next().unwrap_or(url);
        if page.len() > MAX_URL_LEN || page.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(JsSdkError::InvalidUrl);
        }
        let uri: Uri = page.parse().map_err(|_| JsSdkError::InvalidUrl)?;
        let authority = uri.authority().ok_or(JsSdkError::InvalidUrl)?;
        // `https://example.com@evil.com/` is evil.com: no user info at all.
        if authority.as_str().contains('@') || !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(JsSdkError::InvalidUrl);
        }
        let origin = origin_of(&uri);
        if self.inner.origins.contains(&origin) {
            Ok(())
        } else {
            Err(JsSdkError::ForeignOrigin)
        }
    }
}

async fn config_route(State(jssdk): State<JsSdk>, RawQuery(query): RawQuery) -> Response {
    let url = query.as_deref().unwrap_or("").split('&').find_map(|pair| {
        let value = pair.strip_prefix("url=")?;
        percent_encoding::percent_decode_str(&value.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|v| v.into_owned())
    });
    let Some(url) = url else {
        return answer(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "the page's URL is missing (?url=)"}),
        );
    };
    match jssdk.config_for(&url).await {
        Ok(config) => answer(StatusCode::OK, &config),
        Err(error) if error.is_refused_url() => {
            tracing::info!(%error, "wx.config request refused");
            answer(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": error.to_string()}),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "wx.config unavailable");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"error": "the JS-SDK is unavailable right now"}),
            )
        }
    }
}

fn answer(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
