//! The demo site: a home page and a profile page behind WeChat login, the code that
//! `wechat-oauth demo` runs and `examples/demo.rs` starts on a local sandbox. Read it as
//! the answer to "how do I use the middleware": a router whose state provides the
//! [`WeChatLogin`], a page that takes `Option<WeChatUser>`, a page that takes
//! [`WeChatUser`] (and so requires login), and a sign-out form.
//!
//! Enabled by the `demo` feature.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::pages::escape_html as escape;
use crate::{WeChatLogin, WeChatUser};

/// The demo site's router, ready to serve: its pages, the login routes, and its state.
///
/// `sandbox` says the site runs against a local WeChat sandbox: the pages then say so, and
/// draw an initial instead of loading the avatar from WeChat's image host.
pub fn site(login: &WeChatLogin, sandbox: bool) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/profile", get(profile))
        .merge(login.routes())
        .with_state(Page {
            login: login.clone(),
            sandbox,
        })
}

/// The state of the demo's pages.
#[derive(Clone)]
struct Page {
    login: WeChatLogin,
    sandbox: bool,
}

impl FromRef<Page> for WeChatLogin {
    fn from_ref(page: &Page) -> Self {
        page.login.clone()
    }
}

async fn home(State(page): State<Page>, user: Option<WeChatUser>) -> Response {
    let body = match user {
        Some(user) => format!(
            r#"<p>Signed in as <strong>{name}</strong>.</p>
<p><a class="button" id="profile" href="/profile">Your profile</a></p>
{logout}"#,
            name = escape(display_name(&user)),
            logout = logout_form(&page.login),
        ),
        None => format!(
            r#"<p>This site knows nobody yet.</p>
<p><a class="button" id="login" href="{href}">Sign in with WeChat</a></p>"#,
            href = escape(&page.login.login_url("/profile")),
        ),
    };
    render("wechat-oauth demo", &body, page.sandbox)
}

async fn profile(State(page): State<Page>, user: WeChatUser) -> Response {
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
    let body = format!(
        r#"<div class="card">{avatar}<h2 id="nickname">{nickname}</h2></div>
<dl>
{openid}
{unionid}
{scope}
{headimgurl}
</dl>
<p><a href="/">Home</a></p>
{logout}"#,
        nickname = escape(display_name(&user)),
        openid = field("openid", "openid", Some(&user.openid)),
        unionid = field("unionid", "unionid", user.unionid.as_deref()),
        scope = field("scope", "scope", Some(&user.scope)),
        headimgurl = field("avatar URL", "headimgurl", user.headimgurl.as_deref()),
        logout = logout_form(&page.login),
    );
    render("Your WeChat profile", &body, page.sandbox)
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

fn render(title: &str, body: &str, sandbox: bool) -> Response {
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
    // No scripts, no third-party resources except WeChat's avatar host.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https://thirdwx.qlogo.cn https://wx.qlogo.cn; form-action 'self'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
