//! Store failures: every store server killed with `SIGKILL` under load, then restarted on
//! the same data (docs/RELIABILITY.md §5).
//!
//! Each test starts a private server (free loopback port, own temporary data directory),
//! writes 50 tokens, a Mini Program session, a web session, a credential and a claim, starts
//! eight callers that save tokens, read them back, take and release leases, claim fresh
//! values and push a web session's idle expiry, kills the server's whole process group, keeps it down for 5 s, restarts it and lets the callers run on until they succeed
//! again. It asserts:
//!
//! - no panic, and every call returns within [`BOUND`] (the store's 2 s timeout plus slack);
//! - every call that started after the kill and ended before the restart failed, there was
//!   at least one, and every failure of the whole run is a `StoreError` with
//!   `is_transient()` (`Unavailable` or `Timeout`); on PostgreSQL that includes the FATAL
//!   57P01 "terminating connection due to unexpected postmaster exit" a backend that
//!   outlives its postmaster for a moment answers;
//! - a call succeeds within [`RECOVERY`] of the restart, without reconnecting by hand;
//! - on the servers that persist (PostgreSQL, MariaDB, Redis with `appendfsync always`):
//!   what was written before the load reads back unchanged (the claim is still taken), and
//!   every save that returned `Ok(true)` is still there (the stored token is that one or a
//!   later attempt), and so is every claim that returned `Ok(true)`;
//! - on the servers that do not (Redis without persistence, jongodb): the store works
//!   again after the restart and reads back nothing of what was written before.
//!
//! Each test prints one `STORE-FAILURE {json}` line with its figures. Under `CI=true` a
//! missing server program fails the test; elsewhere it is skipped with a `SKIPPED:` line.
//!
//! ```sh
//! cargo test -p wechat-oauth-reliability --test store_failures -- --nocapture
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wechat_oauth::miniprogram::Session;
use wechat_oauth::{AccessToken, Credential, StoreError, Stores, WebSession};
use wechat_oauth_reliability::servers::{Kind, Server};

/// Per-operation timeout given to every store.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// No call may take longer than this, server down or not.
const BOUND: Duration = Duration::from_millis(3500);
/// How long the server stays down: longer than two store timeouts, so that calls made
/// after the kill run to their end (error or timeout) before the restart.
const OUTAGE: Duration = Duration::from_secs(5);
/// A call must succeed within this long after the restart.
const RECOVERY: Duration = Duration::from_secs(30);
const LOADERS: usize = 8;
const PREWRITTEN: usize = 50;
const OPENIDS_PER_LOADER: u64 = 5;
/// Each loader's web session, made before the load.
fn loader_session_id(loader: usize) -> String {
    format!("reliability-web-session-{loader:02}-0123456789abcdef")
}

/// The tests run one at a time, so that one server's recovery is not measured while
/// another test loads the two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_killed_under_load() {
    run(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_killed_under_load() {
    run(Kind::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_with_appendfsync_always_killed_under_load() {
    run(Kind::RedisAof).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_without_persistence_killed_under_load() {
    run(Kind::RedisVolatile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongodb_killed_under_load() {
    run(Kind::MongoDb).await;
}

async fn connect(kind: Kind, url: &str) -> Result<Stores, StoreError> {
    Ok(match kind {
        Kind::Postgres => Stores::new(
            wechat_oauth_sqlx::PostgresStore::connect_with(
                url,
                wechat_oauth_sqlx::SqlOptions::new().timeout(OP_TIMEOUT),
            )
            .await?,
        ),
        Kind::MariaDb => Stores::new(
            wechat_oauth_sqlx::MySqlStore::connect_with(
                url,
                wechat_oauth_sqlx::SqlOptions::new().timeout(OP_TIMEOUT),
            )
            .await?,
        ),
        Kind::RedisAof | Kind::RedisVolatile => Stores::new(
            wechat_oauth_redis::RedisStore::connect_with(
                url,
                wechat_oauth_redis::RedisOptions::new().timeout(OP_TIMEOUT),
            )
            .await?,
        ),
        Kind::MongoDb => Stores::new(
            wechat_oauth_mongodb::MongoStore::connect_with(
                url,
                wechat_oauth_mongodb::MongoOptions::new()
                    .database("wechat")
                    .timeout(OP_TIMEOUT),
            )
            .await?,
        ),
    })
}

fn token(openid: &str, create_at: i64) -> AccessToken {
    AccessToken::new(
        format!("at-{openid}-{create_at}"),
        7200,
        format!("rt-{openid}"),
        openid,
        "snsapi_userinfo",
        create_at,
    )
}

fn kind_of(err: &StoreError) -> &'static str {
    match err {
        StoreError::Unavailable(_) => "Unavailable",
        StoreError::Timeout => "Timeout",
        StoreError::Malformed(_) => "Malformed",
        StoreError::Rejected(_) => "Rejected",
        StoreError::Backend(_) => "Backend",
        _ => "other",
    }
}

/// One store call as a loader saw it.
#[derive(Debug)]
struct Call {
    op: &'static str,
    started: Instant,
    took: Duration,
    /// `None` on success; the error's kind, whether it is transient and its message.
    error: Option<(&'static str, bool, String)>,
}

/// What one loader did.
#[derive(Debug, Default)]
struct LoadLog {
    calls: Vec<Call>,
    /// Per openid, the `create_at` of the last save that returned `Ok(true)`.
    acked: HashMap<String, i64>,
    /// Reads during the run that returned an older token than one acknowledged.
    stale_reads: Vec<String>,
    /// Saves that returned `Ok(false)` although nothing newer was ever attempted.
    refused_saves: usize,
    /// Values whose `claim_once` returned `Ok(true)`.
    claimed: Vec<String>,
    /// Touches of the loader's web session that found no session.
    touches_missed: usize,
}

async fn timed<T>(
    log: &mut LoadLog,
    op: &'static str,
    f: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Option<T> {
    let started = Instant::now();
    let result = f.await;
    let took = started.elapsed();
    match result {
        Ok(value) => {
            log.calls.push(Call {
                op,
                started,
                took,
                error: None,
            });
            Some(value)
        }
        Err(err) => {
            log.calls.push(Call {
                op,
                started,
                took,
                error: Some((kind_of(&err), err.is_transient(), err.to_string())),
            });
            None
        }
    }
}

async fn load(
    stores: Stores,
    loader: usize,
    base: i64,
    stop: Arc<AtomicBool>,
    oks: Arc<AtomicU64>,
) -> LoadLog {
    let mut log = LoadLog::default();
    let mut seq: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let openid = format!("load{loader}x{}", seq.unsigned_abs() % OPENIDS_PER_LOADER);
        let create_at = base + seq;
        let before = log.calls.len();
        if let Some(written) = timed(
            &mut log,
            "save",
            stores.tokens.save(&openid, &token(&openid, create_at)),
        )
        .await
        {
            if written {
                log.acked.insert(openid.clone(), create_at);
            } else {
                log.refused_saves += 1;
            }
        }
        if let Some(read) = timed(&mut log, "get", stores.tokens.get(&openid)).await {
            let acked = log.acked.get(&openid).copied().unwrap_or(i64::MIN);
            if read.as_ref().map_or(i64::MIN, |t| t.create_at) < acked && acked > base {
                log.stale_reads.push(format!(
                    "{openid}: read {:?}, acknowledged {acked}",
                    read.map(|t| t.create_at)
                ));
            }
        }
        if seq % 4 == 2 {
            let value = format!("state:load{loader}-{base}-{seq}");
            if let Some(true) = timed(
                &mut log,
                "claim_once",
                stores.leases.claim_once(&value, Duration::from_secs(600)),
            )
            .await
            {
                log.claimed.push(value);
            }
            let idle = wechat_oauth::now_millis() + 3_600_000;
            if let Some(false) = timed(
                &mut log,
                "touch_web_session",
                stores
                    .web_sessions
                    .touch_web_session(&loader_session_id(loader), idle),
            )
            .await
            {
                log.touches_missed += 1;
            }
        }
        if seq % 4 == 0 {
            let name = format!("lease-load{loader}");
            if let Some(Some(lease)) = timed(
                &mut log,
                "acquire_lease",
                stores.leases.acquire_lease(&name, Duration::from_secs(5)),
            )
            .await
            {
                timed(
                    &mut log,
                    "release_lease",
                    stores.leases.release_lease(&lease),
                )
                .await;
            }
        }
        let new_calls = &log.calls[before..];
        let ok = new_calls.iter().filter(|c| c.error.is_none()).count();
        oks.fetch_add(ok as u64, Ordering::Relaxed);
        if ok < new_calls.len() {
            // The server is down: do not spin on refused connections.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    log
}

fn in_blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn run(kind: Kind) {
    let _serial = SERIAL.lock().await;
    let mut server = match in_blocking(|| Server::start(kind)) {
        Ok(server) => server,
        Err(err) if err.is_missing() && std::env::var("CI").as_deref() != Ok("true") => {
            println!("SKIPPED: {} store-failure test: {err}", kind.name());
            return;
        }
        Err(err) => panic!("cannot start a private {} server: {err}", kind.name()),
    };
    let url = server.url();
    let stores = connect(kind, &url)
        .await
        .unwrap_or_else(|e| panic!("{}: connecting to {url}: {e}", kind.name()));

    // What must survive the crash.
    let base = wechat_oauth::now_millis();
    let prewritten: Vec<AccessToken> = (0..PREWRITTEN)
        .map(|n| token(&format!("pre{n}"), base - 1000 + n as i64))
        .collect();
    for t in &prewritten {
        assert!(
            stores.tokens.save(&t.openid, t).await.unwrap(),
            "{}: the first save of {} was refused",
            kind.name(),
            t.openid
        );
    }
    let session = Session::new(
        "mp-user",
        Some("union-mp-user".to_owned()),
        "c2Vzc2lvbi1rZXktYmVmb3JlLWtpbGw=",
        base,
    );
    assert!(stores.sessions.save_session(&session).await.unwrap());
    let credential = Credential::new("server-token-before-kill", base, base + 7_200_000);
    assert!(
        stores
            .credentials
            .put_credential("server_token:wx-reliability", &credential)
            .await
            .unwrap()
    );
    let web_session = WebSession::new(
        "reliability-web-session-before-kill-0123",
        "web-user",
        r#"{"nickname":"before kill"}"#,
        base,
        base + 86_400_000,
    );
    stores
        .web_sessions
        .create_web_session(&web_session)
        .await
        .unwrap();
    for loader in 0..LOADERS {
        let mine = WebSession::new(
            loader_session_id(loader),
            "web-user",
            "{}",
            base,
            base + 86_400_000,
        );
        stores.web_sessions.create_web_session(&mine).await.unwrap();
    }
    let claim = format!("state:before-kill-{base}");
    assert!(
        stores
            .leases
            .claim_once(&claim, Duration::from_secs(600))
            .await
            .unwrap()
    );

    // Load, kill, outage, restart.
    let stop = Arc::new(AtomicBool::new(false));
    let oks = Arc::new(AtomicU64::new(0));
    let loaders: Vec<_> = (0..LOADERS)
        .map(|i| tokio::spawn(load(stores.clone(), i, base, stop.clone(), oks.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let oks_before_kill = oks.load(Ordering::Relaxed);
    assert!(
        oks_before_kill > 0,
        "{}: no call succeeded before the kill",
        kind.name()
    );

    let killed_pid = server.pid();
    in_blocking(|| server.kill9()).expect("kill -9");
    let killed_at = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let restarted_at = Instant::now();
    let oks_at_restart = oks.load(Ordering::Relaxed);
    in_blocking(|| server.restart()).expect("restart");
    let server_ready = in_blocking(|| server.wait_ready(RECOVERY))
        .unwrap_or_else(|e| panic!("{}: the restarted server did not come up: {e}", kind.name()));
    let deadline = restarted_at + RECOVERY;
    while oks.load(Ordering::Relaxed) == oks_at_restart && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Some more load on the recovered server, then stop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for loader in loaders {
        logs.push(loader.await.expect("a loader panicked"));
    }

    // Judge the calls.
    let calls: Vec<&Call> = logs.iter().flat_map(|l| &l.calls).collect();
    let slowest = calls.iter().map(|c| c.took).max().unwrap_or_default();
    assert!(
        slowest <= BOUND,
        "{}: a call took {slowest:?} (bound {BOUND:?})",
        kind.name()
    );
    let during_outage: Vec<&&Call> = calls
        .iter()
        .filter(|c| c.started >= killed_at && c.started + c.took <= restarted_at)
        .collect();
    assert!(
        !during_outage.is_empty(),
        "{}: no call was made during the outage",
        kind.name()
    );
    let outage_ok: Vec<_> = during_outage.iter().filter(|c| c.error.is_none()).collect();
    assert!(
        outage_ok.is_empty(),
        "{}: {} calls succeeded while the server was dead (first: {:?})",
        kind.name(),
        outage_ok.len(),
        outage_ok.first()
    );
    let mut error_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors_by_op: BTreeMap<&str, usize> = BTreeMap::new();
    for call in &calls {
        if let Some((k, transient, message)) = &call.error {
            assert!(
                *transient,
                "{}: {} failed with a non-transient {k} error: {message}",
                kind.name(),
                call.op
            );
            *error_kinds.entry((*k).to_owned()).or_default() += 1;
            *errors_by_op.entry(call.op).or_default() += 1;
        }
    }
    let outage_kinds: BTreeMap<&str, usize> =
        during_outage.iter().fold(BTreeMap::new(), |mut m, c| {
            if let Some((k, ..)) = &c.error {
                *m.entry(*k).or_default() += 1;
            }
            m
        });
    let first_ok_after_restart = calls
        .iter()
        .filter(|c| c.error.is_none() && c.started >= restarted_at)
        .map(|c| c.started + c.took)
        .min()
        .unwrap_or_else(|| {
            panic!(
                "{}: no call succeeded within {RECOVERY:?} of the restart",
                kind.name()
            )
        });
    let recovery = first_ok_after_restart - restarted_at;
    let max_outage_call = during_outage
        .iter()
        .map(|c| c.took)
        .max()
        .unwrap_or_default();
    let stale_reads: Vec<&String> = logs.iter().flat_map(|l| &l.stale_reads).collect();
    let refused_saves: usize = logs.iter().map(|l| l.refused_saves).sum();
    let acked: HashMap<&String, i64> = logs
        .iter()
        .flat_map(|l| &l.acked)
        .map(|(k, v)| (k, *v))
        .collect();

    // What is there after the restart.
    let mut prewritten_kept = 0;
    for t in &prewritten {
        let read = stores.tokens.get(&t.openid).await.unwrap_or_else(|e| {
            panic!(
                "{}: reading {} after the restart: {e}",
                kind.name(),
                t.openid
            )
        });
        if read.as_ref() == Some(t) {
            prewritten_kept += 1;
        } else if kind.keeps_data() {
            panic!(
                "{}: {} after the restart is {:?}",
                kind.name(),
                t.openid,
                read.map(|t| t.create_at)
            );
        } else {
            assert!(
                read.is_none(),
                "{}: {} came back different",
                kind.name(),
                t.openid
            );
        }
    }
    let session_read = stores.sessions.get_session("mp-user").await.unwrap();
    let web_session_read = stores
        .web_sessions
        .get_web_session(web_session.id.expose_secret())
        .await
        .unwrap();
    // A claim taken before the kill is still taken after the restart on a server that
    // persists; on one that does not, the value is free again.
    let claim_taken = !stores
        .leases
        .claim_once(&claim, Duration::from_secs(600))
        .await
        .unwrap();
    let claimed: Vec<&String> = logs.iter().flat_map(|l| &l.claimed).collect();
    let mut claims_lost = Vec::new();
    for value in &claimed {
        if stores
            .leases
            .claim_once(value, Duration::from_secs(600))
            .await
            .unwrap()
        {
            claims_lost.push((*value).clone());
        }
    }
    let touches_missed: usize = logs.iter().map(|l| l.touches_missed).sum();
    let credential_read = stores
        .credentials
        .get_credential("server_token:wx-reliability")
        .await
        .unwrap();
    let mut acked_lost = Vec::new();
    for (openid, create_at) in &acked {
        let read = stores.tokens.get(openid).await.unwrap();
        match read {
            Some(t) if t.create_at >= *create_at && t == token(openid, t.create_at) => {}
            other => acked_lost.push(format!(
                "{openid}: acknowledged {create_at}, read {:?}",
                other.map(|t| t.create_at)
            )),
        }
    }
    if kind.keeps_data() {
        assert_eq!(
            session_read.as_ref(),
            Some(&session),
            "{}: the session",
            kind.name()
        );
        assert_eq!(
            credential_read.as_ref(),
            Some(&credential),
            "{}: the credential",
            kind.name()
        );
        assert_eq!(
            web_session_read.as_ref(),
            Some(&web_session),
            "{}: the web session",
            kind.name()
        );
        assert!(
            claim_taken,
            "{}: the claim made before the kill",
            kind.name()
        );
        assert!(
            claims_lost.is_empty(),
            "{}: {} acknowledged claims could be claimed again: {:?}",
            kind.name(),
            claims_lost.len(),
            claims_lost.first()
        );
        assert_eq!(
            touches_missed,
            0,
            "{}: a web session was missing during the load",
            kind.name()
        );
        assert!(
            acked_lost.is_empty(),
            "{}: acknowledged writes lost: {acked_lost:?}",
            kind.name()
        );
        assert!(
            stale_reads.is_empty(),
            "{}: stale reads: {stale_reads:?}",
            kind.name()
        );
        assert_eq!(
            refused_saves,
            0,
            "{}: saves refused without a newer token",
            kind.name()
        );
    } else {
        assert_eq!(prewritten_kept, 0);
        assert!(session_read.is_none() && credential_read.is_none());
        assert!(web_session_read.is_none() && !claim_taken);
    }

    let figures = serde_json::json!({
        "server": kind.name(),
        "killed_pid": killed_pid,
        "calls": calls.len(),
        "ok_before_kill": oks_before_kill,
        "calls_during_outage": during_outage.len(),
        "outage_error_kinds": outage_kinds,
        "errors_total": calls.iter().filter(|c| c.error.is_some()).count(),
        "error_kinds": error_kinds,
        "errors_by_op": errors_by_op,
        "slowest_call_ms": slowest.as_millis(),
        "slowest_outage_call_ms": max_outage_call.as_millis(),
        "server_up_after_restart_ms": server_ready.as_millis(),
        "restart_to_first_success_ms": recovery.as_millis(),
        "acknowledged_openids": acked.len(),
        "acknowledged_lost": acked_lost.len(),
        "prewritten_kept": format!("{prewritten_kept}/{PREWRITTEN}"),
        "session_kept": session_read.is_some(),
        "credential_kept": credential_read.is_some(),
        "web_session_kept": web_session_read.is_some(),
        "claim_kept": claim_taken,
        "acknowledged_claims": claimed.len(),
        "acknowledged_claims_lost": claims_lost.len(),
    });
    println!("STORE-FAILURE {figures}");
    let sample_errors: Vec<&String> = calls
        .iter()
        .filter_map(|c| c.error.as_ref().map(|e| &e.2))
        .take(3)
        .collect();
    println!("STORE-FAILURE-SAMPLE {} {sample_errors:?}", kind.name());
}
