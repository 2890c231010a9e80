//! WeChat login for [axum]: put WeChat in front of your pages in a few lines, safely.
//!
//! [`WeChatLogin`] mounts three routes and a [`WeChatUser`] extractor:
//!
//! - **login** (`GET /auth/wechat/login?return_to=/path`) redirects to WeChat's authorize
//!   page with a fresh `state`;
//! - **callback** (`GET` at the path of your callback URL) checks the state, exchanges the
//!   code through the SDK's [`OAuthClient`](wechat_oauth::OAuthClient) (which saves the
//!   token in its store), fetches the profile for `snsapi_userinfo` / `snsapi_login`, starts a
//!   server-side session (the cookie holds only its random id), and answers `303 See Other`
//!   to the clean return path so `code` and `state` leave the address bar and history;
//! - **logout** (`POST /auth/wechat/logout`) deletes the session on the server, and
//!   **logout everywhere** (`POST /auth/wechat/logout-everywhere`) every session of that
//!   user ([`WeChatLogin::sign_out_everywhere`] does the same from code);
//! - [`WeChatUser`] as a handler argument gives the logged-in user, or redirects to login
//!   and back to the current page; `Option<WeChatUser>` never redirects. It reads the
//!   [`WeChatLogin`] from the router's state through [`FromRef`](axum::extract::FromRef):
//!   the state is the login itself, or your app state with
//!   `impl FromRef<AppState> for WeChatLogin`. The routes can be merged at the root or
//!   nested under a prefix ([`WeChatLoginBuilder::nested_under`]).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use wechat_oauth::OAuthClient;
//! use wechat_oauth_axum::{Flow, Key, WeChatLogin, WeChatUser};
//!
//! async fn profile(user: WeChatUser) -> String {
//!     format!("hello {}", user.nickname.as_deref().unwrap_or(&user.openid))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = OAuthClient::builder("wx1234567890abcdef", "app-secret").build()?;
//! let login = WeChatLogin::builder(client, "https://example.com/auth/wechat/callback", Key::generate())
//!     .flow(Flow::OfficialAccountUserInfo)
//!     .build()?;
//!
//! // The router's state provides the login: forgetting it is a compile error, not a 500.
//! let app: Router = Router::new()
//!     .route("/profile", get(profile))
//!     .merge(login.routes())
//!     .with_state(login);
//!
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! wechat_oauth_axum::serve(listener, app, wechat_oauth_axum::ServeLimits::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! A handler that asks for a [`WeChatUser`] on a router whose state cannot provide the
//! login is refused by the compiler:
//!
//! ```compile_fail
//! use axum::{Router, routing::get};
//! use wechat_oauth_axum::WeChatUser;
//!
//! async fn profile(user: WeChatUser) -> String {
//!     user.openid
//! }
//!
//! // error: `WeChatLogin: FromRef<()>` is not satisfied
//! let app: Router = Router::new().route("/profile", get(profile));
//! ```
//!
//! # What it guards against
//!
//! - **Stolen or leftover session cookies.** Sessions live in [`Stores::web_sessions`]
//!   (give the builder the same [`Stores`] on every process: [`WeChatLoginBuilder::stores`]);
//!   the cookie carries only a random 190-bit id from a CSPRNG, signed. Logging out deletes
//!   the session, so a copy of the cookie taken before is refused after it. A session ends
//!   after its idle lifetime without requests (default 24 hours) and after its absolute
//!   lifetime in any case (default 7 days); both are configurable. Every login gets a fresh
//!   id and ends the browser's previous session (no session fixation). A profile of any size
//!   fits, since it is not in the cookie.
//! - **Cross-site logout.** The logout routes refuse, with a 403 page, a request that the
//!   browser marks as coming from another site (`Sec-Fetch-Site`, `Origin`), headers a page
//!   cannot forge.
//! - **Forged, replayed and expired states** (RFC 6749 §10.12, RFC 9700 §2.1). The `state`
//!   is `[A-Za-z0-9]`, at most 128 characters as WeChat requires, and carries a nonce, an
//!   expiry (10 minutes at most), the flow and the return path under an HMAC with your
//!   [`Key`]. It is single use: the callback claims `state:<nonce>` once
//!   ([`LeaseStore::claim_once`]) in [`Stores::leases`], so a replay is refused even on
//!   another process sharing the store, and no code is exchanged for it.
//! - **Login CSRF and session hijack from a leaked callback URL.** A signed pending-login
//!   cookie ties each state to the browser that started it, and a callback is accepted only
//!   from that browser; see [Browser binding](#browser-binding).
//! - **Open redirects.** `return_to` must be a same-site path ([`safe_return_path`]);
//!   `//evil.com`, `https://evil.com`, `/\evil.com`, `%2F%2Fevil.com`, `javascript:` … all
//!   fall back to the after-login default. The callback never reads a return path from
//!   its own query.
//! - **Pending-login cookie overflow.** The pending-login cookie has a fixed small size
//!   whatever the input (under 1 KiB): the three most recent logins, and the return paths
//!   too long for the state within 400 bytes (newest first; a longer path lands on the
//!   after-login page). The newest login always completes. Nothing is kept on the server
//!   for a login that has not come back, so the login route cannot be used to fill the store.
//! - **Duplicate callbacks.** WeChat sometimes calls the callback twice with the same code
//!   and state. In the same browser the second call completes the same login without a
//!   second code exchange; elsewhere it is refused. When WeChat rejects the code (40029,
//!   40163) or the state expired, the login restarts once, never in a loop.
//! - **Mix-up.** A state minted for one app or flow (Official Account vs website login) is
//!   refused by another.
//! - **Snapshot-mode users** (`is_snapshotuser`, 快照页) get no session by default; see
//!   [`SnapshotUsers`].
//! - **Leaks.** Callback answers carry `Referrer-Policy: no-referrer` and
//!   `Cache-Control: no-store`; cookies are `HttpOnly`, `SameSite=Lax` and `Secure` (unless
//!   the site is plain http on a loopback host); tokens never reach the browser.
//!
//! A denied authorization shows a refusal page; every failure page can be replaced with
//! [`WeChatLoginBuilder::failure_page`].
//!
//! # Browser binding
//!
//! A callback URL carries everything WeChat hands out: the `code` and the `state`. It can
//! leak (a proxy or access log, a `Referer`, a shared screenshot, a browser extension) and
//! it can be planted (an attacker approves a login as themselves and gets the victim to open
//! the resulting URL). Neither the code nor the signed state says *which browser* may use
//! it, so the login route also sets a pending-login cookie holding a hash of the state's
//! nonce, and the callback completes a login only in a browser that sends that cookie back
//! (RFC 6749 §10.12, RFC 9700 §4.7).
//!
//! There is no exception for any browser. An earlier version let a callback without the
//! cookie through when the `User-Agent` said `MicroMessenger`, because WeChat's in-app
//! browser was reported to drop cookies between the login redirect and the callback
//! (overtrue/socialite#97). But a user agent is a claim, not a proof: anyone replaying a
//! leaked callback URL can send `MicroMessenger`, and the first to do so was signed in as
//! the victim; a planted URL opened inside WeChat signed the victim in as the attacker.
//!
//! What happens instead when the cookie is missing:
//!
//! 1. The callback is not accepted and its code is not exchanged (so it stays usable by the
//!    browser that owns it). The browser is sent to a **fresh login of its own**: a new
//!    state, a new pending-login cookie, the same return path, marked as a restart.
//! 2. If that browser comes back without the cookie again, the restart is not repeated (no
//!    loop): a page ([`LoginFailure::CookieMissing`]) explains that cookies must be allowed
//!    for the site, or the page opened in the phone's own browser.
//!
//! WeChat's in-app browser keeps the site's cookies across the OAuth redirect in the normal
//! case, so logins inside WeChat complete at the first callback; a browser that lost the
//! cookie once gets it again with the restart. For an attacker the restart is useless: it
//! logs the attacker's own browser in as whoever approves on WeChat's page, which is the
//! attacker, and a victim who opens a planted URL is sent to log in as themselves.
//!
//! # Serving it
//!
//! A login page is public: anyone can open connections to it. `axum::serve` sets no limit
//! on how long a client may take to send its request headers or how long an idle
//! connection stays open, so a few hundred slowloris connections (headers sent a byte at a
//! time, or nothing at all) stay open indefinitely and exhaust file descriptors. Serve the
//! app with [`serve`] and [`ServeLimits`] instead (HTTP/1.1; TLS in a reverse proxy):
//!
//! - **header-read timeout** (default 10 s): the whole request head must arrive in time;
//! - **idle timeout** (default 60 s): a connection with no byte in either direction is
//!   closed, whether it is an idle keep-alive connection, a stalled upload or a client that
//!   stopped reading (long-polling handlers need a longer one);
//! - **connection cap** (default 1,024): past it, new connections wait in the kernel's
//!   accept queue instead of costing memory and descriptors.
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> std::io::Result<()> {
//! use std::time::Duration;
//! use wechat_oauth_axum::{ServeLimits, serve};
//!
//! let limits = ServeLimits::default()
//!     .header_read_timeout(Duration::from_secs(5))
//!     .idle_timeout(Duration::from_secs(30))
//!     .max_connections(4096);
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! serve(listener, app, limits, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Behind a reverse proxy (nginx, a cloud load balancer), set the same limits there too
//! (`client_header_timeout`, `keepalive_timeout`, `limit_conn`): the proxy is what the
//! clients connect to. A server of your own built on hyper gets the first two from
//! `hyper::server::conn::http1::Builder::timer(hyper_util::rt::TokioTimer::new())` and
//! `.header_read_timeout(…)`, plus a timeout on the connection's reads and writes, and the
//! cap from a `tokio::sync::Semaphore` taken before each `accept`, which is what [`serve`]
//! does.
//!
//! The demo site this crate's `examples/demo.rs` and `wechat-oauth demo` run is the
//! `demo` module (feature `demo`), a worked example of everything above.
//!
//! [`Stores`]: wechat_oauth::store::Stores
//! [`Stores::web_sessions`]: wechat_oauth::store::Stores::web_sessions
//! [`Stores::leases`]: wechat_oauth::store::Stores::leases
//! [`LeaseStore::claim_once`]: wechat_oauth::store::LeaseStore::claim_once
#![forbid(unsafe_code)]

mod config;
mod cookie;
#[cfg(feature = "demo")]
pub mod demo;
mod extract;
mod follow;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod jssdk;
mod key;
mod origin;
mod outcome;
mod pages;
mod pending;
mod return_path;
mod routes;
mod serve;
mod session;
mod state;

pub use config::{ConfigError, FailurePage, Flow, SnapshotUsers, WeChatLogin, WeChatLoginBuilder};
pub use extract::WeChatUserRejection;
pub use follow::{FollowLogin, FollowLoginBuilder, ScanOutcome};
pub use jssdk::{JsSdk, JsSdkError};
pub use key::{Key, KeyTooShort};
pub use pages::LoginFailure;
pub use return_path::safe_return_path;
pub use serve::{ServeLimits, serve};
pub use session::WeChatUser;
