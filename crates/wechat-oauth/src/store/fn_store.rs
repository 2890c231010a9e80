//! [`FnStore`]: the seed's `getToken` / `saveToken` pair, as two async closures.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;

use super::{BoxError, Lease, LeaseStore, MemoryStore, StoreError, TokenStore, validate_for_save};
use crate::AccessToken;

type GetFn =
    dyn Fn(String) -> BoxFuture<'static, Result<Option<AccessToken>, BoxError>> + Send + Sync;
type SaveFn = dyn Fn(String, AccessToken) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync;
type DeleteFn = dyn Fn(String) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync;

/// A store made of your own functions, the way the seed takes `getToken` and `saveToken`:
/// port those two callbacks to async closures and keep your storage as it is.
///
/// What the closures do not provide, `FnStore` adds in this process:
///
/// - **newer wins**: `save` reads the current token through `get` first and skips the write
///   if it is newer, with saves for one openid serialized inside this process. Another
///   process writing through its own functions is not covered; for several processes use a
///   store with a conditional write (SQL, Redis, MongoDB, [`FileStore`](super::FileStore));
/// - **leases** are held in this process's memory, so refreshes are single-flight here but
///   not across processes;
/// - **delete** calls the function given to [`with_delete`](Self::with_delete); without
///   one it does nothing (the seed has no delete either), and the SDK still treats an
///   expired or rejected token as absent.
///
/// Errors returned by the closures become [`StoreError::Backend`]; a [`StoreError`] they
/// return (say [`StoreError::Malformed`] from [`decode_stored`](super::decode_stored)) is
/// passed through as it is.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use wechat_oauth::{AccessToken, TokenStore, store::FnStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wechat_oauth::StoreError> {
/// // Stand-in for your database: openid -> the token's JSON.
/// let db: Arc<Mutex<HashMap<String, String>>> = Arc::default();
/// let (read, write) = (db.clone(), db.clone());
/// let store = FnStore::new(
///     move |openid| {
///         let db = read.clone();
///         async move {
///             let json = db.lock().unwrap().get(&openid).cloned();
///             Ok::<_, serde_json::Error>(json.map(|j| serde_json::from_str(&j)).transpose()?)
///         }
///     },
///     move |openid, token: AccessToken| {
///         let db = write.clone();
///         async move {
///             db.lock().unwrap().insert(openid, serde_json::to_string(&token)?);
///             Ok::<_, serde_json::Error>(())
///         }
///     },
/// );
/// let token = AccessToken::new("ACCESS", 7200, "REFRESH", "o1", "snsapi_base", 1);
/// assert!(store.save("o1", &token).await?);
/// assert_eq!(store.get("o1").await?, Some(token));
/// # Ok(())
/// # }
/// ```
pub struct FnStore {
    get: Box<GetFn>,
    save: Box<SaveFn>,
    delete: Option<Box<DeleteFn>>,
    /// One async mutex per openid being saved, so a read-compare-write is not interleaved.
    saving: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    leases: MemoryStore,
}

impl fmt::Debug for FnStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnStore")
            .field("delete", &self.delete.is_some())
            .finish_non_exhaustive()
    }
}

impl FnStore {
    /// A store reading with `get(openid)` and writing with `save(openid, token)`.
    pub fn new<G, GF, GE, S, SF, SE>(get: G, save: S) -> Self
    where
        G: Fn(String) -> GF + Send + Sync + 'static,
        GF: Future<Output = Result<Option<AccessToken>, GE>> + Send + 'static,
        GE: Into<BoxError>,
        S: Fn(String, AccessToken) -> SF + Send + Sync + 'static,
        SF: Future<Output = Result<(), SE>> + Send + 'static,
        SE: Into<BoxError>,
    {
        Self {
            get: Box::new(move |openid| {
                let fut = get(openid);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }),
            save: Box::new(move |openid, token| {
                let fut = save(openid, token);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }),
            delete: None,
            saving: Mutex::default(),
            leases: MemoryStore::new(),
        }
    }

    /// Adds the function `delete` calls.
    #[must_use]
    pub fn with_delete<D, DF, DE>(mut self, delete: D) -> Self
    where
        D: Fn(String) -> DF + Send + Sync + 'static,
        DF: Future<Output = Result<(), DE>> + Send + 'static,
        DE: Into<BoxError>,
    {
        self.delete = Some(Box::new(move |openid| {
            let fut = delete(openid);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    fn save_lock(&self, openid: &str) -> Result<Arc<tokio::sync::Mutex<()>>, StoreError> {
        let mut saving = self
            .saving
            .lock()
            .map_err(|_| StoreError::backend("FnStore lock poisoned"))?;
        // Drop the entries nobody is waiting on, so the map stays as small as the traffic.
        saving.retain(|_, m| Arc::strong_count(m) > 1);
        Ok(saving.entry(openid.to_owned()).or_default().clone())
    }
}

fn closure_error(err: BoxError) -> StoreError {
    match err.downcast::<StoreError>() {
        Ok(err) => *err,
        Err(err) => StoreError::Backend(err),
    }
}

#[async_trait]
impl TokenStore for FnStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        (self.get)(openid.to_owned()).await.map_err(closure_error)
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let lock = self.save_lock(openid)?;
        let _guard = lock.lock().await;
        match self.get(openid).await {
            Ok(Some(current)) if current.create_at > token.create_at => return Ok(false),
            // A stored value that no longer parses protects nothing: it is replaced.
            Ok(_) | Err(StoreError::Malformed(_)) => {}
            Err(e) => return Err(e),
        }
        (self.save)(openid.to_owned(), token.clone())
            .await
            .map_err(closure_error)?;
        Ok(true)
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        match &self.delete {
            Some(delete) => delete(openid.to_owned()).await.map_err(closure_error),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl LeaseStore for FnStore {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.leases.acquire_lease(name, ttl).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.leases.release_lease(lease).await
    }

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.leases.claim_once(key, ttl).await
    }
}
