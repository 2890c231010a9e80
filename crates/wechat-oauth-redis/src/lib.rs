//! Redis token store for [`wechat_oauth`], with lease locks for multi-process refresh.
//!
//! Layout (prefix `wechat-oauth:` by default, see [`RedisOptions::prefix`]):
//!
//! | key | type | content |
//! |---|---|---|
//! | `<prefix>token:{<openid>}` | hash | `token`: the token's JSON in the seed's shape; `create_at`: its `create_at` as a decimal string (0.1 wrote `<prefix>token:<openid>`, still read) |
//! | `<prefix>lease:<name>{<tag>}` | string | the lease holder's id, with the lease's time-to-live as the key's expiry; the tag is `name` after its first `:` (`refresh:<openid>` → `{<openid>}`) |
//! | `<prefix><kind>:{<key>}` | hash | a Mini Program session (`mp_session`), web session (`web_session`), credential (`credential`) or claim (`claim`): `value`, `version`, `expires_at`, `limit_at`, `owner`; the key expires with the record |
//! | `<prefix>web_session-of:{<openid>}` | set | the ids of an openid's web sessions ("sign out everywhere") |
//! | `<prefix>schema` | string | the layout version, `2` |
//!
//! Every key carries a hash tag, so each Lua script touches one slot and the store works
//! on a Redis Cluster ([`RedisStore::connect_cluster`]).
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
use wechat_oauth::store::{
    Guard, Lease, Record, RecordKind, RecordStore, claim_record, decode_stored_str,
    encode_for_store, validate_for_save,
};
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

/// The layout version recorded under `<prefix>schema`.
const SCHEMA_VERSION: i64 = 2;

/// Writes a record hash if the guard allows. KEYS[1] the record key; ARGV: value, version,
/// expires_at ('' for none), limit_at, owner, guard (`always`, `newer`, `expired`), now.
/// Returns 1 if written, 0 if kept.
const PUT_SCRIPT: &str = r"
local function greater(a, b) -- a > b for decimal integer strings, without rounding
  local neg_a, neg_b = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if neg_a ~= neg_b then return neg_b end
  if neg_a then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a > #b end
  return a > b
end
local kind = redis.call('TYPE', KEYS[1])
kind = type(kind) == 'table' and kind.ok or kind
if kind ~= 'none' and kind ~= 'hash' then
  redis.call('DEL', KEYS[1]) -- not ours: a broken value protects nothing
elseif kind == 'hash' then
  if ARGV[6] == 'newer' then
    local v = redis.call('HGET', KEYS[1], 'version')
    if v and string.match(v, '^-?%d+$') and greater(v, ARGV[2]) then return 0 end
  elseif ARGV[6] == 'expired' then
    local e = redis.call('HGET', KEYS[1], 'expires_at')
    if not (e and string.match(e, '^-?%d+$')) or greater(e, ARGV[7]) then return 0 end
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'version', ARGV[2], 'expires_at', ARGV[3],
  'limit_at', ARGV[4], 'owner', ARGV[5])
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
";

/// Moves an unexpired record's expiry to min(ARGV[1], limit_at). KEYS[1] the record key;
/// ARGV[2] now. Returns 1 if touched.
const TOUCH_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local e = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '')
if not e or e <= tonumber(ARGV[2]) then return 0 end
local until_ = tonumber(ARGV[1])
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit_at') or '')
if limit and limit < until_ then until_ = limit end
redis.call('HSET', KEYS[1], 'expires_at', string.format('%d', until_))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', until_))
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

/// One Redis server (a reconnecting multiplexed connection) or a Redis Cluster.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// A store in Redis: every kind of state (see the [crate docs](crate) for the keys).
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    options: RedisOptions,
    save: Script,
    release: Script,
    put: Script,
    touch: Script,
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
        let store = Self::with_connection(conn, options);
        store.record_schema_version().await?;
        Ok(store)
    }

    /// A store on an existing connection manager.
    pub fn with_connection(conn: ConnectionManager, options: RedisOptions) -> Self {
        Self::with_conn(Conn::Single(conn), options)
    }

    fn with_conn(conn: Conn, options: RedisOptions) -> Self {
        Self {
            conn,
            options,
            save: Script::new(SAVE_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
            put: Script::new(PUT_SCRIPT),
            touch: Script::new(TOUCH_SCRIPT),
        }
    }

    /// Connects to a Redis Cluster through any of its nodes (`redis://host:port/`, or
    /// several, comma-separated); the cluster finds the others.
    ///
    /// Every key carries a hash tag (`{openid}`, `{session id}`, …), so each Lua script
    /// touches one slot, and one openid's token, Mini Program session and refresh lease
    /// share a slot.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_cluster(nodes: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let nodes: Vec<&str> = nodes.split(',').map(str::trim).collect();
        let client = redis::cluster::ClusterClientBuilder::new(nodes)
            .connection_timeout(options.timeout)
            .response_timeout(options.timeout)
            .retries(1)
            .build()
            .map_err(|_| StoreError::Rejected("not a Redis Cluster URL".into()))?;
        let conn = timed(options.timeout, async {
            client.get_async_connection().await.map_err(store_error)
        })
        .await?;
        let store = Self::with_conn(Conn::Cluster(conn), options);
        store.record_schema_version().await?;
        Ok(store)
    }

    /// The key holding `openid`'s token: `<prefix>token:{<openid>}`.
    pub fn token_key(&self, openid: &str) -> String {
        format!("{}token:{{{openid}}}", self.options.prefix)
    }

    /// Where 0.1 kept `openid`'s token (`<prefix>token:<openid>`, no hash tag): still read,
    /// so tokens written by 0.1 survive the upgrade.
    fn legacy_token_key(&self, openid: &str) -> String {
        format!("{}token:{openid}", self.options.prefix)
    }

    /// The key holding the lease `name`. Its hash tag is what follows the first `:` (the
    /// openid of `refresh:<openid>`), so a refresh lease shares its token's slot.
    pub fn lease_key(&self, name: &str) -> String {
        let tag = name.split_once(':').map_or(name, |(_, rest)| rest);
        format!("{}lease:{name}{{{tag}}}", self.options.prefix)
    }

    /// The hash holding the record `key` of `kind`: `<prefix><kind>:{<key>}`.
    pub fn record_key(&self, kind: RecordKind, key: &str) -> String {
        format!("{}{}:{{{key}}}", self.options.prefix, kind.as_str())
    }

    /// The set of the ids of `owner`'s records of `kind` (web sessions of one openid).
    fn owner_key(&self, kind: RecordKind, owner: &str) -> String {
        format!("{}{}-of:{{{owner}}}", self.options.prefix, kind.as_str())
    }

    /// Records the layout version under `<prefix>schema` (2: hash-tagged keys, records).
    async fn record_schema_version(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{}schema", self.options.prefix);
        self.run(conn.set::<_, _, ()>(key, SCHEMA_VERSION)).await
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
        let mut json: Option<String> = self.run(conn.hget(&key, "token")).await?;
        if json.is_none() {
            json = self
                .run(conn.hget(self.legacy_token_key(openid), "token"))
                .await?;
        }
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
        self.run(conn.del::<_, ()>(self.token_key(openid))).await?;
        self.run(conn.del::<_, ()>(self.legacy_token_key(openid)))
            .await
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
        claim_record(self, key, ttl).await
    }
}

#[async_trait]
impl RecordStore for RedisStore {
    async fn get_record(
        &self,
        kind: RecordKind,
        key: &str,
        now: i64,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<String>> = self
            .run(
                redis::cmd("HMGET")
                    .arg(self.record_key(kind, key))
                    .arg(&["value", "version", "expires_at", "limit_at", "owner"])
                    .query_async(&mut conn),
            )
            .await?;
        let [value, version, expires_at, limit_at, owner] = <[Option<String>; 5]>::try_from(fields)
            .map_err(|_| StoreError::Malformed("unexpected HMGET reply".into()))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let number = |field: Option<String>, name: &str| -> Result<Option<i64>, StoreError> {
            match field.as_deref() {
                None | Some("") => Ok(None),
                Some(n) => n
                    .parse()
                    .map(Some)
                    .map_err(|_| StoreError::Malformed(format!("field `{name}` is not a number"))),
            }
        };
        let version = number(version, "version")?
            .ok_or_else(|| StoreError::Malformed("field `version` is missing".into()))?;
        let record = Record::new(
            value,
            version,
            number(expires_at, "expires_at")?,
            number(limit_at, "limit_at")?,
            owner.filter(|o| !o.is_empty()),
        );
        // The key's own expiry removes it soon after; until then it is filtered here.
        Ok((!record.is_expired_at(now)).then_some(record))
    }

    async fn put_record(
        &self,
        kind: RecordKind,
        key: &str,
        record: &Record,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        if key.is_empty() || key.len() > 512 {
            return Err(StoreError::Rejected("key must be 1-512 bytes".into()));
        }
        let (guard, now) = match guard {
            Guard::IfNotNewer => ("newer", 0),
            Guard::IfExpired(now) => ("expired", now),
            _ => ("always", 0),
        };
        let text = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let mut conn = self.conn.clone();
        let mut invocation = self.put.key(self.record_key(kind, key));
        invocation
            .arg(&record.value)
            .arg(record.version.to_string())
            .arg(text(record.expires_at))
            .arg(text(record.limit_at))
            .arg(record.owner.as_deref().unwrap_or(""))
            .arg(guard)
            .arg(now.to_string());
        let written: i64 = self.run(invocation.invoke_async(&mut conn)).await?;
        if written == 1
            && let Some(owner) = &record.owner
        {
            // The owner's index lives in the owner's slot, apart from the record: a second
            // command, not part of the script (a script may touch one slot only).
            self.run(conn.sadd::<_, _, ()>(self.owner_key(kind, owner), key))
                .await?;
        }
        Ok(written == 1)
    }

    async fn touch_record(
        &self,
        kind: RecordKind,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.touch.key(self.record_key(kind, key));
        invocation.arg(expires_at.to_string()).arg(now.to_string());
        let touched: i64 = self.run(invocation.invoke_async(&mut conn)).await?;
        Ok(touched == 1)
    }

    async fn delete_record(&self, kind: RecordKind, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.run(conn.del::<_, ()>(self.record_key(kind, key)))
            .await
    }

    async fn delete_records_of(&self, kind: RecordKind, owner: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let index = self.owner_key(kind, owner);
        let ids: Vec<String> = self.run(conn.smembers(&index)).await?;
        let mut deleted = 0;
        for id in ids {
            let key = self.record_key(kind, &id);
            // Only a record that still names this owner.
            let current: Option<String> = self.run(conn.hget(&key, "owner")).await?;
            if current.as_deref() == Some(owner) {
                let n: u64 = self.run(conn.del(&key)).await?;
                deleted += n;
            }
        }
        self.run(conn.del::<_, ()>(&index)).await?;
        Ok(deleted)
    }

    /// Nothing to do: every record with an expiry carries it as the key's `PEXPIREAT`, so
    /// Redis deletes it by itself.
    async fn purge_expired(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
}
