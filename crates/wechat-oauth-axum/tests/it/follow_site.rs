//! A site with follow-to-login, served on a real port so the sandbox can push events to its
//! message endpoint. Shared by the router tests (`follow.rs`) and the browser test.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use wechat_oauth::WeChatApp;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::{FollowLogin, Key, WeChatLogin, WeChatUser};
use wechat_oauth_message::{Message, MessageServer, Reply};
use wechat_sandbox::{Sandbox, ServerConfig, defaults};

/// The server token (令牌) the site and the sandbox sign pushes with.
pub(crate) const SERVER_TOKEN: &str = "follow-test-token";

/// One instance of the site.
pub(crate) struct FollowSite {
    pub(crate) url: String,
    pub(crate) login: WeChatLogin,
    pub(crate) follow: FollowLogin,
    pub(crate) app: Router,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FollowSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn home(user: Option<WeChatUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.openid)
}

async fn profile(user: WeChatUser) -> String {
    serde_json::to_string(&user).unwrap()
}

impl FollowSite {
    /// An instance on its own port with `stores` and `key` (instances of one site share
    /// both); `register` makes it the account's server URL in the sandbox.
    pub(crate) async fn start(sandbox: &Sandbox, stores: Stores, key: Key, register: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
            .api_base(sandbox.url())
            .open_base(sandbox.url())
            .stores(stores.clone())
            .build()
            .unwrap();
        let login = WeChatLogin::builder(app.oauth(), format!("{url}/auth/wechat/callback"), key)
            .stores(stores.clone())
            .build()
            .unwrap();
        let follow = FollowLogin::builder(login.clone(), app.official_account())
            .qr_image_base(sandbox.url())
            .poll_timeout(Duration::from_millis(1500))
            .poll_interval(Duration::from_millis(25))
            .build()
            .unwrap();
        let server = MessageServer::builder(SERVER_TOKEN, defaults::OFFICIAL_APPID)
            .dedupe(stores.leases.clone())
            .build()
            .unwrap();
        let on_scan = follow.clone();
        let messages = wechat_oauth_message::axum::router("/wechat", server, move |m: Message| {
            let follow = on_scan.clone();
            async move { follow.handle_message(&m).await.unwrap_or(Reply::Success) }
        });
        let router = Router::new()
            .route("/", get(home))
            .route("/profile", get(profile))
            .merge(login.routes())
            .with_state(login.clone())
            .merge(follow.routes())
            .merge(messages);
        let serve = router.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, serve).await.unwrap();
        });
        if register {
            sandbox
                .register_server(
                    defaults::OFFICIAL_APPID,
                    ServerConfig::new(format!("{url}/wechat"), SERVER_TOKEN),
                )
                .await
                .unwrap();
        }
        Self {
            url,
            login,
            follow,
            app: router,
            server,
        }
    }
}

/// The ticket inside a `showqrcode?ticket=` URL.
pub(crate) fn ticket_of(qr_url: &str) -> String {
    let encoded = qr_url.split_once("ticket=").unwrap().1;
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap()
        .into_owned()
}
