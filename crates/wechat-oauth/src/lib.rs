//! WeChat OAuth and Mini Program login for async Rust.
//!
//! A port of the npm [`wechat-oauth`](https://www.npmjs.com/package/wechat-oauth) 1.5.0
//! (Official Account web authorization, website QR login, Mini Program login) without its
//! known bugs. This guide follows the npm package's README section by section; the
//! [differences](#differences-from-the-npm-package) are listed at the end.
//!
//! # Single process
//!
//! The npm package's `new OAuth('your appid', 'your secret')` becomes a builder. An app's
//! credentials, connection settings and stores are given once, to a [`WeChatApp`]; the
//! OAuth client, the Mini Program client and the server-token manager come from it and
//! share its connection pool and stores. State is kept in memory by default, which is
//! enough for one process:
//!
//! ```
//! # fn main() -> Result<(), wechat_oauth::Error> {
//! use wechat_oauth::{OAuthClient, WeChatApp};
//!
//! let app = WeChatApp::builder("your appid", "your secret").build()?;
//! let client = app.oauth();
//! // The same in one step, when the app needs nothing but web login:
//! let client = OAuthClient::builder("your appid", "your secret").build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! Clients are cheap to clone and safe to share between tasks. Everything the seed set
//! through `setOpts` is a builder option: [`timeout`](AppBuilder::timeout),
//! [`connect_timeout`](AppBuilder::connect_timeout),
//! [`max_connections`](AppBuilder::max_connections) (a cap on connections to WeChat, 64
//! by default), your own [`http_client`](AppBuilder::http_client) (a `reqwest::Client`
//! with the `reqwest` feature for a proxy or TLS roots, or a closure in tests; see
//! [`transport`]; the built-in client is hyper over rustls, trusting the platform's
//! certificates), and the [`api_base`](AppBuilder::api_base) /
//! [`open_base`](AppBuilder::open_base) URLs, which point the client at the local WeChat
//! sandbox in tests and demos:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use wechat_oauth::OAuthClient;
//!
//! let client = OAuthClient::builder("wx5a4d1e0f0a000001", "sandbox-official-secret")
//!     .api_base("http://127.0.0.1:8080")   // the sandbox; https://api.weixin.qq.com by default
//!     .open_base("http://127.0.0.1:8080")
//!     .timeout(Duration::from_secs(3))
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! # Many processes: a shared token store
//!
//! With several processes or machines, state must live somewhere they all see: user
//! tokens, Mini Program sessions, the app's server access token, and the leases that let
//! one process refresh while the others wait. [`store::Stores`] bundles one store per kind,
//! usually all from one backend, given with [`AppBuilder::stores`]
//! (`wechat_oauth_stores::open("postgres://…")` returns a whole set). The seed took a
//! `getToken(openid)` / `saveToken(openid, token)` pair for user tokens; here that is the
//! [`TokenStore`] trait (set alone with [`AppBuilder::token_store`]), with ready-made
//! backends: [`MemoryStore`] (the default),
//! [`store::FileStore`] (one JSON file per openid, for processes on one machine),
//! SQLite/MySQL/PostgreSQL in `wechat-oauth-sqlx`, Redis in `wechat-oauth-redis` and
//! MongoDB in `wechat-oauth-mongodb` (or `wechat_oauth_stores::open("redis://…")` to pick
//! one from a URL).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wechat_oauth::OAuthClient;
//! use wechat_oauth::store::FileStore;
//!
//! let client = OAuthClient::builder("your appid", "your secret")
//!     .token_store(FileStore::open("/var/lib/myapp/wechat-tokens").await?) // or any TokenStore
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! Porting your own `getToken`/`saveToken` takes a few lines with [`store::FnStore`], which
//! turns two async closures into a store. The seed's README example, one file per openid:
//!
//! ```no_run
//! # fn main() -> Result<(), wechat_oauth::Error> {
//! use wechat_oauth::store::{BoxError, FnStore};
//! use wechat_oauth::{AccessToken, OAuthClient};
//!
//! let store = FnStore::new(
//!     // getToken: read `<openid>:access_token.txt`
//!     |openid: String| async move {
//!         let path = format!("{openid}:access_token.txt");
//!         let token: Result<Option<AccessToken>, BoxError> = match tokio::fs::read_to_string(path).await {
//!             Ok(txt) => Ok(Some(serde_json::from_str(&txt)?)),
//!             Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
//!             Err(e) => Err(e.into()),
//!         };
//!         token
//!     },
//!     // saveToken: one token per openid
//!     |openid: String, token: AccessToken| async move {
//!         let json = serde_json::to_string(&token)?;
//!         tokio::fs::write(format!("{openid}:access_token.txt"), json).await?;
//!         Ok::<_, BoxError>(())
//!     },
//! );
//! let client = OAuthClient::builder("your appid", "your secret")
//!     .token_store(store)
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! Tokens serialize to the same JSON the node library stores, and rows it wrote —
//! `create_at` and `expires_in` as strings included, as in the README's MySQL and Mongo
//! schemas — read back and expire correctly. `FnStore` keeps its refresh leases in this
//! process; for several processes prefer a backend with shared leases ([`store::FileStore`],
//! SQL, Redis, MongoDB), or implement [`TokenStore`] yourself.
//!
//! The lease is what makes a shared store safe: when a token expires, the process that
//! takes the lease `refresh:<openid>` refreshes it with WeChat while the others wait for
//! the new token in the store, so a refresh token is never spent twice. Within one process
//! concurrent calls for one openid already share a single refresh.
//!
//! # The authorize URL
//!
//! The seed's `getAuthorizeURL(redirect, state, scope)`: send the user's browser (inside
//! WeChat) there. Always pass a fresh [`new_state`] kept in the user's session, and check it
//! on the callback with [`states_match`]: `state` is WeChat's only CSRF defence.
//!
//! ```
//! # fn main() -> Result<(), wechat_oauth::Error> {
//! use wechat_oauth::{OAuthClient, Scope};
//!
//! let client = OAuthClient::builder("wx5a4d1e0f0a000001", "your secret").build()?;
//! let state = wechat_oauth::new_state(); // keep it in the session
//! let url = client.authorize_url("https://example.com/wechat/callback", &state, Scope::UserInfo);
//! assert!(url.starts_with(
//!     "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx5a4d1e0f0a000001\
//!      &redirect_uri=https%3A%2F%2Fexample.com%2Fwechat%2Fcallback&response_type=code\
//!      &scope=snsapi_userinfo&state="
//! ));
//! assert!(url.ends_with("&connect_redirect=1#wechat_redirect"));
//! # Ok(()) }
//! ```
//!
//! [`Scope::Base`] (`snsapi_base`) is silent and yields only the openid;
//! [`Scope::UserInfo`] asks for consent and allows [`OAuthClient::get_user`]. For
//! `forcePopup` and other options use [`OAuthClient::authorize`].
//!
//! # Website QR login
//!
//! The seed's `getAuthorizeURLForWebsite(redirect)`: for a desktop site, with a website
//! app's appid (open platform); the scope is `snsapi_login`. The rest of the flow is the
//! same.
//!
//! ```
//! # fn main() -> Result<(), wechat_oauth::Error> {
//! # use wechat_oauth::OAuthClient;
//! let client = OAuthClient::builder("wx5a4d1e0f0a000002", "your secret").build()?;
//! let url = client.authorize_url_for_website("https://example.com/login/callback", "Xy12");
//! assert!(url.starts_with("https://open.weixin.qq.com/connect/qrconnect?"));
//! assert!(url.contains("&scope=snsapi_login&state=Xy12"));
//! # Ok(()) }
//! ```
//!
//! # Code → access token
//!
//! WeChat redirects to `redirect_uri?code=CODE&state=STATE`. Check the state, then
//! exchange the code (the seed's `getAccessToken`); the token is saved through the store:
//!
//! ```no_run
//! # async fn run(client: wechat_oauth::OAuthClient, code: String) -> Result<(), wechat_oauth::Error> {
//! let token = client.get_access_token(code).await?;
//! let openid = token.openid.clone();
//! let access_token = token.access_token.expose_secret(); // never log it
//! # let _ = (openid, access_token);
//! # Ok(()) }
//! ```
//!
//! A code is single-use: the SDK never retries an exchange, and a replayed code fails with
//! [`Error::is_code_used`] (40163); an unknown or expired one with
//! [`Error::is_invalid_code`] (40029).
//!
//! # User info
//!
//! With a `snsapi_userinfo` (or `snsapi_login`) token, fetch the profile by openid (the
//! seed's `getUser`). An expired token is refreshed first; a token WeChat rejects early is
//! refreshed and the call retried once:
//!
//! ```no_run
//! # async fn run(client: wechat_oauth::OAuthClient, openid: String) -> Result<(), wechat_oauth::Error> {
//! use wechat_oauth::Lang;
//!
//! match client.get_user(&openid).await {
//!     Ok(user) => println!("hello {}", user.nickname),
//!     Err(e) if e.is_no_token() || e.is_reauthorize_required() => { /* send to authorize_url */ }
//!     Err(e) if e.is_scope_insufficient() => { /* a snsapi_base token: ask for snsapi_userinfo */ }
//!     Err(e) => return Err(e),
//! }
//! let english = client.get_user_with_lang(&openid, Lang::En).await?;
//! # let _ = english;
//! # Ok(()) }
//! ```
//!
//! Or do both steps at once with [`OAuthClient::get_user_by_code`]. To check a token
//! without the store, [`OAuthClient::verify_token`] answers
//! [`TokenStatus::Valid`]/[`TokenStatus::Invalid`], and `Err` only when WeChat could not
//! say (busy, unreachable).
//!
//! A complete flow against the sandbox, the local WeChat that all tests and demos use
//! (`wechat-sandbox` crate):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wechat_oauth::{OAuthClient, Scope};
//! use wechat_sandbox::{Sandbox, defaults};
//!
//! let sandbox = Sandbox::builder().start().await?;
//! let client = OAuthClient::builder(defaults::OFFICIAL_APPID, defaults::OFFICIAL_SECRET)
//!     .api_base(sandbox.url())
//!     .open_base(sandbox.url())
//!     .build()?;
//! // The sandbox stands in for the user approving the authorize page.
//! let code = sandbox.mint_code(defaults::OFFICIAL_APPID, "alice", "snsapi_userinfo")?;
//! let token = client.get_access_token(code).await?;
//! let user = client.get_user(&token.openid).await?;
//! assert_eq!(user.openid, token.openid);
//! # let _ = Scope::UserInfo;
//! # Ok(()) }
//! ```
//!
//! # Mini Program
//!
//! The seed's `isMiniProgram` flag is a separate client, [`WeChatApp::mini_program`]
//! ([`miniprogram`]): `code_to_session`, `encryptedData` decryption with watermark check,
//! signature checks and phone numbers, with session keys kept apart from OAuth tokens
//! ([`store::Stores::sessions`]). Its server access token comes from the app's
//! [`server_token::ServerTokenManager`], shared by every process through the store.
//!
//! # Secrets
//!
//! Each kind of secret has its own type: [`AppSecret`], [`AuthCode`] (a single-use code,
//! not `Clone`), [`AccessTokenValue`], [`RefreshToken`], [`SessionKey`] and [`State`].
//! They never print, compare in constant time and are zeroed on drop, and a call that
//! takes one does not accept another: `verify_token` with its arguments swapped, or a code
//! passed where a refresh token belongs, does not compile.
//!
//! # Errors
//!
//! One [`Error`] type, `Clone`; branch with its predicates ([`Error::is_invalid_code`],
//! [`Error::is_reauthorize_required`], [`Error::is_retryable`],
//! [`Error::is_invalid_argument`], [`Error::is_no_session`], …) or on [`Error::errcode`],
//! never on messages ([`WeChatError`] splits WeChat's request id off them). No error,
//! `Debug` output or log line carries the app secret, a code or a token.
//!
//! The protocol facts the SDK relies on, with links to WeChat's pages, are written down in
//! the repository's `docs/protocol.md`.
//!
//! # Differences from the npm package
//!
//! Deliberate, each for a reported bug or a WeChat requirement:
//!
//! | npm `wechat-oauth` 1.5.0 | this crate |
//! |---|---|
//! | callbacks, `(err, data, res)` | `async fn … -> Result<T>`; no HTTP response leaks out (issue #39) |
//! | `lang` defaults to `en` | defaults to `zh_CN` ([`Lang`]; issue #55); configurable with [`AppBuilder::default_lang`] |
//! | authorize URLs end in `&state=…#wechat_redirect` | Official Account URLs add `&connect_redirect=1` before `#wechat_redirect` (stops WeChat's duplicate callbacks and their 40163); turn it off with [`AppBuilder::connect_redirect`]`(false)` for byte-identical URLs |
//! | refresh only when the local clock says expired, no margin | refreshed 60 s early ([`AppBuilder::refresh_skew`], capped at half the lifetime), and once more when WeChat answers 40001/42001/40014, with one retry; [`AccessToken::is_valid`] itself keeps the seed's exact rule |
//! | 200 concurrent `getUser` on an expired token send 200 refreshes | one refresh per openid per process, coordinated across processes through the store's lease |
//! | a dead refresh token keeps failing | 40030/42002/42007 delete the stored token and return [`Error::is_reauthorize_required`] |
//! | string `create_at` (the README's MySQL/Mongo schemas) never expires | numbers stored as strings are parsed; such tokens expire |
//! | `getUserByCode` re-reads the token through `getToken` | uses the token it just received |
//! | `verifyToken` reports a busy WeChat as an error like an invalid token | [`TokenStatus`] tri-state: `Ok(Valid)`, `Ok(Invalid(_))`, `Err` for busy/unreachable |
//! | empty body crashes the process; HTML pages and HTTP status ignored | typed [`Error::Response`] (empty, not JSON, truncated, status, too large) with a redacted snippet |
//! | no retries; new TCP connection per call | pooled keep-alive client; idempotent calls retried with backoff and jitter on transport errors and -1; code exchanges never |
//! | the app secret leaks through `err.path` | secrets are typed ([`AppSecret`], [`AuthCode`], …): redacted in `Debug`, absent from errors and logs |
//! | no `state` help | [`new_state`] (CSPRNG, `[A-Za-z0-9]{32}`) and constant-time [`states_match`] |
//! | `getUser(null)` throws; `snsapi_base` + `getUser` gives a bare 48001 | typed arguments; 48001 is [`Error::is_scope_insufficient`] with a hint in its message |
//! | hard-coded `https://api.weixin.qq.com` | per-client base URLs; plain `http://` only on loopback unless [`AppBuilder::allow_insecure_http`] |
//! | Mini Program session keys stored with OAuth tokens | a separate client and session store ([`miniprogram`]) |
//! | one `OAuth` object per app, no server token | one [`WeChatApp`] with its OAuth client, Mini Program client and a server access token shared across processes |
#![forbid(unsafe_code)]

mod app;
mod authorize;
mod client;
pub mod config;
pub mod error;
pub mod follower;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod json_repair;
pub mod jssdk;
mod lenient;
pub mod miniprogram;
mod official_account;
pub mod qrcode;
mod refresh;
mod response;
mod secret;
pub mod server_token;
pub mod state;
pub mod store;
mod token;
pub mod transport;
mod user;

pub use app::{
    AppBuilder, OAuthClientBuilder, OfficialAccountClientBuilder, WeChatApp, WeChatAppBuilder,
};
pub use authorize::{AuthorizeUrl, Scope};
pub use client::{DEFAULT_REFRESH_LEASE_TTL, DEFAULT_REFRESH_SKEW, OAuthClient};
pub use config::{DEFAULT_MAX_CONNECTIONS, HttpOptions};
pub use error::{Error, WeChatError, WeChatErrorKind};
pub use official_account::OfficialAccountClient;
pub use secret::{AccessTokenValue, AppSecret, AuthCode, RefreshToken, Secret, SessionKey, State};
pub use state::{is_valid_state, new_state, states_match};
pub use store::{
    Credential, CredentialStore, Lease, LeaseStore, MemoryStore, StoreError, Stores, TokenStore,
    WebSession, WebSessionStore,
};
pub use token::{AccessToken, now_millis};
pub use user::{Lang, TokenStatus, UserInfo};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
