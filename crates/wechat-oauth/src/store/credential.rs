//! App credentials: values the *app* (not a user) holds, with an expiry, shared by every
//! process: the server access token (`cgi-bin/stable_token`), the JS-SDK `jsapi_ticket`,
//! and later third-party-platform tokens.
//!
//! WeChat limits how often an app may fetch these (2,000 server-token fetches a day), and a
//! non-stable fetch invalidates the previous token, so every process must read the one
//! shared copy instead of fetching its own.

use async_trait::async_trait;

use super::StoreError;
use crate::Secret;

/// One app credential as kept in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credential {
    /// The credential itself (a token or a ticket). Redacted in `Debug`.
    pub value: Secret,
    /// When it was obtained from WeChat, in milliseconds since the Unix epoch. A store never
    /// replaces a credential with one obtained earlier.
    pub obtained_at: i64,
    /// When WeChat says it stops working, in milliseconds since the Unix epoch.
    pub expires_at: i64,
}

impl Credential {
    /// A credential obtained at `obtained_at` that expires at `expires_at` (both in
    /// milliseconds since the Unix epoch).
    pub fn new(value: impl Into<Secret>, obtained_at: i64, expires_at: i64) -> Self {
        Self {
            value: value.into(),
            obtained_at,
            expires_at,
        }
    }

    /// Whether the credential is past its expiry at `now_millis`.
    pub fn is_expired_at(&self, now_millis: i64) -> bool {
        now_millis >= self.expires_at
    }
}

/// Largest credential value a store accepts.
pub const MAX_CREDENTIAL_BYTES: usize = 4 * 1024;

/// Checks a credential before a store writes it: a sane key, nothing oversized.
///
/// # Errors
/// [`StoreError::Rejected`] naming what is wrong (never the value).
pub fn validate_credential(key: &str, credential: &Credential) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Rejected("empty credential key".into()));
    }
    if key.len() > 200 {
        return Err(StoreError::Rejected(
            "credential key longer than 200 bytes".into(),
        ));
    }
    if credential.value.expose_secret().len() > MAX_CREDENTIAL_BYTES {
        return Err(StoreError::Rejected(format!(
            "credential longer than {MAX_CREDENTIAL_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Where app credentials live, keyed by a name such as `server_token:wx…` or
/// `jsapi_ticket:wx…`.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// The credential stored under `key`, expired or not, or `None`.
    async fn get_credential(&self, key: &str) -> Result<Option<Credential>, StoreError>;

    /// Stores `credential` under `key` unless the store holds one with a later
    /// `obtained_at`. Returns `true` when written.
    async fn put_credential(&self, key: &str, credential: &Credential) -> Result<bool, StoreError>;

    /// Removes the credential under `key` (nothing happens if there is none).
    async fn delete_credential(&self, key: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: CredentialStore + ?Sized> CredentialStore for std::sync::Arc<S> {
    async fn get_credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        (**self).get_credential(key).await
    }
    async fn put_credential(&self, key: &str, credential: &Credential) -> Result<bool, StoreError> {
        (**self).put_credential(key, credential).await
    }
    async fn delete_credential(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete_credential(key).await
    }
}
