//! SQL token stores for [`wechat_oauth`]: SQLite (feature `sqlite`, the default),
//! MySQL/MariaDB (feature `mysql`) and PostgreSQL (feature `postgres`), on [`sqlx`].
//!
//! | store | layout |
//! |---|---|
//! | [`MySqlStore`] | the seed's own `token` table, byte for byte: its `CREATE TABLE` and unique `openid` key, every value a string, `create_at` in milliseconds. A node `wechat-oauth` deployment using the seed's `REPLACE INTO token(...)` example and a Rust one can share the table while a team migrates. `unionid` and `is_snapshotuser`, which the seed's table has no column for, live in `<table>_ext`; leases in `<table>_lease`. |
//! | [`PostgresStore`], [`SqliteStore`] | the same logical layout with proper types: `openid` primary key, `expires_in` and `create_at` as `BIGINT`, `unionid`, `is_snapshotuser BOOLEAN`; leases in `<table>_lease`. |
//!
//! # Schema ("migrations")
//! The schema ships inside the crate as idempotent SQL (`CREATE TABLE IF NOT EXISTS …`)
//! that `connect` runs once per pool, so there is no migration tool to run and no
//! `_sqlx_migrations` table in your database. An existing table is used as it is. Pass
//! [`SqlOptions::create_tables`]`(false)` to skip the DDL when the application's user may
//! not create tables; the statements are in each store's docs.
//!
//! # Many processes
//! - `save` is one conditional statement (`INSERT … ON CONFLICT … DO UPDATE … WHERE
//!   create_at <= excluded.create_at`; on MySQL `ON DUPLICATE KEY UPDATE` with every column
//!   guarded by `CAST(create_at AS SIGNED)`, because the seed keeps `create_at` as a
//!   `varchar`), so an older token never replaces a newer one, whatever the interleaving.
//! - Leases are rows in `<table>_lease` taken by a conditional upsert that only succeeds when
//!   the row is absent or expired, and released by `DELETE … WHERE holder = ?`. Expiry uses
//!   the application's clock (milliseconds since the epoch), so keep hosts NTP-synced.
//!
//! # Failures
//! Pools connect with a bounded acquire timeout and every operation runs under
//! [`SqlOptions::timeout`]: a down server gives [`StoreError::Unavailable`] or
//! [`StoreError::Timeout`], never a hang. Connections are checked before use, so the pool
//! recovers by itself when the server comes back.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wechat_oauth::TokenStore;
//! use wechat_oauth_sqlx::SqliteStore;
//!
//! # async fn demo() -> Result<(), wechat_oauth::StoreError> {
//! let store: Arc<dyn TokenStore> = Arc::new(SqliteStore::connect("sqlite://tokens.db").await?);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod records;
#[macro_use]
mod tokens;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use std::future::Future;
use std::time::Duration;

use wechat_oauth::{AccessToken, StoreError};

/// Settings shared by the SQL stores.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    table: String,
    create_tables: bool,
    timeout: Duration,
    max_connections: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            table: "token".into(),
            create_tables: true,
            timeout: Duration::from_secs(10),
            max_connections: 10,
        }
    }
}

impl SqlOptions {
    /// The default options: table `token` (the seed's name), tables created if missing,
    /// a 10 s timeout per operation, up to 10 connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token table's name (default `token`); the lease and extra tables are named
    /// after it (`<table>_lease`, `<table>_ext`). Letters, digits and `_`, at most 48.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Whether `connect` creates missing tables (default `true`).
    #[must_use]
    pub fn create_tables(mut self, create: bool) -> Self {
        self.create_tables = create;
        self
    }

    /// The longest any one operation may take, connecting included (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pool's size (default 10).
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// The configured table name, checked to be a plain SQL identifier.
    fn checked_table(&self) -> Result<&str, StoreError> {
        let t = self.table.as_str();
        let plain = !t.is_empty()
            && t.len() <= 48
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !t.as_bytes()[0].is_ascii_digit();
        if plain {
            Ok(t)
        } else {
            Err(StoreError::Rejected(
                "table name must be 1-48 letters, digits or _, not starting with a digit".into(),
            ))
        }
    }

    fn pool_options<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.timeout)
            // A connection that died with a server restart is found and replaced here,
            // before a query fails on it.
            .test_before_acquire(true)
    }
}

/// Opens a pool with `pool` options on `connect`, within `timeout`.
async fn open_pool<DB: sqlx::Database>(
    pool: sqlx::pool::PoolOptions<DB>,
    connect: <DB::Connection as sqlx::Connection>::Options,
    timeout: Duration,
) -> Result<sqlx::Pool<DB>, StoreError> {
    timed(timeout, async {
        pool.connect_with(connect).await.map_err(store_error)
    })
    .await
}

/// Runs `op` under `timeout`, mapping sqlx errors to [`StoreError`].
async fn timed<T>(
    timeout: Duration,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_| StoreError::Timeout)?
}

/// Classifies an sqlx error: connection trouble is transient, a value the column cannot
/// hold is a rejected save, the rest is a backend error.
fn store_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut => StoreError::Timeout,
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => StoreError::Timeout,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
        sqlx::Error::Database(ref db) if db.code().as_deref().is_some_and(means_server_gone) => {
            // The server is shutting down, crashed or not yet accepting: as transient as a
            // refused connection.
            StoreError::unavailable(err)
        }
        sqlx::Error::Database(ref db) if db.code().as_deref() == Some("22001") => {
            // SQLSTATE 22001 "string data, right truncation": e.g. a token longer than the
            // seed's varchar(200). The message names the column, not the value.
            StoreError::Rejected(db.message().to_owned())
        }
        sqlx::Error::ColumnDecode { index, .. } => {
            StoreError::Malformed(format!("column {index} cannot be decoded"))
        }
        other => StoreError::backend(other),
    }
}

/// Whether SQLSTATE `code` says the connection or the server went away: class 08
/// (connection exception, MySQL/MariaDB's `08S01` included) and PostgreSQL's 57P01–57P03
/// (admin shutdown, crash shutdown, cannot connect now; a backend whose postmaster died
/// answers 57P01).
fn means_server_gone(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

/// Whether `err` is a transaction conflict worth retrying (deadlock, serialization failure).
fn is_conflict(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `expires_in` as a signed column value.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
fn expires_in_column(token: &AccessToken) -> Result<i64, StoreError> {
    i64::try_from(token.expires_in)
        .map_err(|_| StoreError::Rejected("expires_in out of range".into()))
}

/// Lease names are stored in a `varchar(191)` key (the utf8mb4 index limit).
fn check_lease_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 191 {
        return Err(StoreError::Rejected(
            "lease name must be 1-191 bytes".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod server_gone_tests {
    use super::means_server_gone;

    #[test]
    fn a_server_that_went_away_is_transient_whatever_its_sqlstate() {
        for code in [
            "08000", "08003", "08006", "08S01", "57P01", "57P02", "57P03",
        ] {
            assert!(means_server_gone(code), "{code}");
        }
        for code in ["22001", "23505", "40001", "42P01", "57014", "HY000"] {
            assert!(!means_server_gone(code), "{code}");
        }
    }
}
