//! User tokens and leases in SQL: one implementation for the three dialects, as for the
//! state tables ([`records`](crate::records)). What differs (placeholders, quoting, the
//! upsert's syntax, MySQL's seed table with its string columns) is a [`TokenDialect`]; the
//! code that binds, runs and reads the statements is written once, generic over the
//! database.
//!
//! SQLite and PostgreSQL share one layout (`openid` primary key, typed columns) and one
//! `save`: a single `INSERT … ON CONFLICT (openid) DO UPDATE … WHERE <stored token is not
//! newer>`, so an older token never replaces a newer one. MySQL keeps the seed's `token`
//! table untouched and saves through its own guarded statements (see
//! [`MySqlStore`](crate::MySqlStore)); reading, deleting and the leases are shared.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Executor, FromRow, IntoArguments, Pool};
use wechat_oauth::store::{Lease, decode_stored};
use wechat_oauth::{AccessToken, StoreError, now_millis};

use crate::records::Dialect;
use crate::{check_lease_name, expires_in_column, is_conflict, millis, store_error, timed};

/// What one SQL dialect says differently about the token and lease tables. `table` is the
/// configured (checked, unquoted) token table name; statements use `?` placeholders
/// ([`Dialect::placeholders`] rewrites them).
pub(crate) trait TokenDialect: Dialect {
    /// Selects the token of one openid (binds: openid); read by [`decode_token`](Self::decode_token).
    fn token_get(table: &str) -> String {
        let t = Self::ident(table);
        format!(
            "SELECT access_token, expires_in, refresh_token, openid, scope, create_at, unionid, is_snapshotuser
             FROM {t} WHERE openid = ?"
        )
    }

    /// The condition under which the standard `save` replaces the stored row (`t`: the
    /// quoted table).
    fn stored_token_is_older(t: &str) -> String {
        format!("{t}.create_at <= excluded.create_at")
    }

    /// The statements deleting one openid's token (binds: openid, each).
    fn token_delete(table: &str) -> Vec<String> {
        let t = Self::ident(table);
        vec![format!("DELETE FROM {t} WHERE openid = ?")]
    }

    /// Takes a lease row of `<table>_lease` if absent or expired (binds: name, holder,
    /// expires_at, then the current time for every further `?`).
    fn lease_acquire(table: &str) -> String {
        let lease = Self::ident(&format!("{table}_lease"));
        format!(
            "INSERT INTO {lease} (name, holder, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE {lease}.expires_at <= ?"
        )
    }

    /// A token from a row of [`token_get`](Self::token_get).
    fn decode_token(row: &Self::Row) -> Result<AccessToken, StoreError>;
}

/// The token and lease statements of one store, prepared once.
#[derive(Debug)]
pub(crate) struct TokenSql {
    get: Arc<str>,
    /// The standard single-statement save (SQLite, PostgreSQL); MySQL saves its own way.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    save: Arc<str>,
    delete: Vec<Arc<str>>,
    acquire: Arc<str>,
    /// How many times `acquire` binds the current time after its three values.
    acquire_now_binds: usize,
    lease_holder: Arc<str>,
    release: Arc<str>,
}

impl TokenSql {
    pub(crate) fn new<DB: TokenDialect>(table: &str) -> Self {
        let t = DB::ident(table);
        let lease = DB::ident(&format!("{table}_lease"));
        let sql = |s: String| -> Arc<str> { DB::placeholders(&s).into() };
        let acquire = DB::lease_acquire(table);
        Self {
            get: sql(DB::token_get(table)),
            save: sql(format!(
                "INSERT INTO {t} (openid, access_token, expires_in, refresh_token, scope, create_at, unionid, is_snapshotuser)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (openid) DO UPDATE SET access_token = excluded.access_token,
                   expires_in = excluded.expires_in, refresh_token = excluded.refresh_token,
                   scope = excluded.scope, create_at = excluded.create_at,
                   unionid = excluded.unionid, is_snapshotuser = excluded.is_snapshotuser
                 WHERE {}",
                DB::stored_token_is_older(&t)
            )),
            delete: DB::token_delete(table).into_iter().map(sql).collect(),
            acquire_now_binds: acquire.matches('?').count().saturating_sub(3),
            acquire: sql(acquire),
            lease_holder: sql(format!("SELECT holder FROM {lease} WHERE name = ?")),
            release: sql(format!("DELETE FROM {lease} WHERE name = ? AND holder = ?")),
        }
    }
}

/// The columns of [`TokenDialect::token_get`]'s default, in order, as SQLite and
/// PostgreSQL type them.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
type StandardRow = (
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    bool,
);

/// A token from a row of the standard layout (SQLite, PostgreSQL).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn decode_standard_row<R: sqlx::Row>(row: &R) -> Result<AccessToken, StoreError>
where
    for<'r> StandardRow: FromRow<'r, R>,
{
    let (access_token, expires_in, refresh_token, openid, scope, create_at, unionid, snapshot) =
        StandardRow::from_row(row).map_err(store_error)?;
    decode_stored(serde_json::json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "refresh_token": refresh_token,
        "openid": openid,
        "scope": scope,
        "create_at": create_at,
        "unionid": unionid,
        "is_snapshotuser": snapshot,
    }))
}

/// Runs the token and lease statements on a pool of `DB`.
pub(crate) struct SqlTokens<'a, DB: sqlx::Database> {
    pub(crate) pool: &'a Pool<DB>,
    pub(crate) timeout: Duration,
    pub(crate) sql: &'a TokenSql,
}

impl<DB> SqlTokens<'_, DB>
where
    DB: TokenDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    pub(crate) async fn get(&self, openid: &str) -> Result<Option<AccessToken>, StoreError> {
        let row = timed(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.get.clone()))
                .bind(openid)
                .fetch_optional(self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        row.as_ref().map(DB::decode_token).transpose()
    }

    /// The standard save: one conditional upsert, whose affected-row count says whether
    /// it wrote. (The caller has validated `openid` and `token`.)
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) async fn save_standard(
        &self,
        openid: &str,
        token: &AccessToken,
    ) -> Result<bool, StoreError> {
        let expires_in = expires_in_column(token)?;
        timed(self.timeout, async {
            loop {
                let result = sqlx::query(AssertSqlSafe(self.sql.save.clone()))
                    .bind(openid)
                    .bind(token.access_token.expose_secret())
                    .bind(expires_in)
                    .bind(token.refresh_token.expose_secret())
                    .bind(token.scope.as_str())
                    .bind(token.create_at)
                    .bind(token.unionid.as_deref())
                    .bind(token.is_snapshotuser)
                    .execute(self.pool)
                    .await;
                match result {
                    Ok(done) => return Ok(DB::rows(&done) > 0),
                    // Two upserts of one key picked as a deadlock victim: retried.
                    Err(e) if is_conflict(&e) => tokio::task::yield_now().await,
                    Err(e) => return Err(store_error(e)),
                }
            }
        })
        .await
    }

    pub(crate) async fn delete(&self, openid: &str) -> Result<(), StoreError> {
        timed(self.timeout, async {
            for sql in &self.sql.delete {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(openid)
                    .execute(self.pool)
                    .await
                    .map_err(store_error)?;
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn acquire_lease(
        &self,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        check_lease_name(name)?;
        let lease = Lease::new(name);
        let now = now_millis();
        let won = timed(self.timeout, async {
            let mut query = sqlx::query(AssertSqlSafe(self.sql.acquire.clone()))
                .bind(name)
                .bind(lease.holder())
                .bind(now.saturating_add(millis(ttl)));
            for _ in 0..self.sql.acquire_now_binds {
                query = query.bind(now);
            }
            let done = query.execute(self.pool).await.map_err(store_error)?;
            if DB::COUNT_SAYS_WRITTEN {
                return Ok(DB::rows(&done) > 0);
            }
            // The affected-row count is ambiguous (MySQL); the holder column is not.
            let holder: Option<(String,)> =
                sqlx::query_as(AssertSqlSafe(self.sql.lease_holder.clone()))
                    .bind(name)
                    .fetch_optional(self.pool)
                    .await
                    .map_err(store_error)?;
            Ok(holder.is_some_and(|(holder,)| holder == lease.holder()))
        })
        .await?;
        Ok(won.then_some(lease))
    }

    pub(crate) async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        timed(self.timeout, async {
            sqlx::query(AssertSqlSafe(self.sql.release.clone()))
                .bind(lease.name())
                .bind(lease.holder())
                .execute(self.pool)
                .await
                .map_err(store_error)
        })
        .await?;
        Ok(())
    }
}

/// Implements [`TokenStore`](wechat_oauth::TokenStore) and
/// [`LeaseStore`](wechat_oauth::LeaseStore) for a store with `pool`, `timeout` and
/// `tokens: Arc<TokenSql>` fields and an inherent `save_token`, by delegating to
/// [`SqlTokens`]. (Only the delegation is repeated; the logic is above, once.)
macro_rules! token_store_impl {
    ($store:ty) => {
        impl $store {
            fn tokens(
                &self,
            ) -> crate::tokens::SqlTokens<'_, <$store as crate::records::HasDb>::Db> {
                crate::tokens::SqlTokens {
                    pool: &self.pool,
                    timeout: self.timeout,
                    sql: &self.tokens,
                }
            }
        }

        #[async_trait::async_trait]
        impl wechat_oauth::TokenStore for $store {
            async fn get(
                &self,
                openid: &str,
            ) -> Result<Option<wechat_oauth::AccessToken>, StoreError> {
                self.tokens().get(openid).await
            }

            async fn save(
                &self,
                openid: &str,
                token: &wechat_oauth::AccessToken,
            ) -> Result<bool, StoreError> {
                wechat_oauth::store::validate_for_save(openid, token)?;
                self.save_token(openid, token).await
            }

            async fn delete(&self, openid: &str) -> Result<(), StoreError> {
                self.tokens().delete(openid).await
            }
        }

        #[async_trait::async_trait]
        impl wechat_oauth::LeaseStore for $store {
            async fn acquire_lease(
                &self,
                name: &str,
                ttl: std::time::Duration,
            ) -> Result<Option<wechat_oauth::store::Lease>, StoreError> {
                self.tokens().acquire_lease(name, ttl).await
            }

            async fn release_lease(
                &self,
                lease: &wechat_oauth::store::Lease,
            ) -> Result<(), StoreError> {
                self.tokens().release_lease(lease).await
            }

            async fn claim_once(
                &self,
                key: &str,
                ttl: std::time::Duration,
            ) -> Result<bool, StoreError> {
                wechat_oauth::store::claim_record(self, key, ttl).await
            }
        }
    };
}
