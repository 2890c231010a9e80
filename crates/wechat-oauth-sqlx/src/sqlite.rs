//! [`SqliteStore`]: tokens in an SQLite file, shared by the processes of one machine.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteRow};
use wechat_oauth::{AccessToken, StoreError};

use crate::records::{
    Dialect, GuardKind, HasDb, StateSql, create_state_tables, on_conflict_upsert,
    standard_state_ddl,
};
use crate::tokens::{TokenDialect, TokenSql, decode_standard_row};
use crate::{SqlOptions, open_pool, store_error, timed};

/// A token store in SQLite: the embedded default, safe across the processes of one machine
/// (WAL journal, busy timeout, conditional writes).
///
/// Schema, created by [`connect`](Self::connect) unless
/// [`SqlOptions::create_tables`]`(false)` (`token` is [`SqlOptions::table`]):
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "token" (
///   openid TEXT NOT NULL PRIMARY KEY, access_token TEXT NOT NULL,
///   expires_in INTEGER NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL,
///   create_at INTEGER NOT NULL, unionid TEXT, is_snapshotuser BOOLEAN NOT NULL DEFAULT 0);
/// CREATE TABLE IF NOT EXISTS "token_lease" (
///   name TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
/// ```
///
/// ```
/// use wechat_oauth::{AccessToken, TokenStore};
/// use wechat_oauth_sqlx::SqliteStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wechat_oauth::StoreError> {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// let token = AccessToken::new("ACCESS", 7200, "REFRESH", "o1", "snsapi_base", 1_700_000_000_000);
/// assert!(store.save("o1", &token).await?);
/// assert_eq!(store.get("o1").await?, Some(token));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    state: Arc<StateSql>,
    pool: SqlitePool,
    timeout: Duration,
    tokens: Arc<TokenSql>,
}

fn schema(t: &str) -> [String; 2] {
    [
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{t}" (
                 openid TEXT NOT NULL PRIMARY KEY, access_token TEXT NOT NULL,
                 expires_in INTEGER NOT NULL, refresh_token TEXT NOT NULL, scope TEXT NOT NULL,
                 create_at INTEGER NOT NULL, unionid TEXT, is_snapshotuser BOOLEAN NOT NULL DEFAULT 0)"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{t}_lease" (
                 name TEXT NOT NULL PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)"#
        ),
    ]
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` — `sqlite://path/to/tokens.db`,
    /// `sqlite:tokens.db` or `sqlite::memory:` — with the default [`SqlOptions`].
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for a bad URL; [`StoreError::Unavailable`] if the file
    /// cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with `options`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: SqlOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|_| StoreError::Rejected("not an SQLite URL".into()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(options.timeout);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = options.pool_options::<sqlx::Sqlite>();
        if in_memory {
            // Every connection to `:memory:` is a separate database: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = open_pool(pool, connect, options.timeout).await?;
        Self::with_pool(pool, options).await
    }

    /// A store on an existing pool; creates the tables unless told not to.
    ///
    /// # Errors
    /// [`StoreError::Rejected`] for an invalid table name; the pool's error if the DDL fails.
    pub async fn with_pool(pool: SqlitePool, options: SqlOptions) -> Result<Self, StoreError> {
        let table = options.checked_table()?;
        if options.create_tables {
            for ddl in schema(table) {
                timed(options.timeout, async {
                    sqlx::query(AssertSqlSafe(ddl))
                        .execute(&pool)
                        .await
                        .map_err(store_error)
                })
                .await?;
            }
        }
        if options.create_tables {
            create_state_tables(&pool, table, options.timeout, already_exists).await?;
        }
        Ok(Self {
            state: Arc::new(StateSql::new::<sqlx::Sqlite>(table)),
            tokens: Arc::new(TokenSql::new::<sqlx::Sqlite>(table)),
            pool,
            timeout: options.timeout,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn save_token(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        self.tokens().save_standard(openid, token).await
    }
}

impl HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}

record_store_impl!(SqliteStore);

impl Dialect for sqlx::Sqlite {
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
}

/// SQLite creates tables under its own lock: nothing to tolerate.
fn already_exists(_: &sqlx::Error) -> bool {
    false
}

impl TokenDialect for sqlx::Sqlite {
    // A stored create_at that is not an integer (written by hand) protects nothing.
    fn stored_token_is_older(t: &str) -> String {
        format!("typeof({t}.create_at) <> 'integer' OR {t}.create_at <= excluded.create_at")
    }

    fn decode_token(row: &SqliteRow) -> Result<AccessToken, StoreError> {
        decode_standard_row(row)
    }
}

token_store_impl!(SqliteStore);
