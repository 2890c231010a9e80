//! [`RecordStore`]: the one primitive a shared backend implements to keep every kind of
//! state beside user tokens (Mini Program sessions, web sessions, app credentials,
//! single-use claims).
//!
//! Each of those kinds is a keyed [`Record`]: opaque JSON text, a version that decides
//! "newer wins", an optional expiry and an optional owner (the openid whose web sessions
//! "sign out everywhere" deletes). A backend that implements the five record operations
//! gets [`SessionStore`], [`WebSessionStore`] and [`CredentialStore`] from the blanket impls
//! here, so every backend encodes, validates and expires them the same way; no backend has
//! its own copy of that logic.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{
    Credential, CredentialStore, StoreError, WebSession, WebSessionStore, validate_credential,
    validate_web_session,
};
use crate::miniprogram::{Session, SessionStore, validate_session};
use crate::now_millis;

/// The kinds of state kept as records. Each has a name space of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// Mini Program sessions, keyed by openid.
    MiniProgramSession,
    /// Web login sessions, keyed by session id, owned by an openid.
    WebSession,
    /// App credentials, keyed by name (`server_token:wx…`).
    Credential,
    /// Single-use values ([`LeaseStore::claim_once`](super::LeaseStore::claim_once)).
    Claim,
}

impl RecordKind {
    /// Every kind, for backends that prepare one table, folder or prefix per kind.
    pub const ALL: [RecordKind; 4] = [
        Self::MiniProgramSession,
        Self::WebSession,
        Self::Credential,
        Self::Claim,
    ];

    /// A short stable name: a column value, a key prefix, a folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MiniProgramSession => "mp_session",
            Self::WebSession => "web_session",
            Self::Credential => "credential",
            Self::Claim => "claim",
        }
    }
}

/// One stored record.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The payload: JSON text written by this module (it may hold secrets; never logged).
    pub value: String,
    /// Orders writes: a [`Guard::IfNotNewer`] write loses to a stored record with a larger
    /// version.
    pub version: i64,
    /// When the record stops being returned (milliseconds since the epoch), if ever.
    pub expires_at: Option<i64>,
    /// The latest `expires_at` a [`touch`](RecordStore::touch_record) may move it to.
    pub limit_at: Option<i64>,
    /// The openid the record belongs to, for [`delete_records_of`](RecordStore::delete_records_of).
    pub owner: Option<String>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("value", &"<redacted>")
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("limit_at", &self.limit_at)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Record {
    /// A record from its parts.
    pub fn new(
        value: impl Into<String>,
        version: i64,
        expires_at: Option<i64>,
        limit_at: Option<i64>,
        owner: Option<String>,
    ) -> Self {
        Self {
            value: value.into(),
            version,
            expires_at,
            limit_at,
            owner,
        }
    }

    /// Whether the record has expired at `now` (milliseconds since the epoch).
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// When [`put_record`](RecordStore::put_record) may replace a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Guard {
    /// Always.
    Always,
    /// Unless the stored record has a larger version (equal versions replace).
    IfNotNewer,
    /// Only if there is none or it has expired at this time (milliseconds since the epoch).
    IfExpired(i64),
}

/// The storage primitive behind sessions, web sessions, credentials and claims.
///
/// Implementations must be atomic per record across processes: a guarded put compares and
/// writes in one step.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// The record `key` of `kind` unless it is absent or expired at `now`.
    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: i64,
    ) -> Result<Option<Record>, StoreError>;

    /// Writes `record` under `key` if `guard` allows it; `true` when written.
    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        record: &Record,
        guard: Guard,
    ) -> Result<bool, StoreError>;

    /// Moves the expiry of an unexpired record to `expires_at`, capped at its `limit_at`;
    /// `false` when there is no such record.
    async fn touch_record(
        &self,
        kind: RecordKind,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Deletes the record (nothing happens if there is none).
    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<(), StoreError>;

    /// Deletes every record of `kind` owned by `owner`; returns how many.
    async fn delete_records_of(&self, kind: RecordKind, owner: &str) -> Result<u64, StoreError>;

    /// Deletes every record, of any kind, that expired at or before `now` (milliseconds
    /// since the epoch); returns how many. Expired records are never returned anyway; this
    /// keeps them from piling up (one claim per login and per message). A backend whose
    /// records expire by themselves (Redis) returns 0.
    ///
    /// [`claim_record`] calls it after every [`PURGE_EVERY_CLAIMS`]th claim of a process;
    /// call it from a scheduled job too if you like.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// How many claims a process makes between two [`RecordStore::purge_expired`] calls.
pub const PURGE_EVERY_CLAIMS: u64 = 1024;

/// Claims `key` for `ttl` through [`RecordStore::put_record`] with [`Guard::IfExpired`]: the
/// `claim_once` of every record backend.
///
/// # Errors
/// The backend's error; [`StoreError::Rejected`] for an empty or over-long key.
pub async fn claim_record<S: RecordStore + ?Sized>(
    store: &S,
    key: &str,
    ttl: std::time::Duration,
) -> Result<bool, StoreError> {
    if key.is_empty() || key.len() > 200 {
        return Err(StoreError::Rejected("claim key must be 1-200 bytes".into()));
    }
    let now = now_millis();
    let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    // A value of its own, so a backend that cannot count written rows can tell its claim
    // from another's by reading it back.
    let holder = serde_json::json!({ "claim": crate::state::random_alphanumeric(24) });
    let record = Record::new(holder.to_string(), now, Some(until), None, None);
    let claimed = store
        .put_record(RecordKind::Claim, key, &record, Guard::IfExpired(now))
        .await?;
    static CLAIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if n.is_multiple_of(PURGE_EVERY_CLAIMS) {
        // The claim is settled; a failed purge only means the next one does more.
        match store.purge_expired(now).await {
            Ok(purged) => tracing::debug!(purged, "purged expired records"),
            Err(error) => tracing::warn!(%error, "could not purge expired records"),
        }
    }
    Ok(claimed)
}

fn decode<T: serde::de::DeserializeOwned>(record: &Record, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(&record.value).map_err(|e| {
        StoreError::Malformed(format!("stored {what} is not valid ({:?})", e.classify()))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
    session_key: String,
    created_at: i64,
}

#[async_trait]
impl<T: RecordStore + ?Sized> SessionStore for T {
    async fn get_session(&self, openid: &str) -> Result<Option<Session>, StoreError> {
        let Some(record) = self
            .get_record(RecordKind::MiniProgramSession, openid, now_millis())
            .await?
        else {
            return Ok(None);
        };
        let stored: StoredSession = decode(&record, "Mini Program session")?;
        Ok(Some(Session::new(
            stored.openid,
            stored.unionid,
            stored.session_key,
            stored.created_at,
        )))
    }

    async fn save_session(&self, session: &Session) -> Result<bool, StoreError> {
        validate_session(session)?;
        let value = encode(&StoredSession {
            openid: session.openid.clone(),
            unionid: session.unionid.clone(),
            session_key: session.session_key.expose_secret().to_owned(),
            created_at: session.created_at,
        })?;
        let record = Record::new(value, session.created_at, None, None, None);
        self.put_record(
            RecordKind::MiniProgramSession,
            &session.openid,
            &record,
            Guard::IfNotNewer,
        )
        .await
    }

    async fn delete_session(&self, openid: &str) -> Result<(), StoreError> {
        self.delete_record(RecordKind::MiniProgramSession, openid)
            .await
    }
}

#[derive(Serialize, Deserialize)]
struct StoredWebSession {
    openid: String,
    data: String,
    created_at: i64,
    expires_at: i64,
}

#[async_trait]
impl<T: RecordStore + ?Sized> WebSessionStore for T {
    async fn create_web_session(&self, session: &WebSession) -> Result<(), StoreError> {
        validate_web_session(session)?;
        let value = encode(&StoredWebSession {
            openid: session.openid.clone(),
            data: session.data.clone(),
            created_at: session.created_at,
            expires_at: session.expires_at,
        })?;
        let record = Record::new(
            value,
            session.created_at,
            Some(session.idle_expires_at.min(session.expires_at)),
            Some(session.expires_at),
            Some(session.openid.clone()),
        );
        self.put_record(
            RecordKind::WebSession,
            session.id.expose_secret(),
            &record,
            Guard::Always,
        )
        .await?;
        Ok(())
    }

    async fn get_web_session(&self, id: &str) -> Result<Option<WebSession>, StoreError> {
        let now = now_millis();
        let Some(record) = self.get_record(RecordKind::WebSession, id, now).await? else {
            return Ok(None);
        };
        let stored: StoredWebSession = decode(&record, "web session")?;
        let mut session = WebSession::new(
            id,
            stored.openid,
            stored.data,
            stored.created_at,
            stored.expires_at,
        );
        session.idle_expires_at = record.expires_at.unwrap_or(stored.expires_at);
        // A backend without server-side expiry may hand back a record a moment late.
        Ok((!session.is_expired_at(now)).then_some(session))
    }

    async fn touch_web_session(&self, id: &str, idle_expires_at: i64) -> Result<bool, StoreError> {
        self.touch_record(RecordKind::WebSession, id, idle_expires_at, now_millis())
            .await
    }

    async fn delete_web_session(&self, id: &str) -> Result<(), StoreError> {
        self.delete_record(RecordKind::WebSession, id).await
    }

    async fn delete_web_sessions_for(&self, openid: &str) -> Result<u64, StoreError> {
        self.delete_records_of(RecordKind::WebSession, openid).await
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCredential {
    value: String,
    obtained_at: i64,
    expires_at: i64,
}

#[async_trait]
impl<T: RecordStore + ?Sized> CredentialStore for T {
    async fn get_credential(&self, key: &str) -> Result<Option<Credential>, StoreError> {
        // Returned expired or not (the trait's contract): the caller decides whether to
        // refetch, and an expired credential still says when it was obtained.
        let Some(record) = self
            .get_record(RecordKind::Credential, key, now_millis())
            .await?
        else {
            return Ok(None);
        };
        let stored: StoredCredential = decode(&record, "credential")?;
        Ok(Some(Credential::new(
            stored.value,
            stored.obtained_at,
            stored.expires_at,
        )))
    }

    async fn put_credential(&self, key: &str, credential: &Credential) -> Result<bool, StoreError> {
        validate_credential(key, credential)?;
        let value = encode(&StoredCredential {
            value: credential.value.expose_secret().to_owned(),
            obtained_at: credential.obtained_at,
            expires_at: credential.expires_at,
        })?;
        let record = Record::new(value, credential.obtained_at, None, None, None);
        self.put_record(RecordKind::Credential, key, &record, Guard::IfNotNewer)
            .await
    }

    async fn delete_credential(&self, key: &str) -> Result<(), StoreError> {
        self.delete_record(RecordKind::Credential, key).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Claims in a map; counts purges.
    #[derive(Default)]
    struct Claims {
        held: Mutex<std::collections::HashMap<String, Record>>,
        purges: AtomicU64,
    }

    #[async_trait]
    impl RecordStore for Claims {
        async fn get_record(
            &self,
            _: RecordKind,
            _: &str,
            _: i64,
        ) -> Result<Option<Record>, StoreError> {
            Ok(None)
        }
        async fn put_record(
            &self,
            _: RecordKind,
            key: &str,
            record: &Record,
            guard: Guard,
        ) -> Result<bool, StoreError> {
            let mut held = self.held.lock().unwrap();
            let free = match (guard, held.get(key)) {
                (Guard::IfExpired(now), Some(current)) => current.is_expired_at(now),
                _ => true,
            };
            if free {
                held.insert(key.to_owned(), record.clone());
            }
            Ok(free)
        }
        async fn touch_record(
            &self,
            _: RecordKind,
            _: &str,
            _: i64,
            _: i64,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn delete_record(&self, _: RecordKind, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn delete_records_of(&self, _: RecordKind, _: &str) -> Result<u64, StoreError> {
            Ok(0)
        }
        async fn purge_expired(&self, _: i64) -> Result<u64, StoreError> {
            self.purges.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Unavailable("purge failed".into()))
        }
    }

    #[tokio::test]
    async fn claims_purge_expired_records_now_and_then_and_a_failed_purge_fails_no_claim() {
        let store = Claims::default();
        let ttl = std::time::Duration::from_secs(60);
        for i in 0..2 * PURGE_EVERY_CLAIMS {
            assert!(claim_record(&store, &format!("k{i}"), ttl).await.unwrap());
        }
        assert!(!claim_record(&store, "k0", ttl).await.unwrap());
        // Every 1,024th claim of the process purges; other tests' claims may take a turn.
        let purges = store.purges.load(Ordering::Relaxed);
        assert!((1..=2).contains(&purges), "{purges} purges in 2,048 claims");
    }
}
