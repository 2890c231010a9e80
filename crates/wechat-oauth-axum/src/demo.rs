//! The demo site: a home page and a profile page behind WeChat login, the code that
//! `wechat-oauth demo` runs and `examples/demo.rs` and `examples/follow_demo.rs` start on a
//! local sandbox. Read it as the answer to "how do I use the middleware": a router whose
//! state provides the [`WeChatLogin`], a page that takes `Option<WeChatUser>`, a page that
//! takes [`WeChatUser`] (and so requires login), and a sign-out form.
//!
//! [`site`] is the redirect login alone. [`DemoSite`] adds what an Official Account's site
//! has around it: the desktop "scan to follow and sign in" page ([`FollowLogin`]) with the
//! message endpoint its scans arrive at ([`MESSAGE_PATH`]), `wx.config` on the profile
//! page ([`JsSdk`]), and, on a sandbox, a "phone" panel that scans the newest QR code as a
//! sandbox user.
//!
//! Enabled by the `demo` feature.
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use wechat_oauth_message::{Message, MessageKind, MessageServer, Reply};
use wechat_sandbox::{PushOptions, Sandbox, ScanTarget};

use crate::pages::escape_html as escape;
use crate::{FollowLogin, JsSdk, WeChatLogin, WeChatUser};

/// Where [`DemoSite`] serves the message interface (the account's server URL, 服务器配置,
/// is the site's origin followed by this path).
pub const MESSAGE_PATH: &str = "/wechat";

/// Where [`DemoSite`] serves the profile page's `wx.config` script.
const WX_CONFIG_SCRIPT_PATH: &str = "/wx-config.js";

/// Where the sandbox phone panel posts.
const PHONE_SCAN_PATH: &str = "/phone/scan";

/// The JS-SDK script the profile page loads on the real WeChat (inside WeChat it defines
/// `wx`); on a sandbox there is no WeChat client to load it into.
const JWEIXIN: &str = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js";

/// The demo site's router, ready to serve: its pages, the login routes, and its state.
///
/// `sandbox` says the site runs against a local WeChat sandbox: the pages then say so, and
/// draw an initial instead of loading the avatar from WeChat's image host.
pub fn site(login: &WeChatLogin, sandbox: bool) -> Router {
    DemoSite::new(login).sandbox(sandbox).router()
}

/// The demo site with an Official Account's extras; [`router`](Self::router) builds it.
///
/// ```no_run
/// use wechat_oauth::WeChatApp;
/// use wechat_oauth_axum::demo::DemoSite;
/// use wechat_oauth_axum::{FollowLogin, JsSdk, Key, WeChatLogin};
/// use wechat_oauth_message::MessageServer;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = WeChatApp::builder("wx5a4d1e0f0a000001", "app-secret").build()?;
/// let login = WeChatLogin::builder(app.oauth(), "https://example.com/auth/wechat/callback", Key::generate())
///     .stores(app.stores().clone())
///     .build()?;
/// let follow = FollowLogin::builder(login.clone(), app.official_account()).build()?;
/// // The server URL configured at WeChat: https://example.com/wechat (demo::MESSAGE_PATH).
/// let messages = MessageServer::builder("server token", app.appid())
///     .dedupe(app.stores().leases.clone())
///     .build()?;
/// let site = DemoSite::new(&login)
///     .follow_login(follow, messages)
///     .jssdk(JsSdk::for_login(&login, app.official_account()))
///     .router();
/// # let _ = site;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct DemoSite {
    login: WeChatLogin,
    sandbox: bool,
    follow: Option<(FollowLogin, MessageServer)>,
    jssdk: Option<JsSdk>,
    phone: Option<Sandbox>,
}

impl std::fmt::Debug for DemoSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoSite")
            .field("sandbox", &self.sandbox)
            .field("follow_login", &self.follow.is_some())
            .field("jssdk", &self.jssdk.is_some())
            .field("phone", &self.phone.is_some())
            .finish_non_exhaustive()
    }
}

impl DemoSite {
    /// The redirect login's demo (what [`site`] serves), to add to.
    pub fn new(login: &WeChatLogin) -> Self {
        Self {
            login: login.clone(),
            sandbox: false,
            follow: None,
            jssdk: None,
            phone: None,
        }
    }

    /// Whether the site runs against a local WeChat sandbox: the pages say so, and draw an
    /// initial instead of loading the avatar from WeChat's image host.
    pub fn sandbox(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Shows "Scan to follow and sign in" beside the redirect login (`follow`'s page), and
    /// serves the message interface at [`MESSAGE_PATH`] with `messages`: login scans
    /// complete there ([`FollowLogin::handle_message`]), a text is echoed, everything else
    /// is answered `success`.
    pub fn follow_login(mut self, follow: FollowLogin, messages: MessageServer) -> Self {
        self.follow = Some((follow, messages));
        self
    }

    /// Calls `wx.config` on the profile page, with a signature `jssdk` makes for that
    /// page's URL from the shared `jsapi_ticket`.
    pub fn jssdk(mut self, jssdk: JsSdk) -> Self {
        self.jssdk = Some(jssdk);
        self
    }

    /// A "phone" panel on the home page standing in for WeChat on a phone: it makes a
    /// sandbox user scan the newest QR code the site created on `sandbox` (implies
    /// [`sandbox(true)`](Self::sandbox); shown with [`follow_login`](Self::follow_login)).
    pub fn phone(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = true;
        self.phone = Some(sandbox);
        self
    }

    /// The router, ready to serve: pages, login routes and the extras configured.
    pub fn router(self) -> Router {
        let follow = self.follow.as_ref().map(|(follow, _)| follow.clone());
        let messages = self.follow.as_ref().map(|(follow, server)| {
            let follow = follow.clone();
            wechat_oauth_message::axum::router(MESSAGE_PATH, server.clone(), move |m: Message| {
                let follow = follow.clone();
                async move { answer(&follow, m).await }
            })
        });
        let page = Page(Arc::new(PageInner {
            login: self.login.clone(),
            sandbox: self.sandbox,
            follow: follow.clone(),
            jssdk: self.jssdk.is_some(),
            phone: self.phone.filter(|_| follow.is_some()),
        }));
        let mut router = Router::new()
            .route("/", get(home))
            .route("/profile", get(profile));
        if page.0.jssdk {
            router = router.route(WX_CONFIG_SCRIPT_PATH, get(wx_config_script));
        }
        if page.0.phone.is_some() {
            router = router.route(PHONE_SCAN_PATH, post(phone_scan));
        }
        let mut router = router.merge(self.login.routes()).with_state(page);
        if let Some(follow) = follow {
            router = router.merge(follow.routes());
        }
        if let Some(jssdk) = self.jssdk {
            router = router.merge(jssdk.routes());
        }
        if let Some(messages) = messages {
            router = router.merge(messages);
        }
        router
    }
}

/// The demo account's answer to a push: a login scan completes a sign-in; a text is echoed.
async fn answer(follow: &FollowLogin, message: Message) -> Reply {
    if let Some(reply) = follow.handle_message(&message).await {
        return reply;
    }
    match message.kind {
        MessageKind::Text(text) => Reply::text(format!("You said: {}", text.content)),
        _ => Reply::Success,
    }
}

/// The state of the demo's pages.
#[derive(Clone)]
struct Page(Arc<PageInner>);

struct PageInner {
    login: WeChatLogin,
    sandbox: bool,
    follow: Option<FollowLogin>,
    jssdk: bool,
    phone: Option<Sandbox>,
}

impl FromRef<Page> for WeChatLogin {
    fn from_ref(page: &Page) -> Self {
        page.0.login.clone()
    }
}

async fn home(State(page): State<Page>, user: Option<WeChatUser>) -> Response {
    let page = &page.0;
    let body = match user {
        Some(user) => format!(
            r#"<p>Signed in as <strong>{name}</strong>.</p>
<p><a class="button" id="profile" href="/profile">Your profile</a></p>
{logout}"#,
            name = escape(display_name(&user)),
            logout = logout_form(&page.login),
        ),
        None => {
            let follow = page.follow.as_ref().map_or_else(String::new, |follow| {
                format!(
                    r#"
<p><a class="button" id="follow-login" href="{href}">Scan to follow and sign in</a> on a computer (扫码关注登录): scan the account's QR code with WeChat.</p>"#,
                    href = escape(&follow.page_url("/profile")),
                )
            });
            let phone = page.phone.as_ref().map_or_else(String::new, |sandbox| {
                let buttons: Vec<String> = sandbox
                    .users()
                    .into_iter()
                    .filter(|u| !u.snapshot)
                    .map(|u| {
                        format!(
                            r#"<button name="user" value="{id}" id="phone-scan-{id}">{id}</button>"#,
                            id = escape(&u.id)
                        )
                    })
                    .collect();
                format!(
                    r#"
<fieldset><legend>Phone (sandbox)</legend><p>Open the QR code page in another tab, then scan its code as</p>
<form method="post" action="{PHONE_SCAN_PATH}">{}</form></fieldset>"#,
                    buttons.join(" ")
                )
            });
            format!(
                r#"<p>This site knows nobody yet.</p>
<p><a class="button" id="login" href="{href}">Sign in with WeChat</a>{inside}</p>{follow}{phone}"#,
                href = escape(&page.login.login_url("/profile")),
                inside = if page.follow.is_some() {
                    " inside WeChat (web authorization, 网页授权)"
                } else {
                    ""
                },
            )
        }
    };
    render("wechat-oauth demo", &body, page.sandbox, Scripts::None)
}

async fn profile(State(page): State<Page>, user: WeChatUser) -> Response {
    let page = &page.0;
    let avatar = match (&user.headimgurl, page.sandbox) {
        // Real WeChat: the avatar is on WeChat's image host, sent without a Referer.
        (Some(url), false) => format!(
            r#"<img class="avatar" src="{}" alt="" referrerpolicy="no-referrer">"#,
            escape(url)
        ),
        // Sandbox avatars point at an image host this machine cannot reach: draw an initial.
        _ => format!(
            r#"<span class="avatar initial" aria-hidden="true">{}</span>"#,
            escape(
                &display_name(&user)
                    .chars()
                    .next()
                    .unwrap_or('?')
                    .to_string()
            )
        ),
    };
    let field = |label: &str, id: &str, value: Option<&str>| {
        format!(
            r#"<dt>{label}</dt><dd id="{id}">{}</dd>"#,
            value.map_or_else(|| "<em>not shared</em>".to_owned(), escape)
        )
    };
    let (jssdk, scripts) = if page.jssdk {
        let wechat_script = if page.sandbox {
            String::new()
        } else {
            format!(r#"<script src="{JWEIXIN}"></script>"#)
        };
        (
            format!(
                r#"
<p id="jssdk-status">Asking for wx.config…</p>{wechat_script}<script src="{WX_CONFIG_SCRIPT_PATH}"></script>"#
            ),
            if page.sandbox {
                Scripts::Own
            } else {
                Scripts::OwnAndWeChat
            },
        )
    } else {
        (String::new(), Scripts::None)
    };
    let body = format!(
        r#"<div class="card">{avatar}<h2 id="nickname">{nickname}</h2></div>
<dl>
{openid}
{unionid}
{scope}
{headimgurl}
</dl>{jssdk}
<p><a href="/">Home</a></p>
{logout}"#,
        nickname = escape(display_name(&user)),
        openid = field("openid", "openid", Some(&user.openid)),
        unionid = field("unionid", "unionid", user.unionid.as_deref()),
        scope = field(
            "scope",
            "scope",
            Some(if user.scope.is_empty() {
                "(follow-to-login: no OAuth grant)"
            } else {
                user.scope.as_str()
            })
        ),
        headimgurl = field("avatar URL", "headimgurl", user.headimgurl.as_deref()),
        logout = logout_form(&page.login),
    );
    render("Your WeChat profile", &body, page.sandbox, scripts)
}

/// The profile page's `wx.config`: the site signs its own URL only (without the fragment).
/// The configuration also lands in `data-*` attributes of `#jssdk-status`, so a test (or a
/// curious reader) can check the signature.
const WX_CONFIG_SCRIPT: &str = r#"(function () {
  "use strict";
  var status = document.getElementById('jssdk-status');
  if (!status) return;
  var url = location.href.split('#')[0];
  fetch('/auth/wechat/jssdk-config?url=' + encodeURIComponent(url), {credentials: 'same-origin', cache: 'no-store'})
    .then(function (r) { return r.json(); })
    .then(function (config) {
      if (!config.signature) { status.textContent = 'wx.config refused: ' + (config.error || 'no signature'); return; }
      status.setAttribute('data-url', url);
      status.setAttribute('data-app-id', config.appId);
      status.setAttribute('data-timestamp', String(config.timestamp));
      status.setAttribute('data-nonce-str', config.nonceStr);
      status.setAttribute('data-signature', config.signature);
      if (window.wx) {
        wx.config({appId: config.appId, timestamp: config.timestamp, nonceStr: config.nonceStr, signature: config.signature, jsApiList: ['updateAppMessageShareData']});
        status.textContent = 'wx.config called (signature ' + config.signature.slice(0, 8) + '…)';
      } else {
        status.textContent = 'wx.config ready (signature ' + config.signature.slice(0, 8) + '…); outside WeChat there is no wx to call';
      }
    })
    .catch(function () { status.textContent = 'wx.config: the site did not answer'; });
})();
"#;

async fn wx_config_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        WX_CONFIG_SCRIPT,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct PhoneScan {
    user: String,
}

/// The sandbox's phone: `user` scans the newest QR code the site created.
async fn phone_scan(State(page): State<Page>, Form(scan): Form<PhoneScan>) -> Response {
    let page = &page.0;
    let (Some(sandbox), Some(_)) = (&page.phone, &page.follow) else {
        return render(
            "No phone here",
            "<p>This demo has no sandbox phone.</p>",
            page.sandbox,
            Scripts::None,
        );
    };
    let appid = page.login.client().appid().to_owned();
    let newest = sandbox
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
        return render(
            "No QR code yet",
            r#"<p>Open the QR code page first (<a href="/">home</a>, "Scan to follow and sign in").</p>"#,
            page.sandbox,
            Scripts::None,
        );
    };
    let said = match sandbox
        .scan(
            &appid,
            &scan.user,
            ScanTarget::Scene(scene),
            PushOptions::default(),
        )
        .await
    {
        Ok(record) => record
            .reply
            .field("Content")
            .unwrap_or("(no reply)")
            .to_owned(),
        Err(error) => format!("the scan failed: {error}"),
    };
    let body = format!(
        r#"<p id="phone-result">{user} scanned. The account answered in WeChat: “{said}”</p><p>The tab with the QR code signs in by itself. <a href="/">Home</a></p>"#,
        user = escape(&scan.user),
        said = escape(&said),
    );
    render("Scanned", &body, page.sandbox, Scripts::None)
}

fn display_name(user: &WeChatUser) -> &str {
    user.nickname.as_deref().unwrap_or(&user.openid)
}

/// Sign-out buttons: plain same-origin form posts (the logout routes refuse cross-site ones).
fn logout_form(login: &WeChatLogin) -> String {
    format!(
        r#"<form method="post" action="{}"><button id="logout" type="submit">Sign out</button></form>
<form method="post" action="{}"><button id="logout-everywhere" type="submit">Sign out everywhere</button></form>"#,
        escape(login.logout_path()),
        escape(login.logout_everywhere_path())
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}\
a{color:#07c160}.button,button{display:inline-block;background:#07c160;color:#fff;border:0;border-radius:.4rem;padding:.6rem 1.2rem;font-size:1rem;text-decoration:none;cursor:pointer}\
button{background:#555}.card{display:flex;align-items:center;gap:1rem}\
.avatar{width:4rem;height:4rem;border-radius:50%}.initial{display:flex;align-items:center;justify-content:center;background:#07c160;color:#fff;font-size:2rem}\
dt{font-weight:600;margin-top:.5rem}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
.note{font-size:.9rem;color:#666;border-top:1px solid #ddd;margin-top:2rem;padding-top:.5rem}";

/// Which scripts a page may run (its Content-Security-Policy's `script-src`).
#[derive(Clone, Copy)]
enum Scripts {
    /// None: the home and result pages.
    None,
    /// The site's own (`/wx-config.js`).
    Own,
    /// The site's own and WeChat's JS-SDK.
    OwnAndWeChat,
}

fn render(title: &str, body: &str, sandbox: bool, scripts: Scripts) -> Response {
    let note = if sandbox {
        r#"<p class="note">WeChat here is a local sandbox: pick a user on its consent page. <code>guest</code> is a snapshot-mode user, who gets no account.</p>"#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head>
<body><h1>{title}</h1>
{body}
{note}
</body></html>"#,
        title = escape(title),
    );
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    // No third-party resources except WeChat's avatar host and, on the profile page inside
    // WeChat, its JS-SDK; scripts only where `wx.config` needs them.
    let scripts = match scripts {
        Scripts::None => "",
        Scripts::Own => "script-src 'self'; connect-src 'self'; ",
        Scripts::OwnAndWeChat => "script-src 'self' https://res.wx.qq.com; connect-src 'self'; ",
    };
    let csp = format!(
        "default-src 'none'; {scripts}style-src 'unsafe-inline'; img-src 'self' https://thirdwx.qlogo.cn https://wx.qlogo.cn; form-action 'self'"
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
