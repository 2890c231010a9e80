//! [`MySqlStore`]: tokens in MySQL/MariaDB, in the seed's own `token` table.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlRow};
use sqlx::{AssertSqlSafe, Row};
use wechat_oauth::store::decode_stored;
use wechat_oauth::{AccessToken, StoreError};

use crate::records::{Dialect, GuardKind, HasDb, SCHEMA_VERSION, StateSql, insert_into};
use crate::tokens::{TokenDialect, TokenSql};
use crate::{SqlOptions, is_conflict, open_pool, store_error, timed};

/// A token store in MySQL or MariaDB that shares the seed's `token` table with node
/// `wechat-oauth` deployments.
///
/// The token table is exactly the one in the seed's README (created with its `CREATE
/// TABLE` and `ADD UNIQUE KEY openid` if missing; used as it is if present), and values are
/// written as the seed writes them: every column a string, `create_at` in milliseconds. So
/// a token saved by the node library's `REPLACE INTO token(...)` reads back here, and a
/// token saved here reads back through the seed's `SELECT * FROM token WHERE openid = ?`.
///
/// Unlike `REPLACE INTO`, [`save`](wechat_oauth::TokenStore::save) never replaces a newer token: every
/// column's update is guarded by `CAST(create_at AS SIGNED) <= CAST(VALUES(create_at) AS
/// SIGNED)` (a numeric comparison; the column is a `varchar`, and `"9" > "10"` as strings).
///
/// Two tables sit beside it, so the seed's table stays untouched (`token` is
/// [`SqlOptions::table`]):
///
/// ```sql
/// -- unionid and is_snapshotuser, which the seed's table has no column for; a row applies
/// -- only to the token with the same create_at (node rewrites `token` without it).
/// CREATE TABLE IF NOT EXISTS `token_ext` (
///   `openid` varchar(50) COLLATE utf8_bin NOT NULL PRIMARY KEY, `create_at` bigint NOT NULL,
///   `unionid` varchar(128) COLLATE utf8_bin NULL, `is_snapshotuser` tinyint(1) NOT NULL DEFAULT 0
/// ) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin;
/// CREATE TABLE IF NOT EXISTS `token_lease` (
///   `name` varchar(191) NOT NULL PRIMARY KEY, `holder` varchar(64) NOT NULL, `expires_at` bigint NOT NULL
/// ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
/// ```
///
/// The seed's columns bound what fits: `openid` up to 50 characters, tokens up to 200; a
/// longer value is refused with [`StoreError::Rejected`].
///
/// ```no_run
/// use wechat_oauth_sqlx::MySqlStore;
///
/// # async fn demo() -> Result<(), wechat_oauth::StoreError> {
/// // The same database and `token` table a node wechat-oauth deployment uses.
/// let store = MySqlStore::connect("mysql://app:password@127.0.0.1:3306/app").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    timeout: Duration,
    sql: Arc<Queries>,
    tokens: Arc<TokenSql>,
    state: Arc<StateSql>,
}

impl HasDb for MySqlStore {
    type Db = sqlx::MySql;
}

record_store_impl!(MySqlStore);
token_store_impl!(MySqlStore);

impl Dialect for sqlx::MySql {
    fn state_ddl(table: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS `{table}_state` (
                   `kind` varchar(16) NOT NULL, `id` varchar(200) NOT NULL, `value` mediumtext NOT NULL,
                   `version` bigint NOT NULL, `expires_at` bigint NULL, `limit_at` bigint NULL,
                   `owner` varchar(128) NULL, PRIMARY KEY (`kind`, `id`), KEY `owner` (`kind`, `owner`)
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS `{table}_schema` (
                   `component` varchar(64) NOT NULL PRIMARY KEY, `version` bigint NOT NULL
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ),
            format!(
                "INSERT INTO `{table}_schema` (component, version) VALUES ('wechat-oauth', {SCHEMA_VERSION})
                 ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version))"
            ),
        ]
    }

    fn upsert(t: &str, guard: GuardKind) -> String {
        // MySQL evaluates assignments left to right: the column the guard reads goes last,
        // so every other guard still sees the old value.
        let (condition, last) = match guard {
            GuardKind::Always => ("TRUE", "version"),
            GuardKind::IfNotNewer => ("`version` <= VALUES(`version`)", "version"),
            GuardKind::IfExpired => (
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
        format!("{} ON DUPLICATE KEY UPDATE {assignments}", insert_into(t))
    }

    const COUNT_SAYS_WRITTEN: bool = false;

    fn rows(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }

    fn ident(name: &str) -> String {
        format!("`{name}`")
    }
}

/// The statements of `save`, which writes the seed's row its own way (reading, deleting
/// and the leases are [`TokenSql`]'s).
#[derive(Debug)]
struct Queries {
    save: Arc<str>,
    save_ext: Arc<str>,
    save_ext_if_current: Arc<str>,
}

/// `create_at` of the stored row as a number; a value that is not an integer counts as the
/// oldest possible, so a broken row never blocks a save (and `CAST` never warns, which
/// strict mode would turn into an error).
const STORED_CREATE_AT: &str =
    "IF(create_at REGEXP '^-?[0-9]{1,19}$', CAST(create_at AS SIGNED), -9223372036854775808)";

impl Queries {
    fn new(t: &str) -> Self {
        let newer = format!("{STORED_CREATE_AT} <= CAST(VALUES(create_at) AS SIGNED)");
        // `create_at` is assigned last: MySQL evaluates assignments left to right, and the
        // guard of every other column must see the old value.
        let guarded = [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "create_at",
        ]
        .map(|c| format!("`{c}` = IF({newer}, VALUES(`{c}`), `{c}`)"))
        .join(", ");
        // Qualified: the statement also reads the token table, which has a `create_at` too.
        let ext_newer = format!("`{t}_ext`.`create_at` <= VALUES(`create_at`)");
        let ext_guarded = ["unionid", "is_snapshotuser", "create_at"]
            .map(|c| format!("`{t}_ext`.`{c}` = IF({ext_newer}, VALUES(`{c}`), `{t}_ext`.`{c}`)"))
            .join(", ");
        Self {
            save: format!(
                "INSERT INTO `{t}` (access_token, expires_in, refresh_token, openid, scope, create_at)
                 VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE {guarded}"
            )
            .into(),
            save_ext: format!(
                "INSERT INTO `{t}_ext` (openid, create_at, unionid, is_snapshotuser) VALUES (?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE {ext_guarded}"
            )
            .into(),
            // Writes the extras only while the token row holds this very token, so its
            // affected-row count says whether the save won: 0 rows selected means a newer
            // token is stored (the driver counts matched rows, so an unchanged extras row
            // still counts 1).
            save_ext_if_current: format!(
                "INSERT INTO `{t}_ext` (openid, create_at, unionid, is_snapshotuser)
                 SELECT s.openid, ?, ?, ? FROM `{t}` s WHERE s.openid = ? AND s.create_at = ?
                 ON DUPLICATE KEY UPDATE {ext_guarded}"
            )
            .into(),
        }
    }
}

/// The seed README's DDL, verbatim apart from the table name.
fn seed_table(t: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE `{t}` (
`access_token` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '令牌',
`expires_in` varchar(10) COLLATE utf8_bin NOT NULL COMMENT '有效期',
`refresh_token` varchar(200) COLLATE utf8_bin NOT NULL COMMENT '刷新参数',
`openid` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '用户编号',
`scope` varchar(50) COLLATE utf8_bin NOT NULL COMMENT '作用域',
`create_at` varchar(20) COLLATE utf8_bin NOT NULL COMMENT '令牌建立时间'
) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin COMMENT='微信令牌表'"
        ),
        format!("ALTER TABLE `{t}`\nADD UNIQUE KEY `openid` (`openid`)"),
    ]
}

fn side_tables(t: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS `{t}_ext` (
               `openid` varchar(50) COLLATE utf8_bin NOT NULL PRIMARY KEY, `create_at` bigint NOT NULL,
               `unionid` varchar(128) COLLATE utf8_bin NULL, `is_snapshotuser` tinyint(1) NOT NULL DEFAULT 0
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{t}_lease` (
               `name` varchar(191) NOT NULL PRIMARY KEY, `holder` varchar(64) NOT NULL, `expires_at` bigint NOT NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        ),
    ]
}

/// MySQL error numbers that mean "already done" when two processes create the schema.
const TABLE_EXISTS: u16 = 1050;
const DUPLICATE_KEY_NAME: u16 = 1061;

fn mysql_number(err: &sqlx::Error) -> Option<u16> {
    match err {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(sqlx::mysql::MySqlDatabaseError::number),
        _ => None,
    }
}

impl MySqlStore {
    /// Connects to `url` (`mysql://user:password@host:port/database`; MariaDB too) with
    /// the default [`SqlOptions`] (table `token`, the seed's name).
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
        let connect = MySqlConnectOptions::from_str(url)
            .map_err(|_| StoreError::Rejected("not a MySQL URL".into()))?;
        let pool = open_pool(
            options.pool_options::<sqlx::MySql>(),
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
    pub async fn with_pool(pool: MySqlPool, options: SqlOptions) -> Result<Self, StoreError> {
        let table = options.checked_table()?;
        if options.create_tables {
            timed(options.timeout, create_schema(&pool, table)).await?;
        }
        Ok(Self {
            sql: Arc::new(Queries::new(table)),
            tokens: Arc::new(TokenSql::new::<sqlx::MySql>(table)),
            state: Arc::new(StateSql::new::<sqlx::MySql>(table)),
            pool,
            timeout: options.timeout,
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The guarded upsert of the seed's row, then, only when needed, the extras.
    ///
    /// The driver reports matched rows (`CLIENT_FOUND_ROWS`), so the upsert's count is 2
    /// when it replaced an older token, and 1 when it inserted the row *or* kept the stored
    /// one (newer, or the same values). A replaced row needs no second look: the extras
    /// are written if there are any, and an extras row of an older token is ignored on
    /// read anyway (it carries that token's `create_at`). Otherwise the extras are written
    /// only if the row now holds this token, which also says whether the save won.
    async fn try_save(&self, openid: &str, token: &AccessToken) -> Result<bool, sqlx::Error> {
        let create_at = token.create_at.to_string();
        let upserted = sqlx::query(AssertSqlSafe(self.sql.save.clone()))
            .bind(token.access_token.expose_secret())
            .bind(token.expires_in.to_string())
            .bind(token.refresh_token.expose_secret())
            .bind(openid)
            .bind(&token.scope)
            .bind(&create_at)
            .execute(&self.pool)
            .await?;
        if upserted.rows_affected() == 2 {
            if token.unionid.is_some() || token.is_snapshotuser {
                sqlx::query(AssertSqlSafe(self.sql.save_ext.clone()))
                    .bind(openid)
                    .bind(token.create_at)
                    .bind(token.unionid.as_deref())
                    .bind(token.is_snapshotuser)
                    .execute(&self.pool)
                    .await?;
            }
            return Ok(true);
        }
        let written = sqlx::query(AssertSqlSafe(self.sql.save_ext_if_current.clone()))
            .bind(token.create_at)
            .bind(token.unionid.as_deref())
            .bind(token.is_snapshotuser)
            .bind(openid)
            .bind(&create_at)
            .execute(&self.pool)
            .await?;
        Ok(written.rows_affected() > 0)
    }
}

async fn create_schema(pool: &MySqlPool, t: &str) -> Result<(), StoreError> {
    for ddl in seed_table(t) {
        match sqlx::query(AssertSqlSafe(ddl)).execute(pool).await {
            Err(e) if matches!(mysql_number(&e), Some(TABLE_EXISTS | DUPLICATE_KEY_NAME)) => {}
            other => {
                other.map_err(store_error)?;
            }
        }
    }
    for ddl in side_tables(t).into_iter().chain(sqlx::MySql::state_ddl(t)) {
        sqlx::query(AssertSqlSafe(ddl))
            .execute(pool)
            .await
            .map_err(store_error)?;
    }
    // For `purge_expired`; added to 0.2 tables on their next open. (MySQL has no
    // `CREATE INDEX IF NOT EXISTS`: an existing index answers 1061.)
    let expiry = format!("CREATE INDEX `expiry` ON `{t}_state` (`expires_at`)");
    match sqlx::query(AssertSqlSafe(expiry)).execute(pool).await {
        Err(e) if mysql_number(&e) == Some(DUPLICATE_KEY_NAME) => {}
        other => {
            other.map_err(store_error)?;
        }
    }
    Ok(())
}

impl TokenDialect for sqlx::MySql {
    // The extras' `create_at` comes along: they apply only to the token saved with them.
    fn token_get(t: &str) -> String {
        format!(
            "SELECT t.access_token, t.expires_in, t.refresh_token, t.openid, t.scope, t.create_at,
                    e.create_at AS ext_create_at, e.unionid, e.is_snapshotuser
             FROM `{t}` t LEFT JOIN `{t}_ext` e ON e.openid = t.openid WHERE t.openid = ?"
        )
    }

    fn token_delete(t: &str) -> Vec<String> {
        vec![
            format!("DELETE FROM `{t}` WHERE openid = ?"),
            format!("DELETE FROM `{t}_ext` WHERE openid = ?"),
        ]
    }

    fn lease_acquire(t: &str) -> String {
        format!(
            "INSERT INTO `{t}_lease` (name, holder, expires_at) VALUES (?, ?, ?)
             ON DUPLICATE KEY UPDATE holder = IF(expires_at <= ?, VALUES(holder), holder),
               expires_at = IF(expires_at <= ?, VALUES(expires_at), expires_at)"
        )
    }

    fn decode_token(row: &MySqlRow) -> Result<AccessToken, StoreError> {
        decode_row(row)
    }
}

fn decode_row(row: &MySqlRow) -> Result<AccessToken, StoreError> {
    let text = |column: &str| row.try_get::<String, _>(column).map_err(store_error);
    let create_at = text("create_at")?;
    let mut value = serde_json::json!({
        "access_token": text("access_token")?,
        "expires_in": text("expires_in")?,
        "refresh_token": text("refresh_token")?,
        "openid": text("openid")?,
        "scope": text("scope")?,
        "create_at": create_at,
    });
    let ext_create_at: Option<i64> = row.try_get("ext_create_at").map_err(store_error)?;
    // The extras belong to the token they were saved with; node may have replaced it since.
    if ext_create_at.is_some() && ext_create_at == create_at.trim().parse::<i64>().ok() {
        let unionid: Option<String> = row.try_get("unionid").map_err(store_error)?;
        let snapshot: Option<bool> = row.try_get("is_snapshotuser").map_err(store_error)?;
        value["unionid"] = unionid.into();
        value["is_snapshotuser"] = snapshot.unwrap_or(false).into();
    }
    decode_stored(value)
}

impl MySqlStore {
    async fn save_token(&self, openid: &str, token: &AccessToken) -> Result<bool, StoreError> {
        timed(self.timeout, async {
            loop {
                match self.try_save(openid, token).await {
                    // InnoDB may pick an upsert as a deadlock victim under heavy contention
                    // for one key; the statement is idempotent, so it is simply retried.
                    Err(e) if is_conflict(&e) => tokio::task::yield_now().await,
                    other => return other.map_err(store_error),
                }
            }
        })
        .await
    }
}
