//! Token store round trips: `get` + `save` through a [`TokenStore`], or the same round
//! trip through the backend's raw driver (the queries/commands the store issues, without
//! the store's code around them).
//!
//! Each caller owns one openid (`bench-<n>`) and loops get → save with a newer
//! `create_at`, so every save is accepted and no two callers contend for a row.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use wechat_oauth::store::{Stores, TokenStore};
use wechat_oauth::{AccessToken, now_millis};
use wechat_oauth_bench::load::keep_in_flight;
use wechat_oauth_bench::measure::ClientReport;

#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// `memory:`, `file://…`, `sqlite://…`, `mysql://…`, `postgres://…`, `redis://…`, `mongodb://…`.
    #[arg(long)]
    url: String,
    /// `store` (through `TokenStore`) or `raw` (the driver alone).
    #[arg(long = "impl", default_value = "store")]
    implementation: String,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
}

pub(crate) async fn open_store(url: &str) -> anyhow::Result<Stores> {
    if url == "memory" || url == "memory:" {
        return Ok(Stores::memory());
    }
    Ok(wechat_oauth_stores::open(url).await?)
}

fn token(openid: &str, create_at: i64) -> anyhow::Result<AccessToken> {
    Ok(serde_json::from_value(serde_json::json!({
        "access_token": format!("ACCESS_TOKEN_{openid}_0123456789abcdefghijklmnopqrstuvwxyz0123456789"),
        "expires_in": 7200,
        "refresh_token": format!("REFRESH_TOKEN_{openid}_0123456789abcdefghijklmnopqrstuvwxyz012345678"),
        "openid": openid,
        "scope": "snsapi_userinfo",
        "create_at": create_at,
    }))?)
}

pub(crate) async fn run(args: StoreArgs) -> anyhow::Result<ClientReport> {
    let duration = Duration::from_millis(args.duration_ms);
    let openids: Vec<String> = (0..args.concurrency)
        .map(|i| format!("bench-{i}"))
        .collect();
    let base = now_millis();
    let concurrency = args.concurrency;
    let result = if args.implementation == "raw" {
        let raw = Raw::connect(&args.url).await?;
        for openid in &openids {
            raw.round_trip(openid, base).await?;
        }
        let (raw, openids) = (&raw, &openids);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            raw.round_trip(&openids[slot], base + 1 + n as i64).await
        })
        .await
    } else {
        let store = open_store(&args.url).await?.tokens;
        // Start from a clean slate: a previous run's tokens may carry a later create_at.
        for openid in &openids {
            store.delete(openid).await?;
            store.save(openid, &token(openid, base)?).await?;
        }
        let (store, openids) = (&store, &openids);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            let openid = &openids[slot];
            let mut token = store
                .get(openid)
                .await?
                .ok_or_else(|| anyhow::anyhow!("token vanished"))?;
            token.create_at = base + 1 + n as i64;
            anyhow::ensure!(store.save(openid, &token).await?, "save refused");
            anyhow::Ok(())
        })
        .await
    };
    Ok(result.into_report(&args.implementation, concurrency))
}

/// The same round trip through the driver directly.
enum Raw {
    Memory(Mutex<HashMap<String, AccessToken>>),
    File(PathBuf),
    Sqlite(sqlx::SqlitePool),
    MySql(sqlx::MySqlPool),
    Postgres(sqlx::PgPool),
    Redis(redis::aio::ConnectionManager),
    Mongo(mongodb::Collection<mongodb::bson::Document>),
}

const RAW_TABLE: &str = "bench_raw_token";
/// The SQL stores' default pool size (`SqlOptions`).
const POOL: u32 = 10;

/// The Redis store's conditional save, reduced to its commands: keep a newer create_at.
static REDIS_SAVE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "local current = redis.call('HGET', KEYS[1], 'create_at')
         if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
         redis.call('HSET', KEYS[1], 'token', ARGV[1], 'create_at', ARGV[2])
         return 1",
    )
});

macro_rules! columns {
    () => {
        "access_token, expires_in, refresh_token, openid, scope, create_at, unionid, is_snapshotuser"
    };
}
const SELECT_QMARK: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM bench_raw_token WHERE openid = ?"
);
const SELECT_DOLLAR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM bench_raw_token WHERE openid = $1"
);
// The conditional upsert the SQL stores use: a save never replaces a newer create_at.
const UPSERT_SQLITE: &str = "INSERT INTO bench_raw_token (openid, access_token, expires_in, refresh_token, scope, create_at) \
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (openid) DO UPDATE SET access_token = excluded.access_token, \
     expires_in = excluded.expires_in, refresh_token = excluded.refresh_token, scope = excluded.scope, \
     create_at = excluded.create_at WHERE bench_raw_token.create_at <= excluded.create_at";
const UPSERT_POSTGRES: &str = "INSERT INTO bench_raw_token (openid, access_token, expires_in, refresh_token, scope, create_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (openid) DO UPDATE SET access_token = EXCLUDED.access_token, \
     expires_in = EXCLUDED.expires_in, refresh_token = EXCLUDED.refresh_token, scope = EXCLUDED.scope, \
     create_at = EXCLUDED.create_at WHERE bench_raw_token.create_at <= EXCLUDED.create_at";
const UPSERT_MYSQL: &str = "INSERT INTO bench_raw_token (openid, access_token, expires_in, refresh_token, scope, create_at) \
     VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
     access_token = IF(create_at <= VALUES(create_at), VALUES(access_token), access_token), \
     expires_in = IF(create_at <= VALUES(create_at), VALUES(expires_in), expires_in), \
     refresh_token = IF(create_at <= VALUES(create_at), VALUES(refresh_token), refresh_token), \
     scope = IF(create_at <= VALUES(create_at), VALUES(scope), scope), \
     create_at = GREATEST(create_at, VALUES(create_at))";

/// SELECT the row (decoding its columns) then the conditional upsert: one get + save.
macro_rules! sql_round_trip {
    ($pool:expr, $select:expr, $upsert:expr, $openid:expr, $create_at:expr) => {{
        use sqlx::Row;
        if let Some(row) = sqlx::query($select)
            .bind($openid)
            .fetch_optional($pool)
            .await?
        {
            let _decoded: (String, i64, String, String, String, i64) = (
                row.try_get("access_token")?,
                row.try_get("expires_in")?,
                row.try_get("refresh_token")?,
                row.try_get("openid")?,
                row.try_get("scope")?,
                row.try_get("create_at")?,
            );
        }
        let r = raw_row($openid, $create_at);
        sqlx::query($upsert)
            .bind(r.openid)
            .bind(r.access_token)
            .bind(r.expires_in)
            .bind(r.refresh_token)
            .bind(r.scope)
            .bind(r.create_at)
            .execute($pool)
            .await?;
    }};
}

impl Raw {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "memory" => Raw::Memory(Mutex::new(HashMap::new())),
            "file" => {
                let dir = PathBuf::from(url.trim_start_matches("file://")).join("raw");
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                Raw::File(dir)
            }
            // Pools and connection options as the stores configure theirs (10 connections;
            // SQLite in WAL mode with a busy timeout), so only the store's code differs.
            "sqlite" => {
                let options = url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(POOL)
                    .connect_with(options)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(sql_schema("TEXT", "INTEGER")))
                    .execute(&pool)
                    .await?;
                sqlx::query("DELETE FROM bench_raw_token")
                    .execute(&pool)
                    .await?;
                Raw::Sqlite(pool)
            }
            "mysql" => {
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(POOL)
                    .connect(url)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(sql_schema(
                    "VARCHAR(128)",
                    "TINYINT(1)",
                )))
                .execute(&pool)
                .await?;
                sqlx::query("DELETE FROM bench_raw_token")
                    .execute(&pool)
                    .await?;
                Raw::MySql(pool)
            }
            "postgres" | "postgresql" => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(POOL)
                    .connect(url)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(sql_schema("VARCHAR(128)", "BOOLEAN")))
                    .execute(&pool)
                    .await?;
                sqlx::query("DELETE FROM bench_raw_token")
                    .execute(&pool)
                    .await?;
                Raw::Postgres(pool)
            }
            "redis" => {
                let mut conn = redis::Client::open(url)?.get_connection_manager().await?;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg("bench:raw-token:*")
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    let () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
                }
                Raw::Redis(conn)
            }
            "mongodb" => {
                let client = mongodb::Client::with_uri_str(url).await?;
                let db = client
                    .default_database()
                    .unwrap_or_else(|| client.database("test"));
                let collection = db.collection(RAW_TABLE);
                collection.delete_many(mongodb::bson::doc! {}).await?;
                Raw::Mongo(collection)
            }
            other => anyhow::bail!("no raw driver for {other}"),
        })
    }

    async fn round_trip(&self, openid: &str, create_at: i64) -> anyhow::Result<()> {
        match self {
            Raw::Memory(map) => {
                let current = map
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .get(openid)
                    .cloned();
                let mut t = match current {
                    Some(t) => t,
                    None => token(openid, create_at)?,
                };
                t.create_at = create_at;
                map.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(openid.to_owned(), t);
            }
            Raw::File(dir) => {
                let path = dir.join(format!("{openid}:access_token.txt"));
                let current = match tokio::fs::read(&path).await {
                    Ok(bytes) => Some(serde_json::from_slice::<serde_json::Value>(&bytes)?),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e.into()),
                };
                let mut value = current.unwrap_or_else(|| {
                    serde_json::to_value(raw_row(openid, create_at)).unwrap_or_default()
                });
                value["create_at"] = create_at.into();
                let bytes = serde_json::to_vec(&value)?;
                // Same durability as the store: write a temporary file, fsync, rename.
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let tmp = path.with_extension("tmp");
                    let mut file = std::fs::File::create(&tmp)?;
                    std::io::Write::write_all(&mut file, &bytes)?;
                    file.sync_all()?;
                    std::fs::rename(&tmp, &path)
                })
                .await??;
            }
            Raw::Sqlite(pool) => {
                sql_round_trip!(pool, SELECT_QMARK, UPSERT_SQLITE, openid, create_at)
            }
            Raw::Postgres(pool) => {
                sql_round_trip!(pool, SELECT_DOLLAR, UPSERT_POSTGRES, openid, create_at)
            }
            Raw::MySql(pool) => {
                sql_round_trip!(pool, SELECT_QMARK, UPSERT_MYSQL, openid, create_at)
            }
            Raw::Redis(conn) => {
                let mut conn = conn.clone();
                let key = format!("bench:raw-token:{openid}");
                let current: Option<String> = redis::cmd("HGET")
                    .arg(&key)
                    .arg("token")
                    .query_async(&mut conn)
                    .await?;
                let mut value: serde_json::Value = match current {
                    Some(json) => serde_json::from_str(&json)?,
                    None => serde_json::to_value(raw_row(openid, create_at))?,
                };
                value["create_at"] = create_at.into();
                let mut save = REDIS_SAVE.key(&key);
                save.arg(value.to_string()).arg(create_at);
                let _written: i64 = save.invoke_async(&mut conn).await?;
            }
            Raw::Mongo(collection) => {
                use mongodb::bson::doc;
                // get: the document; save: read the stored create_at, then update on the
                // condition that it is unchanged (optimistic, as the store does).
                let _current = collection.find_one(doc! { "openid": openid }).await?;
                let stored = collection
                    .find_one(doc! { "openid": openid })
                    .projection(doc! { "create_at": 1 })
                    .await?;
                let filter = match stored.as_ref().and_then(|d| d.get("_id")) {
                    Some(id) => doc! { "_id": id.clone() },
                    None => doc! { "openid": openid },
                };
                let row = raw_row(openid, create_at);
                collection
                    .update_one(
                        filter,
                        doc! { "$set": {
                            "openid": openid, "access_token": row.access_token, "expires_in": row.expires_in,
                            "refresh_token": row.refresh_token, "scope": row.scope, "create_at": create_at,
                        } },
                    )
                    .upsert(true)
                    .await?;
            }
        }
        Ok(())
    }
}

#[derive(serde::Serialize)]
struct RawRow {
    access_token: String,
    expires_in: i64,
    refresh_token: String,
    openid: String,
    scope: String,
    create_at: i64,
}

fn raw_row(openid: &str, create_at: i64) -> RawRow {
    RawRow {
        access_token: format!(
            "ACCESS_TOKEN_{openid}_0123456789abcdefghijklmnopqrstuvwxyz0123456789"
        ),
        expires_in: 7200,
        refresh_token: format!(
            "REFRESH_TOKEN_{openid}_0123456789abcdefghijklmnopqrstuvwxyz012345678"
        ),
        openid: openid.to_owned(),
        scope: "snsapi_userinfo".into(),
        create_at,
    }
}

fn sql_schema(key: &str, flag: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {RAW_TABLE} (openid {key} NOT NULL PRIMARY KEY, access_token TEXT NOT NULL, \
         expires_in BIGINT NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL, create_at BIGINT NOT NULL, \
         unionid TEXT, is_snapshotuser {flag} NOT NULL DEFAULT FALSE)"
    )
}
