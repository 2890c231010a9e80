//! The test support of the wechat-oauth workspace (never published): the conformance suite
//! every store backend passes, and the harnesses that run it across OS processes and server
//! restarts.
//!
//! Each backend's tests open the store over a real connection and call [`run`] (user tokens
//! and leases) and [`state::run_state`] (Mini Program sessions, web sessions, credentials,
//! single-use claims), plus [`malformed_row_reads_as_malformed`] and
//! [`state::malformed_records_read_as_malformed`] with a function that writes a broken row
//! the backend's own way. Every check works under a fresh random namespace (openids, keys
//! and lease names start with it), so suites of different test binaries can share one
//! server.
//!
//! - [`two_process`]: two OS processes share one store: one user-token refresh and one
//!   server-token fetch per expiry, and a Mini Program session made in one process used in
//!   the other;
//! - [`restart`]: a real server restart in the middle of a run, for every kind of state.
//!
//! The checks panic with a message naming the broken property, as test assertions do.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = wechat_oauth::MemoryStore::new();
//! wechat_oauth_test_support::run(&store).await;
//! wechat_oauth_test_support::state::run_state(&store).await;
//! # }
//! ```

#[cfg(feature = "browser")]
pub mod browser;
mod process;
pub mod restart;
pub mod state;
pub mod two_process;

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;

use wechat_oauth::AccessToken;
use wechat_oauth::store::{Lease, LeaseStore, MAX_TOKEN_BYTES, StoreError, TokenStore};

/// A fresh namespace for one run: `conf-<label>-<random>`.
pub fn unique_namespace(label: &str) -> String {
    format!(
        "conf-{label}-{}",
        wechat_oauth::state::random_alphanumeric(10)
    )
}

/// A plausible token for `openid` created at `create_at`: tokens of WeChat's length and
/// alphabet, distinct for every `create_at`.
pub fn sample_token(openid: &str, create_at: i64) -> AccessToken {
    AccessToken::new(
        format!("ACCESS_{create_at}_{}", "x".repeat(90)),
        7200,
        format!("REFRESH_{create_at}_{}", "y".repeat(90)),
        openid,
        "snsapi_userinfo",
        create_at,
    )
}

/// Runs every backend-independent check against `store`.
pub async fn run<S: TokenStore + LeaseStore + ?Sized>(store: &S) {
    let ns = unique_namespace("run");
    missing_is_none(store, &ns).await;
    save_get_overwrite_delete(store, &ns).await;
    every_field_round_trips(store, &ns).await;
    extras_follow_their_token(store, &ns).await;
    older_never_overwrites_newer(store, &ns).await;
    concurrent_saves_leave_the_newest_intact(store, &ns, 50).await;
    oversized_and_invalid_values_are_rejected(store, &ns).await;
    leases_are_exclusive(store, &ns).await;
    leases_expire(store, &ns).await;
    lease_release_is_holder_checked(store, &ns).await;
    leases_and_tokens_are_separate_namespaces(store, &ns).await;
}

/// Reading an openid that was never saved gives `None`; deleting it is not an error.
pub async fn missing_is_none<S: TokenStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-missing");
    assert_eq!(ok(store.get(&openid).await, "get missing"), None);
    ok(store.delete(&openid).await, "delete missing");
}

/// Save, read back, overwrite with a newer and an equally new token, delete.
pub async fn save_get_overwrite_delete<S: TokenStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-crud");
    let first = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &first).await, "first save"));
    assert_eq!(ok(store.get(&openid).await, "get"), Some(first));

    let newer = sample_token(&openid, 1_700_000_007_000);
    assert!(ok(store.save(&openid, &newer).await, "newer save"));
    assert_eq!(
        ok(store.get(&openid).await, "get newer"),
        Some(newer.clone())
    );

    let mut same_time = newer.clone();
    same_time.access_token = "ACCESS_SAME_TIME".into();
    assert!(
        ok(
            store.save(&openid, &same_time).await,
            "equal create_at save"
        ),
        "a token with the same create_at replaces the stored one"
    );
    assert_eq!(ok(store.get(&openid).await, "get"), Some(same_time));

    ok(store.delete(&openid).await, "delete");
    assert_eq!(ok(store.get(&openid).await, "get deleted"), None);
    ok(store.delete(&openid).await, "delete twice");
}

/// Every field comes back exactly: unionid, the snapshot flag, a `create_at` beyond 2^53,
/// empty strings, token alphabet characters.
pub async fn every_field_round_trips<S: TokenStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-fields_O-9");
    // 2^53 + 1: a double (Lua, JavaScript, a JSON number parsed as f64) would change it.
    let full = AccessToken::new(
        format!("24_{}-_.=+/", "aB3".repeat(55)),
        4_294_967_295,
        format!("24_{}", "Zr9".repeat(55)),
        &openid,
        "snsapi_base,snsapi_userinfo",
        9_007_199_254_740_993,
    )
    .with_unionid("o6_bmasdasdsad6_2sgVt7hMZOPfL")
    .with_snapshot_user(true);
    assert!(ok(store.save(&openid, &full).await, "save full token"));
    let back = ok(store.get(&openid).await, "get full token");
    assert_eq!(back.as_ref(), Some(&full), "every field round-trips");

    let other = format!("{ns}-plain");
    let plain = AccessToken::new("A", 0, "", &other, "", 1);
    assert!(ok(store.save(&other, &plain).await, "save plain token"));
    let back = ok(store.get(&other).await, "get plain token");
    assert_eq!(
        back.as_ref(),
        Some(&plain),
        "empty and absent fields round-trip"
    );
    assert_eq!(back.and_then(|t| t.unionid), None, "no unionid stays None");
}

/// `unionid` and the snapshot flag belong to the token they were saved with: a newer token
/// without them reads back without them, an older one cannot bring its own back, and an
/// equally new one replaces them.
pub async fn extras_follow_their_token<S: TokenStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-extras");
    let with = |create_at: i64, unionid: &str| {
        sample_token(&openid, create_at)
            .with_unionid(unionid)
            .with_snapshot_user(true)
    };
    let steps = [
        (
            "first, with extras",
            with(1_700_000_000_000, "u-first"),
            true,
        ),
        (
            "newer, without",
            sample_token(&openid, 1_700_000_001_000),
            true,
        ),
        (
            "newer, with others",
            with(1_700_000_002_000, "u-third"),
            true,
        ),
        (
            "older, with its own",
            with(1_700_000_001_500, "u-older"),
            false,
        ),
        ("the same again", with(1_700_000_002_000, "u-third"), true),
        (
            "equally new, without",
            sample_token(&openid, 1_700_000_002_000),
            true,
        ),
        (
            "newer, with extras",
            with(1_700_000_003_000, "u-last"),
            true,
        ),
    ];
    let mut expected = None;
    for (what, token, wins) in steps {
        let saved = ok(store.save(&openid, &token).await, what);
        assert_eq!(saved, wins, "save {what}: reported {saved}");
        if wins {
            expected = Some(token);
        }
        let back = ok(store.get(&openid).await, what);
        assert_eq!(back, expected, "after saving {what}");
    }
}

/// A save with an older `create_at` is refused and the newer token stays.
pub async fn older_never_overwrites_newer<S: TokenStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-older");
    let newer = sample_token(&openid, 1_700_000_100_000);
    let older = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &newer).await, "save newer"));
    assert!(
        !ok(store.save(&openid, &older).await, "save older"),
        "saving an older token reports false"
    );
    assert_eq!(ok(store.get(&openid).await, "get"), Some(newer.clone()));
    // Far apart in magnitude, so a string comparison would get it wrong ("9" > "10").
    let nine = sample_token(&openid, 9);
    assert!(!ok(store.save(&openid, &nine).await, "save tiny create_at"));
    assert_eq!(ok(store.get(&openid).await, "get"), Some(newer));

    let small = format!("{ns}-magnitude");
    assert!(ok(
        store.save(&small, &sample_token(&small, 9)).await,
        "save 9"
    ));
    assert!(
        ok(
            store.save(&small, &sample_token(&small, 10)).await,
            "save 10"
        ),
        "10 is newer than 9 (numeric, not string, comparison)"
    );
}

/// `writers` saves for one openid at once, in scrambled order, leave exactly the newest
/// token, intact.
pub async fn concurrent_saves_leave_the_newest_intact<S: TokenStore + ?Sized>(
    store: &S,
    ns: &str,
    writers: i64,
) {
    let openid = format!("{ns}-concurrent");
    let base = 1_700_000_000_000;
    let tokens: Vec<AccessToken> = (0..writers)
        // A fixed permutation, so the newest token is not simply the last one started.
        .map(|i| sample_token(&openid, base + (i * 37) % writers))
        .collect();
    let results = join_all(tokens.iter().map(|t| store.save(&openid, t))).await;
    for result in results {
        ok(result, "concurrent save");
    }
    let newest = sample_token(&openid, base + writers - 1);
    assert_eq!(
        ok(store.get(&openid).await, "get after concurrent saves"),
        Some(newest),
        "the newest of {writers} concurrent saves is stored, whole"
    );
}

/// An oversized token, an empty openid and an over-long openid are refused with
/// [`StoreError::Rejected`] and leave the stored token alone.
pub async fn oversized_and_invalid_values_are_rejected<S: TokenStore + ?Sized>(
    store: &S,
    ns: &str,
) {
    let openid = format!("{ns}-oversized");
    let kept = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &kept).await, "save"));

    let mut huge = sample_token(&openid, 1_700_000_009_000);
    huge.access_token = "A".repeat(MAX_TOKEN_BYTES + 1).into();
    assert_rejected(store.save(&openid, &huge).await, "oversized token");
    assert_rejected(store.save("", &sample_token("", 1)).await, "empty openid");
    let long = "o".repeat(129);
    assert_rejected(
        store.save(&long, &sample_token(&long, 1)).await,
        "openid over 128 bytes",
    );
    assert_eq!(
        ok(store.get(&openid).await, "get after rejects"),
        Some(kept),
        "a rejected save leaves the stored token intact"
    );
}

/// While a lease is held nobody else gets it, even when many ask at once.
pub async fn leases_are_exclusive<S: LeaseStore + ?Sized>(store: &S, ns: &str) {
    let name = format!("refresh:{ns}-exclusive");
    let ttl = Duration::from_secs(30);
    let attempts = join_all((0..20).map(|_| store.acquire_lease(&name, ttl))).await;
    let mut held: Vec<Lease> = Vec::new();
    for attempt in attempts {
        held.extend(ok(attempt, "concurrent acquire"));
    }
    assert_eq!(held.len(), 1, "exactly one of 20 concurrent acquires wins");
    assert!(
        ok(store.acquire_lease(&name, ttl).await, "acquire held").is_none(),
        "a held lease is not handed out again"
    );
    for lease in &held {
        assert_eq!(lease.name(), name);
        ok(store.release_lease(lease).await, "release");
    }
    let again = ok(store.acquire_lease(&name, ttl).await, "acquire released");
    assert!(again.is_some(), "a released lease can be taken again");
    if let Some(lease) = again {
        ok(store.release_lease(&lease).await, "release");
    }
}

/// A lease that is not released frees itself after its time-to-live.
pub async fn leases_expire<S: LeaseStore + ?Sized>(store: &S, ns: &str) {
    let name = format!("refresh:{ns}-expiring");
    let first = ok(
        store.acquire_lease(&name, Duration::from_millis(300)).await,
        "acquire",
    );
    assert!(first.is_some());
    assert!(
        ok(
            store.acquire_lease(&name, Duration::from_secs(30)).await,
            "acquire held"
        )
        .is_none()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = ok(
        store.acquire_lease(&name, Duration::from_secs(30)).await,
        "acquire expired",
    );
    assert!(second.is_some(), "an expired lease can be taken");
    if let Some(lease) = second {
        ok(store.release_lease(&lease).await, "release");
    }
}

/// Releasing a lease someone else now holds (ours expired, or a forged one) leaves theirs.
pub async fn lease_release_is_holder_checked<S: LeaseStore + ?Sized>(store: &S, ns: &str) {
    let name = format!("refresh:{ns}-holder");
    let stale = ok(
        store.acquire_lease(&name, Duration::from_millis(200)).await,
        "acquire",
    );
    let Some(stale) = stale else {
        panic!("a free lease must be acquired");
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let current = ok(
        store.acquire_lease(&name, Duration::from_secs(30)).await,
        "re-acquire",
    );
    assert!(current.is_some(), "the expired lease is taken over");

    ok(store.release_lease(&stale).await, "release stale");
    ok(
        store.release_lease(&Lease::new(&name)).await,
        "release forged",
    );
    assert!(
        ok(
            store.acquire_lease(&name, Duration::from_secs(30)).await,
            "acquire"
        )
        .is_none(),
        "releasing with another holder's lease must not free it"
    );
    if let Some(lease) = current {
        ok(store.release_lease(&lease).await, "release current");
    }
}

/// A lease named like an openid does not touch that openid's token, and the reverse.
pub async fn leases_and_tokens_are_separate_namespaces<S: TokenStore + LeaseStore + ?Sized>(
    store: &S,
    ns: &str,
) {
    let openid = format!("{ns}-shared-name");
    let token = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &token).await, "save"));
    let lease = ok(
        store.acquire_lease(&openid, Duration::from_secs(30)).await,
        "acquire",
    );
    assert!(
        lease.is_some(),
        "a token does not hold a lease of the same name"
    );
    assert_eq!(ok(store.get(&openid).await, "get"), Some(token));
    ok(store.delete(&openid).await, "delete");
    assert!(
        ok(
            store.acquire_lease(&openid, Duration::from_secs(30)).await,
            "acquire"
        )
        .is_none(),
        "deleting a token does not free a lease"
    );
    if let Some(lease) = lease {
        ok(store.release_lease(&lease).await, "release");
    }
}

/// A row the backend cannot decode reads back as [`StoreError::Malformed`], not a panic,
/// and a new save replaces it. `corrupt(openid)` writes a broken row the backend's way.
pub async fn malformed_row_reads_as_malformed<S, F, Fut>(store: &S, corrupt: F)
where
    S: TokenStore + ?Sized,
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let openid = unique_namespace("malformed");
    corrupt(openid.clone()).await;
    match store.get(&openid).await {
        Err(StoreError::Malformed(why)) => {
            assert!(!why.is_empty(), "the error says what is wrong");
        }
        other => panic!("a malformed row must read as StoreError::Malformed, got {other:?}"),
    }
    let token = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &token).await, "save over malformed"));
    assert_eq!(ok(store.get(&openid).await, "get repaired"), Some(token));
    ok(store.delete(&openid).await, "delete");
}

/// A test server the suite can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Server {
    /// PostgreSQL: `WECHAT_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
    Postgres,
    /// MySQL/MariaDB: `WECHAT_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`.
    MySql,
    /// Redis: `WECHAT_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/`.
    Redis,
    /// MongoDB: `WECHAT_TEST_MONGODB_URL`, default `mongodb://127.0.0.1:27999/`.
    MongoDb,
}

impl Server {
    /// The server's URL: its `WECHAT_TEST_*_URL` variable, or the local default.
    pub fn url(self) -> String {
        let (var, default) = match self {
            Self::Postgres => (
                "WECHAT_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
            Self::MySql => ("WECHAT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
            Self::Redis => ("WECHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/"),
            Self::MongoDb => ("WECHAT_TEST_MONGODB_URL", "mongodb://127.0.0.1:27999/"),
        };
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }
}

/// The store a test connected to, or `None` to skip the test because the server is not
/// there. Under `CI=true` an unreachable server fails the test instead: CI must never skip a
/// backend silently. Outside CI the skip is announced on stderr.
#[track_caller]
pub fn connected_or_skip<T, E: std::fmt::Display>(
    server: Server,
    connected: Result<T, E>,
) -> Option<T> {
    match connected {
        Ok(store) => Some(store),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{server:?} test server unreachable under CI=true: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: {server:?} test server unreachable ({e}); start it with `source scripts/services.sh` (under CI=true this fails)"
            );
            None
        }
    }
}

/// Connecting to a server that accepts connections but never answers, and to a port where
/// nothing listens, ends in a transient error ([`StoreError::Timeout`] or
/// [`StoreError::Unavailable`]) within `within`, never a hang or a panic.
/// `connect(port)` opens the backend at `127.0.0.1:port` with a short timeout and makes
/// one call.
pub async fn unreachable_server_gives_a_typed_error<F, Fut, T>(connect: F, within: Duration)
where
    F: Fn(u16) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
    T: std::fmt::Debug,
{
    // A black hole: accepts, holds the socket, never writes a byte.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let silent_port = silent.local_addr().map(|a| a.port()).unwrap_or_default();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = silent.set_nonblocking(true);
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match silent.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    // A closed port: bound, then released.
    let closed_port = {
        let probe =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        probe.local_addr().map(|a| a.port()).unwrap_or_default()
    };
    for (what, port) in [
        ("a silent server", silent_port),
        ("a closed port", closed_port),
    ] {
        match tokio::time::timeout(within, connect(port)).await {
            Err(_) => panic!("the store hung on {what} for longer than {within:?}"),
            Ok(Ok(v)) => panic!("the store reported success against {what}: {v:?}"),
            Ok(Err(e)) => assert!(
                e.is_transient(),
                "{what} must give Timeout or Unavailable, got {e:?}"
            ),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = holder.join();
}

#[track_caller]
fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected store error: {e}"),
    }
}

#[track_caller]
fn assert_rejected<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Rejected(_)) => {}
        other => panic!("{what} must be StoreError::Rejected, got {other:?}"),
    }
}
