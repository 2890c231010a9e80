//! Open any [`wechat_oauth`] backend from a URL and get the whole [`Stores`] set (user
//! tokens, leases, Mini Program sessions, web sessions, credentials), for command-line
//! tools, demos and configuration files.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wechat_oauth_stores::OpenError> {
//! let stores = wechat_oauth_stores::open(wechat_oauth_stores::DEFAULT_URL).await?;
//! // let client = wechat_oauth::OAuthClient::builder(appid, secret).stores(stores).build()?;
//! # Ok(())
//! # }
//! ```
//!
//! | URL | store | feature |
//! |---|---|---|
//! | `sqlite://wechat-oauth-tokens.db` ([`DEFAULT_URL`]), `sqlite:///var/lib/app/tokens.db`, `sqlite::memory:` | `wechat_oauth_sqlx::SqliteStore`: a file created if missing, shared by the processes of one machine | `sqlite` (default) |
//! | `mysql://user:password@host:3306/database` (also `mariadb://…`); TLS with `?ssl-mode=required` (or `verify_ca`, `verify_identity`) | `wechat_oauth_sqlx::MySqlStore`: the seed's `token` table | `mysql` |
//! | `postgres://user:password@host:5432/database` (also `postgresql://…`); TLS with `?sslmode=require` (or `verify-ca`, `verify-full`) | `wechat_oauth_sqlx::PostgresStore` | `postgres` |
//! | `redis://[:password@]host:6379/[db]`, `rediss://…` (TLS, the system's root certificates) | `wechat_oauth_redis::RedisStore`, keys prefixed `wechat-oauth:` | `redis` |
//! | `mongodb://[user:password@]host:27017/[database]`, `mongodb+srv://…` (hosts from DNS) | `wechat_oauth_mongodb::MongoStore`: collection `tokens`, the seed's `Token` model (database `wechat_oauth` if the URL names none) | `mongodb` |
//! | `file:///absolute/dir`, `file:relative/dir` | [`FileStore`]: one JSON file per openid, as in the seed's example | always |
//! | `memory:` | [`MemoryStore`](wechat_oauth::MemoryStore): this process only, gone on exit | always |
//!
//! # Features
//! Each server backend is a Cargo feature, so an application compiles only the drivers it
//! uses: `sqlite` (on by default), `postgres`, `mysql`, `redis`, `mongodb`, or `all`.
//! `file:` and `memory:` need none. A URL whose backend this build lacks is refused with
//! [`OpenError::BackendNotCompiled`], whose message names the feature to enable:
//!
//! ```toml
//! wechat-oauth-stores = { version = "0.2", default-features = false, features = ["postgres"] }
//! ```
//!
//! Every store is opened with its defaults (table `token`, a bounded timeout per operation,
//! tables and indexes created if missing); for other settings, build the store with its own
//! crate's `connect_with`. Error messages show the URL with its password replaced by `***`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use wechat_oauth::store::FileStore;
use wechat_oauth::{StoreError, Stores};

/// The store used when none is configured: an SQLite file `wechat-oauth-tokens.db` in the
/// working directory, created on first use (needs the `sqlite` feature, on by default).
pub const DEFAULT_URL: &str = "sqlite://wechat-oauth-tokens.db";

/// The URL schemes [`open`] understands, whether or not this build has their backend
/// ([`BackendKind::is_compiled`]).
pub const SCHEMES: &[&str] = &[
    "sqlite",
    "mysql",
    "mariadb",
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "mongodb",
    "mongodb+srv",
    "file",
    "memory",
];

/// The backend a store URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// `memory:`, always compiled.
    Memory,
    /// `file:`, always compiled.
    File,
    /// `sqlite:`, feature `sqlite`.
    Sqlite,
    /// `postgres:` / `postgresql:`, feature `postgres`.
    Postgres,
    /// `mysql:` / `mariadb:`, feature `mysql`.
    MySql,
    /// `redis:` / `rediss:`, feature `redis`.
    Redis,
    /// `mongodb:` / `mongodb+srv:`, feature `mongodb`.
    MongoDb,
}

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [Self; 7] = [
        Self::Memory,
        Self::File,
        Self::Sqlite,
        Self::Postgres,
        Self::MySql,
        Self::Redis,
        Self::MongoDb,
    ];

    /// The backend of a URL scheme (case-insensitive), or `None` for a scheme not in
    /// [`SCHEMES`].
    ///
    /// ```
    /// use wechat_oauth_stores::BackendKind;
    ///
    /// assert_eq!(BackendKind::from_scheme("rediss"), Some(BackendKind::Redis));
    /// assert_eq!(BackendKind::from_scheme("cassandra"), None);
    /// ```
    pub fn from_scheme(scheme: &str) -> Option<Self> {
        Some(match scheme.to_ascii_lowercase().as_str() {
            "memory" => Self::Memory,
            "file" => Self::File,
            "sqlite" => Self::Sqlite,
            "postgres" | "postgresql" => Self::Postgres,
            "mysql" | "mariadb" => Self::MySql,
            "redis" | "rediss" => Self::Redis,
            "mongodb" | "mongodb+srv" => Self::MongoDb,
            _ => return None,
        })
    }

    /// The Cargo feature of `wechat-oauth-stores` that compiles this backend in; `None` for
    /// the two that are always there (`memory:`, `file:`).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Memory | Self::File => None,
            Self::Sqlite => Some("sqlite"),
            Self::Postgres => Some("postgres"),
            Self::MySql => Some("mysql"),
            Self::Redis => Some("redis"),
            Self::MongoDb => Some("mongodb"),
        }
    }

    /// Whether this build can open this backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Memory | Self::File => true,
            Self::Sqlite => cfg!(feature = "sqlite"),
            Self::Postgres => cfg!(feature = "postgres"),
            Self::MySql => cfg!(feature = "mysql"),
            Self::Redis => cfg!(feature = "redis"),
            Self::MongoDb => cfg!(feature = "mongodb"),
        }
    }
}

/// Why [`open`] failed. Messages never contain a password from the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL's scheme is not one of [`SCHEMES`].
    #[error(
        "unsupported token store URL scheme `{scheme}` (expected sqlite://, mysql://, postgres://, redis://, rediss://, mongodb://, mongodb+srv://, file: or memory:)"
    )]
    UnsupportedScheme {
        /// The scheme as given.
        scheme: String,
    },
    /// The URL names a backend this build was compiled without.
    #[error(
        "token store URL scheme `{scheme}` needs the `{feature}` feature of wechat-oauth-stores, which this build does not have (enable it: features = [\"{feature}\"], or \"all\")"
    )]
    BackendNotCompiled {
        /// The scheme as given.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
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

/// The TLS modes sqlx understands in a PostgreSQL URL's `sslmode=`.
const PG_SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The TLS modes sqlx understands in a MySQL URL's `ssl-mode=`.
const MYSQL_SSL_MODES: &[&str] = &[
    "disabled",
    "preferred",
    "required",
    "verify_ca",
    "verify_identity",
];

/// Checks `url` without connecting: a known scheme, a backend compiled into this build,
/// and (PostgreSQL, MySQL) a TLS mode sqlx understands. [`open`] runs the same checks first.
///
/// ```
/// use wechat_oauth_stores::{BackendKind, check_url};
///
/// assert_eq!(check_url("memory:").unwrap(), BackendKind::Memory);
/// assert!(check_url("cassandra://db").is_err());
/// ```
///
/// # Errors
/// [`OpenError::UnsupportedScheme`], [`OpenError::InvalidUrl`] or
/// [`OpenError::BackendNotCompiled`].
pub fn check_url(url: &str) -> Result<BackendKind, OpenError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(OpenError::InvalidUrl {
            url: redact(url),
            reason: "no scheme (expected e.g. sqlite://tokens.db)".into(),
        });
    };
    let kind = BackendKind::from_scheme(scheme).ok_or_else(|| OpenError::UnsupportedScheme {
        scheme: scheme.to_owned(),
    })?;
    if let Some(feature) = kind.feature().filter(|_| !kind.is_compiled()) {
        return Err(OpenError::BackendNotCompiled {
            scheme: scheme.to_owned(),
            feature,
        });
    }
    let invalid = |reason: String| OpenError::InvalidUrl {
        url: redact(url),
        reason,
    };
    match kind {
        BackendKind::File if rest.strip_prefix("//").unwrap_or(rest).is_empty() => {
            return Err(invalid(
                "no directory (expected e.g. file:///var/lib/app/tokens)".into(),
            ));
        }
        BackendKind::Postgres => check_tls_mode(url, PG_SSL_MODES).map_err(invalid)?,
        BackendKind::MySql => check_tls_mode(url, MYSQL_SSL_MODES).map_err(invalid)?,
        _ => {}
    }
    Ok(kind)
}

/// The URL's `sslmode=` / `ssl-mode=` (sqlx takes either spelling), if any, is one of
/// `modes` (case-insensitive, as sqlx compares).
fn check_tls_mode(url: &str, modes: &[&str]) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    for (key, value) in parsed.query_pairs() {
        if matches!(&*key, "sslmode" | "ssl-mode")
            && !modes.iter().any(|m| m.eq_ignore_ascii_case(&value))
        {
            return Err(format!(
                "{key}=`{value}` is not a TLS mode (expected one of {})",
                modes.join(", ")
            ));
        }
    }
    Ok(())
}

/// Opens the store `url` names (see the [crate docs](crate) for the forms).
///
/// # Errors
/// [`OpenError::UnsupportedScheme`], [`OpenError::InvalidUrl`] or
/// [`OpenError::BackendNotCompiled`] for a URL this build cannot open (see [`check_url`]);
/// [`OpenError::Store`] when the backend cannot be reached or set up.
pub async fn open(url: &str) -> Result<Stores, OpenError> {
    let url = url.trim();
    let kind = check_url(url)?;
    let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
    let failed = |source| OpenError::Store {
        url: redact(url),
        source,
    };
    #[allow(unused_variables)]
    let not_compiled = |feature| OpenError::BackendNotCompiled {
        scheme: scheme.to_owned(),
        feature,
    };
    let stores = match kind {
        BackendKind::Memory => Stores::memory(),
        BackendKind::File => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            Stores::new(FileStore::open(path).await.map_err(failed)?)
        }
        BackendKind::Sqlite => {
            #[cfg(feature = "sqlite")]
            {
                Stores::new(
                    wechat_oauth_sqlx::SqliteStore::connect(url)
                        .await
                        .map_err(failed)?,
                )
            }
            #[cfg(not(feature = "sqlite"))]
            return Err(not_compiled("sqlite"));
        }
        BackendKind::MySql => {
            #[cfg(feature = "mysql")]
            {
                let url = format!("mysql:{rest}");
                Stores::new(
                    wechat_oauth_sqlx::MySqlStore::connect(&url)
                        .await
                        .map_err(failed)?,
                )
            }
            #[cfg(not(feature = "mysql"))]
            return Err(not_compiled("mysql"));
        }
        BackendKind::Postgres => {
            #[cfg(feature = "postgres")]
            {
                Stores::new(
                    wechat_oauth_sqlx::PostgresStore::connect(url)
                        .await
                        .map_err(failed)?,
                )
            }
            #[cfg(not(feature = "postgres"))]
            return Err(not_compiled("postgres"));
        }
        BackendKind::Redis => {
            #[cfg(feature = "redis")]
            {
                Stores::new(
                    wechat_oauth_redis::RedisStore::connect(url)
                        .await
                        .map_err(failed)?,
                )
            }
            #[cfg(not(feature = "redis"))]
            return Err(not_compiled("redis"));
        }
        BackendKind::MongoDb => {
            #[cfg(feature = "mongodb")]
            {
                Stores::new(
                    wechat_oauth_mongodb::MongoStore::connect(url)
                        .await
                        .map_err(failed)?,
                )
            }
            #[cfg(not(feature = "mongodb"))]
            return Err(not_compiled("mongodb"));
        }
    };
    Ok(stores)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_maps_to_its_backend_and_feature() {
        for scheme in SCHEMES {
            let kind = BackendKind::from_scheme(scheme).unwrap();
            assert_eq!(BackendKind::from_scheme(&scheme.to_uppercase()), Some(kind));
            assert!(BackendKind::ALL.contains(&kind));
        }
        let cases = [
            ("sqlite", BackendKind::Sqlite, Some("sqlite")),
            ("postgresql", BackendKind::Postgres, Some("postgres")),
            ("mariadb", BackendKind::MySql, Some("mysql")),
            ("rediss", BackendKind::Redis, Some("redis")),
            ("mongodb+srv", BackendKind::MongoDb, Some("mongodb")),
            ("file", BackendKind::File, None),
            ("memory", BackendKind::Memory, None),
        ];
        for (scheme, kind, feature) in cases {
            assert_eq!(BackendKind::from_scheme(scheme), Some(kind), "{scheme}");
            assert_eq!(kind.feature(), feature, "{scheme}");
        }
        assert_eq!(BackendKind::from_scheme("redis+sentinel"), None);
        assert_eq!(BackendKind::from_scheme(""), None);
    }

    #[test]
    fn is_compiled_follows_the_features_of_this_build() {
        assert!(BackendKind::Memory.is_compiled() && BackendKind::File.is_compiled());
        assert_eq!(BackendKind::Sqlite.is_compiled(), cfg!(feature = "sqlite"));
        assert_eq!(
            BackendKind::Postgres.is_compiled(),
            cfg!(feature = "postgres")
        );
        assert_eq!(BackendKind::MySql.is_compiled(), cfg!(feature = "mysql"));
        assert_eq!(BackendKind::Redis.is_compiled(), cfg!(feature = "redis"));
        assert_eq!(
            BackendKind::MongoDb.is_compiled(),
            cfg!(feature = "mongodb")
        );
    }

    /// Each server URL either passes `check_url` (its feature is on) or gives
    /// `BackendNotCompiled` naming the feature, with no password in the message.
    #[tokio::test]
    async fn a_backend_left_out_of_the_build_is_a_typed_error_naming_its_feature() {
        let urls = [
            ("sqlite://tokens.db", "sqlite"),
            (
                "postgres://app:hunter2@db:5432/app?sslmode=require",
                "postgres",
            ),
            ("mysql://app:hunter2@db:3306/app?ssl-mode=required", "mysql"),
            ("rediss://:hunter2@cache:6380/0", "redis"),
            (
                "mongodb+srv://app:hunter2@cluster0.example.com/app",
                "mongodb",
            ),
        ];
        for (url, feature) in urls {
            let kind = BackendKind::from_scheme(url.split_once(':').unwrap().0).unwrap();
            match check_url(url) {
                Ok(checked) => {
                    assert!(kind.is_compiled(), "{url}");
                    assert_eq!(checked, kind);
                }
                Err(err) => {
                    assert!(!kind.is_compiled(), "{url}: {err}");
                    let OpenError::BackendNotCompiled { feature: named, .. } = &err else {
                        panic!("{url}: {err:?}");
                    };
                    assert_eq!(*named, feature);
                    let message = err.to_string();
                    assert!(
                        message.contains(&format!("`{feature}` feature")),
                        "{message}"
                    );
                    assert!(!message.contains("hunter2"), "{message}");
                    // `open` refuses it the same way, before any connection attempt.
                    let err = open(url).await.err().unwrap();
                    assert!(matches!(err, OpenError::BackendNotCompiled { .. }), "{err}");
                }
            }
        }
    }

    #[test]
    fn tls_modes_are_checked_per_dialect() {
        let pg = |mode: &str| check_url(&format!("postgres://u:pw@db/app?sslmode={mode}"));
        let my = |mode: &str| check_url(&format!("mysql://u:pw@db/app?ssl-mode={mode}"));
        if cfg!(feature = "postgres") {
            for mode in PG_SSL_MODES {
                assert_eq!(pg(mode).unwrap(), BackendKind::Postgres);
            }
            assert_eq!(pg("VERIFY-FULL").unwrap(), BackendKind::Postgres);
            // MySQL's spelling is not PostgreSQL's.
            let err = pg("required").unwrap_err();
            let OpenError::InvalidUrl { url, reason } = &err else {
                panic!("{err:?}")
            };
            assert!(reason.contains("sslmode=`required`"), "{reason}");
            assert!(reason.contains("verify-full"), "{reason}");
            assert!(!url.contains("pw@"), "{url}");
            // sqlx takes both spellings of the key, so both are checked.
            assert!(check_url("postgresql://db/app?ssl-mode=yes").is_err());
        }
        if cfg!(feature = "mysql") {
            for mode in MYSQL_SSL_MODES {
                assert_eq!(my(mode).unwrap(), BackendKind::MySql);
            }
            assert!(matches!(my("require"), Err(OpenError::InvalidUrl { .. })));
            assert!(matches!(
                check_url("mariadb://db/app?sslmode=verify-full"),
                Err(OpenError::InvalidUrl { .. })
            ));
            assert!(check_url("mariadb://db/app?ssl-mode=VERIFY_IDENTITY").is_ok());
        }
    }

    #[test]
    fn unknown_and_missing_schemes_and_empty_paths_are_refused() {
        assert!(matches!(
            check_url("cassandra://db/keyspace"),
            Err(OpenError::UnsupportedScheme { ref scheme }) if scheme == "cassandra"
        ));
        assert!(matches!(
            check_url("tokens.db"),
            Err(OpenError::InvalidUrl { .. })
        ));
        for url in ["file:", "file://", " file: "] {
            assert!(
                matches!(check_url(url), Err(OpenError::InvalidUrl { .. })),
                "{url}"
            );
        }
        assert_eq!(check_url(" memory: ").unwrap(), BackendKind::Memory);
        assert_eq!(check_url("file:tokens").unwrap(), BackendKind::File);
    }

    /// `url` plus a query parameter.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn with_param(url: &str, param: &str) -> String {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{param}")
    }

    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn env_or(var: &str, default: &str) -> String {
        std::env::var(var).unwrap_or_else(|_| default.to_owned())
    }

    /// `sslmode=` reaches sqlx: the local PostgreSQL (Debian's, `ssl = on` with its
    /// self-signed "snakeoil" certificate) accepts `require` (encrypted, not verified) and
    /// `disable`, and `verify-full` refuses its certificate.
    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres_sslmode_reaches_the_driver() {
        let base = env_or(
            "WECHAT_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        );
        for mode in ["require", "disable"] {
            let url = with_param(&base, &format!("sslmode={mode}"));
            let stores = open(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(
                stores
                    .leases
                    .claim_once(&unique("pg-tls"), std::time::Duration::from_secs(5))
                    .await
                    .unwrap()
            );
        }
        let url = with_param(&base, "sslmode=verify-full");
        let Err(err) = open(&url).await else {
            panic!("an unverifiable certificate is refused");
        };
        assert!(matches!(err, OpenError::Store { .. }), "{err}");
    }

    /// `ssl-mode=` reaches sqlx: the local MariaDB has TLS off (`have_ssl = DISABLED`), so
    /// `required` cannot connect while `disabled` and `preferred` can.
    #[cfg(feature = "mysql")]
    #[tokio::test]
    async fn mysql_ssl_mode_reaches_the_driver() {
        let base = env_or("WECHAT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
        for mode in ["disabled", "preferred"] {
            let url = with_param(&base, &format!("ssl-mode={mode}"));
            let stores = open(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(
                stores
                    .leases
                    .claim_once(&unique("my-tls"), std::time::Duration::from_secs(5))
                    .await
                    .unwrap()
            );
        }
        let url = with_param(&base, "ssl-mode=required");
        let Err(err) = open(&url).await else {
            panic!("TLS required of a server without it");
        };
        assert!(matches!(err, OpenError::Store { .. }), "{err}");
    }

    /// `rediss://` speaks TLS: a TLS-only redis-server with a self-signed certificate gets a
    /// TLS handshake, which fails on that certificate (not in the system's roots).
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn rediss_urls_connect_over_tls() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success(), "openssl {args:?}");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ]);
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _server = Kill(
            std::process::Command::new("redis-server")
                .args([
                    "--port",
                    "0",
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--tls-port", &port.to_string()])
                .args(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"])
                .args(["--tls-ca-cert-file", "cert.pem", "--tls-auth-clients", "no"])
                .current_dir(dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server"),
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let err = open(&format!("rediss://127.0.0.1:{port}/"))
            .await
            .err()
            .unwrap();
        let chain = format!("{err} / {:?}", std::error::Error::source(&err));
        assert!(
            chain.to_ascii_lowercase().contains("certificate"),
            "{chain}"
        );
    }

    /// A key no other test (or engineer) uses.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn unique(prefix: &str) -> String {
        use std::time::{SystemTime, UNIX_EPOCH};
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{prefix}-{}-{nanos}", std::process::id())
    }
}
