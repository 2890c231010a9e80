//! Follow-to-login (扫码关注登录): a desktop page shows a temporary QR code of the Official
//! Account; the user scans it in WeChat; the account's server gets a `subscribe` (first
//! follow, `EventKey = qrscene_<scene>`) or `SCAN` (already following, `EventKey = <scene>`)
//! event; the browser that showed that code is signed in, with the same server-side web
//! session the redirect flows start.
//!
//! See [`FollowLogin`] for how it works.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, Key as CookieKey, SignedCookieJar};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use wechat_oauth::store::{Credential, StoreError};
use wechat_oauth::{Lang, OfficialAccountClient};
use wechat_oauth_message::{Event, Message, Reply};

use crate::WeChatLogin;
use crate::config::ConfigError;
use crate::key::ct_eq;
use crate::origin::check_same_origin;
use crate::pages::escape_html;
use crate::return_path::safe_return_path;
use crate::session::WeChatUser;

/// Scenes start with this, so they are told apart from the account's other QR codes.
const SCENE_PREFIX: &str = "wl";
const EXPIRY_LEN: usize = 8;
const NONCE_LEN: usize = 22;
const MAC_HEX_LEN: usize = 16;
/// `wl` + expiry + nonce + MAC: 48 characters, within WeChat's 64.
const SCENE_LEN: usize = SCENE_PREFIX.len() + EXPIRY_LEN + NONCE_LEN + MAC_HEX_LEN;
const SCENE_MAC_LABEL: &str = "wechat-oauth-axum/follow-scene/v1";
const COOKIE_LABEL: &str = "wechat-oauth-axum/cookie/follow/v1";
/// Longest scene cookie value read (a ticket is about 100 characters, a return path 400).
const MAX_COOKIE_VALUE: usize = 1500;
/// A scene with less than this left is not shown again: a new one is minted.
const REUSE_MARGIN_S: u64 = 30;
/// Longest `return_to` kept in the scene cookie.
const MAX_RETURN_TO: usize = 400;

/// The built-in page's script.
const SCRIPT: &str = include_str!("follow.js");

/// What became of a scan ([`FollowLogin::record_scan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanOutcome {
    /// The scene is one of this site's login scenes and now belongs to the scanning user:
    /// the browser that showed it signs in at its next poll.
    Recorded,
    /// Not a login scene of this site (another QR code of the account, a forged scene, or
    /// one minted under another key): nothing was recorded.
    NotALoginScene,
    /// A login scene past its expiry: nothing was recorded.
    Expired,
    /// Someone already scanned this code: the first scan keeps it.
    AlreadyScanned,
}

/// Follow-to-login for an axum site: the scene, poll and page routes
/// ([`routes`](Self::routes)) and the event side ([`handle_message`](Self::handle_message)).
/// Built on a [`WeChatLogin`] (its key, stores, cookies and sessions) and the Official
/// Account's [`OfficialAccountClient`]. Cheap to clone.
///
/// # How it works
///
/// 1. **The browser asks for a scene** (`POST {scene_path}`, from the built-in page at
///    `GET {page_path}` or your own). The scene is minted here: `wl`, its expiry, 22
///    random alphanumerics (≈131 bits) and an HMAC under the site [`Key`](crate::Key), 48
///    characters in all (WeChat allows 64). The SDK creates a temporary QR code for it
///    ([`OfficialAccountClient::create_temporary_qrcode`]) living as long as the scene,
///    and the answer gives the image URL (`showqrcode?ticket=`), never the scene.
/// 2. **The scene is bound to that browser** by a signed, `HttpOnly` cookie holding it
///    (`<session cookie>_follow`, under a key derived for this cookie alone). Nothing else
///    can name the scene to this site: the poll reads it from that cookie only, never from
///    the query, a header or the user agent. Knowing the scene (it travels in WeChat's
///    push) is not enough to forge the cookie. Nothing is stored for a scene until it is
///    scanned, so asking for scenes cannot fill the store.
/// 3. **The event records "scene → openid"** ([`FollowLogin::handle_message`] in your
///    message-interface handler, or [`FollowLogin::record_scan`]): the scene's HMAC and
///    expiry are checked (a scene this site did not mint, or an expired one, is refused);
///    the first scan claims it ([`LeaseStore::claim_once`] on `follow_scan:<scene>`, so a
///    second user scanning the same code is refused, on any process); the openid goes to
///    [`Stores::credentials`] under `follow_login:<appid>:<scene>` until the scene
///    expires. The store is the one the web sessions use, so the event may reach another
///    process than the browser's.
/// 4. **The browser's poll** (`GET {poll_path}`, a long poll answered within
///    [`poll_timeout`](FollowLoginBuilder::poll_timeout)) reads that record. The first poll
///    that finds it claims it once (`follow_login:<scene>`), marks the record used, reads
///    the follower's `unionid` ([`OfficialAccountClient::get_follower`]; no nickname or
///    avatar since 2021), and starts a fresh web session (ending the browser's previous
///    one). The answer sets the session cookie and clears the scene cookie. A replayed
///    poll (a copy of the scene cookie) finds the record used and is refused; an expired
///    scene is refused.
///
/// Every process that serves the site must share the same [`Key`](crate::Key) (to check
/// scenes) and the same [`Stores`](wechat_oauth::store::Stores) (set on the
/// [`WeChatLogin`]).
///
/// The signed-in [`WeChatUser`] has the Official Account's openid, the follower's unionid
/// (when the account is bound to an Open Platform account), an empty `scope` (no OAuth
/// grant was made) and no nickname or avatar. When the [`WeChatLogin`]'s own app is not
/// the Official Account (a website app), that openid is still the Official Account's: link
/// the two by unionid.
///
/// QR-login phishing (someone shows *their* code to a victim, who scans it) is inherent to
/// every scan-to-login flow; the text this answers in WeChat says that a computer is being
/// signed in, so the person scanning knows what the scan does.
///
/// [`LeaseStore::claim_once`]: wechat_oauth::store::LeaseStore::claim_once
/// [`Stores::credentials`]: wechat_oauth::store::Stores::credentials
///
/// ```no_run
/// use axum::Router;
/// use wechat_oauth::WeChatApp;
/// use wechat_oauth_axum::{FollowLogin, Key, WeChatLogin};
/// use wechat_oauth_message::{Message, MessageServer, Reply};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = WeChatApp::builder("wx5a4d1e0f0a000001", "app-secret").build()?;
/// let login = WeChatLogin::builder(app.oauth(), "https://example.com/auth/wechat/callback", Key::generate())
///     .stores(app.stores().clone())
///     .build()?;
/// let follow = FollowLogin::builder(login.clone(), app.official_account()).build()?;
///
/// // The account's server URL: login scans complete here, other messages are yours.
/// let server = MessageServer::builder("server token", app.appid()).build()?;
/// let on_scan = follow.clone();
/// let messages = wechat_oauth_message::axum::router("/wechat", server, move |message: Message| {
///     let follow = on_scan.clone();
///     async move { follow.handle_message(&message).await.unwrap_or(Reply::Success) }
/// });
///
/// let site: Router = Router::new()
///     .merge(login.routes())
///     .with_state(login)
///     .merge(follow.routes()) // GET /auth/wechat/follow shows the QR code
///     .merge(messages);
/// # let _ = site;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FollowLogin {
    inner: Arc<Inner>,
}

struct Inner {
    login: WeChatLogin,
    oa: OfficialAccountClient,
    page_path: String,
    scene_path: String,
    poll_path: String,
    script_path: String,
    scene_ttl: Duration,
    poll_timeout: Duration,
    poll_interval: Duration,
    qr_image_base: String,
    /// `scheme://host[:port]` of the QR images, for the page's `img-src`.
    qr_image_origin: String,
    lang: Lang,
    cookie_name: String,
    cookie_key: CookieKey,
}

impl fmt::Debug for FollowLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("FollowLogin")
            .field("appid", &inner.oa.appid())
            .field("page_path", &inner.page_path)
            .field("scene_ttl", &inner.scene_ttl)
            .finish_non_exhaustive()
    }
}

/// Configures a [`FollowLogin`]; start with [`FollowLogin::builder`].
#[must_use]
pub struct FollowLoginBuilder {
    login: WeChatLogin,
    oa: OfficialAccountClient,
    page_path: String,
    scene_ttl: Duration,
    poll_timeout: Duration,
    poll_interval: Duration,
    qr_image_base: String,
    lang: Lang,
}

impl fmt::Debug for FollowLoginBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowLoginBuilder")
            .field("page_path", &self.page_path)
            .finish_non_exhaustive()
    }
}

impl FollowLogin {
    /// Follow-to-login beside `login`'s redirect flows, with QR codes of the Official
    /// Account `oa`. Sessions are `login`'s: same cookie, store and lifetimes.
    pub fn builder(login: WeChatLogin, oa: OfficialAccountClient) -> FollowLoginBuilder {
        FollowLoginBuilder {
            login,
            oa,
            page_path: "/auth/wechat/follow".into(),
            scene_ttl: Duration::from_secs(300),
            poll_timeout: Duration::from_secs(25),
            poll_interval: Duration::from_millis(500),
            qr_image_base: wechat_oauth::qrcode::SHOWQRCODE_BASE.into(),
            lang: Lang::default(),
        }
    }

    /// The page (`GET {page_path}?return_to=/path`), scene (`POST {page_path}/scene`),
    /// poll (`GET {page_path}/poll`) and script (`GET {page_path}/follow.js`) routes, to
    /// [`merge`](Router::merge) into the site's router. They carry their own state.
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let inner = &self.inner;
        Router::new()
            .route(&inner.page_path, get(page))
            .route(&inner.scene_path, post(scene))
            .route(&inner.poll_path, get(poll))
            .route(&inner.script_path, get(script))
            .with_state(self.clone())
    }

    /// The local URL of the page that shows the QR code and signs in, then goes to
    /// `return_to` (a same-site path; anything else goes to the after-login default).
    pub fn page_url(&self, return_to: &str) -> String {
        let target = safe_return_path(return_to).unwrap_or(&self.inner.login.inner.after_login);
        format!(
            "{}?return_to={}",
            self.inner.page_path,
            percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    /// The path of the scene route (`POST`; JSON `{qr_url, expires_in, poll_url}`).
    pub fn scene_path(&self) -> &str {
        &self.inner.scene_path
    }

    /// The path of the poll route (`GET`; JSON `{status, redirect?}`).
    pub fn poll_path(&self) -> &str {
        &self.inner.poll_path
    }

    /// The event side, for the message-interface handler: a `subscribe` with
    /// `EventKey = qrscene_<scene>` or a `SCAN` with `EventKey = <scene>` for one of this
    /// site's login scenes is recorded ([`record_scan`](Self::record_scan)) and answered
    /// with a short text for the user in WeChat. `None` for every other message (answer it
    /// yourself), including QR codes that are not login scenes.
    pub async fn handle_message(&self, message: &Message) -> Option<Reply> {
        let scene = match message.event()? {
            Event::Subscribe(follow) => follow.scene()?,
            Event::Scan(scan) => scan.scene.as_str(),
            _ => return None,
        };
        let text = match self.record_scan(&message.from_user_name, scene).await {
            Ok(ScanOutcome::NotALoginScene) => return None,
            Ok(ScanOutcome::Recorded) => {
                "已确认登录，请回到电脑上继续。Signed in: continue on your computer."
            }
            Ok(ScanOutcome::Expired) => {
                "二维码已过期，请在电脑上刷新后重新扫码。This code has expired: refresh the page and scan again."
            }
            Ok(ScanOutcome::AlreadyScanned) => "该二维码已被使用。This code was already used.",
            Err(error) => {
                tracing::warn!(%error, "store unavailable; could not record a login scan");
                "登录暂时不可用，请稍后重试。Sign-in is unavailable right now: please try again."
            }
        };
        Some(Reply::text(text))
    }

    /// Records that `openid` scanned `scene` (the `EventKey` without `qrscene_`), if it is
    /// one of this site's unexpired login scenes and nobody scanned it before.
    ///
    /// # Errors
    /// The shared store failed.
    pub async fn record_scan(&self, openid: &str, scene: &str) -> Result<ScanOutcome, StoreError> {
        let Some(expires_at) = self.verify_scene(scene) else {
            return Ok(ScanOutcome::NotALoginScene);
        };
        let login = &self.inner.login;
        let now = login.now_secs();
        if now >= expires_at {
            return Ok(ScanOutcome::Expired);
        }
        if openid.is_empty() || openid.len() > 128 {
            return Ok(ScanOutcome::NotALoginScene);
        }
        let stores = login.stores();
        let keep = Duration::from_secs(expires_at - now + 60);
        if !stores
            .leases
            .claim_once(&format!("follow_scan:{scene}"), keep)
            .await?
        {
            return Ok(ScanOutcome::AlreadyScanned);
        }
        let record = Record::Scanned {
            openid: openid.to_owned(),
        };
        stores
            .credentials
            .put_credential(
                &self.record_key(scene),
                &record.credential(login, expires_at),
            )
            .await?;
        Ok(ScanOutcome::Recorded)
    }

    fn record_key(&self, scene: &str) -> String {
        format!("follow_login:{}:{scene}", self.inner.oa.appid())
    }

    /// A fresh scene expiring at `expires_at` (Unix seconds).
    fn mint_scene(&self, expires_at: u64) -> String {
        let expiry = format!("{:08x}", u32::try_from(expires_at).unwrap_or(u32::MAX));
        let nonce = wechat_oauth::state::random_alphanumeric(NONCE_LEN);
        let mac = self.scene_mac(&expiry, &nonce);
        format!("{SCENE_PREFIX}{expiry}{nonce}{mac}")
    }

    fn scene_mac(&self, expiry: &str, nonce: &str) -> String {
        let mac = self.inner.login.inner.key.mac(
            SCENE_MAC_LABEL,
            &[
                self.inner.oa.appid().as_bytes(),
                expiry.as_bytes(),
                nonce.as_bytes(),
            ],
        );
        mac[..MAC_HEX_LEN / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The expiry of a scene this site minted; `None` for anything else.
    fn verify_scene(&self, scene: &str) -> Option<u64> {
        if scene.len() != SCENE_LEN || !scene.is_ascii() {
            return None;
        }
        let rest = scene.strip_prefix(SCENE_PREFIX)?;
        let (expiry, rest) = rest.split_at(EXPIRY_LEN);
        let (nonce, mac) = rest.split_at(NONCE_LEN);
        if !ct_eq(mac, &self.scene_mac(expiry, nonce)) {
            return None;
        }
        u64::from_str_radix(expiry, 16).ok()
    }

    fn scene_cookie(&self, headers: &HeaderMap) -> Option<SceneCookie> {
        let jar = SignedCookieJar::from_headers(headers, self.inner.cookie_key.clone());
        let value = jar.get(&self.inner.cookie_name)?;
        if value.value().len() > MAX_COOKIE_VALUE {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value.value()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn set_scene_cookie(&self, response: Response, cookie: &SceneCookie) -> Response {
        let Ok(json) = serde_json::to_vec(cookie) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let login = &self.inner.login.inner;
        let value = URL_SAFE_NO_PAD.encode(json);
        let mut cookie = login.cookies.cookie(&self.inner.cookie_name, value, None);
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(self.inner.scene_ttl.as_secs()).unwrap_or(i64::MAX),
        ));
        let jar = SignedCookieJar::new(self.inner.cookie_key.clone()).add(cookie);
        (jar, response).into_response()
    }

    fn clear_scene_cookie(&self, response: Response) -> Response {
        let login = &self.inner.login.inner;
        let mut cookie: Cookie<'static> =
            login
                .cookies
                .cookie(&self.inner.cookie_name, String::new(), None);
        cookie.make_removal();
        (CookieJar::new().add(cookie), response).into_response()
    }

    fn requested_return_to(&self, query: Option<&str>) -> String {
        let after_login = &self.inner.login.inner.after_login;
        form_pairs(query.unwrap_or(""))
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v)
            .filter(|v| v.len() <= MAX_RETURN_TO)
            .and_then(|v| safe_return_path(&v).map(str::to_owned))
            .unwrap_or_else(|| after_login.clone())
    }

    /// The scene route: this browser's live scene again, or a new one with its QR code.
    async fn begin(&self, query: Option<&str>, headers: &HeaderMap) -> Response {
        if let Err(why) = check_same_origin(headers, &self.inner.login.inner.site_origin) {
            tracing::info!(?why, "cross-site follow-login scene request refused");
            return json(
                StatusCode::FORBIDDEN,
                &Poll::refused("cross_site", "This request came from another site."),
            );
        }
        let return_to = self.requested_return_to(query);
        let now = self.inner.login.now_secs();
        if let Some(live) = self.scene_cookie(headers).filter(|c| {
            c.return_to == return_to
                && self
                    .verify_scene(&c.scene)
                    .is_some_and(|exp| exp > now + REUSE_MARGIN_S)
        }) {
            // A reload shows the same code: no new QR code is spent at WeChat.
            let expires_in = self.verify_scene(&live.scene).map_or(0, |e| e - now);
            return self.scene_answer(&live, expires_in);
        }
        let ttl = self.inner.scene_ttl.as_secs();
        let scene = self.mint_scene(now + ttl);
        let code = match self.inner.oa.create_temporary_qrcode(&scene, ttl).await {
            Ok(code) => code,
            Err(error) => {
                tracing::warn!(%error, "WeChat did not create the login QR code");
                return json(
                    StatusCode::BAD_GATEWAY,
                    &Poll::refused("unavailable", "WeChat did not answer. Please try again."),
                );
            }
        };
        let cookie = SceneCookie {
            scene,
            ticket: code.ticket,
            return_to,
        };
        let response = self.scene_answer(&cookie, ttl);
        self.set_scene_cookie(response, &cookie)
    }

    fn scene_answer(&self, cookie: &SceneCookie, expires_in: u64) -> Response {
        let qr_url = wechat_oauth::qrcode::QrCode::image_url_for_ticket(
            &self.inner.qr_image_base,
            &cookie.ticket,
        );
        json(
            StatusCode::OK,
            &serde_json::json!({
                "qr_url": qr_url,
                "expires_in": expires_in,
                "poll_url": self.inner.poll_path,
            }),
        )
    }

    /// The poll route: waits up to the poll timeout for this browser's scene to be scanned.
    async fn wait(&self, headers: &HeaderMap) -> Response {
        let Some(cookie) = self.scene_cookie(headers) else {
            // No signed scene cookie: this browser did not ask for this sign-in (another
            // browser polling someone else's scene ends here), or its cookie was cleared.
            return json(
                StatusCode::BAD_REQUEST,
                &Poll::refused("unknown", "No sign-in is in progress in this browser."),
            );
        };
        let Some(expires_at) = self.verify_scene(&cookie.scene) else {
            return self.clear_scene_cookie(json(
                StatusCode::BAD_REQUEST,
                &Poll::refused("unknown", "No sign-in is in progress in this browser."),
            ));
        };
        let login = &self.inner.login;
        let stores = login.stores();
        let key = self.record_key(&cookie.scene);
        let deadline = tokio::time::Instant::now() + self.inner.poll_timeout;
        loop {
            if login.now_secs() >= expires_at {
                return self.clear_scene_cookie(json(
                    StatusCode::GONE,
                    &Poll::refused("expired", "This QR code has expired."),
                ));
            }
            let stored = match stores.credentials.get_credential(&key).await {
                Ok(stored) => stored,
                Err(error) => return store_unavailable(&error),
            };
            match stored.as_ref().and_then(Record::read) {
                Some(Record::Scanned { openid }) => {
                    return self
                        .complete(&cookie, &key, expires_at, openid, headers)
                        .await;
                }
                Some(Record::Used) => return self.already_used(),
                None => {}
            }
            if tokio::time::Instant::now() + self.inner.poll_interval > deadline {
                return json(StatusCode::OK, &Poll::pending());
            }
            tokio::time::sleep(self.inner.poll_interval).await;
        }
    }

    fn already_used(&self) -> Response {
        self.clear_scene_cookie(json(
            StatusCode::GONE,
            &Poll::refused("used", "This QR code was already used to sign in."),
        ))
    }

    /// The scan is in the store: claim it once, mark it used, and sign this browser in.
    async fn complete(
        &self,
        cookie: &SceneCookie,
        key: &str,
        expires_at: u64,
        openid: String,
        headers: &HeaderMap,
    ) -> Response {
        let login = &self.inner.login;
        let stores = login.stores();
        let keep = Duration::from_secs(expires_at.saturating_sub(login.now_secs()) + 60);
        match stores
            .leases
            .claim_once(&format!("follow_login:{}", cookie.scene), keep)
            .await
        {
            Ok(true) => {}
            Ok(false) => return self.already_used(),
            Err(error) => return store_unavailable(&error),
        }
        let used = Record::Used.credential(login, expires_at);
        if let Err(error) = stores.credentials.put_credential(key, &used).await {
            // The claim above already stops a second sign-in; the record expires anyway.
            tracing::warn!(%error, "could not mark a follow-login scene used");
        }
        let mut user = WeChatUser {
            openid,
            unionid: None,
            scope: String::new(),
            nickname: None,
            headimgurl: None,
            is_snapshotuser: false,
        };
        // The unionid is a nicety: a failure here still signs the user in by openid.
        match self
            .inner
            .oa
            .get_follower(&user.openid, self.inner.lang.clone())
            .await
        {
            Ok(follower) => user.unionid = follower.unionid,
            Err(error) => tracing::warn!(%error, "follower info unavailable after a follow login"),
        }
        let previous = login.session(headers).await.ok().flatten();
        // The scene was verified (48 ASCII characters) before this point.
        let start = SCENE_PREFIX.len() + EXPIRY_LEN;
        let nonce = cookie.scene.get(start..start + NONCE_LEN).unwrap_or("");
        let session = match login.start_session(user, nonce).await {
            Ok(session) => session,
            Err(error) => return store_unavailable(&error),
        };
        if let Some(previous) = previous
            && let Err(error) = login.end_session(previous.id.expose_secret()).await
        {
            tracing::warn!(%error, "could not end the browser's previous session");
        }
        let response = json(
            StatusCode::OK,
            &Poll {
                status: "signed_in",
                message: None,
                redirect: Some(cookie.return_to.clone()),
            },
        );
        let response = login.inner.cookies.set_session(
            response,
            session.id.expose_secret(),
            Some(login.inner.session_ttl),
        );
        self.clear_scene_cookie(response)
    }

    fn page(&self, query: Option<&str>) -> Response {
        let return_to = self.requested_return_to(query);
        let body = format!(
            r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>微信扫码登录 · Sign in with WeChat</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;text-align:center}}img{{width:240px;height:240px;border:1px solid #ddd}}button{{font:inherit;padding:.4rem 1rem}}</style></head><body><h1>微信扫码登录</h1><p>Scan with WeChat to follow the account and sign in.</p><div id="wechat-follow" data-scene="{scene}" data-return-to="{return_to}"><img id="wechat-follow-qr" alt="QR code" hidden><p id="wechat-follow-status" role="status">Loading the QR code…</p><button id="wechat-follow-retry" type="button" hidden>Show a new code</button></div><script src="{script}"></script></body></html>"#,
            scene = escape_html(&self.inner.scene_path),
            return_to = escape_html(&return_to),
            script = escape_html(&self.inner.script_path),
        );
        let csp = format!(
            "default-src 'none'; script-src 'self'; connect-src 'self'; img-src {}; style-src 'unsafe-inline'",
            self.inner.qr_image_origin
        );
        let mut response = Html(body).into_response();
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}

/// A scene record in [`Stores::credentials`](wechat_oauth::store::Stores::credentials).
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record {
    /// Scanned by this user; nobody has signed in with it yet.
    Scanned { openid: String },
    /// A browser signed in with it.
    Used,
}

impl Record {
    fn read(credential: &Credential) -> Option<Self> {
        serde_json::from_str(credential.value.expose_secret()).ok()
    }

    /// Kept until the scene expires; a later write (`Used`) replaces an earlier one.
    fn credential(&self, login: &WeChatLogin, expires_at: u64) -> Credential {
        let json = serde_json::to_string(self).unwrap_or_default();
        let expires_ms = i64::try_from(expires_at.saturating_mul(1000)).unwrap_or(i64::MAX);
        Credential::new(json, login.now_millis(), expires_ms)
    }
}

/// The scene cookie's content (signed; base64url JSON).
#[derive(Serialize, Deserialize)]
struct SceneCookie {
    #[serde(rename = "s")]
    scene: String,
    /// The QR code's ticket, so a reload shows the same code.
    #[serde(rename = "t")]
    ticket: String,
    #[serde(rename = "r")]
    return_to: String,
}

/// A poll's (or a refused scene request's) JSON answer.
#[derive(Serialize)]
struct Poll {
    /// `pending`, `signed_in`, `expired`, `used`, `unknown`, `unavailable`, `cross_site`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect: Option<String>,
}

impl Poll {
    fn pending() -> Self {
        Self {
            status: "pending",
            message: None,
            redirect: None,
        }
    }

    fn refused(status: &'static str, message: &'static str) -> Self {
        Self {
            status,
            message: Some(message),
            redirect: None,
        }
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn store_unavailable(error: &StoreError) -> Response {
    tracing::warn!(%error, "store unavailable during a follow login");
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &Poll::refused("unavailable", "Sign-in is unavailable right now."),
    )
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((decode(k)?, decode(v)?))
        })
}

async fn page(State(follow): State<FollowLogin>, RawQuery(query): RawQuery) -> Response {
    follow.page(query.as_deref())
}

async fn scene(
    State(follow): State<FollowLogin>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    follow.begin(query.as_deref(), &headers).await
}

async fn poll(State(follow): State<FollowLogin>, headers: HeaderMap) -> Response {
    follow.wait(&headers).await
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

impl FollowLoginBuilder {
    /// Path of the page (default `/auth/wechat/follow`); the scene, poll and script routes
    /// are under it (`/scene`, `/poll`, `/follow.js`).
    pub fn page_path(mut self, path: impl Into<String>) -> Self {
        self.page_path = path.into();
        self
    }

    /// How long a scene and its QR code live (default 5 minutes; 30 seconds to 30 minutes).
    pub fn scene_ttl(mut self, ttl: Duration) -> Self {
        self.scene_ttl = ttl;
        self
    }

    /// How long one poll waits for the scan before answering `pending` (default 25 s,
    /// under common proxy timeouts); the page polls again.
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// How often a waiting poll reads the store (default 500 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Where the QR images are served (default `https://mp.weixin.qq.com`; the sandbox's
    /// URL in tests).
    pub fn qr_image_base(mut self, base: impl Into<String>) -> Self {
        self.qr_image_base = base.into();
        self
    }

    /// Language for the follower info (default `zh_CN`).
    pub fn lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`ConfigError::Path`] for a page path that is not a plain absolute path,
    /// [`ConfigError::Follow`] for a scene lifetime outside 30 s to 30 min, a poll timeout
    /// or interval of zero, or a QR image base that is not an absolute http(s) URL.
    pub fn build(self) -> Result<FollowLogin, ConfigError> {
        let page_path = self.page_path.trim_end_matches('/').to_owned();
        if safe_return_path(&page_path).is_none()
            || page_path.contains(['?', '#', '{', '}', '*', '%'])
        {
            return Err(ConfigError::Path {
                which: "follow page",
                path: self.page_path,
            });
        }
        let ttl = self.scene_ttl.as_secs();
        if !(30..=1800).contains(&ttl)
            || self.poll_timeout.is_zero()
            || self.poll_interval.is_zero()
        {
            return Err(ConfigError::Follow(
                "the scene lifetime must be 30 s to 30 min, and the poll timeout and interval above zero".into(),
            ));
        }
        let base = self.qr_image_base.trim_end_matches('/').to_owned();
        let uri: axum::http::Uri = base
            .parse()
            .map_err(|_| ConfigError::Follow(format!("QR image base {base:?} is not a URL")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ConfigError::Follow(format!(
                "QR image base {base:?} is not an absolute http(s) URL"
            )));
        }
        let qr_image_origin = crate::origin::origin_of(&uri);
        let login_inner = &self.login.inner;
        let cookie_name = format!("{}_follow", login_inner.cookies.session_name);
        let cookie_key = login_inner.key.cookie_key(COOKIE_LABEL, self.oa.appid());
        Ok(FollowLogin {
            inner: Arc::new(Inner {
                scene_path: format!("{page_path}/scene"),
                poll_path: format!("{page_path}/poll"),
                script_path: format!("{page_path}/follow.js"),
                page_path,
                login: self.login,
                oa: self.oa,
                scene_ttl: self.scene_ttl,
                poll_timeout: self.poll_timeout,
                poll_interval: self.poll_interval,
                qr_image_base: base,
                qr_image_origin,
                lang: self.lang,
                cookie_name,
                cookie_key,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    fn follow(key: Key) -> FollowLogin {
        let app = wechat_oauth::WeChatApp::builder("wx5a4d1e0f0a000001", "secret")
            .build()
            .unwrap();
        let login = WeChatLogin::builder(app.oauth(), "https://example.com/cb", key)
            .build()
            .unwrap();
        FollowLogin::builder(login, app.official_account())
            .build()
            .unwrap()
    }

    #[test]
    fn a_scene_verifies_only_under_the_key_that_minted_it() {
        let key = Key::generate();
        let a = follow(key.clone());
        let scene = a.mint_scene(2_000_000_000);
        assert_eq!(scene.len(), SCENE_LEN);
        assert!(scene.len() <= wechat_oauth::qrcode::MAX_SCENE_STR_LEN);
        assert!(scene.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a.verify_scene(&scene), Some(2_000_000_000));
        assert_eq!(follow(key).verify_scene(&scene), Some(2_000_000_000));
        assert_eq!(follow(Key::generate()).verify_scene(&scene), None);
    }

    #[test]
    fn altered_and_foreign_scenes_are_not_login_scenes() {
        let a = follow(Key::generate());
        let scene = a.mint_scene(2_000_000_000);
        let mut later = scene.clone();
        later.replace_range(2..10, "ffffffff");
        for bad in [
            "",
            "123",
            "qrscene_x",
            &later,
            &scene[..SCENE_LEN - 1],
            &format!("{scene}0"),
            &"é".repeat(24),
        ] {
            assert_eq!(a.verify_scene(bad), None, "{bad}");
        }
    }
}
