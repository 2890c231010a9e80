//! [`PostgresStore`]: tokens in PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use wechat_oauth::{AccessToken, StoreError};

use crate::records::{
    Dialect, GuardKind, HasDb, StateSql, create_state_tables, on_conflict_upsert,
    standard_state_ddl,
};
use crate::tokens::{TokenDialect, TokenSql, decode_standard_row};
use crate::{SqlOptions, open_pool, store_error, timed};

/// A token store in PostgreSQL, for many processes on many machines.
///
/// Schema, created by [`connect`](Self::connect) unless
/// [`SqlOptions::create_tables`]`(false)` (`token` is [`SqlOptions::table`]):
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "token" (
///   openid VARCHAR(128) NOT NULL PRIMARY KEY, access_token TEXT NOT NULL,
///   expires_in BIGINT NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL,
///   create_at BIGINT NOT NULL, unionid TEXT, is_snapshotuser BOOLEAN NOT NULL DEFAULT FALSE);
/// CREATE TABLE IF NOT EXISTS "token_lease" (
///   name VARCHAR(191) NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
/// ```
///
/// ```no_run
/// use wechat_oauth_sqlx::{PostgresStore, SqlOptions};
///
/// # async fn demo() -> Result<(), wechat_oauth::StoreError> {
/// let store = PostgresStore::connect_with(
///     "postgres://app@127.0.0.1:5432/app",
///     SqlOptions::new().table("wechat_token"),
/// )
/// .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    state: Arc<StateSql>,
    pool: PgPool,
    timeout: Duration,
    tokens: Arc<TokenSql>,
}

fn schema(t: &str) -> [String; 2] {
    [
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{t}" (
                 openid VARCHAR(128) NOT NULL PRIMARY KEY, access_token TEXT NOT NULL,
                 expires_in BIGINT NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL,
                 create_at BIGINT NOT NULL, unionid TEXT, is_snapshotuser BOOLEAN NOT NULL DEFAULT FALSE)"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{t}_lease" (
                 name VARCHAR(191) NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)"#
        ),
    ]
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with the default
    /// [`SqlOptions`].
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a bad URL (the URL is not repeated: it may hold a
    /// password); [`StoreError::Unavailable`] or [`StoreError::Timeout`] if the server
    /// cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with `options`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Rejected("not a PostgreSQL URL".into()))?;
        let pool = open_pool(
            options.pool_options::<sqlx::Postgres>(),
            connect,
            options.timeout,
        )
        .await?;
        Self::with_pool(pool, options).await
    }

    /// A store on an existing pool; creates the tables unless told not to.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for an invalid table name; the pool's error if the DDL fails.
    pub async fn with_pool(pool: PgPool, options: SqlOptions) -> Result<Self, StoreError> {
        let table = options.checked_table()?;
        if options.create_tables {
            for ddl in schema(table) {
                let created = timed(options.timeout, async {
                    match sqlx::query(AssertSqlSafe(ddl)).execute(&pool).await {
                        // Two processes creating the table at once: the loser sees it exist.
                        Err(sqlx::Error::Database(db))
                            if matches!(db.code().as_deref(), Some("23505" | "42P07")) =>
                        {
                            Ok(())
                        }
                        other => other.map(drop).map_err(store_error),
                    }
                });
                created.await?;
            }
        }
        if options.create_tables {
            create_state_tables(&pool, table, options.timeout, already_exists).await?;
        }
        Ok(Self {
            state: Arc::new(StateSql::new::<sqlx::Postgres>(table)),
            tokens: Arc::new(TokenSql::new::<sqlx::Postgres>(table)),
            pool,
            timeout: options.timeout,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn save_token(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        self.tokens().save_standard(openid, token).await
    }
}

impl HasDb for PostgresStore {
    type Db = sqlx::Postgres;
}

record_store_impl!(PostgresStore);

impl Dialect for sqlx::Postgres {
    fn state_ddl(table: &str) -> Vec<String> {
        standard_state_ddl(table)
    }

    fn upsert(t: &str, guard: GuardKind) -> String {
        on_conflict_upsert(t, guard)
    }

    const COUNT_SAYS_WRITTEN: bool = true;

    fn rows(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    fn placeholders(sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Two processes creating the tables at once: the loser sees them exist.
fn already_exists(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("23505" | "42P07")))
}

impl TokenDialect for sqlx::Postgres {
    fn decode_token(row: &PgRow) -> Result<AccessToken, StoreError> {
        decode_standard_row(row)
    }
}

token_store_impl!(PostgresStore);
