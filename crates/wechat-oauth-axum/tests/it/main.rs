//! Router tests: the whole login, driven with `tower::ServiceExt::oneshot` (no sockets for
//! the site) against a real sandbox over loopback for the code exchanges.

mod attacks;
mod config;
#[cfg(feature = "demo")]
mod demo_example;
mod duplicate;
mod follow;
mod follow_site;
mod jssdk;
mod redirect;
mod serve;
pub(crate) mod session;
mod state;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use tower::ServiceExt;
use wechat_oauth::OAuthClient;
use wechat_oauth_axum::{Flow, Key, WeChatLogin, WeChatLoginBuilder, WeChatUser};
use wechat_sandbox::{Sandbox, defaults};

pub(crate) const CALLBACK: &str = "http://127.0.0.1/auth/wechat/callback";
pub(crate) const EXCHANGE_PATH: &str = "/sns/oauth2/access_token";
pub(crate) const WECHAT_UA: &str =
    "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI";

/// A site using the middleware, its sandbox, and the pieces tests poke at.
pub(crate) struct Site {
    pub(crate) sandbox: Sandbox,
    pub(crate) login: WeChatLogin,
    pub(crate) app: Router,
}

async fn profile(user: WeChatUser) -> String {
    serde_json::to_string(&user).unwrap()
}

async fn maybe(user: Option<WeChatUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.openid)
}

pub(crate) fn client_for(sandbox: &Sandbox, appid: &str, secret: &str) -> OAuthClient {
    OAuthClient::builder(appid, secret)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .build()
        .unwrap()
}

pub(crate) fn app_for(login: &WeChatLogin) -> Router {
    Router::new()
        .route("/", get(|| async { "home" }))
        .route("/profile", get(profile))
        .route("/maybe", get(maybe))
        .merge(login.routes())
        .with_state(login.clone())
}

impl Site {
    /// An Official Account `snsapi_userinfo` site.
    pub(crate) async fn new() -> Self {
        Self::with(|b| b).await
    }

    pub(crate) async fn with(
        configure: impl FnOnce(WeChatLoginBuilder) -> WeChatLoginBuilder,
    ) -> Self {
        let sandbox = Sandbox::builder().start().await.unwrap();
        let client = client_for(
            &sandbox,
            defaults::OFFICIAL_APPID,
            defaults::OFFICIAL_SECRET,
        );
        let builder = WeChatLogin::builder(client, CALLBACK, Key::generate())
            .flow(Flow::OfficialAccountUserInfo);
        let login = configure(builder).build().unwrap();
        let app = app_for(&login);
        Self {
            sandbox,
            login,
            app,
        }
    }

    /// How many code exchanges reached WeChat.
    pub(crate) fn exchanges(&self) -> usize {
        self.sandbox
            .journal()
            .iter()
            .filter(|e| e.path == EXCHANGE_PATH)
            .count()
    }

    pub(crate) fn code_for(&self, user: &str) -> String {
        self.sandbox
            .mint_code(defaults::OFFICIAL_APPID, user, "snsapi_userinfo")
            .unwrap()
    }
}

/// A minimal browser: a cookie jar and a user agent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Browser {
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) user_agent: Option<&'static str>,
}

impl Browser {
    pub(crate) fn wechat() -> Self {
        Self {
            user_agent: Some(WECHAT_UA),
            ..Self::default()
        }
    }

    pub(crate) fn request(&self, method: &str, uri: &str) -> Request<Body> {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(ua) = self.user_agent {
            req = req.header(header::USER_AGENT, ua);
        }
        req.body(Body::empty()).unwrap()
    }

    /// Sends without storing the answer's cookies (an answer the browser never saw).
    pub(crate) async fn send(&self, app: &Router, method: &str, uri: &str) -> Response<Body> {
        app.clone()
            .oneshot(self.request(method, uri))
            .await
            .unwrap()
    }

    /// Sends and stores the answer's cookies.
    pub(crate) async fn visit(&mut self, app: &Router, method: &str, uri: &str) -> Response<Body> {
        let response = self.send(app, method, uri).await;
        self.store(&response);
        response
    }

    pub(crate) async fn get(&mut self, app: &Router, uri: &str) -> Response<Body> {
        self.visit(app, "GET", uri).await
    }

    pub(crate) fn store(&mut self, response: &Response<Body>) {
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// Logs in as sandbox `user`, coming back to `/`.
    pub(crate) async fn log_in(&mut self, site: &Site, user: &str) -> Response<Body> {
        let state = self.start_login(site, "/").await;
        self.get(&site.app, &callback_uri(&site.code_for(user), &state))
            .await
    }

    /// Starts a login for `return_to` and returns the state WeChat would carry back.
    pub(crate) async fn start_login(&mut self, site: &Site, return_to: &str) -> String {
        let uri = format!(
            "/auth/wechat/login?return_to={}",
            percent_encoding::utf8_percent_encode(return_to, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = self.get(&site.app, &uri).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        state_in(&location(&response))
    }
}

pub(crate) fn callback_uri(code: &str, state: &str) -> String {
    format!("/auth/wechat/callback?code={code}&state={state}")
}

pub(crate) fn location(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `state` parameter of an authorize URL.
pub(crate) fn state_in(authorize_url: &str) -> String {
    let query = authorize_url.split_once('?').unwrap().1;
    let query = query.split('#').next().unwrap();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("state="))
        .expect("a state parameter")
        .to_owned()
}

pub(crate) async fn body_text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub(crate) fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}
