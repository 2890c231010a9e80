//! WeChat login for [axum]: put WeChat in front of your pages in a few lines, safely.
//!
//! [`WeChatLogin`] mounts three routes and a [`WeChatUser`] extractor:
//!
//! - **login** (`GET /auth/wechat/login?return_to=/path`) redirects to WeChat's authorize
//!   page with a fresh `state`;
//! - **callback** (`GET` at the path of your callback URL) checks the state, exchanges the
//!   code through the SDK's [`OAuthClient`](wechat_oauth::OAuthClient) (which saves the
//!   token in its store), fetches the profile for `snsapi_userinfo` / `snsapi_login`, starts a
//!   signed session cookie, and answers `303 See Other` to the clean return path so `code`
//!   and `state` leave the address bar and history;
//! - **logout** (`POST /auth/wechat/logout`) ends the session;
//! - [`WeChatUser`] as a handler argument gives the logged-in user, or redirects to login
//!   and back to the current page; `Option<WeChatUser>` never redirects.
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
//! let app = Router::new()
//!     .route("/profile", get(profile))
//!     .merge(login.routes())
//!     .layer(login.layer());
//!
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # What it guards against
//!
//! - **Forged, replayed and expired states** (RFC 6749 §10.12, RFC 9700 §2.1). The `state`
//!   is `[A-Za-z0-9]`, at most 128 characters as WeChat requires, and carries a nonce, an
//!   expiry (10 minutes at most), the flow and the return path under an HMAC with your
//!   [`Key`]. It is single use: the callback takes the lease `state:<nonce>` in the client's
//!   token store, so a replay is refused even on another process sharing the store, and no
//!   code is exchanged for it.
//! - **Login CSRF.** A signed pending-login cookie ties the state to the browser that
//!   started it. WeChat's in-app browser sometimes drops cookies (overtrue/socialite#97), so
//!   by default a callback without that cookie is still accepted from the WeChat browser
//!   only; see [`BrowserBinding`].
//! - **Open redirects.** `return_to` must be a same-site path ([`safe_return_path`]);
//!   `//evil.com`, `https://evil.com`, `/\evil.com`, `%2F%2Fevil.com`, `javascript:` … all
//!   fall back to the after-login default. The callback never reads a return path from
//!   its own query.
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
#![forbid(unsafe_code)]

mod config;
mod cookie;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod outcome;
mod pages;
mod return_path;
mod routes;
mod session;
mod state;

pub use config::{
    BrowserBinding, ConfigError, FailurePage, Flow, SnapshotUsers, WeChatLogin, WeChatLoginBuilder,
};
pub use extract::WeChatUserRejection;
pub use key::{Key, KeyTooShort};
pub use pages::LoginFailure;
pub use return_path::safe_return_path;
pub use session::WeChatUser;
