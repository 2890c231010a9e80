//! The SQL stores against real servers: SQLite files, MariaDB (`WECHAT_TEST_MYSQL_URL`) and
//! PostgreSQL (`WECHAT_TEST_POSTGRES_URL`). Each test works in its own tables, so test
//! binaries running at the same time never collide.

#[cfg(feature = "mysql")]
mod interop;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod two_process;

/// A table name of our own: `t_<label>_<random>`.
#[allow(dead_code)]
pub fn unique_table(label: &str) -> String {
    wechat_oauth_test_support::unique_namespace(label)
        .replace('-', "_")
        .replace("conf_", "t_")
}
