//! [`MiniProgramClient`]: the server side of a Mini Program login.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::crypto::{self, Checks, DecryptError, DecryptReason};
use super::payload::{Decrypted, PhoneInfo, UserInfo};
use super::session::{Login, Session, SessionStore};
use crate::app::MiniProgramClientBuilder;
use crate::server_token::ServerTokenManager;
use crate::transport::Transport;
use crate::{AppSecret, AuthCode, Error, SessionKey};

/// The server side of Mini Program login for one app (the seed's `isMiniProgram` mode).
///
/// Cheap to clone (an `Arc` inside); `Debug` shows the appid only.
#[derive(Clone)]
pub struct MiniProgramClient {
    inner: Arc<Inner>,
}

struct Inner {
    appid: String,
    secret: AppSecret,
    transport: Transport,
    sessions: Arc<dyn SessionStore>,
    server_token: ServerTokenManager,
    max_watermark_age: Option<Duration>,
}

impl fmt::Debug for MiniProgramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniProgramClient")
            .field("appid", &self.inner.appid)
            .field("max_watermark_age", &self.inner.max_watermark_age)
            .finish_non_exhaustive()
    }
}

/// A user identified by a Mini Program login, with their decrypted profile: the seed's
/// mini-program `getUserByCode`, which dropped the openid and unionid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MiniProgramUser {
    /// The user's id in this Mini Program, from `jscode2session` (trustworthy: it came
    /// from WeChat's server, not from the device).
    pub openid: String,
    /// The user's unionid, from `jscode2session` or else from the decrypted data.
    pub unionid: Option<String>,
    /// The decrypted profile.
    pub user_info: UserInfo,
}

/// Whether a stored session key is still the user's current one (`wxa/checksession`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionKeyStatus {
    /// WeChat confirmed the key.
    Valid,
    /// WeChat answered 87009: the device logged in again and the key was replaced. Data
    /// from the device will not decrypt with it; the Mini Program must log in again.
    Stale,
}

#[derive(Deserialize)]
pub(crate) struct Code2Session {
    openid: String,
    session_key: SessionKey,
    #[serde(default)]
    unionid: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PhoneResponse {
    phone_info: PhoneInfo,
}

impl MiniProgramClient {
    /// Starts building a client for the Mini Program `appid` with its AppSecret: the
    /// app's builder ([`WeChatApp::builder`](crate::WeChatApp::builder)), returning its
    /// Mini Program client.
    ///
    /// ```no_run
    /// use wechat_oauth::miniprogram::{MemorySessionStore, MiniProgramClient};
    ///
    /// # fn run() -> wechat_oauth::Result<()> {
    /// let client = MiniProgramClient::builder("wx5a4d1e0f0a000003", "app-secret")
    ///     .api_base("http://127.0.0.1:8080") // the sandbox; omit for WeChat
    ///     .session_store(MemorySessionStore::new())
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn builder(
        appid: impl Into<String>,
        secret: impl Into<AppSecret>,
    ) -> MiniProgramClientBuilder {
        MiniProgramClientBuilder::new(appid.into(), secret.into())
    }

    /// The client of an app (see [`crate::WeChatApp`]).
    pub(crate) fn new(
        appid: String,
        secret: AppSecret,
        transport: Transport,
        sessions: Arc<dyn SessionStore>,
        server_token: ServerTokenManager,
        max_watermark_age: Option<Duration>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                appid,
                secret,
                transport,
                sessions,
                server_token,
                max_watermark_age,
            }),
        }
    }

    /// The Mini Program's appid.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// The session store.
    pub fn session_store(&self) -> Arc<dyn SessionStore> {
        Arc::clone(&self.inner.sessions)
    }

    /// The manager of this app's server access token, for other server-side calls.
    pub fn server_token(&self) -> &ServerTokenManager {
        &self.inner.server_token
    }

    /// Exchanges a `wx.login` code for the user's session (`GET sns/jscode2session`,
    /// docs/protocol.md §4.1) and saves it in the session store under the openid.
    ///
    /// Never retried: a code is single-use, and a retry after a lost answer would fail with
    /// 40163 anyway (docs/protocol.md §3.1). Keep the returned [`Session`] on the server; give the Mini
    /// Program [`Session::login`] (or use [`login`](Self::login)).
    ///
    /// # Errors
    /// [`Error::WeChat`] (40029 invalid code, 40163 code used, 40226 login blocked, 45011
    /// rate limited, -1 busy), [`Error::Transport`], [`Error::Response`],
    /// [`Error::Store`] if the session could not be saved, [`Error::InvalidArgument`] for an empty code.
    pub async fn code_to_session(&self, js_code: impl Into<AuthCode>) -> Result<Session, Error> {
        let js_code = js_code.into();
        if js_code.is_empty() {
            return Err(Error::InvalidArgument("empty js_code".into()));
        }
        let inner = &self.inner;
        let created_at = crate::now_millis();
        let answer: Code2Session = inner
            .transport
            .get(
                "sns/jscode2session",
                &[
                    ("appid", &inner.appid),
                    ("secret", inner.secret.expose_secret()),
                    ("js_code", js_code.expose_secret()),
                    ("grant_type", "authorization_code"),
                ],
            )
            .await?;
        let session = Session::new(
            answer.openid,
            answer.unionid.filter(|u| !u.is_empty()),
            answer.session_key,
            created_at,
        );
        inner.sessions.save_session(&session).await?;
        tracing::debug!(
            target: "wechat_oauth::miniprogram",
            openid = %session.openid,
            "mini program session saved"
        );
        Ok(session)
    }

    /// [`code_to_session`](Self::code_to_session), returning only what the app may send
    /// back to the Mini Program: a [`Login`], which has no session key.
    ///
    /// # Errors
    /// As [`code_to_session`](Self::code_to_session).
    pub async fn login(&self, js_code: impl Into<AuthCode>) -> Result<Login, Error> {
        self.code_to_session(js_code).await.map(|s| s.login())
    }

    /// The stored session of `openid`, if any.
    ///
    /// # Errors
    /// [`Error::Store`] if the store fails.
    pub async fn session(&self, openid: &str) -> Result<Option<Session>, Error> {
        Ok(self.inner.sessions.get_session(openid).await?)
    }

    async fn require_session(&self, openid: &str) -> Result<Session, Error> {
        self.session(openid).await?.ok_or_else(|| Error::NoSession {
            openid: openid.to_owned(),
        })
    }

    /// Decrypts `encryptedData` with a session key and checks it was made for this app
    /// (and, if configured, is recent enough); see [`decrypt`](super::decrypt) for the checks.
    ///
    /// # Errors
    /// [`DecryptError`]: -41001 bad key, -41002 bad iv, -41003 anything else (opaque).
    pub fn decrypt(
        &self,
        session_key: &SessionKey,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<Decrypted, DecryptError> {
        let checks = Checks {
            appid: Some(&self.inner.appid),
            max_age: self.inner.max_watermark_age,
        };
        crypto::decrypt_checked(session_key.expose_secret(), encrypted_data, iv, checks)
            .map(Decrypted::new)
            .map_err(crypto::report)
    }

    /// [`decrypt`](Self::decrypt) with the session key stored for `openid`, for any payload
    /// (phone, WeRun, share info). If the payload names an `openId`, it must be `openid`'s.
    /// For user info prefer [`decrypt_user_info_for`](Self::decrypt_user_info_for), which
    /// requires it.
    ///
    /// # Errors
    /// [`Error::NoSession`] if no session is stored for `openid`, [`Error::Store`],
    /// [`Error::Decrypt`].
    pub async fn decrypt_for(
        &self,
        openid: &str,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<Decrypted, Error> {
        let session = self.require_session(openid).await?;
        let decrypted = self.decrypt(&session.session_key, encrypted_data, iv)?;
        match decrypted.json().get("openId") {
            Some(id) if id.as_str() != Some(openid) => {
                Err(crypto::report(DecryptReason::OpenIdMismatch).into())
            }
            _ => Ok(decrypted),
        }
    }

    /// [`decrypt_user_info`](Self::decrypt_user_info) with the session stored for `openid`.
    ///
    /// # Errors
    /// [`Error::NoSession`] if no session is stored for `openid`, [`Error::Store`],
    /// [`Error::Decrypt`].
    pub async fn decrypt_user_info_for(
        &self,
        openid: &str,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<UserInfo, Error> {
        let session = self.require_session(openid).await?;
        Ok(self.decrypt_user_info(&session, encrypted_data, iv)?)
    }

    /// Decrypts `wx.getUserInfo` data with `session`'s key and checks that it is about that
    /// session's user: the decrypted `openId` must equal `session.openid`.
    ///
    /// The openid check matters because AES-CBC has no integrity: whoever sends the `iv`
    /// can flip bits of the first plaintext block at will, and WeChat's user info starts
    /// with `{"openId":"…`. Requiring the session's exact openid turns every such edit into
    /// an error (docs/protocol.md §4.2).
    ///
    /// # Errors
    /// [`DecryptError`] as [`decrypt`](Self::decrypt); [`DecryptError::IllegalBuffer`] also
    /// when the JSON is not user info or its `openId` is missing or another user's.
    pub fn decrypt_user_info(
        &self,
        session: &Session,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<UserInfo, DecryptError> {
        let user_info = self
            .decrypt(&session.session_key, encrypted_data, iv)?
            .user_info()?;
        if user_info.open_id.as_deref() != Some(session.openid.as_str()) {
            return Err(crypto::report(DecryptReason::OpenIdMismatch));
        }
        Ok(user_info)
    }

    /// Logs the user in with `js_code` and decrypts the `encryptedData`/`iv` that
    /// `wx.getUserInfo` returned right after: the seed's mini-program `getUserByCode`, but
    /// keeping the openid and unionid. The session is saved as by
    /// [`code_to_session`](Self::code_to_session).
    ///
    /// # Errors
    /// As [`code_to_session`](Self::code_to_session), and [`Error::Decrypt`] as
    /// [`decrypt_user_info`](Self::decrypt_user_info).
    pub async fn get_user_by_code(
        &self,
        js_code: impl Into<AuthCode>,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<MiniProgramUser, Error> {
        let session = self.code_to_session(js_code).await?;
        let user_info = self.decrypt_user_info(&session, encrypted_data, iv)?;
        Ok(MiniProgramUser {
            unionid: session.unionid.or_else(|| user_info.union_id.clone()),
            openid: session.openid,
            user_info,
        })
    }

    /// Checks the `signature` of `wx.getUserInfo`'s `rawData` against a session key:
    /// `hex(sha1(rawData + session_key))`, compared in constant time (docs/protocol.md §4.3).
    pub fn verify_signature(
        &self,
        raw_data: &str,
        signature: &str,
        session_key: &SessionKey,
    ) -> bool {
        crypto::verify_signature(raw_data, signature, session_key.expose_secret())
    }

    /// Asks WeChat whether the session key stored for `openid` is still the user's current
    /// one (`GET wxa/checksession`, docs/protocol.md §4.4). Uses the server access token,
    /// refreshed and retried once if WeChat rejects it.
    ///
    /// # Errors
    /// [`Error::NoSession`] if no session is stored for `openid`; the server token's errors;
    /// [`Error::WeChat`] for anything but 0 and 87009.
    pub async fn check_session_key(&self, openid: &str) -> Result<SessionKeyStatus, Error> {
        let session = self.require_session(openid).await?;
        let signature = crypto::session_key_signature(session.session_key.expose_secret());
        let transport = &self.inner.transport;
        let answer = self
            .inner
            .server_token
            .call_with_token(|token| {
                let signature = &signature;
                async move {
                    transport
                        .get_idempotent::<crate::response::Ack>(
                            "wxa/checksession",
                            &[
                                ("access_token", token.expose_secret()),
                                ("openid", openid),
                                ("signature", signature),
                                ("sig_method", "hmac_sha256"),
                            ],
                        )
                        .await
                }
            })
            .await;
        match answer {
            Ok(_) => Ok(SessionKeyStatus::Valid),
            Err(err) if err.errcode() == Some(87009) => Ok(SessionKeyStatus::Stale),
            Err(err) => Err(err),
        }
    }

    /// Exchanges a `getPhoneNumber` button code for the user's phone number
    /// (`POST wxa/business/getuserphonenumber`, JSON body, docs/protocol.md §4.5).
    ///
    /// Never retried, because the code is single-use. If WeChat rejects the server token,
    /// the token is dropped from the cache (the next call fetches a new one) and the error
    /// is returned.
    ///
    /// # Errors
    /// [`Error::WeChat`] (40029 invalid or used code, 40001 stale token, 45011 rate
    /// limited), [`Error::Transport`], [`Error::Response`], [`Error::InvalidArgument`] for an empty code.
    pub async fn get_phone_number(&self, code: impl Into<AuthCode>) -> Result<PhoneInfo, Error> {
        self.phone_number(code.into(), None).await
    }

    /// [`get_phone_number`](Self::get_phone_number), with WeChat checking that the code was
    /// issued to `openid` (the optional `openid` of the request body, docs/protocol.md §4.5). Pass the
    /// openid of the app's logged-in user, so that one user cannot submit a code obtained
    /// by another.
    ///
    /// # Errors
    /// As [`get_phone_number`](Self::get_phone_number); WeChat answers 40003 when the code
    /// belongs to another user.
    pub async fn get_phone_number_for(
        &self,
        code: impl Into<AuthCode>,
        openid: &str,
    ) -> Result<PhoneInfo, Error> {
        if openid.is_empty() {
            return Err(Error::InvalidArgument("empty openid".into()));
        }
        self.phone_number(code.into(), Some(openid)).await
    }

    async fn phone_number(&self, code: AuthCode, openid: Option<&str>) -> Result<PhoneInfo, Error> {
        if code.is_empty() {
            return Err(Error::InvalidArgument("empty phone code".into()));
        }
        let mut body = serde_json::json!({ "code": code.expose_secret() });
        if let Some(openid) = openid {
            body["openid"] = openid.into();
        }
        let token = self.inner.server_token.access_token().await?;
        let answer: Result<PhoneResponse, Error> = self
            .inner
            .transport
            .post_json(
                "wxa/business/getuserphonenumber",
                &[("access_token", token.expose_secret())],
                &body,
            )
            .await;
        if answer.as_ref().is_err_and(Error::is_token_invalid) {
            self.inner.server_token.invalidate(&token);
        }
        Ok(answer?.phone_info)
    }
}
