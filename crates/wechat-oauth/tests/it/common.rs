//! Shared fixtures: a sandbox, a client pointed at it, logins, journal queries, stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use wechat_oauth::store::{Lease, LeaseStore, StoreError, TokenStore};
use wechat_oauth::{AccessToken, MemoryStore, OAuthClient, OAuthClientBuilder};
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};
use wechat_sandbox::{JournalEntry, Sandbox};

pub const USERINFO: &str = "/sns/userinfo";
pub const REFRESH: &str = "/sns/oauth2/refresh_token";
pub const EXCHANGE: &str = "/sns/oauth2/access_token";
pub const AUTH: &str = "/sns/auth";

pub async fn sandbox() -> Sandbox {
    Sandbox::builder().start().await.unwrap()
}

/// A builder for the default Official Account app, pointed at `sandbox`, with short
/// retry backoffs so retry tests run quickly.
pub fn builder(sandbox: &Sandbox) -> OAuthClientBuilder {
    OAuthClient::builder(OFFICIAL_APPID, OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .retry_backoff(Duration::from_millis(5))
}

pub fn client(sandbox: &Sandbox) -> OAuthClient {
    builder(sandbox).build().unwrap()
}

/// The user approves `scope` and the client exchanges the code (saving the token).
pub async fn login(
    sandbox: &Sandbox,
    client: &OAuthClient,
    user: &str,
    scope: &str,
) -> AccessToken {
    let code = sandbox.mint_code(client.appid(), user, scope).unwrap();
    client.get_access_token(code).await.unwrap()
}

/// The requests the sandbox received on `path`.
pub fn calls(sandbox: &Sandbox, path: &str) -> Vec<JournalEntry> {
    sandbox
        .journal()
        .into_iter()
        .filter(|e| e.path == path)
        .collect()
}

/// Rewrites the stored token for `openid` as if it had been issued `age` ago.
pub async fn age_stored_token(store: &dyn TokenStore, openid: &str, age: Duration) -> AccessToken {
    let mut token = store.get(openid).await.unwrap().unwrap();
    token.create_at -= i64::try_from(age.as_millis()).unwrap();
    store.delete(openid).await.unwrap();
    assert!(store.save(openid, &token).await.unwrap());
    token
}

/// Makes the stored token for `openid` expired both locally and in the sandbox.
pub async fn expire_everywhere(
    sandbox: &Sandbox,
    client: &OAuthClient,
    openid: &str,
) -> AccessToken {
    sandbox.advance_clock(Duration::from_secs(7201));
    age_stored_token(
        client.token_store().as_ref(),
        openid,
        Duration::from_secs(7201),
    )
    .await
}

/// A [`MemoryStore`] that counts reads.
#[derive(Debug, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub gets: AtomicUsize,
}

impl CountingStore {
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(openid).await
    }
    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        self.inner.save(openid, token).await
    }
    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        self.inner.delete(openid).await
    }
}

#[async_trait]
impl LeaseStore for CountingStore {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        self.inner.acquire_lease(name, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release_lease(lease).await
    }
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.claim_once(key, ttl).await
    }
}

/// A store whose reads fail (the seed's "mock get token error").
#[derive(Debug)]
pub struct FailingStore;

#[async_trait]
impl TokenStore for FailingStore {
    async fn get(&self, _: &str) -> Result<Option<AccessToken>, StoreError> {
        Err(StoreError::backend("get token error"))
    }
    async fn save(&self, _: &str, _: &AccessToken) -> Result<bool, StoreError> {
        Err(StoreError::backend("save token error"))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for FailingStore {
    async fn acquire_lease(&self, name: &str, _: Duration) -> Result<Option<Lease>, StoreError> {
        Ok(Some(Lease::new(name)))
    }
    async fn release_lease(&self, _: &Lease) -> Result<(), StoreError> {
        Ok(())
    }
    async fn claim_once(&self, _: &str, _: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }
}

pub fn shared_memory_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

/// The 8 keys the upstream tests expect in a user profile.
pub fn assert_user_keys(user: &wechat_oauth::UserInfo) {
    let json = serde_json::to_value(user).unwrap();
    for key in [
        "openid",
        "nickname",
        "sex",
        "province",
        "city",
        "country",
        "headimgurl",
        "privilege",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert!(!user.openid.is_empty());
}

/// The 6 keys the upstream tests expect in a stored token.
pub fn assert_token_keys(token: &AccessToken) {
    let json = serde_json::to_value(token).unwrap();
    for key in [
        "access_token",
        "expires_in",
        "refresh_token",
        "openid",
        "scope",
        "create_at",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json:?}");
    }
    assert!(!token.access_token.is_empty() && !token.refresh_token.is_empty());
    assert!(token.expires_in > 0 && token.create_at > 0);
}
