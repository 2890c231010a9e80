//! Mini Program login (the seed's `isMiniProgram` mode), done safely.
//!
//! The flow (docs/protocol.md §4):
//! 1. The Mini Program calls `wx.login` and sends the `js_code` to your server.
//! 2. Your server calls [`MiniProgramClient::login`] (or [`code_to_session`]): WeChat
//!    answers the user's `openid`, `unionid` and `session_key`. The [`Session`] is saved in
//!    a [`SessionStore`] of its own (not the OAuth token store) and the app answers its
//!    client with a [`Login`], which has no `session_key` field: the key never leaves the
//!    server.
//! 3. Data the device sends later (`encryptedData` + `iv`, `rawData` + `signature`) is
//!    checked with the stored key: [`MiniProgramClient::decrypt_user_info_for`] (which
//!    also requires the session's own `openId`), [`MiniProgramClient::decrypt_for`],
//!    [`MiniProgramClient::verify_signature`]. Decryption is strict (base64 and lengths,
//!    AES-128-CBC, 16-byte PKCS#7, JSON, `watermark.appid`, optional age) and fails with
//!    the official demo's -41001 / -41002 / -41003 meanings ([`DecryptError`]).
//! 4. [`MiniProgramClient::check_session_key`] asks WeChat whether a stored key is still
//!    current; [`MiniProgramClient::get_phone_number_for`] exchanges a phone-button code
//!    (bound to the logged-in user's openid). Both use the app's server access token,
//!    managed by
//!    [`ServerTokenManager`](crate::server_token::ServerTokenManager).
//!
//! Nothing decrypted is logged, and the types holding personal data print redacted `Debug`.
//!
//! ```no_run
//! use wechat_oauth::miniprogram::MiniProgramClient;
//!
//! # async fn run(js_code: &str, encrypted_data: &str, iv: &str) -> wechat_oauth::Result<()> {
//! let client = MiniProgramClient::builder("wx5a4d1e0f0a000003", "app-secret").build()?;
//!
//! // POST /login {js_code}: answer the Mini Program with `login` (no session_key inside).
//! let login = client.login(js_code).await?;
//! println!("{}", serde_json::to_string(&login).unwrap_or_default());
//!
//! // POST /profile {encryptedData, iv} from the same user (your session gives the openid).
//! let profile = client.decrypt_user_info_for(&login.openid, encrypted_data, iv).await?;
//! # let _ = profile;
//! # Ok(()) }
//! ```
//!
//! [`code_to_session`]: MiniProgramClient::code_to_session

mod client;
mod crypto;
mod payload;
mod session;

pub use crate::app::MiniProgramClientBuilder;
#[cfg(feature = "fuzzing")]
pub(crate) use client::{Code2Session, PhoneResponse};
pub use client::{MiniProgramClient, MiniProgramUser, SessionKeyStatus};
pub use crypto::{
    DecryptError, DecryptReason, decrypt, diagnose, session_key_signature, verify_signature,
};
pub use payload::{Decrypted, PhoneInfo, UserInfo, Watermark};
pub use session::{Login, MemorySessionStore, Session, SessionStore, validate_session};
