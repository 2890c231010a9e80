//! Desktop "scan to follow and sign in" (扫码关注登录) beside the redirect login, and
//! `wx.config` on the profile page, on a local WeChat sandbox:
//! `cargo run -p wechat-oauth-axum --example follow_demo`, open the printed URL, choose
//! "Scan to follow and sign in", and press "scan as alice" in the phone panel (the sandbox
//! stands in for WeChat on a phone). On a real account, the QR code is scanned with WeChat
//! and the account's server URL (服务器配置) is this site's `/wechat`.
//!
//! What a site needs: a `WeChatApp` (the OAuth and Official Account clients on one store
//! set), a `WeChatLogin`, a `FollowLogin` whose `handle_message` answers the
//! message interface, and a `JsSdk` for the pages' `wx.config`.

use std::net::Ipv4Addr;

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use wechat_oauth::WeChatApp;
use wechat_oauth::store::Stores;
use wechat_oauth_axum::{Flow, FollowLogin, JsSdk, Key, WeChatLogin, WeChatUser};
use wechat_oauth_message::{Message, MessageServer, Reply};
use wechat_sandbox::{PushOptions, Sandbox, ScanTarget, ServerConfig, defaults};

const SERVER_TOKEN: &str = "demo-server-token";

#[derive(Clone)]
struct Demo {
    login: WeChatLogin,
    follow: FollowLogin,
    sandbox: Sandbox,
}

impl axum::extract::FromRef<Demo> for WeChatLogin {
    fn from_ref(demo: &Demo) -> Self {
        demo.login.clone()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let site = format!("http://{}", listener.local_addr()?);

    // One store set for tokens, sessions, scenes and the JS-SDK ticket; share it (and the
    // key) between processes with `wechat_oauth_stores::open("redis://…")`.
    let stores = Stores::memory();
    let app = WeChatApp::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .stores(stores.clone())
        .build()?;
    let login = WeChatLogin::builder(
        app.oauth(),
        format!("{site}/auth/wechat/callback"),
        Key::generate(),
    )
    .flow(Flow::OfficialAccountUserInfo)
    .stores(stores.clone())
    .build()?;
    let follow = FollowLogin::builder(login.clone(), app.official_account())
        .qr_image_base(sandbox.url()) // the real one: https://mp.weixin.qq.com (the default)
        .build()?;
    let jssdk = JsSdk::for_login(&login, app.official_account());

    // The message interface: follow-to-login scans complete here; other messages are yours.
    let server = MessageServer::builder(SERVER_TOKEN, app.appid())
        .dedupe(stores.leases.clone())
        .build()?;
    let on_scan = follow.clone();
    let messages = wechat_oauth_message::axum::router("/wechat", server, move |m: Message| {
        let follow = on_scan.clone();
        async move { follow.handle_message(&m).await.unwrap_or(Reply::Success) }
    });

    let demo = Demo {
        login: login.clone(),
        follow: follow.clone(),
        sandbox: sandbox.clone(),
    };
    let router = Router::new()
        .route("/", get(home))
        .route("/profile", get(profile))
        .route("/wx-config.js", get(wx_config_script))
        .route("/phone/scan", post(phone_scan))
        .merge(login.routes())
        .with_state(demo)
        .merge(follow.routes())
        .merge(jssdk.routes())
        .merge(messages);
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    // Like the admin console's 提交: WeChat checks the URL with an echostr first.
    sandbox
        .register_server(
            app.appid(),
            ServerConfig::new(format!("{site}/wechat"), SERVER_TOKEN),
        )
        .await?;
    println!(
        "demo running at {site}/ (WeChat sandbox at {})",
        sandbox.url()
    );
    serving.await??;
    Ok(())
}

async fn home(State(demo): State<Demo>, user: Option<WeChatUser>) -> Response {
    let body = match user {
        Some(user) => format!(
            r#"<p>Signed in as <strong>{}</strong>. <a href="/profile">Your profile</a></p>
<form method="post" action="{}"><button type="submit">Sign out</button></form>"#,
            escape(&user.openid),
            escape(demo.login.logout_path())
        ),
        None => format!(
            r#"<p><a class="button" id="login" href="{}">Sign in with WeChat</a> (in WeChat: web authorization)</p>
<p><a class="button" id="follow-login" href="{}" target="_blank">Scan to follow and sign in</a> (on a computer: 扫码关注登录)</p>
<fieldset><legend>Phone (sandbox)</legend><p>Scan the newest QR code as</p>
<form method="post" action="/phone/scan"><button name="user" value="alice">alice</button> <button name="user" value="bob">bob</button></form></fieldset>"#,
            escape(&demo.login.login_url("/profile")),
            escape(&demo.follow.page_url("/profile")),
        ),
    };
    page("wechat-oauth follow-to-login demo", &body, "")
}

async fn profile(user: WeChatUser) -> Response {
    let body = format!(
        r#"<dl><dt>openid</dt><dd>{}</dd><dt>unionid</dt><dd>{}</dd><dt>scope</dt><dd>{}</dd></dl>
<p id="jssdk-status">Asking for wx.config…</p><p><a href="/">Home</a></p>
<script src="/wx-config.js"></script>"#,
        escape(&user.openid),
        escape(user.unionid.as_deref().unwrap_or("—")),
        escape(&user.scope),
    );
    page(
        "Your WeChat profile",
        &body,
        "script-src 'self'; connect-src 'self'; ",
    )
}

/// The profile page's `wx.config`: the site signs its own URL only. Inside WeChat, load
/// `https://res.wx.qq.com/open/js/jweixin-1.6.0.js` first and pass `jsApiList`.
async fn wx_config_script() -> Response {
    const SCRIPT: &str = r#"fetch('/auth/wechat/jssdk-config?url=' + encodeURIComponent(location.href.split('#')[0]), {credentials: 'same-origin'})
  .then(function (r) { return r.json(); })
  .then(function (config) {
    var status = document.getElementById('jssdk-status');
    if (!config.signature) { status.textContent = 'wx.config refused: ' + config.error; return; }
    if (window.wx) { wx.config({appId: config.appId, timestamp: config.timestamp, nonceStr: config.nonceStr, signature: config.signature, jsApiList: ['updateAppMessageShareData']}); }
    status.textContent = 'wx.config ready (signature ' + config.signature.slice(0, 8) + '…)';
  });"#;
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct Scan {
    user: String,
}

/// The sandbox's phone: scans the newest QR code the site created, as `user`.
async fn phone_scan(State(demo): State<Demo>, Form(scan): Form<Scan>) -> Response {
    let newest = demo
        .sandbox
        .journal()
        .into_iter()
        .rfind(|r| r.path == "/cgi-bin/qrcode/create")
        .and_then(|r| r.body)
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v["action_info"]["scene"]["scene_str"]
                .as_str()
                .map(str::to_owned)
        });
    let Some(scene) = newest else {
        return page("No QR code yet", "<p>Open the follow page first.</p>", "");
    };
    let target = ScanTarget::Scene(scene);
    let said = match demo
        .sandbox
        .scan(
            defaults::OFFICIAL_APPID,
            &scan.user,
            target,
            PushOptions::default(),
        )
        .await
    {
        Ok(record) => record
            .reply
            .field("Content")
            .unwrap_or("(no reply)")
            .to_owned(),
        Err(error) => error.to_string(),
    };
    let body = format!(
        "<p>{} scanned. The account answered: “{}”</p><p>The other tab signs in by itself.</p>",
        escape(&scan.user),
        escape(&said)
    );
    page("Scanned", &body, "")
}

fn page(title: &str, body: &str, csp_extra: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;line-height:1.5}}.button{{background:#07c160;color:#fff;padding:.4rem .8rem;border-radius:.3rem;text-decoration:none}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"#,
        title = escape(title)
    );
    let mut response = Html(html).into_response();
    let csp =
        format!("default-src 'none'; {csp_extra}style-src 'unsafe-inline'; form-action 'self'");
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
