//! Redis token store for [`wechat_oauth`], with lease locks for multi-process refresh.
//!
//! Layout (prefix `wechat-oauth:` by default, see [`RedisOptions::prefix`]):
//!
//! | key | type | content |
//! |---|---|---|
//! | `<prefix>token:<openid>` | hash | `token`: the token's JSON in the seed's shape; `create_at`: its `create_at` as a decimal string |
//! | `<prefix>lease:<name>` | string | the lease holder's id, with the lease's time-to-live as the key's expiry |
//!
//! - `save` is a Lua script that compares `create_at` (as decimal strings, exactly: Lua's
//!   numbers are doubles and would round a `create_at` beyond 2^53) and writes only if the
//!   stored token is not newer; it runs atomically on the server, so an older token never
//!   replaces a newer one.
//! - `acquire_lease` is `SET key holder NX PX ttl`; `release_lease` a compare-and-delete
//!   script, so a lease that expired and was taken by another holder is left alone.
//! - The connection is a [`redis::aio::ConnectionManager`]: one multiplexed connection that
//!   reconnects by itself after a server restart. Every operation runs under
//!   [`RedisOptions::timeout`], so a down or stalled server gives
//!   [`StoreError::Unavailable`] or [`StoreError::Timeout`], never a hang.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wechat_oauth::TokenStore;
//! use wechat_oauth_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), wechat_oauth::StoreError> {
//! let store: Arc<dyn TokenStore> = Arc::new(RedisStore::connect("redis://127.0.0.1:6379/").await?);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script};
use wechat_oauth::store::{Lease, decode_stored_str, encode_for_store, validate_for_save};
use wechat_oauth::{AccessToken, LeaseStore, StoreError, TokenStore};

/// Writes the token unless the stored one is newer. KEYS[1] the token key; ARGV[1] the
/// JSON, ARGV[2] create_at. Returns 1 if written, 0 if a newer token was kept.
const SAVE_SCRIPT: &str = r"
local function greater(a, b) -- a > b for decimal integer strings, without rounding
  local neg_a, neg_b = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if neg_a ~= neg_b then return neg_b end
  if neg_a then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a > #b end
  return a > b
end
local current = redis.pcall('HGET', KEYS[1], 'create_at')
if type(current) == 'table' and current.err then
  -- Not a hash (written by something else): a broken value protects nothing.
  redis.call('DEL', KEYS[1])
  current = false
end
if current and string.match(current, '^-?%d+$') and greater(current, ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'create_at', ARGV[2])
return 1
";

/// Deletes KEYS[1] only if it still holds ARGV[1] (the lease holder).
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Settings of a [`RedisStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "wechat-oauth:".into(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `wechat-oauth:`, a 5 s timeout per operation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prefix of every key this store writes (default `wechat-oauth:`), so several
    /// apps, or tests, can share one Redis database.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest any one operation may take, reconnecting included (default 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A token store in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    options: RedisOptions,
    save: Script,
    release: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port/db`) with the default options.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a bad URL (not repeated: it may hold a password);
    /// [`StoreError::Unavailable`] or [`StoreError::Timeout`] if the server cannot be
    /// reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with `options`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|_| StoreError::Rejected("not a Redis URL".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            // Reconnection is retried on the next command; a command never waits through
            // a long backoff series.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = timed(options.timeout, async {
            ConnectionManager::new_with_config(client, config)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(Self::with_connection(conn, options))
    }

    /// A store on an existing connection manager.
    pub fn with_connection(conn: ConnectionManager, options: RedisOptions) -> Self {
        Self {
            conn,
            options,
            save: Script::new(SAVE_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
        }
    }

    /// The key holding `openid`'s token.
    pub fn token_key(&self, openid: &str) -> String {
        format!("{}token:{openid}", self.options.prefix)
    }

    /// The key holding the lease `name`.
    pub fn lease_key(&self, name: &str) -> String {
        format!("{}lease:{name}", self.options.prefix)
    }

    /// The key marking the single-use value `key` as claimed.
    pub fn claim_key(&self, key: &str) -> String {
        format!("{}claim:{key}", self.options.prefix)
    }

    async fn run<T>(
        &self,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        timed(self.options.timeout, async {
            op.await.map_err(store_error)
        })
        .await
    }
}

async fn timed<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_| StoreError::Timeout)?
}

fn store_error(err: RedisError) -> StoreError {
    if err.is_timeout() {
        StoreError::Timeout
    } else if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.code() == Some("LOADING")
    {
        StoreError::unavailable(err)
    } else if err.code() == Some("WRONGTYPE") {
        StoreError::Malformed("the key holds a value of another type".into())
    } else {
        StoreError::backend(err)
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.token_key(openid);
        let json: Option<String> = self.run(conn.hget(&key, "token")).await?;
        json.map(|j| decode_stored_str(&j)).transpose()
    }

    async fn save(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        validate_for_save(openid, token)?;
        let json = encode_for_store(token)?;
        let mut conn = self.conn.clone();
        let mut invocation = self.save.key(self.token_key(openid));
        invocation.arg(json).arg(token.create_at.to_string());
        let written: i64 = self.run(invocation.invoke_async(&mut conn)).await?;
        Ok(written == 1)
    }

    async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.token_key(openid);
        self.run(conn.del::<_, ()>(&key)).await
    }
}

#[async_trait]
impl LeaseStore for RedisStore {
    async fn acquire_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let lease = Lease::new(name);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(self.lease_key(name))
            .arg(lease.holder())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let reply: Option<String> = self.run(set.query_async(&mut conn)).await?;
        Ok(reply.is_some().then_some(lease))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.release.key(self.lease_key(lease.name()));
        invocation.arg(lease.holder());
        self.run(invocation.invoke_async::<i64>(&mut conn)).await?;
        Ok(())
    }

    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(self.claim_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let reply: Option<String> = self.run(set.query_async(&mut conn)).await?;
        Ok(reply.is_some())
    }
}
