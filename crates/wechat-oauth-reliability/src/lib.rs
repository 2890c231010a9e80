//! Reliability runs of wechat-oauth that need real servers to be killed or a long time
//! to pass; not published.
//!
//! - [`servers`]: private PostgreSQL, MariaDB, Redis and jongodb (MongoDB-compatible)
//!   instances on free loopback ports, each in its own temporary directory, that a test
//!   can `kill -9` and restart on the same data. The machine's shared services are never
//!   touched.
//! - `tests/store_failures.rs`: every store server killed under load and restarted (the
//!   figures go to `docs/RELIABILITY.md` §5).
//! - [`soak`] and the `wechat-oauth-soak` binary: logins through the axum middleware,
//!   `get_user` loops and refresh storms against the sandbox with a Redis store, for a
//!   bounded time, judged on RSS, errors and lost tokens (`docs/RELIABILITY.md` §6).
#![forbid(unsafe_code)]

pub mod servers;
pub mod soak;
