//! Open any [`wechat_oauth`] token store from a URL, for command-line tools, demos and
//! configuration files.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wechat_oauth_stores::OpenError> {
//! let stores = wechat_oauth_stores::open(wechat_oauth_stores::DEFAULT_URL).await?;
//! // let client = wechat_oauth::OAuthClient::builder(appid, secret).stores(stores).build()?;
//! # Ok(())
//! # }
//! ```
//!
//! | URL | store |
//! |---|---|
//! | `sqlite://wechat-oauth-tokens.db` ([`DEFAULT_URL`]), `sqlite:///var/lib/app/tokens.db`, `sqlite::memory:` | [`SqliteStore`](wechat_oauth_sqlx::SqliteStore): a file created if missing, shared by the processes of one machine |
//! | `mysql://user:password@host:3306/database` (also `mariadb://…`) | [`MySqlStore`](wechat_oauth_sqlx::MySqlStore): the seed's `token` table |
//! | `postgres://user:password@host:5432/database` (also `postgresql://…`) | [`PostgresStore`](wechat_oauth_sqlx::PostgresStore) |
//! | `redis://[:password@]host:6379/[db]` | [`RedisStore`](wechat_oauth_redis::RedisStore), keys prefixed `wechat-oauth:` |
//! | `mongodb://[user:password@]host:27017/[database]` | [`MongoStore`](wechat_oauth_mongodb::MongoStore): collection `tokens`, the seed's `Token` model (database `wechat_oauth` if the URL names none) |
//! | `file:///absolute/dir`, `file:relative/dir` | [`FileStore`]: one JSON file per openid, as in the seed's example |
//! | `memory:` | [`MemoryStore`](wechat_oauth::MemoryStore): this process only, gone on exit |
//!
//! Every store is opened with its defaults (table `token`, a bounded timeout per operation,
//! tables and indexes created if missing); for other settings, build the store with its own
//! crate's `connect_with`. Error messages show the URL with its password replaced by `***`.
#![forbid(unsafe_code)]

use std::sync::Arc;

use wechat_oauth::store::FileStore;
use wechat_oauth::{LeaseStore, StoreError, Stores, TokenStore};

/// The store used when none is configured: an SQLite file `wechat-oauth-tokens.db` in the
/// working directory, created on first use.
pub const DEFAULT_URL: &str = "sqlite://wechat-oauth-tokens.db";

/// The URL schemes [`open`] understands.
pub const SCHEMES: &[&str] = &[
    "sqlite",
    "mysql",
    "mariadb",
    "postgres",
    "postgresql",
    "redis",
    "mongodb",
    "file",
    "memory",
];

/// Why [`open`] failed. Messages never contain a password from the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL's scheme is not one of [`SCHEMES`].
    #[error(
        "unsupported token store URL scheme `{scheme}` (expected sqlite://, mysql://, postgres://, redis://, mongodb://, file: or memory:)"
    )]
    UnsupportedScheme {
        /// The scheme as given.
        scheme: String,
    },
    /// The URL has no scheme or cannot be parsed.
    #[error("invalid token store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be opened (server unreachable, bad credentials, bad path…).
    #[error("cannot open token store `{url}`: {source}")]
    Store {
        /// The URL, password redacted.
        url: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl OpenError {
    /// Whether trying again later may succeed (the server was down or slow).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store { source, .. } if source.is_transient())
    }
}

/// Opens the token store `url` names (see the [crate docs](crate) for the forms).
///
/// # Errors
/// [`OpenError::UnsupportedScheme`] or [`OpenError::InvalidUrl`] for a URL this function
/// does not understand; [`OpenError::Store`] when the backend cannot be reached or set up.
pub async fn open(url: &str) -> Result<Stores, OpenError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(OpenError::InvalidUrl {
            url: redact(url),
            reason: "no scheme (expected e.g. sqlite://tokens.db)".into(),
        });
    };
    let failed = |source| OpenError::Store {
        url: redact(url),
        source,
    };
    let stores = match scheme.to_ascii_lowercase().as_str() {
        "memory" => Stores::memory(),
        "file" => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(OpenError::InvalidUrl {
                    url: redact(url),
                    reason: "no directory (expected e.g. file:///var/lib/app/tokens)".into(),
                });
            }
            tokens_and_leases(FileStore::open(path).await.map_err(failed)?)
        }
        "sqlite" => tokens_and_leases(
            wechat_oauth_sqlx::SqliteStore::connect(url)
                .await
                .map_err(failed)?,
        ),
        "mysql" | "mariadb" => {
            let url = format!("mysql:{rest}");
            tokens_and_leases(
                wechat_oauth_sqlx::MySqlStore::connect(&url)
                    .await
                    .map_err(failed)?,
            )
        }
        "postgres" | "postgresql" => tokens_and_leases(
            wechat_oauth_sqlx::PostgresStore::connect(url)
                .await
                .map_err(failed)?,
        ),
        "redis" => tokens_and_leases(
            wechat_oauth_redis::RedisStore::connect(url)
                .await
                .map_err(failed)?,
        ),
        "mongodb" => tokens_and_leases(
            wechat_oauth_mongodb::MongoStore::connect(url)
                .await
                .map_err(failed)?,
        ),
        _ => {
            return Err(OpenError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
    };
    Ok(stores)
}

/// User tokens and leases in `backend`; the other kinds of state in this process's memory
/// until every backend keeps them too.
fn tokens_and_leases<B: TokenStore + LeaseStore + 'static>(backend: B) -> Stores {
    let backend = Arc::new(backend);
    let mut stores = Stores::memory();
    stores.tokens = backend.clone();
    stores.leases = backend;
    stores
}

/// `url` with any password replaced by `***`; a URL that does not parse is not repeated
/// at all past its scheme, since it may still hold one.
///
/// ```
/// use wechat_oauth_stores::redact;
///
/// assert_eq!(redact("mysql://root:hunter2@db:3306/app"), "mysql://root:***@db:3306/app");
/// assert_eq!(redact("sqlite://tokens.db"), "sqlite://tokens.db");
/// ```
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                return format!("{}://…", parsed.scheme());
            }
            parsed.to_string()
        }
        Err(_) if !url.contains('@') => url.to_owned(),
        Err(_) => match url.split_once(':') {
            Some((scheme, _)) => format!("{scheme}:…"),
            None => "…".to_owned(),
        },
    }
}
