//! The `open.weixin.qq.com/connect/*` pages: `oauth2/authorize` (Official Accounts) and
//! `qrconnect` (websites), with strict validation, the consent page and scripted approval
//! (docs/protocol.md §2).

use std::fmt::Write as _;
use std::net::IpAddr;

use hyper::StatusCode;

use crate::model::{App, AppKind, Scope};
use crate::reply::{HTML, Reply, escape_html};
use crate::request::{Ctx, Req};

/// Header naming the sandbox user who approves (scripted approval, no browser).
pub const USER_HEADER: &str = "x-sandbox-user";
/// Header whose value `deny` makes the scripted user refuse.
pub const ACTION_HEADER: &str = "x-sandbox-action";
/// Cookie remembering who approved last in this browser; silent `snsapi_base` uses it.
const USER_COOKIE: &str = "wechat_sandbox_user";

/// Which authorize page was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    OAuth2,
    QrConnect,
}

impl Page {
    fn as_str(self) -> &'static str {
        match self {
            Page::OAuth2 => "oauth2",
            Page::QrConnect => "qrconnect",
        }
    }

    fn parse(s: &str) -> Option<Page> {
        match s {
            "oauth2" => Some(Page::OAuth2),
            "qrconnect" => Some(Page::QrConnect),
            _ => None,
        }
    }
}

/// The authorize pages' error codes. 10003 and 10005 are documented (§1.1, TROUBLE); the
/// others are the unverified 100xx list of §1.1 or sandbox choices, so clients must not
/// depend on them.
mod page_error {
    pub const REDIRECT_URI_DOMAIN: u32 = 10003;
    pub const SCOPE: u32 = 10005;
    pub const RESPONSE_TYPE: u32 = 10008;
    pub const SCOPE_EMPTY: u32 = 10010;
    pub const REDIRECT_URI_EMPTY: u32 = 10011;
    pub const APPID: u32 = 10012;
    pub const STATE: u32 = 10013;
    pub const APP_KIND: u32 = 10016;
}

/// The parameters of an authorize request that passed validation.
struct Authorize<'r> {
    app: usize,
    redirect_uri: &'r str,
    scope: Scope,
    state: &'r str,
}

/// Extras WeChat accepts after `state` (§1.1 table; §2.2 for the `qrconnect` iframe).
const OAUTH2_EXTRAS: &[&str] = &[
    "forcePopup",
    "forceSnapShot",
    "connect_redirect",
    "component_appid",
];
const QRCONNECT_EXTRAS: &[&str] = &[
    "lang",
    "login_type",
    "self_redirect",
    "style",
    "href",
    "stylelite",
    "fast_login",
    "forcePopup",
];
const CORE: &[&str] = &["appid", "redirect_uri", "response_type", "scope", "state"];

/// Why an authorize request is refused: WeChat's page message and code, and the exact reason.
struct PageError {
    code: u32,
    message: &'static str,
    detail: String,
}

impl PageError {
    fn reply(&self) -> Reply {
        Reply::authorize_error(self.code, self.message, &self.detail)
    }
}

fn validate<'r>(ctx: &Ctx<'_>, page: Page, req: &'r Req<'_>) -> Result<Authorize<'r>, PageError> {
    use page_error::*;
    let err = |code, message: &'static str, detail: &str| PageError {
        code,
        message,
        detail: detail.to_owned(),
    };
    let names: Vec<&str> = req.params.iter().map(|(k, _)| k.as_ref()).collect();
    let case_hint = |wanted: &str| {
        if names
            .iter()
            .any(|n| *n != wanted && n.eq_ignore_ascii_case(wanted))
        {
            format!("parameter names are case-sensitive: send `{wanted}`")
        } else {
            format!("`{wanted}` is missing or empty")
        }
    };

    // Presence first, so a missing parameter is named rather than reported as bad order.
    let appid = req
        .param("appid")
        .ok_or_else(|| err(APPID, "appid 参数错误", &case_hint("appid")))?;
    let redirect_uri = req.param("redirect_uri").ok_or_else(|| {
        err(
            REDIRECT_URI_EMPTY,
            "redirect_uri 参数错误",
            &case_hint("redirect_uri"),
        )
    })?;
    let response_type = req.param("response_type");
    let scope = req
        .param("scope")
        .ok_or_else(|| err(SCOPE_EMPTY, "scope 参数错误", &case_hint("scope")))?;

    // §1.1: "微信会对授权链接做正则强匹配校验，如果链接的参数顺序不对，授权页面将无法正常访问".
    // The order on qrconnect is unverified (better-auth ships another order), so only names
    // and duplicates are checked there.
    let extras = match page {
        Page::OAuth2 => OAUTH2_EXTRAS,
        Page::QrConnect => QRCONNECT_EXTRAS,
    };
    let order_detail = "parameters must come in the order appid, redirect_uri, response_type, scope, state, \
                        then optional extras, each once, with lower-case names";
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) || !(CORE.contains(name) || extras.contains(name)) {
            return Err(err(SCOPE, "Scope 参数错误或没有 Scope 权限", order_detail));
        }
    }
    if page == Page::OAuth2 {
        let core_in_order = names.len() >= 4
            && names[..4] == CORE[..4]
            && names[4..]
                .iter()
                .enumerate()
                .all(|(i, n)| *n != "state" || i == 0);
        if !core_in_order {
            return Err(err(SCOPE, "Scope 参数错误或没有 Scope 权限", order_detail));
        }
    }

    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| err(APPID, "appid 参数错误", "unknown appid"))?;
    let app_cfg = &ctx.dir.apps[app];
    let (wanted_kind, page_name) = match page {
        Page::OAuth2 => (AppKind::Official, "/connect/oauth2/authorize"),
        Page::QrConnect => (AppKind::Website, "/connect/qrconnect"),
    };
    if app_cfg.kind != wanted_kind {
        return Err(err(
            APP_KIND,
            "appid 与授权页类型不符",
            &format!(
                "{page_name} takes a {wanted_kind} appid; this one is a {} app",
                app_cfg.kind
            ),
        ));
    }
    if response_type != Some("code") {
        return Err(err(
            RESPONSE_TYPE,
            "response_type 参数错误",
            "response_type must be `code`",
        ));
    }
    let scope = Scope::parse(scope)
        .filter(|s| s.allowed_for(app_cfg.kind))
        .ok_or_else(|| {
            err(
                SCOPE,
                "此公众号并没有这些scope的权限",
                "scope not allowed for this app",
            )
        })?;
    // §1.1: state is a-zA-Z0-9, at most 128 bytes.
    let state = req.param("state").unwrap_or("");
    if state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(err(
            STATE,
            "state 参数错误",
            "state must be [A-Za-z0-9]{0,128}",
        ));
    }
    check_redirect_host(app_cfg, redirect_uri).map_err(|detail| {
        err(
            REDIRECT_URI_DOMAIN,
            "redirect_uri 域名与后台配置不一致",
            &detail,
        )
    })?;
    Ok(Authorize {
        app,
        redirect_uri,
        scope,
        state,
    })
}

/// §1.1: the host must equal the configured domain exactly (no subdomains) and carry no
/// custom port unless the domain names one, as test accounts may. Without a configured
/// domain any loopback host and port is accepted.
fn check_redirect_host(app: &App, redirect_uri: &str) -> Result<(), String> {
    let url = url::Url::parse(redirect_uri)
        .map_err(|_| "redirect_uri is not an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("redirect_uri must be http or https".to_owned());
    }
    let host = url.host_str().unwrap_or("");
    match &app.domain {
        None => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(format!("host `{host}` is not a loopback host"))
            }
        }
        Some(domain) => {
            let (want_host, want_port) = match domain.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse::<u16>().ok()),
                _ => (domain.as_str(), None),
            };
            if !host.eq_ignore_ascii_case(want_host) || url.port() != want_port {
                return Err(format!(
                    "host `{host}` (port {:?}) is not the authorized domain `{domain}`",
                    url.port()
                ));
            }
            Ok(())
        }
    }
}

/// `code=…&state=…` goes into the query, before any `#fragment` (§1.1 "Callback").
fn callback_url(redirect_uri: &str, code: Option<&str>, state: &str) -> String {
    let (base, fragment) = match redirect_uri.find('#') {
        Some(i) => redirect_uri.split_at(i),
        None => (redirect_uri, ""),
    };
    let sep = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut url = String::with_capacity(base.len() + fragment.len() + 64);
    url.push_str(base);
    url.push_str(sep);
    if let Some(code) = code {
        let _ = write!(url, "code={code}&");
    }
    let _ = write!(url, "state={state}{fragment}");
    url
}

fn approve(ctx: &mut Ctx<'_>, auth: &Authorize<'_>, user: usize) -> Reply {
    let code = crate::sns::mint_web_code(ctx, auth.app, user, auth.scope);
    Reply::redirect(callback_url(auth.redirect_uri, Some(&code), auth.state))
}

fn deny(auth: &Authorize<'_>) -> Reply {
    Reply::redirect(callback_url(auth.redirect_uri, None, auth.state))
}

fn unknown_user(ctx: &Ctx<'_>, id: &str) -> Reply {
    let known: Vec<&str> = ctx.dir.users.iter().map(|u| u.id.as_str()).collect();
    Reply::new(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!(
            "wechat-sandbox: unknown user `{id}` (known users: {})\n",
            known.join(", ")
        ),
    )
}

/// `GET /connect/oauth2/authorize` and `GET /connect/qrconnect`.
pub(crate) fn authorize(ctx: &mut Ctx<'_>, page: Page, req: &Req<'_>) -> Reply {
    let auth = match validate(ctx, page, req) {
        Ok(auth) => auth,
        Err(problem) => return problem.reply(),
    };
    if let Some(id) = req.header(USER_HEADER) {
        let Some(user) = ctx.dir.user(id) else {
            return unknown_user(ctx, id);
        };
        return if req
            .header(ACTION_HEADER)
            .is_some_and(|a| a.eq_ignore_ascii_case("deny"))
        {
            deny(&auth)
        } else {
            approve(ctx, &auth, user)
        };
    }
    if auth.scope == Scope::Base {
        // snsapi_base is silent (§1.1): the "current" WeChat user is whoever approved last
        // in this browser, else the first configured user.
        let user = cookie_user(ctx, req).unwrap_or(0);
        return approve(ctx, &auth, user);
    }
    consent_page(ctx, page, req.query, &auth)
}

fn cookie_user(ctx: &Ctx<'_>, req: &Req<'_>) -> Option<usize> {
    let cookies = req.header("cookie")?;
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == USER_COOKIE)
        .and_then(|(_, value)| ctx.dir.user(value))
}

/// The consent page: one Approve link per sandbox user and one Deny link. Plain links, so a
/// real browser (or chromedriver) can click them. Each link carries the original query and is
/// validated again when followed.
fn consent_page(ctx: &Ctx<'_>, page: Page, query: &str, auth: &Authorize<'_>) -> Reply {
    let app = &ctx.dir.apps[auth.app];
    let encoded_query: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let link = |user: &str, action: &str| {
        format!(
            "/__sandbox/consent?page={}&user={}&action={action}&query={encoded_query}",
            page.as_str(),
            form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>(),
        )
    };
    let title = match page {
        Page::OAuth2 => "微信授权登录",
        Page::QrConnect => "微信扫码登录",
    };
    let mut body = String::with_capacity(2048);
    let _ = write!(
        body,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n\
         <h1>{title} (wechat-sandbox)</h1>\n\
         <p id=\"app\">应用 <code>{appid}</code> 申请获得你的公开信息（昵称、头像） — scope <code>{scope}</code></p>\n\
         <p>Choose who approves (wechat-sandbox stands in for the WeChat client):</p>\n<ul id=\"users\">\n",
        appid = escape_html(&app.appid),
        scope = auth.scope.as_str(),
    );
    for user in &ctx.dir.users {
        let id = escape_html(&user.id);
        let snapshot = if user.snapshot {
            " (snapshot user)"
        } else {
            ""
        };
        let _ = writeln!(
            body,
            "<li><a class=\"approve\" id=\"approve-{id}\" data-user=\"{id}\" href=\"{href}\">Approve as {id}{snapshot}</a></li>",
            href = escape_html(&link(&user.id, "approve")),
        );
    }
    let first = ctx.dir.users.first().map(|u| u.id.as_str()).unwrap_or("");
    let _ = write!(
        body,
        "</ul>\n<p><a class=\"deny\" id=\"deny\" href=\"{href}\">Deny (拒绝)</a></p>\n</body></html>\n",
        href = escape_html(&link(first, "deny")),
    );
    Reply::new(StatusCode::OK, HTML, body)
}

/// `GET /__sandbox/consent?page&user&action&query`: what the consent page's links do.
pub(crate) fn consent(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Reply {
    let (Some(page), Some(original)) =
        (req.param("page").and_then(Page::parse), req.param("query"))
    else {
        return Reply::new(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "wechat-sandbox: bad consent link\n",
        );
    };
    let params = form_urlencoded::parse(original.as_bytes()).collect();
    let inner = Req {
        method: req.method,
        path: req.path,
        query: original,
        params,
        headers: req.headers,
        body: &[],
    };
    let auth = match validate(ctx, page, &inner) {
        Ok(auth) => auth,
        Err(problem) => return problem.reply(),
    };
    if req.param("action") == Some("deny") {
        return deny(&auth);
    }
    let id = req.param("user").unwrap_or("");
    let Some(user) = ctx.dir.user(id) else {
        return unknown_user(ctx, id);
    };
    let mut reply = approve(ctx, &auth, user);
    let cookie = format!(
        "{USER_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&cookie) {
        reply.headers.push((hyper::header::SET_COOKIE, value));
    }
    reply
}

/// Why [`Sandbox::check_authorize_url`](crate::Sandbox::check_authorize_url) refuses a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({}): {detail}", .errcode.map_or_else(|| "no WeChat code".to_owned(), |c| format!("错误码 {c}")))]
#[non_exhaustive]
pub struct AuthorizeUrlError {
    /// The code the authorize page would show (10003, 10005, …); `None` for problems only the
    /// full URL shows (path, missing `#wechat_redirect`).
    pub errcode: Option<u32>,
    /// WeChat's page message, or the sandbox's for URL-level problems.
    pub message: String,
    /// What exactly is wrong.
    pub detail: String,
}

/// Checks a complete authorize URL as a client builds it, including what never reaches a
/// server: the `#wechat_redirect` fragment (§1.1 "The fragment never reaches a server").
/// The host is not checked, so URLs built for the real `open.weixin.qq.com` pass too.
pub(crate) fn check_url(ctx: &Ctx<'_>, url: &str) -> Result<(), AuthorizeUrlError> {
    let url_problem = |detail: &str| AuthorizeUrlError {
        errcode: None,
        message: "invalid authorize URL".to_owned(),
        detail: detail.to_owned(),
    };
    let parsed =
        url::Url::parse(url).map_err(|e| url_problem(&format!("not an absolute URL: {e}")))?;
    let page = match parsed.path() {
        "/connect/oauth2/authorize" => Page::OAuth2,
        "/connect/qrconnect" => Page::QrConnect,
        other => {
            return Err(url_problem(&format!(
                "path `{other}` is neither /connect/oauth2/authorize nor /connect/qrconnect"
            )));
        }
    };
    let query = parsed.query().unwrap_or("");
    let headers = hyper::HeaderMap::new();
    let req = Req {
        method: &hyper::Method::GET,
        path: parsed.path(),
        query,
        params: form_urlencoded::parse(query.as_bytes()).collect(),
        headers: &headers,
        body: &[],
    };
    validate(ctx, page, &req).map_err(|problem| AuthorizeUrlError {
        errcode: Some(problem.code),
        message: problem.message.to_owned(),
        detail: problem.detail,
    })?;
    // "无论直接打开还是做页面302重定向时候，必须带此参数" (§1.1).
    if parsed.fragment() != Some("wechat_redirect") {
        return Err(url_problem("the URL must end with #wechat_redirect"));
    }
    Ok(())
}
