//! A real server restart in the middle of a run: every kind of state reports typed errors
//! while the server is down, carries on by itself when it is back, and (on a server that
//! keeps its data) still holds what was written before.
//!
//! The server is a private one ([`PrivateServer`]): a MariaDB or Redis process of its own
//! on a free port, with its data in a temporary directory, killed (`SIGKILL`, a crash, not
//! a clean shutdown) and started again on the same data. Tests of other binaries and other
//! people on the shared servers never see it go away.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wechat_oauth::miniprogram::Session;
use wechat_oauth::now_millis;
use wechat_oauth::store::{Backend, Credential, StoreError};

use crate::state::sample_web_session;
use crate::{ok, sample_token, unique_namespace};

/// The kinds of server [`PrivateServer`] can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `mariadbd` on a data directory made by `mariadb-install-db`; database `test`.
    MariaDb,
    /// `redis-server` with an append-only file synced on every write.
    Redis,
}

/// A database server process of this test's own.
#[derive(Debug)]
pub struct PrivateServer {
    kind: Kind,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl PrivateServer {
    /// Starts a server of `kind`, or `None` (announced on stderr) when its programs are not
    /// installed. Under `CI=true` a missing program fails the test instead.
    pub fn start(kind: Kind) -> Option<Self> {
        let programs: &[&str] = match kind {
            Kind::MariaDb => &["mariadb-install-db", "mariadbd", "mariadb"],
            Kind::Redis => &["redis-server", "redis-cli"],
        };
        if let Some(missing) = programs
            .iter()
            .find(|p| !succeeds("sh", &["-c", &format!("command -v {p}")]))
        {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{missing} is not installed (needed for the {kind:?} restart test under CI=true)"
                );
            }
            eprintln!("SKIPPED: {missing} is not installed; the {kind:?} restart test needs it");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("wechat-oauth-restart-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        if kind == Kind::MariaDb {
            let datadir = format!("--datadir={}", dir.path().join("data").display());
            assert!(
                succeeds(
                    "mariadb-install-db",
                    &[
                        "--no-defaults",
                        &datadir,
                        "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                    ],
                ),
                "mariadb-install-db failed"
            );
        }
        let mut server = Self {
            kind,
            port: free_port(),
            dir,
            child: None,
        };
        server.start_again();
        if kind == Kind::MariaDb {
            assert!(
                server.client(&["-e", "CREATE DATABASE IF NOT EXISTS test"]),
                "CREATE DATABASE test failed"
            );
        }
        Some(server)
    }

    /// The server's URL (`mysql://root@127.0.0.1:<port>/test`, `redis://127.0.0.1:<port>/`).
    pub fn url(&self) -> String {
        match self.kind {
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{}/test", self.port),
            Kind::Redis => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    fn client(&self, args: &[&str]) -> bool {
        let port = self.port.to_string();
        match self.kind {
            Kind::MariaDb => {
                let mut all = vec!["-h", "127.0.0.1", "-P", &port, "-uroot"];
                all.extend_from_slice(args);
                succeeds("mariadb", &all)
            }
            Kind::Redis => {
                let mut all = vec!["-h", "127.0.0.1", "-p", &port];
                all.extend_from_slice(args);
                // redis-cli exits 0 even when it cannot connect: check what it says.
                Command::new("redis-cli")
                    .args(all)
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
            }
        }
    }

    fn is_up(&self) -> bool {
        match self.kind {
            Kind::MariaDb => self.client(&["-e", "SELECT 1"]),
            Kind::Redis => self.client(&["ping"]),
        }
    }

    /// Starts the server process (again, on the same data) and waits until it answers.
    pub fn start_again(&mut self) {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        let log =
            std::fs::File::create(path("server.log")).unwrap_or_else(|e| panic!("server log: {e}"));
        let port = self.port.to_string();
        let mut command = match self.kind {
            Kind::MariaDb => {
                let mut c = Command::new("mariadbd");
                c.args([
                    "--no-defaults",
                    &format!("--datadir={}", path("data")),
                    &format!("--port={port}"),
                    "--bind-address=127.0.0.1",
                    &format!("--socket={}", path("mysqld.sock")),
                    &format!("--pid-file={}", path("mysqld.pid")),
                    "--user=root",
                    "--skip-log-bin",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=16M",
                ]);
                c
            }
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    &path(""),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ]);
                c
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", self.kind));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.is_up() {
            assert!(
                Instant::now() < deadline,
                "{:?} did not start (see {})",
                self.kind,
                path("server.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server process (`SIGKILL`: a crash) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.is_up() {
            assert!(Instant::now() < deadline, "{:?} did not stop", self.kind);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `call` fails with a transient error within `bound` (no hang, no other error).
async fn assert_transient<T: std::fmt::Debug>(
    call: impl std::future::Future<Output = Result<T, StoreError>>,
    what: &str,
    bound: Duration,
) {
    let started = Instant::now();
    let result = call.await;
    assert!(
        matches!(&result, Err(e) if e.is_transient()),
        "{what} while the server is down gives Unavailable or Timeout, got {result:?}"
    );
    assert!(
        started.elapsed() < bound,
        "{what} hung for {:?} while the server was down",
        started.elapsed()
    );
}

/// Writes one of every kind of state (a user token, a Mini Program session, a web session,
/// a credential, a held lease, a claimed single-use value) through `store`, which is
/// connected to `server`; kills the server; checks that every kind of call fails with a
/// transient error, each within `bound` instead of hanging; starts the server again and checks
/// that the same store works again by itself, that everything written before is still
/// there (the lease still held, the value still claimed), and that every kind can be
/// written again.
pub async fn survives_a_server_restart<S: Backend + ?Sized>(
    store: &S,
    server: &mut PrivateServer,
    bound: Duration,
) {
    let ns = unique_namespace("restart");
    let openid = format!("{ns}-user");
    let token = sample_token(&openid, 1_700_000_000_000);
    assert!(ok(store.save(&openid, &token).await, "save token"));
    let session = Session::new(&openid, None, "tiihtNczf5v6AKRyjwEUhQ==", 1_000);
    assert!(ok(store.save_session(&session).await, "save session"));
    let web = sample_web_session(&openid, "{\"nickname\":\"x\"}", Duration::from_secs(3600));
    let web_id = web.id.expose_secret().to_owned();
    ok(store.create_web_session(&web).await, "create web session");
    let key = format!("server_token:{ns}");
    let now = now_millis();
    let credential = Credential::new("SERVER_TOKEN_BEFORE", now, now + 7_200_000);
    assert!(ok(store.put_credential(&key, &credential).await, "put"));
    let lease_name = format!("refresh:{ns}");
    let lease = ok(
        store
            .acquire_lease(&lease_name, Duration::from_secs(120))
            .await,
        "acquire lease",
    );
    assert!(lease.is_some(), "a free lease is taken");
    let claim = format!("state:{ns}");
    assert!(ok(
        store.claim_once(&claim, Duration::from_secs(120)).await,
        "claim"
    ));

    server.kill();
    let other_lease = format!("{lease_name}-other");
    let other_claim = format!("{claim}-other");
    let short = Duration::from_secs(5);
    assert_transient(store.get(&openid), "get token", bound).await;
    assert_transient(store.save(&openid, &token), "save token", bound).await;
    assert_transient(store.get_session(&openid), "get session", bound).await;
    assert_transient(store.save_session(&session), "save session", bound).await;
    assert_transient(store.get_web_session(&web_id), "get web session", bound).await;
    let later = now_millis() + 1_000;
    assert_transient(
        store.touch_web_session(&web_id, later),
        "touch web session",
        bound,
    )
    .await;
    assert_transient(store.get_credential(&key), "get credential", bound).await;
    assert_transient(
        store.put_credential(&key, &credential),
        "put credential",
        bound,
    )
    .await;
    assert_transient(
        store.acquire_lease(&other_lease, short),
        "acquire lease",
        bound,
    )
    .await;
    assert_transient(store.claim_once(&other_claim, short), "claim", bound).await;

    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        match store.get(&openid).await {
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break ok(other, "get token after the restart"),
        }
    };
    assert_eq!(back, Some(token), "the token survived the restart");
    assert_eq!(
        ok(store.get_session(&openid).await, "get session"),
        Some(session),
        "the Mini Program session survived the restart"
    );
    assert_eq!(
        ok(store.get_web_session(&web_id).await, "get web session"),
        Some(web),
        "the web session survived the restart"
    );
    assert_eq!(
        ok(store.get_credential(&key).await, "get credential"),
        Some(credential),
        "the credential survived the restart"
    );
    assert!(
        ok(
            store
                .acquire_lease(&lease_name, Duration::from_secs(5))
                .await,
            "acquire held lease"
        )
        .is_none(),
        "the lease is still held after the restart"
    );
    assert!(
        !ok(
            store.claim_once(&claim, Duration::from_secs(5)).await,
            "claim again"
        ),
        "the value is still claimed after the restart"
    );

    // Every kind can be written again.
    let newer = sample_token(&openid, 1_700_000_001_000);
    assert!(ok(store.save(&openid, &newer).await, "save after"));
    assert_eq!(ok(store.get(&openid).await, "get"), Some(newer));
    let relogin = Session::new(&openid, None, "bmV3LXNlc3Npb24ta2V5LWtleQ==", 2_000);
    assert!(ok(store.save_session(&relogin).await, "save session after"));
    assert_eq!(ok(store.get_session(&openid).await, "get"), Some(relogin));
    assert!(ok(
        store
            .touch_web_session(&web_id, now_millis() + 60_000)
            .await,
        "touch after"
    ));
    let fresh = sample_web_session(&openid, "{}", Duration::from_secs(60));
    ok(store.create_web_session(&fresh).await, "create after");
    assert_eq!(
        ok(store.delete_web_sessions_for(&openid).await, "sign out"),
        2
    );
    let later = now_millis();
    let replaced = Credential::new("SERVER_TOKEN_AFTER", later + 1, later + 7_200_000);
    assert!(ok(store.put_credential(&key, &replaced).await, "put after"));
    assert_eq!(ok(store.get_credential(&key).await, "get"), Some(replaced));
    if let Some(lease) = lease {
        ok(store.release_lease(&lease).await, "release after");
    }
    let again = ok(
        store
            .acquire_lease(&lease_name, Duration::from_secs(5))
            .await,
        "acquire after",
    );
    assert!(again.is_some(), "a released lease can be taken again");
    if let Some(again) = again {
        ok(store.release_lease(&again).await, "release");
    }
    assert!(ok(
        store
            .claim_once(&format!("{claim}-after"), Duration::from_secs(5))
            .await,
        "claim after"
    ));
}
