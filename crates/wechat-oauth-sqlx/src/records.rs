//! Sessions, web sessions, credentials and claims in SQL: one table `<table>_state`, one
//! implementation for the three dialects. What differs between them (placeholders, the
//! upsert's syntax, column types) is a [`Dialect`]; the code that runs the statements and
//! reads the rows is written once, generic over the database.
//!
//! ```sql
//! CREATE TABLE <table>_state (kind, id, value, version, expires_at, limit_at, owner,
//!                             PRIMARY KEY (kind, id));   -- plus an index on (kind, owner)
//! CREATE TABLE <table>_schema (component PRIMARY KEY, version);  -- 'wechat-oauth' = 2
//! ```
//!
//! The 0.1 tables (`<table>`, `<table>_lease`, MySQL's `<table>_ext`) are left as they are:
//! upgrading adds these two tables and records schema version 2, so a database written by
//! 0.1 keeps its tokens.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Database, Executor, FromRow, IntoArguments, Pool};
use wechat_oauth::StoreError;
use wechat_oauth::store::{Guard, Record, RecordKind};

use crate::{is_conflict, store_error, timed};

/// The schema version this crate writes into `<table>_schema`.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// What one SQL dialect says differently.
pub(crate) trait Dialect: Database {
    /// The DDL creating the state and schema tables and recording [`SCHEMA_VERSION`].
    fn state_ddl(table: &str) -> Vec<String>;
    /// `INSERT … <upsert clause>` into the (quoted) table `t` for `guard`, binding kind, id,
    /// value, version, expires_at, limit_at, owner, then the time for every further `?`
    /// ([`Guard::IfExpired`]).
    fn upsert(table: &str, guard: GuardKind) -> String;
    /// Whether the upsert's affected-row count says if it wrote (MySQL's does not).
    const COUNT_SAYS_WRITTEN: bool;
    /// Rows the statement affected.
    fn rows(result: &Self::QueryResult) -> u64;
    /// `?` placeholders rewritten for the dialect (PostgreSQL's `$1, $2, …`).
    fn placeholders(sql: &str) -> String {
        sql.to_owned()
    }
    /// `name` quoted as an identifier (it is a checked plain identifier already).
    fn ident(name: &str) -> String {
        format!("\"{name}\"")
    }
}

/// [`Guard`] without its data: which upsert statement to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardKind {
    Always,
    IfNotNewer,
    IfExpired,
}

const COLUMNS: &str = "kind, id, value, version, expires_at, limit_at, owner";

/// The statements of one store, prepared once.
#[derive(Debug)]
pub(crate) struct StateSql {
    get: Arc<str>,
    upsert: [Arc<str>; 3],
    /// How many times each upsert binds the current time after the seven values.
    now_binds: [usize; 3],
    written: Arc<str>,
    touch: Arc<str>,
    delete: Arc<str>,
    delete_of: Arc<str>,
    purge: Arc<str>,
}

impl StateSql {
    pub(crate) fn new<DB: Dialect>(table: &str) -> Self {
        let t = DB::ident(&format!("{table}_state"));
        let sql = |s: String| -> Arc<str> { DB::placeholders(&s).into() };
        let guards = [
            GuardKind::Always,
            GuardKind::IfNotNewer,
            GuardKind::IfExpired,
        ];
        Self {
            now_binds: guards.map(|g| DB::upsert(&t, g).matches('?').count().saturating_sub(7)),
            get: sql(format!(
                "SELECT value, version, expires_at, limit_at, owner FROM {t}
                 WHERE kind = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)"
            )),
            upsert: guards.map(|g| sql(DB::upsert(&t, g))),
            written: sql(format!(
                "SELECT value, version FROM {t} WHERE kind = ? AND id = ?"
            )),
            // Portable `LEAST(?, limit_at)`.
            touch: sql(format!(
                "UPDATE {t} SET expires_at = CASE WHEN limit_at IS NOT NULL AND limit_at < ? THEN limit_at ELSE ? END
                 WHERE kind = ? AND id = ? AND expires_at IS NOT NULL AND expires_at > ?"
            )),
            delete: sql(format!("DELETE FROM {t} WHERE kind = ? AND id = ?")),
            delete_of: sql(format!("DELETE FROM {t} WHERE kind = ? AND owner = ?")),
            purge: sql(format!(
                "DELETE FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= ?"
            )),
        }
    }
}

/// The upsert's column list and values, shared by the dialects.
pub(crate) fn insert_into(t: &str) -> String {
    format!("INSERT INTO {t} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)")
}

/// The `ON CONFLICT … DO UPDATE` form of SQLite and PostgreSQL (`t` quoted).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn on_conflict_upsert(t: &str, guard: GuardKind) -> String {
    let condition = match guard {
        GuardKind::Always => String::new(),
        GuardKind::IfNotNewer => format!(" WHERE {t}.version <= excluded.version"),
        GuardKind::IfExpired => {
            format!(" WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?")
        }
    };
    format!(
        "{} ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value, version = excluded.version,
           expires_at = excluded.expires_at, limit_at = excluded.limit_at, owner = excluded.owner{condition}",
        insert_into(t)
    )
}

type Row = (String, i64, Option<i64>, Option<i64>, Option<String>);

/// Runs the state statements on a pool of `DB`.
pub(crate) struct SqlRecords<'a, DB: Database> {
    pub(crate) pool: &'a Pool<DB>,
    pub(crate) timeout: Duration,
    pub(crate) sql: &'a StateSql,
}

impl<DB> SqlRecords<'_, DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> Row: FromRow<'r, DB::Row>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
{
    pub(crate) async fn get(
        &self,
        kind: RecordKind,
        key: &str,
        now: i64,
    ) -> Result<Option<Record>, StoreError> {
        let row: Option<Row> = timed(self.timeout, async {
            sqlx::query_as(AssertSqlSafe(self.sql.get.clone()))
                .bind(kind.as_str())
                .bind(key)
                .bind(now)
                .fetch_optional(self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(row.map(|(value, version, expires_at, limit_at, owner)| {
            Record::new(value, version, expires_at, limit_at, owner)
        }))
    }

    pub(crate) async fn put(
        &self,
        kind: RecordKind,
        key: &str,
        record: &Record,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        check_key(key)?;
        let (index, now) = match guard {
            Guard::IfNotNewer => (1, 0),
            Guard::IfExpired(now) => (2, now),
            _ => (0, 0),
        };
        timed(self.timeout, async {
            loop {
                let mut query = sqlx::query(AssertSqlSafe(self.sql.upsert[index].clone()))
                    .bind(kind.as_str())
                    .bind(key)
                    .bind(record.value.as_str())
                    .bind(record.version)
                    .bind(record.expires_at)
                    .bind(record.limit_at)
                    .bind(record.owner.as_deref());
                for _ in 0..self.sql.now_binds[index] {
                    query = query.bind(now);
                }
                match query.execute(self.pool).await {
                    Ok(done) if DB::COUNT_SAYS_WRITTEN => return Ok(DB::rows(&done) > 0),
                    Ok(_) => break,
                    // Two upserts of one key picked as a deadlock victim: retried.
                    Err(e) if is_conflict(&e) => tokio::task::yield_now().await,
                    Err(e) => return Err(store_error(e)),
                }
            }
            // The count is ambiguous: the row itself says whether ours was written.
            let stored: Option<(String, i64)> =
                sqlx::query_as(AssertSqlSafe(self.sql.written.clone()))
                    .bind(kind.as_str())
                    .bind(key)
                    .fetch_optional(self.pool)
                    .await
                    .map_err(store_error)?;
            Ok(stored
                .is_some_and(|(value, version)| value == record.value && version == record.version))
        })
        .await
    }

    pub(crate) async fn touch(
        &self,
        kind: RecordKind,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = timed(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.touch.clone()))
                .bind(expires_at)
                .bind(expires_at)
                .bind(kind.as_str())
                .bind(key)
                .bind(now)
                .execute(self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(DB::rows(&done) > 0)
    }

    pub(crate) async fn delete(&self, kind: RecordKind, key: &str) -> Result<(), StoreError> {
        self.delete_where(&self.sql.delete, kind, key)
            .await
            .map(drop)
    }

    pub(crate) async fn delete_of(&self, kind: RecordKind, owner: &str) -> Result<u64, StoreError> {
        self.delete_where(&self.sql.delete_of, kind, owner).await
    }

    pub(crate) async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        self.rows_affected(sqlx::query(AssertSqlSafe(self.sql.purge.clone())).bind(now))
            .await
    }

    async fn delete_where(
        &self,
        sql: &Arc<str>,
        kind: RecordKind,
        value: &str,
    ) -> Result<u64, StoreError> {
        self.rows_affected(
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(kind.as_str())
                .bind(value),
        )
        .await
    }

    /// Runs a statement under the store's timeout; how many rows it changed.
    async fn rows_affected(
        &self,
        query: sqlx::query::Query<'_, DB, DB::Arguments>,
    ) -> Result<u64, StoreError> {
        let done = timed(self.timeout, async {
            query.execute(self.pool).await.map_err(store_error)
        })
        .await?;
        Ok(DB::rows(&done))
    }
}

/// Record ids are a `varchar(200)` key on MySQL; the same bound everywhere.
fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > 200 {
        return Err(StoreError::Rejected("key must be 1-200 bytes".into()));
    }
    Ok(())
}

/// Creates the state and schema tables (idempotent; two processes may race).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) async fn create_state_tables<DB>(
    pool: &Pool<DB>,
    table: &str,
    timeout: Duration,
    already_exists: fn(&sqlx::Error) -> bool,
) -> Result<(), StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    for ddl in DB::state_ddl(table) {
        timed(timeout, async {
            match sqlx::query(AssertSqlSafe(ddl)).execute(pool).await {
                Err(e) if already_exists(&e) => Ok(()),
                other => other.map(drop).map_err(store_error),
            }
        })
        .await?;
    }
    Ok(())
}

/// Implements [`RecordStore`](wechat_oauth::store::RecordStore) and `claim_once` for a store
/// with `pool`, `timeout` and `state: Arc<StateSql>` fields, by delegating to
/// [`SqlRecords`]. (Only the delegation is repeated; the logic is above, once.)
macro_rules! record_store_impl {
    ($store:ty) => {
        impl $store {
            fn records(
                &self,
            ) -> crate::records::SqlRecords<'_, <$store as crate::records::HasDb>::Db> {
                crate::records::SqlRecords {
                    pool: &self.pool,
                    timeout: self.timeout,
                    sql: &self.state,
                }
            }
        }

        #[async_trait::async_trait]
        impl wechat_oauth::store::RecordStore for $store {
            async fn get_record(
                &self,
                kind: wechat_oauth::store::RecordKind,
                key: &str,
                now: i64,
            ) -> Result<Option<wechat_oauth::store::Record>, StoreError> {
                self.records().get(kind, key, now).await
            }
            async fn put_record(
                &self,
                kind: wechat_oauth::store::RecordKind,
                key: &str,
                record: &wechat_oauth::store::Record,
                guard: wechat_oauth::store::Guard,
            ) -> Result<bool, StoreError> {
                self.records().put(kind, key, record, guard).await
            }
            async fn touch_record(
                &self,
                kind: wechat_oauth::store::RecordKind,
                key: &str,
                expires_at: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                self.records().touch(kind, key, expires_at, now).await
            }
            async fn delete_record(
                &self,
                kind: wechat_oauth::store::RecordKind,
                key: &str,
            ) -> Result<(), StoreError> {
                self.records().delete(kind, key).await
            }
            async fn delete_records_of(
                &self,
                kind: wechat_oauth::store::RecordKind,
                owner: &str,
            ) -> Result<u64, StoreError> {
                self.records().delete_of(kind, owner).await
            }
            async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
                self.records().purge(now).await
            }
        }
    };
}

/// The sqlx database of a store type, for [`record_store_impl`].
pub(crate) trait HasDb {
    type Db: Database;
}

/// The state and schema DDL of SQLite and PostgreSQL (same types, same syntax).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn standard_state_ddl(table: &str) -> Vec<String> {
    let state = format!("\"{table}_state\"");
    let owner_index = format!("\"{table}_state_owner\"");
    let expiry_index = format!("\"{table}_state_expiry\"");
    let schema = format!("\"{table}_schema\"");
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {state} (
               kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, version BIGINT NOT NULL,
               expires_at BIGINT, limit_at BIGINT, owner TEXT, PRIMARY KEY (kind, id))"
        ),
        format!("CREATE INDEX IF NOT EXISTS {owner_index} ON {state} (kind, owner)"),
        // For `purge_expired`; added to 0.2 tables on their next open.
        format!("CREATE INDEX IF NOT EXISTS {expiry_index} ON {state} (expires_at)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema} (component TEXT NOT NULL PRIMARY KEY, version BIGINT NOT NULL)"
        ),
        format!(
            "INSERT INTO {schema} (component, version) VALUES ('wechat-oauth', {SCHEMA_VERSION})
             ON CONFLICT (component) DO UPDATE SET version = excluded.version
             WHERE {schema}.version < excluded.version"
        ),
    ]
}
