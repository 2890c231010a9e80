//! Round trips through the storage model's other kinds of state (issue 11), beside the
//! same round trip through the backend's raw driver:
//!
//! - `mp-sessions`: `get_session` then `save_session` with a newer `created_at`;
//! - `web-sessions`: `get_web_session` then `touch_web_session` (what every authenticated
//!   request of the axum middleware does: look the session up, push its idle expiry);
//! - `credentials`: `get_credential` then `put_credential` with a newer `obtained_at`;
//! - `claim-once`: one `claim_once` of a value never seen before (a new `state` nonce or
//!   `MsgId`), which must win.
//!
//! Each caller owns its own openid / session id / credential key, so callers never
//! contend for a row.
//!
//! `raw` issues the statements / commands / operations the backend's store issues for the
//! same round trip (in a table, key prefix or collection of its own: `bench_raw_state`,
//! `bench:raw-state:`), with the driver alone: no record encoding, validation, trait
//! objects or per-operation timeouts. On MySQL that includes the read-back after an
//! upsert (its affected-row count cannot say whether the guarded write happened); on
//! MongoDB the touch reads the record first, as the store does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::ValueEnum;
use wechat_oauth::miniprogram::Session;
use wechat_oauth::now_millis;
use wechat_oauth::store::{Credential, Stores, WebSession};
use wechat_oauth_bench::load::keep_in_flight;
use wechat_oauth_bench::measure::ClientReport;

/// Which kind of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Mini Program sessions.
    MpSessions,
    /// Web login sessions.
    WebSessions,
    /// App credentials.
    Credentials,
    /// Single-use values.
    ClaimOnce,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StateArgs {
    /// `memory:`, `sqlite://…`, `mysql://…`, `postgres://…`, `redis://…`, `mongodb://…`.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    kind: Kind,
    /// `store` (through the storage model's traits) or `raw` (the driver alone).
    #[arg(long = "impl", default_value = "store")]
    implementation: String,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
}

/// A session key as long as WeChat's (24 base64 characters).
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
/// A server access token as long as WeChat's (~136 characters).
const CREDENTIAL: &str = "86_bench-server-access-token-0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrstuvw";
/// What the middleware keeps about a signed-in user: a profile as JSON.
const PROFILE: &str = r#"{"openid":"oBench","nickname":"Bench","sex":1,"province":"Guangdong","city":"Guangzhou","country":"CN","headimgurl":"https://thirdwx.qlogo.cn/mmopen/vi_32/bench/132","privilege":[],"unionid":"oUnionBench"}"#;
const HOUR_MS: i64 = 3_600_000;
const CLAIM_TTL: Duration = Duration::from_secs(600);

fn session_id(slot: usize) -> String {
    format!("bench-web-session-{slot:04}-0123456789abcdefghij")
}

/// The backend's whole storage model, as an application opens it.
async fn open_stores(url: &str) -> anyhow::Result<Stores> {
    crate::stores::open_store(url).await
}

pub(crate) async fn run(args: StateArgs) -> anyhow::Result<ClientReport> {
    let duration = Duration::from_millis(args.duration_ms);
    let base = now_millis();
    // Claimed values are unique to this run, whatever earlier runs left in the backend.
    let run_id = format!("{base}-{}", std::process::id());
    let concurrency = args.concurrency;
    let kind = args.kind;
    let result = if args.implementation == "raw" {
        let raw = Raw::connect(&args.url).await?;
        for slot in 0..concurrency {
            raw.seed(kind, slot, base).await?;
        }
        let (raw, run_id) = (&raw, &run_id);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            raw.round_trip(kind, slot, base + 1 + n as i64, run_id, n)
                .await
        })
        .await
    } else {
        let stores = open_stores(&args.url).await?;
        empty_mongo_state(&args.url).await?;
        for slot in 0..concurrency {
            seed(&stores, kind, slot, base).await?;
        }
        let (stores, run_id) = (&stores, &run_id);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            round_trip(stores, kind, slot, base + 1 + n as i64, run_id, n).await
        })
        .await
    };
    Ok(result.into_report(&args.implementation, concurrency))
}

/// On MongoDB, empties the store's state collection (`tokens_state`), as [`Raw::connect`]
/// empties its own: the MongoDB-compatible test server's inserts and updates cost more the
/// more documents a collection holds (claim-once at 64 callers ran at 995 claims/s into an
/// empty collection and 309/s into one holding 2,000 claims), so both sides start empty.
async fn empty_mongo_state(url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) {
        return Ok(());
    }
    let client = mongodb::Client::with_uri_str(url).await?;
    // The database and collection `wechat_oauth_stores::open` gives the store.
    let db = client
        .default_database()
        .unwrap_or_else(|| client.database("wechat_oauth"));
    db.collection::<mongodb::bson::Document>("tokens_state")
        .delete_many(mongodb::bson::doc! {})
        .await?;
    Ok(())
}

/// A clean starting row for `slot` (earlier runs may have left newer ones).
async fn seed(stores: &Stores, kind: Kind, slot: usize, at: i64) -> anyhow::Result<()> {
    let openid = format!("bench-state-{slot}");
    match kind {
        Kind::MpSessions => {
            stores.sessions.delete_session(&openid).await?;
            stores
                .sessions
                .save_session(&Session::new(openid, None, SESSION_KEY, at))
                .await?;
        }
        Kind::WebSessions => {
            stores
                .web_sessions
                .create_web_session(&WebSession::new(
                    session_id(slot),
                    openid,
                    PROFILE,
                    at,
                    at + 24 * HOUR_MS,
                ))
                .await?;
        }
        Kind::Credentials => {
            let key = format!("server_token:bench{slot}");
            stores.credentials.delete_credential(&key).await?;
            stores
                .credentials
                .put_credential(&key, &Credential::new(CREDENTIAL, at, at + 2 * HOUR_MS))
                .await?;
        }
        Kind::ClaimOnce => {}
    }
    Ok(())
}

async fn round_trip(
    stores: &Stores,
    kind: Kind,
    slot: usize,
    at: i64,
    run_id: &str,
    n: usize,
) -> anyhow::Result<()> {
    match kind {
        Kind::MpSessions => {
            let openid = format!("bench-state-{slot}");
            let mut session = stores
                .sessions
                .get_session(&openid)
                .await?
                .ok_or_else(|| anyhow::anyhow!("session vanished"))?;
            session.created_at = at;
            anyhow::ensure!(
                stores.sessions.save_session(&session).await?,
                "save refused"
            );
        }
        Kind::WebSessions => {
            let id = session_id(slot);
            anyhow::ensure!(
                stores.web_sessions.get_web_session(&id).await?.is_some(),
                "web session vanished"
            );
            anyhow::ensure!(
                stores
                    .web_sessions
                    .touch_web_session(&id, at + HOUR_MS)
                    .await?,
                "touch refused"
            );
        }
        Kind::Credentials => {
            let key = format!("server_token:bench{slot}");
            let mut credential = stores
                .credentials
                .get_credential(&key)
                .await?
                .ok_or_else(|| anyhow::anyhow!("credential vanished"))?;
            credential.obtained_at = at;
            credential.expires_at = at + 2 * HOUR_MS;
            anyhow::ensure!(
                stores.credentials.put_credential(&key, &credential).await?,
                "put refused"
            );
        }
        Kind::ClaimOnce => {
            let key = format!("bench:{run_id}:{slot}:{n}");
            anyhow::ensure!(
                stores.leases.claim_once(&key, CLAIM_TTL).await?,
                "a fresh value was refused"
            );
        }
    }
    Ok(())
}

/// A Mini Program session row as a driver would hold it.
#[derive(Clone)]
struct SessionRow {
    session_key: String,
    unionid: Option<String>,
    created_at: i64,
}

/// A web session row.
#[derive(Clone)]
struct WebSessionRow {
    openid: String,
    data: String,
    expires_at: i64,
    idle_expires_at: i64,
}

/// A credential row.
#[derive(Clone)]
struct CredentialRow {
    value: String,
    obtained_at: i64,
    expires_at: i64,
}

/// The memory store's round trips, straight on locked maps.
#[derive(Default)]
struct MemoryRaw {
    sessions: Mutex<HashMap<String, SessionRow>>,
    web_sessions: Mutex<HashMap<String, WebSessionRow>>,
    credentials: Mutex<HashMap<String, CredentialRow>>,
    claims: Mutex<HashMap<String, i64>>,
}

fn poisoned<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("poisoned")
}

impl MemoryRaw {
    fn seed(&self, kind: Kind, slot: usize, at: i64) {
        let MemoryRaw {
            sessions,
            web_sessions,
            credentials,
            ..
        } = self;
        match kind {
            Kind::MpSessions => {
                if let Ok(mut map) = sessions.lock() {
                    map.insert(
                        format!("bench-state-{slot}"),
                        SessionRow {
                            session_key: SESSION_KEY.into(),
                            unionid: None,
                            created_at: at,
                        },
                    );
                }
            }
            Kind::WebSessions => {
                if let Ok(mut map) = web_sessions.lock() {
                    map.insert(
                        session_id(slot),
                        WebSessionRow {
                            openid: format!("bench-state-{slot}"),
                            data: PROFILE.into(),
                            expires_at: at + 24 * HOUR_MS,
                            idle_expires_at: at + 24 * HOUR_MS,
                        },
                    );
                }
            }
            Kind::Credentials => {
                if let Ok(mut map) = credentials.lock() {
                    map.insert(
                        format!("server_token:bench{slot}"),
                        CredentialRow {
                            value: CREDENTIAL.into(),
                            obtained_at: at,
                            expires_at: at + 2 * HOUR_MS,
                        },
                    );
                }
            }
            Kind::ClaimOnce => {}
        }
    }

    /// The get (a copy out, as a store returns one) and the conditional save, each under
    /// its own lock acquisition, as the memory store does.
    fn round_trip(
        &self,
        kind: Kind,
        slot: usize,
        at: i64,
        run_id: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        let MemoryRaw {
            sessions,
            web_sessions,
            credentials,
            claims,
        } = self;
        match kind {
            Kind::MpSessions => {
                let openid = format!("bench-state-{slot}");
                let mut row = sessions
                    .lock()
                    .map_err(poisoned)?
                    .get(&openid)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("session vanished"))?;
                anyhow::ensure!(
                    !row.session_key.is_empty() && row.unionid.is_none(),
                    "session garbled"
                );
                row.created_at = at;
                let mut map = sessions.lock().map_err(poisoned)?;
                if map.get(&openid).is_none_or(|c| c.created_at <= at) {
                    map.insert(openid, row);
                }
            }
            Kind::WebSessions => {
                let id = session_id(slot);
                let now = now_millis();
                let live = web_sessions
                    .lock()
                    .map_err(poisoned)?
                    .get(&id)
                    .filter(|s| now < s.expires_at && now < s.idle_expires_at)
                    .cloned();
                anyhow::ensure!(
                    live.is_some_and(|s| !s.openid.is_empty() && !s.data.is_empty()),
                    "web session vanished"
                );
                let mut map = web_sessions.lock().map_err(poisoned)?;
                let row = map
                    .get_mut(&id)
                    .ok_or_else(|| anyhow::anyhow!("web session vanished"))?;
                row.idle_expires_at = (at + HOUR_MS).min(row.expires_at);
            }
            Kind::Credentials => {
                let key = format!("server_token:bench{slot}");
                let mut row = credentials
                    .lock()
                    .map_err(poisoned)?
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("credential vanished"))?;
                anyhow::ensure!(!row.value.is_empty(), "credential garbled");
                row.obtained_at = at;
                row.expires_at = at + 2 * HOUR_MS;
                let mut map = credentials.lock().map_err(poisoned)?;
                if map.get(&key).is_none_or(|c| c.obtained_at <= at) {
                    map.insert(key, row);
                }
            }
            Kind::ClaimOnce => {
                let key = format!("bench:{run_id}:{slot}:{n}");
                let now = now_millis();
                let mut map = claims.lock().map_err(poisoned)?;
                anyhow::ensure!(
                    map.get(&key).is_none_or(|&expires| expires <= now),
                    "a fresh value was refused"
                );
                map.insert(key, now + CLAIM_TTL.as_millis() as i64);
            }
        }
        Ok(())
    }
}

/// The same round trips, straight on the data structure or driver.
enum Raw {
    Memory(MemoryRaw),
    Sql(SqlRaw),
    Redis(RedisRaw),
    Mongo(mongodb::Collection<mongodb::bson::Document>),
}

/// One round trip's record: what the store would write for `kind` at `at`.
struct RawRecord {
    kind: &'static str,
    key: String,
    value: String,
    version: i64,
    expires_at: Option<i64>,
    limit_at: Option<i64>,
    owner: Option<String>,
}

/// Which guarded write (as the store's `Guard`).
#[derive(Clone, Copy)]
enum RawGuard {
    Always = 0,
    IfNotNewer = 1,
    IfExpired = 2,
}

/// A random claim holder, as `claim_record` writes one.
fn claim_value() -> String {
    use rand::Rng;
    let holder: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!(r#"{{"claim":"{holder}"}}"#)
}

impl RawRecord {
    fn mp_session(slot: usize, at: i64) -> Self {
        let openid = format!("bench-state-{slot}");
        Self {
            kind: "mp_session",
            value: format!(
                r#"{{"openid":"{openid}","session_key":"{SESSION_KEY}","created_at":{at}}}"#
            ),
            key: openid,
            version: at,
            expires_at: None,
            limit_at: None,
            owner: None,
        }
    }

    fn web_session(slot: usize, at: i64) -> Self {
        let openid = format!("bench-state-{slot}");
        let expires_at = at + 24 * HOUR_MS;
        Self {
            kind: "web_session",
            key: session_id(slot),
            value: format!(
                r#"{{"openid":"{openid}","data":{},"created_at":{at},"expires_at":{expires_at}}}"#,
                serde_json::Value::from(PROFILE)
            ),
            version: at,
            expires_at: Some(expires_at),
            limit_at: Some(expires_at),
            owner: Some(openid),
        }
    }

    fn credential(slot: usize, at: i64) -> Self {
        let expires_at = at + 2 * HOUR_MS;
        Self {
            kind: "credential",
            key: format!("server_token:bench{slot}"),
            value: format!(
                r#"{{"value":"{CREDENTIAL}","obtained_at":{at},"expires_at":{expires_at}}}"#
            ),
            version: at,
            expires_at: None,
            limit_at: None,
            owner: None,
        }
    }

    fn claim(key: String, now: i64) -> Self {
        Self {
            kind: "claim",
            key,
            value: claim_value(),
            version: now,
            expires_at: Some(now + CLAIM_TTL.as_millis() as i64),
            limit_at: None,
            owner: None,
        }
    }
}

/// The SQL stores' statements on `bench_raw_state` (same columns, same upserts).
struct RawSql {
    get: Arc<str>,
    upsert: [Arc<str>; 3],
    /// How many times each upsert binds the current time after the seven values.
    now_binds: [usize; 3],
    /// MySQL: the read-back after an upsert (its affected-row count is ambiguous).
    written: Option<Arc<str>>,
    touch: Arc<str>,
}

const RAW_STATE: &str = "bench_raw_state";
const RAW_COLUMNS: &str = "kind, id, value, version, expires_at, limit_at, owner";

impl RawSql {
    fn new(mysql: bool, dollar: bool) -> Self {
        let t = RAW_STATE;
        let sql = |s: String| -> Arc<str> {
            if !dollar {
                return s.into();
            }
            let mut out = String::with_capacity(s.len() + 16);
            let mut n = 0;
            for c in s.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out.into()
        };
        let insert = format!("INSERT INTO {t} ({RAW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)");
        let upsert = |guard: RawGuard| -> String {
            if mysql {
                let (condition, last) = match guard {
                    RawGuard::Always => ("TRUE", "version"),
                    RawGuard::IfNotNewer => ("`version` <= VALUES(`version`)", "version"),
                    RawGuard::IfExpired => (
                        "`expires_at` IS NOT NULL AND `expires_at` <= ?",
                        "expires_at",
                    ),
                };
                let assignments = ["value", "limit_at", "owner", "version", "expires_at"]
                    .into_iter()
                    .filter(|c| *c != last)
                    .chain([last])
                    .map(|c| format!("`{c}` = IF({condition}, VALUES(`{c}`), `{c}`)"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{insert} ON DUPLICATE KEY UPDATE {assignments}")
            } else {
                let condition = match guard {
                    RawGuard::Always => String::new(),
                    RawGuard::IfNotNewer => format!(" WHERE {t}.version <= excluded.version"),
                    RawGuard::IfExpired => {
                        format!(" WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?")
                    }
                };
                format!(
                    "{insert} ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value, version = excluded.version, \
                     expires_at = excluded.expires_at, limit_at = excluded.limit_at, owner = excluded.owner{condition}"
                )
            }
        };
        let guards = [RawGuard::Always, RawGuard::IfNotNewer, RawGuard::IfExpired];
        Self {
            now_binds: guards.map(|g| upsert(g).matches('?').count().saturating_sub(7)),
            get: sql(format!(
                "SELECT value, version, expires_at, limit_at, owner FROM {t} \
                 WHERE kind = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)"
            )),
            upsert: guards.map(|g| sql(upsert(g))),
            written: mysql.then(|| {
                sql(format!(
                    "SELECT value, version FROM {t} WHERE kind = ? AND id = ?"
                ))
            }),
            touch: sql(format!(
                "UPDATE {t} SET expires_at = CASE WHEN limit_at IS NOT NULL AND limit_at < ? THEN limit_at ELSE ? END \
                 WHERE kind = ? AND id = ? AND expires_at IS NOT NULL AND expires_at > ?"
            )),
        }
    }

    /// The store's DDL for its state table, under the raw table's name.
    fn ddl(mysql: bool) -> String {
        let t = RAW_STATE;
        if mysql {
            format!(
                "CREATE TABLE IF NOT EXISTS `{t}` (
                   `kind` varchar(16) NOT NULL, `id` varchar(200) NOT NULL, `value` mediumtext NOT NULL,
                   `version` bigint NOT NULL, `expires_at` bigint NULL, `limit_at` bigint NULL,
                   `owner` varchar(128) NULL, PRIMARY KEY (`kind`, `id`), KEY `owner` (`kind`, `owner`)
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )
        } else {
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                   kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, version BIGINT NOT NULL,
                   expires_at BIGINT, limit_at BIGINT, owner TEXT, PRIMARY KEY (kind, id))"
            )
        }
    }
}

enum SqlPool {
    Sqlite(sqlx::SqlitePool),
    MySql(sqlx::MySqlPool),
    Postgres(sqlx::PgPool),
}

struct SqlRaw {
    pool: SqlPool,
    sql: RawSql,
}

/// Runs `$body` with `$p` bound to whichever pool `$pool` holds.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            SqlPool::Sqlite($p) => $body,
            SqlPool::MySql($p) => $body,
            SqlPool::Postgres($p) => $body,
        }
    };
}

type StateRow = (String, i64, Option<i64>, Option<i64>, Option<String>);

impl SqlRaw {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        // Pools and connection options as the stores configure theirs (10 connections;
        // SQLite in WAL mode with a busy timeout), so only the store's code differs.
        let pool = match scheme {
            "sqlite" => {
                let options = url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5));
                SqlPool::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(POOL)
                        .connect_with(options)
                        .await?,
                )
            }
            "mysql" | "mariadb" => SqlPool::MySql(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(POOL)
                    .connect(&format!(
                        "mysql:{}",
                        url.split_once(':').unwrap_or_default().1
                    ))
                    .await?,
            ),
            _ => SqlPool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(POOL)
                    .connect(url)
                    .await?,
            ),
        };
        let mysql = matches!(pool, SqlPool::MySql(_));
        let dollar = matches!(pool, SqlPool::Postgres(_));
        let ddl = RawSql::ddl(mysql);
        on_pool!(&pool, p => {
            sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(p).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {RAW_STATE}")))
                .execute(p)
                .await?;
        });
        Ok(Self {
            pool,
            sql: RawSql::new(mysql, dollar),
        })
    }

    /// The record unless absent or expired: one SELECT.
    async fn get(&self, kind: &str, key: &str, now: i64) -> anyhow::Result<Option<StateRow>> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as::<_, StateRow>(sqlx::AssertSqlSafe(self.sql.get.clone()))
                .bind(kind)
                .bind(key)
                .bind(now)
                .fetch_optional(p)
                .await?
        }))
    }

    /// The guarded upsert (and MySQL's read-back); whether it wrote.
    async fn put(&self, r: &RawRecord, guard: RawGuard, now: i64) -> anyhow::Result<bool> {
        let sql = self.sql.upsert[guard as usize].clone();
        let now_binds = self.sql.now_binds[guard as usize];
        let rows = on_pool!(&self.pool, p => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(r.kind)
                .bind(r.key.as_str())
                .bind(r.value.as_str())
                .bind(r.version)
                .bind(r.expires_at)
                .bind(r.limit_at)
                .bind(r.owner.as_deref());
            for _ in 0..now_binds {
                query = query.bind(now);
            }
            query.execute(p).await?.rows_affected()
        });
        let Some(written) = &self.sql.written else {
            return Ok(rows > 0);
        };
        let SqlPool::MySql(p) = &self.pool else {
            return Ok(rows > 0);
        };
        let stored: Option<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(written.clone()))
            .bind(r.kind)
            .bind(r.key.as_str())
            .fetch_optional(p)
            .await?;
        Ok(stored.is_some_and(|(value, version)| value == r.value && version == r.version))
    }

    /// Moves an unexpired record's expiry, capped at its limit: one UPDATE.
    async fn touch(
        &self,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> anyhow::Result<bool> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(sqlx::AssertSqlSafe(self.sql.touch.clone()))
                .bind(expires_at)
                .bind(expires_at)
                .bind(kind)
                .bind(key)
                .bind(now)
                .execute(p)
                .await?
                .rows_affected()
        }) > 0)
    }
}

/// The Redis store's record commands, reduced to what this round trip needs: `HMGET` of
/// the record's fields, and scripts that compare and write in one step.
struct RedisRaw {
    conn: redis::aio::ConnectionManager,
    put: redis::Script,
    touch: redis::Script,
}

const REDIS_RAW_PREFIX: &str = "bench:raw-state:";

/// `KEYS[1]` the record; ARGV: value, version, expires_at, limit_at, owner, guard, now.
const REDIS_RAW_PUT: &str = r"
local kind = redis.call('TYPE', KEYS[1])
kind = type(kind) == 'table' and kind.ok or kind
if kind == 'hash' then
  if ARGV[6] == 'newer' then
    local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '')
    if v and v > tonumber(ARGV[2]) then return 0 end
  elseif ARGV[6] == 'expired' then
    local e = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '')
    if not e or e > tonumber(ARGV[7]) then return 0 end
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'version', ARGV[2], 'expires_at', ARGV[3],
  'limit_at', ARGV[4], 'owner', ARGV[5])
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1
";

/// `KEYS[1]` the record; ARGV: the new expiry, now.
const REDIS_RAW_TOUCH: &str = r"
local e = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '')
if not e or e <= tonumber(ARGV[2]) then return 0 end
local until_ = tonumber(ARGV[1])
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit_at') or '')
if limit and limit < until_ then until_ = limit end
redis.call('HSET', KEYS[1], 'expires_at', string.format('%d', until_))
redis.call('PEXPIREAT', KEYS[1], string.format('%d', until_))
return 1
";

fn redis_key(kind: &str, key: &str) -> String {
    format!("{REDIS_RAW_PREFIX}{kind}:{{{key}}}")
}

impl RedisRaw {
    async fn get(&self, kind: &str, key: &str, now: i64) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(redis_key(kind, key))
            .arg(&["value", "version", "expires_at", "limit_at", "owner"])
            .query_async(&mut conn)
            .await?;
        let live = fields.first().is_some_and(Option::is_some)
            && fields
                .get(2)
                .and_then(|e| e.as_deref())
                .and_then(|e| e.parse::<i64>().ok())
                .is_none_or(|e| e > now);
        Ok(live)
    }

    async fn put(&self, r: &RawRecord, guard: RawGuard, now: i64) -> anyhow::Result<bool> {
        let text = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let mut conn = self.conn.clone();
        let mut invocation = self.put.key(redis_key(r.kind, &r.key));
        invocation
            .arg(&r.value)
            .arg(r.version.to_string())
            .arg(text(r.expires_at))
            .arg(text(r.limit_at))
            .arg(r.owner.as_deref().unwrap_or(""))
            .arg(match guard {
                RawGuard::Always => "always",
                RawGuard::IfNotNewer => "newer",
                RawGuard::IfExpired => "expired",
            })
            .arg(now.to_string());
        let written: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(written == 1)
    }

    async fn touch(
        &self,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let mut invocation = self.touch.key(redis_key(kind, key));
        invocation.arg(expires_at.to_string()).arg(now.to_string());
        let touched: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(touched == 1)
    }
}

/// The MongoDB store's record operations on `bench_raw_state`.
mod mongo_raw {
    use mongodb::Collection;
    use mongodb::bson::{Document, doc};

    use super::{RawGuard, RawRecord};

    fn id(kind: &str, key: &str) -> String {
        format!("{kind}:{key}")
    }

    /// `find_one` by `_id`; whether the record is there and unexpired.
    pub(super) async fn get(
        c: &Collection<Document>,
        kind: &str,
        key: &str,
        now: i64,
    ) -> anyhow::Result<Option<Document>> {
        let found = c.find_one(doc! { "_id": id(kind, key) }).await?;
        Ok(found.filter(|d| d.get_i64("expires_at").map_or(true, |e| e > now)))
    }

    /// The guarded `update_one` upsert; a duplicate `_id` means the guard refused.
    pub(super) async fn put(
        c: &Collection<Document>,
        r: &RawRecord,
        guard: RawGuard,
        now: i64,
    ) -> anyhow::Result<bool> {
        let id = id(r.kind, &r.key);
        let fields = doc! {
            "kind": r.kind, "id": &r.key, "value": &r.value, "version": r.version,
            "expires_at": r.expires_at, "limit_at": r.limit_at, "owner": r.owner.as_deref(),
        };
        let filter = match guard {
            RawGuard::IfNotNewer => doc! { "_id": &id, "version": { "$lte": r.version } },
            RawGuard::IfExpired => doc! { "_id": &id, "expires_at": { "$lte": now } },
            RawGuard::Always => doc! { "_id": &id },
        };
        match c
            .update_one(filter, doc! { "$set": fields })
            .upsert(true)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Write(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// As the store: read the record, then move its expiry (capped at its limit).
    pub(super) async fn touch(
        c: &Collection<Document>,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> anyhow::Result<bool> {
        let Some(current) = get(c, kind, key, now).await? else {
            return Ok(false);
        };
        let until = current
            .get_i64("limit_at")
            .map_or(expires_at, |limit| limit.min(expires_at));
        let touched = c
            .update_one(
                doc! { "_id": id(kind, key), "expires_at": { "$gt": now } },
                doc! { "$set": { "expires_at": until } },
            )
            .await?;
        Ok(touched.matched_count == 1)
    }
}

/// The SQL stores' default pool size (`SqlOptions`).
const POOL: u32 = 10;

impl Raw {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "memory" => Raw::Memory(MemoryRaw::default()),
            "sqlite" | "mysql" | "mariadb" | "postgres" | "postgresql" => {
                Raw::Sql(SqlRaw::connect(url).await?)
            }
            "redis" | "rediss" => {
                let mut conn = redis::Client::open(url)?.get_connection_manager().await?;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{REDIS_RAW_PREFIX}*"))
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    let () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
                }
                Raw::Redis(RedisRaw {
                    conn,
                    put: redis::Script::new(REDIS_RAW_PUT),
                    touch: redis::Script::new(REDIS_RAW_TOUCH),
                })
            }
            "mongodb" | "mongodb+srv" => {
                let client = mongodb::Client::with_uri_str(url).await?;
                let db = client
                    .default_database()
                    .unwrap_or_else(|| client.database("test"));
                let collection = db.collection(RAW_STATE);
                collection.delete_many(mongodb::bson::doc! {}).await?;
                Raw::Mongo(collection)
            }
            other => anyhow::bail!("no raw driver for {other}"),
        })
    }

    async fn get(&self, kind: &str, key: &str, now: i64) -> anyhow::Result<bool> {
        Ok(match self {
            Raw::Memory(_) => unreachable_memory()?,
            Raw::Sql(sql) => sql.get(kind, key, now).await?.is_some(),
            Raw::Redis(r) => r.get(kind, key, now).await?,
            Raw::Mongo(c) => mongo_raw::get(c, kind, key, now).await?.is_some(),
        })
    }

    async fn put(&self, r: &RawRecord, guard: RawGuard, now: i64) -> anyhow::Result<bool> {
        match self {
            Raw::Memory(_) => unreachable_memory(),
            Raw::Sql(sql) => sql.put(r, guard, now).await,
            Raw::Redis(redis) => redis.put(r, guard, now).await,
            Raw::Mongo(c) => mongo_raw::put(c, r, guard, now).await,
        }
    }

    async fn touch(
        &self,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> anyhow::Result<bool> {
        match self {
            Raw::Memory(_) => unreachable_memory(),
            Raw::Sql(sql) => sql.touch(kind, key, expires_at, now).await,
            Raw::Redis(r) => r.touch(kind, key, expires_at, now).await,
            Raw::Mongo(c) => mongo_raw::touch(c, kind, key, expires_at, now).await,
        }
    }

    /// A clean starting record for `slot` (earlier runs may have left newer ones).
    async fn seed(&self, kind: Kind, slot: usize, at: i64) -> anyhow::Result<()> {
        if let Raw::Memory(memory) = self {
            memory.seed(kind, slot, at);
            return Ok(());
        }
        let record = match kind {
            Kind::MpSessions => RawRecord::mp_session(slot, at),
            Kind::WebSessions => RawRecord::web_session(slot, at),
            Kind::Credentials => RawRecord::credential(slot, at),
            Kind::ClaimOnce => return Ok(()),
        };
        anyhow::ensure!(
            self.put(&record, RawGuard::Always, at).await?,
            "seeding {} {} failed",
            record.kind,
            record.key
        );
        Ok(())
    }

    /// The store's round trip for `kind`, with the driver alone: get then guarded put
    /// (sessions, credentials), get then touch (web sessions), one guarded put (claims).
    async fn round_trip(
        &self,
        kind: Kind,
        slot: usize,
        at: i64,
        run_id: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        if let Raw::Memory(memory) = self {
            return memory.round_trip(kind, slot, at, run_id, n);
        }
        let now = now_millis();
        match kind {
            Kind::MpSessions | Kind::Credentials => {
                let record = if kind == Kind::MpSessions {
                    RawRecord::mp_session(slot, at)
                } else {
                    RawRecord::credential(slot, at)
                };
                anyhow::ensure!(
                    self.get(record.kind, &record.key, now).await?,
                    "{} vanished",
                    record.kind
                );
                anyhow::ensure!(
                    self.put(&record, RawGuard::IfNotNewer, now).await?,
                    "save refused"
                );
            }
            Kind::WebSessions => {
                let id = session_id(slot);
                anyhow::ensure!(
                    self.get("web_session", &id, now).await?,
                    "web session vanished"
                );
                anyhow::ensure!(
                    self.touch("web_session", &id, at + HOUR_MS, now).await?,
                    "touch refused"
                );
            }
            Kind::ClaimOnce => {
                let record = RawRecord::claim(format!("bench:{run_id}:{slot}:{n}"), now);
                anyhow::ensure!(
                    self.put(&record, RawGuard::IfExpired, now).await?,
                    "a fresh value was refused"
                );
            }
        }
        Ok(())
    }
}

/// The memory raw has its own round trip; the record operations are the drivers'.
fn unreachable_memory<T>() -> anyhow::Result<T> {
    anyhow::bail!("the memory raw works on its maps, not through record operations")
}
