//! # wechat-sandbox: a local WeChat for tests, benchmarks, demos and offline development
//!
//! No machine in CI can reach WeChat, so this crate plays WeChat's side of the wire: one
//! listener serves both hosts, the `open.weixin.qq.com` authorize pages (`/connect/*`) and
//! the `api.weixin.qq.com` JSON APIs (`/sns/*`, `/cgi-bin/*`, `/wxa/*`). It is an
//! independent implementation of the format described in docs/protocol.md and shares no
//! types with the `wechat-oauth` SDK: two sides that agree are evidence, one shared type is
//! not. Its faithfulness is checked against a client nobody here wrote: the npm
//! `wechat-oauth` 1.5.0 runs its whole web flow against the binary (`tests/it/node.rs`).
//!
//! Start it in-process from a test, point the client's API and open bases at
//! [`Sandbox::url`], and drive the user's side with scripted approval or [`Sandbox::mint_code`]:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use wechat_sandbox::{Fault, Sandbox, defaults};
//!
//! let sandbox = Sandbox::builder().start().await?; // default apps and users, 127.0.0.1:0
//! let base = sandbox.url();                         // "http://127.0.0.1:PORT", no trailing slash
//!
//! // A code as if alice approved snsapi_userinfo on the Official Account's page.
//! let code = sandbox.mint_code(defaults::OFFICIAL_APPID, "alice", "snsapi_userinfo")?;
//! // … the client exchanges it at {base}/sns/oauth2/access_token …
//! # let _ = (base, code);
//!
//! let alice = sandbox.openid(defaults::OFFICIAL_APPID, "alice"); // deterministic
//! assert_eq!(alice.len(), 28);
//! sandbox.inject_fault("/sns/userinfo", Fault::ErrCode(45011)); // the next userinfo call fails
//! sandbox.advance_clock(Duration::from_secs(7200));             // every access token expires
//! for request in sandbox.journal() {                            // what the client sent
//!     println!("{} {} {:?}", request.method, request.path, request.param_names());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Defaults
//!
//! Without [`SandboxBuilder::app`] / `--app` these apps exist; without
//! [`SandboxBuilder::user`] / `--user` these users do ([`defaults`]). All callback hosts
//! default to "any loopback host, any port" (as WeChat test accounts allow).
//!
//! | appid | secret | kind | pages and scopes |
//! |---|---|---|---|
//! | `wx5a4d1e0f0a000001` ([`defaults::OFFICIAL_APPID`]) | `sandbox-official-secret` | Official Account | `/connect/oauth2/authorize`: `snsapi_base`, `snsapi_userinfo` |
//! | `wx5a4d1e0f0a000002` ([`defaults::WEBSITE_APPID`]) | `sandbox-website-secret` | Website | `/connect/qrconnect`: `snsapi_login` |
//! | `wx5a4d1e0f0a000003` ([`defaults::MINIPROGRAM_APPID`]) | `sandbox-miniprogram-secret` | Mini Program | `jscode2session`, `/wxa/*`, `/__sandbox/mp/*` |
//!
//! | user | nickname | notes |
//! |---|---|---|
//! | `alice` | `Alice` | first user: silent `snsapi_base` picks her when the browser has no sandbox cookie |
//! | `bob` | `Bob` | |
//! | `guest` ([`defaults::SNAPSHOT_USER`]) | `微信用户` | snapshot user: `is_snapshotuser: 1` and virtual ids on Official Accounts |
//!
//! Ids are derived, not stored: `openid` = `"o"` + 27 characters of an HMAC over
//! (appid, user), `unionid` likewise over the user (all apps share one Open Platform
//! account). Snapshot users get ids from a separate namespace (virtual-account ids).
//!
//! ## Endpoints
//!
//! Errors are HTTP 200 with `{"errcode":N,"errmsg":"<text>, rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`
//! and nothing else; `/sns/*` bodies (success and error) are `Content-Type: text/plain`,
//! the others `application/json; charset=utf-8` (§0). Those are the default [`Shapes`];
//! see "Answer shapes" below for the other forms real WeChat answers in. Parameter checks run in the order
//! listed; a failed check never uses up a code.
//!
//! | route | behaviour | errcodes |
//! |---|---|---|
//! | `GET /connect/oauth2/authorize` | strict validation (below); `snsapi_base` approves silently; `snsapi_userinfo` shows the consent page | HTML pages |
//! | `GET /connect/qrconnect` | same for websites (`snsapi_login`); parameter order not enforced (unverified on WeChat, §1.1) | HTML pages |
//! | `GET /sns/oauth2/access_token` `appid, secret, code, grant_type=authorization_code` | `access_token, expires_in 7200, refresh_token, openid, scope`, `unionid` for profile scopes, `is_snapshotuser: 1` for snapshot users | 43001 41002 40013 41004 40125 41008 40002 40029 40163 |
//! | `GET /sns/oauth2/refresh_token` `appid, grant_type=refresh_token, refresh_token` | no secret taken; unexpired access token → same token, expiry extended; expired → new token; refresh token lives 30 days from authorization, never extended (§1.3) | 41002 40013 40002 41003 40030 42002 |
//! | `GET /sns/userinfo` `access_token, openid, lang?` | `openid, nickname, sex 0, language "", province "", city "", country "", headimgurl, privilege [], unionid` (post-2021 values, §1.7) | 41001 41009 40014 42001 40003 48001 40035 (lang other than `zh_CN`/`zh_TW`/`en`) |
//! | `GET /sns/auth` `access_token, openid` | `{"errcode":0,"errmsg":"ok"}` | 41001 41009 40014 42001 40003 |
//! | `GET /sns/jscode2session` `appid, secret, js_code, grant_type` | `session_key, openid, unionid`; no `errcode`, no `expires_in` | 41002 40013 41004 40125 41008 40002 40029 40163 |
//! | `GET /wxa/checksession` `access_token, openid, signature, sig_method=hmac_sha256` | ok when `signature == hex(hmac_sha256(key = session_key text, ""))` of the *current* key (§4.4) | 41001 40001 42001 41009 40003 87009 |
//! | `GET /cgi-bin/token` `grant_type=client_credential, appid, secret` | `{access_token, expires_in: 7200}`; every call rotates, the previous token answers 40001 | 40002 41002 40013 41004 40125 |
//! | `POST /cgi-bin/stable_token` JSON `{grant_type, appid, secret, force_refresh?}` | same token on repeat (`expires_in` counts down); a new one 5 min before expiry with the old one still valid; `force_refresh` replaces it at once (≤ 20/day, ≥ 30 s apart) | 43002 47001 40002 41002 40013 41004 40125 45009 45011 |
//! | `POST /wxa/business/getuserphonenumber?access_token` JSON `{code, openid?}` | `{errcode 0, errmsg "ok", phone_info {phoneNumber, purePhoneNumber, countryCode 86, watermark {timestamp, appid}}}` | 43002 41001 40001 42001 47001 (body not JSON) 40029 40003 40163 |
//! | `POST /cgi-bin/qrcode/create?access_token` JSON `{expire_seconds?, action_name, action_info {scene {scene_id \| scene_str}}}` | `QR_SCENE`/`QR_STR_SCENE` (temporary: `expire_seconds` default 60, at most 2592000) and `QR_LIMIT_SCENE`/`QR_LIMIT_STR_SCENE` (permanent, `scene_id` 1..=100000); `{ticket, expire_seconds, url}` | 43002 41001 40001 42001 48001 (not an Official Account) 47001 40053 |
//! | `GET /cgi-bin/showqrcode?ticket` | the QR code of `url` as a PNG; unknown or expired tickets are a 404 (sandbox choice) | |
//! | `GET /cgi-bin/ticket/getticket?access_token&type=jsapi\|wx_card` | `{errcode 0, errmsg "ok", ticket, expires_in}`: the same ticket until it expires (7200 s) | 41001 40001 42001 48001 40097 |
//! | `GET /cgi-bin/user/info?access_token&openid&lang?` | follower: `subscribe 1, openid, language, subscribe_time, unionid, remark, groupid, tagid_list, subscribe_scene, qr_scene, qr_scene_str` (no nickname, avatar, gender or region since 2021); not following: `{subscribe 0, openid, unionid}` | 41001 40001 42001 48001 41009 40035 40003 |
//! | `POST /cgi-bin/user/info/batchget?access_token` JSON `{user_list: [{openid, lang?}]}` | `{user_info_list: […]}` as above, 1..=100 entries | 43002 47001 40035 40003 |
//!
//! Lifetimes (sandbox clock): Official Account codes, `js_code`s and phone codes 5 minutes,
//! website codes 10 minutes, all single use (second use 40163; unknown, expired or another
//! app's code 40029); access and server tokens 7200 s; refresh tokens 30 days.
//!
//! ### The authorize pages
//!
//! Checked in this order; a failure is an HTML page (status 200, no redirect) with WeChat's
//! message and `错误码：N`, plus a `wechat-sandbox:` line saying exactly what was wrong.
//! 10003 and 10005 are documented by WeChat; the other numbers are sandbox choices (§1.1).
//!
//! | check | code |
//! |---|---|
//! | `appid` present (names are case-sensitive: `appId` is not `appid`) | 10012 |
//! | `redirect_uri` present | 10011 |
//! | `scope` present | 10010 |
//! | only known names, each once; on `oauth2/authorize` exactly `appid, redirect_uri, response_type, scope`, then `state`, then extras (`forcePopup`, `forceSnapShot`, `connect_redirect`, `component_appid`) | 10005 |
//! | appid known (10012) and of the page's kind (10016) | 10012 / 10016 |
//! | `response_type=code` | 10008 |
//! | scope allowed for the app's kind | 10005 |
//! | `state` matches `[A-Za-z0-9]{0,128}` | 10013 |
//! | `redirect_uri` is absolute http(s), host equal to the app's domain (no subdomains; a port only if the domain names it), or loopback when no domain is set | 10003 |
//!
//! On success: with header `X-Sandbox-User: ID` ([`USER_HEADER`]) the answer is the 302
//! directly, `X-Sandbox-Action: deny` ([`ACTION_HEADER`]) refuses. Without it,
//! `snsapi_base` approves silently as the user in the `wechat_sandbox_user` cookie (set by
//! the consent page) or the first user; other scopes get a consent page listing every user
//! with an `Approve as ID` link (`id="approve-ID"`) and one `Deny` link (`id="deny"`),
//! plain links a browser can click. Approve redirects to `redirect_uri?code=…&state=…`
//! (joined with `&` if `redirect_uri` has a query; a `#fragment` stays after it); Deny to
//! `redirect_uri?state=…`. An unknown `X-Sandbox-User` is a 400 `text/plain` answer naming
//! the known users (a test-harness mistake, not a WeChat behaviour).
//!
//! ## Control plane
//!
//! The same operations for other processes, under `/__sandbox/` (not journaled). It has no
//! authentication: keep the sandbox on a loopback address. Bodies are
//! JSON, at most 256 KiB; errors are `{"error": "…"}` with status 400 (bad input), 404
//! (unknown route) or 413 (body too large). Faults are bounded: `count` 1–1,000 per call,
//! 10,000 queued in all, `delay` at most 600,000 ms, a `respond` body at most 64 KiB.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /__sandbox/journal` (or `/__sandbox/requests`) | | `[{"method","path","params":[["k","v"],…],"body":null\|"…","content_type":null\|"…","at_ms"}]` ([`JournalEntry`]) |
//! | `DELETE /__sandbox/journal` (or `POST /__sandbox/journal/clear`) | | `{"cleared": n}`; also zeroes the request counts |
//! | `GET /__sandbox/stats` | | `{"requests": {"/sns/userinfo": n, …}, "journal_len": n, "journal_dropped": n}`: counts per path since the last clear, never truncated ([`Sandbox::request_count`]); beyond 1,024 distinct paths, new ones count under `"(other paths)"` |
//! | `GET /__sandbox/clock` | | `{"now_ms"}` |
//! | `POST /__sandbox/clock/advance` | `{"seconds": 7200}` and/or `{"ms": 500}` | `{"now_ms", "offset_ms"}` |
//! | `POST /__sandbox/faults` | `{"path": "/sns/userinfo", "fault": "errcode", "errcode": 45011, "count": 1}`; `fault` is `errcode`, `html502`, `empty_gbk`, `truncated_json`, `delay` (with `"ms"`), `reset` or `respond` (with `"body"`, optional `"status"` (200) and `"content_type"` (`text/plain`)) | `{"path", "queued": n}` |
//! | `GET /__sandbox/faults` | | `{"/path": [{"fault": "errcode", "errcode": 45011}, …]}` |
//! | `DELETE /__sandbox/faults` | | `{"ok": true}` |
//! | `POST /__sandbox/codes` | `{"appid", "user", "scope"}` | `{"code"}` |
//! | `POST /__sandbox/reset` | | `{"ok": true}` (also restores the start-up shapes) |
//! | `GET /__sandbox/shapes` | | `{"language": ""\|null\|"…", "unionid", "escape_slashes", "errmsg", "sns_content_type", "refresh_scope_trailing_comma"}` ([`Shapes`]) |
//! | `POST /__sandbox/shapes` | any of those fields (`"language": null` leaves it out; unknown fields are a 400) | the shapes now in force |
//! | `POST /__sandbox/mp/login` | `{"appid", "user"}` | `{"js_code"}` (rotates the session_key) |
//! | `POST /__sandbox/mp/userinfo` | `{"appid", "user"}` | `{"rawData", "signature", "encryptedData", "iv"}` ([`MpUserInfo`]) |
//! | `POST /__sandbox/mp/phone_code` | `{"appid", "user"}` | `{"code"}` |
//! | `GET /__sandbox/config` | | `{"apps": [{"appid", "kind", "domain"}], "users": [{"id", "snapshot", "unionid", "openids": {"<appid>": "<openid>"}}]}` (no secrets) |
//! | `GET /__sandbox/check-authorize-url?url=<percent-encoded URL>` | | `{"ok": true}` or `{"ok": false, "errcode": 10005\|null, "message", "detail"}` ([`Sandbox::check_authorize_url`]) |
//! | `GET /__sandbox/consent?page&user&action&query` | | what the consent page's links call |
//! | `POST /__sandbox/oa/server` | `{"appid", "url", "token", "encoding_aes_key"?, "mode"?: "plain"\|"compatible"\|"safe"}` | verifies the URL as WeChat does (GET with `signature, timestamp, nonce, echostr`; the answer must be exactly the echostr) and registers it: `{"verified": true, "attempt"}` ([`PushAttempt`]); 400 naming what came back otherwise |
//! | `POST /__sandbox/oa/push` | `{"appid", "user", "msg_type", "fields"?: {"Content": "hi"} or [["Content", "hi"]], "timeout_ms"?, "tries"?, "mode"?}` | `user` sends a message or triggers an event; every delivery and the judged reply ([`PushRecord`]) |
//! | `POST /__sandbox/oa/scan` | `{"appid", "user", "ticket" or "scene", …}` | `subscribe` + `EventKey qrscene_S` if `user` does not follow yet, `SCAN` + `EventKey S` if they do ([`PushRecord`]) |
//! | `POST /__sandbox/oa/follow`, `/__sandbox/oa/unfollow` | `{"appid", "user", …}` | changes the follow state; `{"push": PushRecord\|null}` (pushed when a server is registered) |
//! | `GET /__sandbox/oa/pushes`, `DELETE /__sandbox/oa/pushes` | | every [`PushRecord`] (newest 1000) / `{"cleared": n}` |
//!
//! ## The Official Account's server URL
//!
//! Like WeChat, the sandbox calls the account's server: [`Sandbox::register_server`]
//! verifies it, [`Sandbox::push`], [`Sandbox::scan`] and [`Sandbox::set_following`] push
//! to it (`ToUserName` = [`original_id`], `FromUserName` = the user's openid, `CreateTime`
//! and `timestamp` from the sandbox clock, a random `MsgId` for messages). Query:
//! `signature, timestamp, nonce, openid`, plus `encrypt_type=aes, msg_signature` in the
//! compatible and safe modes (AES-256-CBC, IV = key[..16], PKCS#7 over 32-byte blocks,
//! `random(16) ‖ len ‖ msg ‖ appid`). A delivery not answered within the timeout (default
//! [`DEFAULT_PUSH_TIMEOUT`], 5 s) is dropped and the same request is sent again, up to
//! [`DEFAULT_PUSH_TRIES`] deliveries in all. The last answer is judged as WeChat would
//! ([`ReplyCheck`]): `success` or an empty body, or a reply whose addresses are swapped,
//! whose type and fields are a passive reply's, and which (safe mode) is encrypted for
//! this appid with a valid `MsgSignature` and a `TimeStamp` in seconds. Retries resend the
//! same request (whether WeChat re-signs them is unverified); a non-200 answer is judged
//! invalid and not retried (unverified on WeChat). [`Sandbox::reset`] forgets registered servers,
//! followers, QR codes, tickets and push records.
//!
//! ## Faults
//!
//! [`Fault`]s queue FIFO per path; each is used by one request, which is still journaled.
//! `ErrCode`, `Html502`, `EmptyGbk`, `TruncatedJson`, `Reset` and `Respond` (any canned
//! status, content type and body, e.g. `"sex":"1"` or extra fields) answer without
//! processing the request (a code stays usable); `Delay` waits, then processes it even if the client
//! has given up meanwhile.
//!
//! ## Answer shapes
//!
//! Real WeChat answers the same call in several shapes, by account, API and year. The
//! sandbox answers in one at a time, [`Shapes`], set with [`SandboxBuilder::shapes`],
//! [`Sandbox::set_shapes`], `POST /__sandbox/shapes` or the binary's flags; a client's
//! tests should pass with every entry of [`Shapes::variants`].
//!
//! | field (flag) | default | other shapes |
//! |---|---|---|
//! | `language` (`--language TEXT`, `--no-language`) | `"language":""` in `sns/userinfo`, as since 2021 | `"zh_CN"` (older bodies), absent |
//! | `unionid` (`--no-unionid`) | present in `access_token` (profile scopes), `userinfo`, `jscode2session` and the decrypted Mini Program profile | absent everywhere (an app bound to no Open Platform account) |
//! | `escape_slashes` (`--escape-slashes`) | `/` as is | `\/` in every JSON string (`"headimgurl":"https:\/\/thirdwx…"`, errmsg URLs) |
//! | `errmsg` (`--errmsg SHAPE`) | `rid`: `text, rid: 8x-8x-8x` | `rid-no-comma` `text rid: …`; `hints` `text, hints: [ req_id: … ]`; `hint` `text hint: [XfmcTVNre-vGNNia]`; `hint-rid` `text hint: […] rid: …`; `bare` `text` |
//! | `sns_content_type` (`--sns-content-type`) | `text-plain` | `json` (`application/json; charset=utf-8`) |
//! | `refresh_scope_trailing_comma` (`--refresh-scope-trailing-comma`) | the scope as granted | `snsapi_base,snsapi_userinfo,` after a refresh |
//!
//! Canned fault bodies (`respond`, `html502`, `empty_gbk`) are sent as given; an `errcode`
//! fault takes the errmsg shape.
//!
//! ## Connection limits
//!
//! [`ServerLimits`], set with [`SandboxBuilder::limits`] or the flags below. A connection
//! must send each request head within `header_read_timeout` (10 s; from the connection's
//! start, then from the first byte of each later request; trickling bytes does not extend
//! it) and its body within the same time again (else 408); between requests it may idle
//! `idle_timeout` (75 s, longer than the SDK's 60 s pool idle timeout). A connection over
//! `max_connections` (4,096) is answered `503 Service Unavailable` and closed. A request
//! being handled (a `delay` fault included) is never cut short.
//!
//! ## Command line
//!
//! ```text
//! wechat-sandbox --listen 127.0.0.1:PORT [--app APPID:SECRET[:KIND[:DOMAIN]]]... [--user ID[:snapshot]]...
//!                [--threads N] [--journal-capacity N] [--max-connections N]
//!                [--header-read-timeout-ms MS] [--idle-timeout-ms MS]
//!                [--language TEXT | --no-language] [--no-unionid] [--escape-slashes]
//!                [--errmsg rid|rid-no-comma|hints|hint|hint-rid|bare]
//!                [--sns-content-type text-plain|json] [--refresh-scope-trailing-comma]
//! ```
//!
//! The first stdout line is `listening on http://HOST:PORT` (port 0 picks a free one), then
//! one `app APPID KIND (callback domain: …)` line per app and one `user ID [(snapshot)]` line
//! per user. Secrets, codes and tokens are never printed. `--threads 1` runs a
//! single-threaded runtime (for pinned benchmarks).
//!
//! ## Sandbox choices where WeChat is unverified
//!
//! errmsg texts without an observed string; the 100xx numbers other than 10003/10005;
//! 40035 for a bad `lang`; `countryCode` as a number; the refresh response without
//! `unionid`; the refresh token string staying the same across refreshes; snapshot flags
//! only on Official Accounts; the consent page's HTML. Clients must branch on `errcode` only.

#![forbid(unsafe_code)]

pub mod cli;
mod connect;
mod control;
pub mod defaults;
mod fault;
mod journal;
mod limits;
mod miniprogram;
mod model;
mod official_account;
mod push;
mod qrcode;
mod reply;
mod request;
mod server;
mod server_token;
mod shape;
mod sns;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use connect::{ACTION_HEADER, AuthorizeUrlError, USER_HEADER};
pub use fault::Fault;
pub use journal::JournalEntry;
pub use limits::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServerLimits,
};
pub use miniprogram::MpUserInfo;
pub use model::{AppInfo, AppKind, UserInfo};
pub use official_account::{
    DEFAULT_PUSH_TIMEOUT, DEFAULT_PUSH_TRIES, PushOptions, PushRecord, ReplyCheck, ScanTarget,
    ServerConfig, original_id,
};
pub use push::{PushAttempt, ServerMode};
pub use shape::{ErrmsgShape, Shapes, SnsContentType};

use model::{App, Directory, Scope};
use request::Ctx;
use state::Shared;

/// Everything that can go wrong when configuring, starting or driving a sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder or command line was given something unusable.
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// No app with this appid is configured.
    #[error("unknown appid `{0}`")]
    UnknownApp(String),
    /// No user with this id is configured.
    #[error("unknown sandbox user `{0}`")]
    UnknownUser(String),
    /// The app exists but is of another kind than the operation needs.
    #[error("appid `{appid}` is not a {expected} app")]
    WrongAppKind {
        /// The appid given.
        appid: String,
        /// The kind the operation needs.
        expected: AppKind,
    },
    /// The scope is unknown or not allowed for the app's kind.
    #[error("scope `{scope}` is not allowed for appid `{appid}`")]
    Scope {
        /// The appid given.
        appid: String,
        /// The scope given.
        scope: String,
    },
    /// An Official Account server-side operation (server URL, push, scan) could not be done.
    #[error("{0}")]
    OfficialAccount(String),
    /// `mp_userinfo` before any `mp_login`: the user has no session_key yet.
    #[error("user `{user}` has no session with `{appid}` yet: call mp_login first")]
    NoSession {
        /// The appid given.
        appid: String,
        /// The user given.
        user: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default journal capacity: the oldest entries are dropped beyond it.
pub const DEFAULT_JOURNAL_CAPACITY: usize = 10_000;

/// Configures a [`Sandbox`]. With no [`app`](Self::app) the three default apps of
/// [`defaults`] exist; with no [`user`](Self::user) the default users do.
#[derive(Debug)]
pub struct SandboxBuilder {
    apps: Vec<App>,
    users: Vec<(String, bool)>,
    listen: SocketAddr,
    journal_capacity: usize,
    shapes: Shapes,
    limits: ServerLimits,
    problems: Vec<String>,
}

impl SandboxBuilder {
    /// How answers are shaped where real WeChat varies ([`Shapes`]); default
    /// [`Shapes::default`].
    pub fn shapes(mut self, shapes: Shapes) -> Self {
        self.shapes = shapes;
        self
    }

    /// Connection limits: header-read and idle timeouts, connection cap ([`ServerLimits`]).
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds an app. Call [`domain`](Self::domain) right after to set its callback host.
    pub fn app(
        mut self,
        appid: impl Into<String>,
        secret: impl Into<String>,
        kind: AppKind,
    ) -> Self {
        self.apps.push(App {
            appid: appid.into(),
            secret: secret.into(),
            kind,
            domain: None,
        });
        self
    }

    /// Sets the authorized callback domain of the app added last: `host` (ports 80/443 only,
    /// as on WeChat) or `host:port` (as test accounts may register). Without it, any loopback
    /// host on any port is accepted.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        match self.apps.last_mut() {
            Some(app) => app.domain = Some(domain.into()),
            None => self
                .problems
                .push("domain() must follow an app()".to_owned()),
        }
        self
    }

    /// Adds a user.
    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.users.push((id.into(), false));
        self
    }

    /// Adds a snapshot-mode user: Official Account tokens carry `is_snapshotuser: 1`, and the
    /// openid/unionid are virtual-account ids (docs/protocol.md §3).
    pub fn snapshot_user(mut self, id: impl Into<String>) -> Self {
        self.users.push((id.into(), true));
        self
    }

    /// The address to bind; default `127.0.0.1:0` (a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// How many requests the journal keeps (oldest dropped first); 0 disables it.
    /// Default [`DEFAULT_JOURNAL_CAPACITY`].
    pub fn journal_capacity(mut self, capacity: usize) -> Self {
        self.journal_capacity = capacity;
        self
    }

    fn directory(self) -> Result<(Directory, SocketAddr, usize)> {
        let mut problems = self.problems;
        let apps = if self.apps.is_empty() {
            default_apps()
        } else {
            self.apps
        };
        let users = if self.users.is_empty() {
            defaults::USERS
                .iter()
                .map(|id| (id.to_string(), *id == defaults::SNAPSHOT_USER))
                .collect()
        } else {
            self.users
        };
        for (i, app) in apps.iter().enumerate() {
            if app.appid.is_empty() || app.secret.is_empty() {
                problems.push(format!("app #{} needs a non-empty appid and secret", i + 1));
            }
            if apps[..i].iter().any(|a| a.appid == app.appid) {
                problems.push(format!("appid `{}` is configured twice", app.appid));
            }
        }
        for (i, (id, _)) in users.iter().enumerate() {
            if id.is_empty() || id.contains(|c: char| c.is_control() || c == ';' || c == ',') {
                problems.push(format!(
                    "user id `{id}` must be non-empty, without control characters, `;` or `,`"
                ));
            }
            if users[..i].iter().any(|(other, _)| other == id) {
                problems.push(format!("user `{id}` is configured twice"));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Config(problems.join("; ")));
        }
        let users = users
            .iter()
            .map(|(id, snapshot)| model::new_user(id, *snapshot))
            .collect();
        Ok((
            Directory::new(apps, users),
            self.listen,
            self.journal_capacity,
        ))
    }

    /// Binds the listener and starts serving on the current tokio runtime. The server stops
    /// when the last [`Sandbox`] handle is dropped.
    pub async fn start(mut self) -> Result<Sandbox> {
        let shapes = std::mem::take(&mut self.shapes);
        let limits = std::mem::take(&mut self.limits);
        self.problems.extend(limits.problems());
        let (dir, listen, journal_capacity) = self.directory()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let shared = Arc::new(Shared::new(dir, journal_capacity, shapes));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), limits, stopped));
        let url = match addr {
            SocketAddr::V4(v4) => format!("http://{v4}"),
            SocketAddr::V6(v6) => format!("http://[{}]:{}", v6.ip(), v6.port()),
        };
        Ok(Sandbox {
            shared,
            url,
            addr,
            _stop: Arc::new(StopOnDrop(stop)),
        })
    }
}

fn default_apps() -> Vec<App> {
    use defaults::*;
    [
        (OFFICIAL_APPID, OFFICIAL_SECRET, AppKind::Official),
        (WEBSITE_APPID, WEBSITE_SECRET, AppKind::Website),
        (MINIPROGRAM_APPID, MINIPROGRAM_SECRET, AppKind::MiniProgram),
    ]
    .into_iter()
    .map(|(appid, secret, kind)| App {
        appid: appid.to_owned(),
        secret: secret.to_owned(),
        kind,
        domain: None,
    })
    .collect()
}

#[derive(Debug)]
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A running sandbox. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    url: String,
    addr: SocketAddr,
    _stop: Arc<StopOnDrop>,
}

/// Shows where it listens and what it serves; never codes, tokens, secrets or the journal.
impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("url", &self.url)
            .field("apps", &self.apps())
            .field("users", &self.users())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts configuring a sandbox.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            apps: Vec::new(),
            users: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            journal_capacity: DEFAULT_JOURNAL_CAPACITY,
            shapes: Shapes::default(),
            limits: ServerLimits::default(),
            problems: Vec::new(),
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`, no trailing slash. It serves both the
    /// `open.weixin.qq.com` pages (`/connect/*`) and the `api.weixin.qq.com` APIs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured apps (no secrets).
    pub fn apps(&self) -> Vec<AppInfo> {
        self.shared.dir.app_infos()
    }

    /// The configured users.
    pub fn users(&self) -> Vec<UserInfo> {
        self.shared.dir.user_infos()
    }

    /// Every journaled request since start, the last [`clear_journal`](Self::clear_journal)
    /// or [`reset`](Self::reset), oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().journal.iter().cloned().collect()
    }

    /// Forgets the journal and the request counts.
    pub fn clear_journal(&self) {
        self.shared.lock().clear_journal();
    }

    /// How many requests reached `path` since start, the last
    /// [`clear_journal`](Self::clear_journal) or [`reset`](Self::reset). Unlike the journal,
    /// which keeps only its newest entries, this never drops anything.
    pub fn request_count(&self, path: &str) -> u64 {
        self.shared.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// Back to the state right after start: no codes, tokens, session keys, faults or journal,
    /// and the clock back to wall time. Apps, users and ids stay.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// The answer shapes in force ([`Shapes`]).
    pub fn shapes(&self) -> Shapes {
        Shapes::clone(&self.shared.lock().shapes)
    }

    /// Shapes every answer from now on as `shapes` (until the next call or
    /// [`reset`](Self::reset), which restores the builder's).
    pub fn set_shapes(&self, shapes: Shapes) {
        self.shared.lock().shapes = Arc::new(shapes);
    }

    /// Moves the sandbox clock forward: codes, tokens and refresh tokens expire without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.shared
            .advance_clock_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Sandbox time, unix milliseconds (wall clock plus every `advance_clock`).
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }

    fn with_ctx<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let now_ms = self.shared.now_ms();
        let mut st = self.shared.lock();
        let mut ctx = Ctx {
            dir: &self.shared.dir,
            st: &mut st,
            now_ms,
        };
        f(&mut ctx)
    }

    /// A code exactly as if `user` approved `scope` (`snsapi_base`, `snsapi_userinfo` for
    /// Official Accounts, `snsapi_login` for websites) on the authorize page. For benchmarks
    /// and tests that do not exercise the pages.
    pub fn mint_code(&self, appid: &str, user: &str, scope: &str) -> Result<String> {
        self.with_ctx(|ctx| mint_code_in(ctx, appid, user, scope))
    }

    /// The openid `user` has under `appid`: deterministic, stable across runs. For a snapshot
    /// user it is the virtual-account openid its tokens carry.
    pub fn openid(&self, appid: &str, user: &str) -> String {
        let snapshot = self
            .shared
            .dir
            .user(user)
            .is_some_and(|u| self.shared.dir.users[u].snapshot);
        model::openid_for(appid, user, snapshot)
    }

    /// The unionid of `user` (all sandbox apps are bound to one Open Platform account).
    pub fn unionid(&self, user: &str) -> String {
        let snapshot = self
            .shared
            .dir
            .user(user)
            .is_some_and(|u| self.shared.dir.users[u].snapshot);
        model::unionid_for(user, snapshot)
    }

    /// Queues `fault` for the next request to `path` (e.g. `"/sns/userinfo"`); faults for one
    /// path are used first in, first out, one per request.
    pub fn inject_fault(&self, path: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// `wx.login()` on a device: returns a `js_code` for `/sns/jscode2session` and rotates the
    /// user's session_key (the old one stops verifying).
    pub fn mp_login(&self, appid: &str, user: &str) -> Result<String> {
        self.with_ctx(|ctx| miniprogram::login(ctx, appid, user))
    }

    /// `wx.getUserInfo()` on a device: `rawData`, `signature`, `encryptedData`, `iv`, made with
    /// the user's current session_key. Needs a prior [`mp_login`](Self::mp_login).
    pub fn mp_userinfo(&self, appid: &str, user: &str) -> Result<MpUserInfo> {
        self.with_ctx(|ctx| miniprogram::userinfo(ctx, appid, user))
    }

    /// The `getPhoneNumber` button: a code for `/wxa/business/getuserphonenumber`.
    pub fn mp_phone_code(&self, appid: &str, user: &str) -> Result<String> {
        self.with_ctx(|ctx| miniprogram::phone_code(ctx, appid, user))
    }

    /// Checks a complete authorize URL exactly as the authorize pages would, plus what only
    /// the full string shows: the path and the trailing `#wechat_redirect`. The host is not
    /// checked, so a URL built for the real `open.weixin.qq.com` can be checked too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_sandbox::{Sandbox, defaults::OFFICIAL_APPID};
    ///
    /// let sandbox = Sandbox::builder().start().await?;
    /// let good = format!(
    ///     "https://open.weixin.qq.com/connect/oauth2/authorize?appid={OFFICIAL_APPID}\
    ///      &redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&response_type=code\
    ///      &scope=snsapi_userinfo&state=abc#wechat_redirect"
    /// );
    /// assert!(sandbox.check_authorize_url(&good).is_ok());
    /// let swapped = good.replacen("appid=", "x=", 1);
    /// assert!(sandbox.check_authorize_url(&swapped).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_authorize_url(&self, url: &str) -> Result<(), AuthorizeUrlError> {
        self.with_ctx(|ctx| connect::check_url(ctx, url))
    }

    /// The user's current session_key under a Mini Program, if it has logged in. A test
    /// fixture: real servers never reveal it to the device.
    pub fn session_key(&self, appid: &str, user: &str) -> Option<String> {
        let dir = &self.shared.dir;
        let key = (dir.app(appid)?, dir.user(user)?);
        self.shared.lock().session_keys.get(&key).cloned()
    }
}

pub(crate) fn mint_code_in(
    ctx: &mut Ctx<'_>,
    appid: &str,
    user: &str,
    scope: &str,
) -> Result<String> {
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Error::UnknownApp(appid.to_owned()))?;
    let user_idx = ctx
        .dir
        .user(user)
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    let scope_ok = Scope::parse(scope).filter(|s| s.allowed_for(ctx.dir.apps[app].kind));
    let Some(scope) = scope_ok else {
        return Err(Error::Scope {
            appid: appid.to_owned(),
            scope: scope.to_owned(),
        });
    };
    Ok(sns::mint_web_code(ctx, app, user_idx, scope))
}
