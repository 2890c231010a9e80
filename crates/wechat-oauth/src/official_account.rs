//! [`OfficialAccountClient`]: the Official Account's server-side APIs that take the app's
//! server access token: follower info ([`follower`](crate::follower)) and the JS-SDK
//! ticket and `wx.config` signature ([`jssdk`](crate::jssdk)), temporary QR codes
//! ([`qrcode`](crate::qrcode)).

use crate::AppSecret;
use crate::app::{ClientSettings, OfficialAccountClientBuilder};
use crate::server_token::ServerTokenManager;
use crate::server_token::shared::SharedCredential;
use crate::store::Stores;
use crate::transport::Transport;

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
    /// The `jsapi_ticket`, an app credential shared across processes.
    pub(crate) tickets: SharedCredential,
}

impl OfficialAccountClient {
    pub(crate) fn new(
        appid: String,
        transport: Transport,
        tokens: ServerTokenManager,
        stores: &Stores,
        settings: &ClientSettings,
    ) -> Self {
        let tickets = SharedCredential::new(
            format!("jsapi_ticket:{appid}"),
            "jsapi_ticket",
            stores,
            settings.server_token_margin,
            settings.lease_ttl,
        );
        Self {
            tokens,
            transport,
            appid,
            tickets,
        }
    }

    /// Starts configuring the Official Account `appid`: the app's builder, returning this
    /// client (use [`WeChatApp`](crate::WeChatApp) for several kinds of client at once).
    pub fn builder(
        appid: impl Into<String>,
        secret: impl Into<AppSecret>,
    ) -> OfficialAccountClientBuilder {
        OfficialAccountClientBuilder::new(appid.into(), secret.into())
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
