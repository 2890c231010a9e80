//! Two OS processes share one store; each makes many concurrent calls that need the server
//! access token just after it expired: WeChat must see exactly one token request.
//!
//! Any backend's test suite runs it with two tests in one test binary: an entry point that
//! calls [`run_worker`] (it does nothing unless the parent started it), and the test proper
//! that calls [`assert_one_fetch_per_expiry`], naming the entry point. The binary
//! re-executes itself (`std::env::current_exe()`) filtered to the entry point, twice, with
//! the job in [`WORKER_ENV`]. The parent drives the sandbox through its HTTP control plane
//! (`/__sandbox/...`), so the harness needs nothing but a sandbox URL and a way to open the
//! store from a string.
//!
//! ```text
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn server_token_worker() {
//!     run_worker(|spec| async move { my_backend_stores(&spec).await }).await;
//! }
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn two_processes_fetch_the_server_token_once_per_expiry() {
//!     let sandbox = wechat_sandbox::Sandbox::builder().start().await.unwrap();
//!     let job = Job::new(sandbox.url(), "my-spec");
//!     let stores = my_backend_stores("my-spec").await;
//!     assert_one_fetch_per_expiry(job, stores, "path::to::server_token_worker", 2).await;
//! }
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Credential, Stores};
use crate::{AppSecret, WeChatApp};

/// The variable that carries the job to a worker process (JSON).
pub const WORKER_ENV: &str = "WECHAT_OAUTH_SERVER_TOKEN_WORKER";

const TOKEN_PATH: &str = "/cgi-bin/stable_token";
const READY: &str = "server-token-worker: ready";
const DONE: &str = "server-token-worker: done ";

/// What the parent and both workers need to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The sandbox's base URL.
    pub sandbox_url: String,
    /// The Mini Program whose server token the processes share.
    pub appid: String,
    /// Its secret (a sandbox default; never printed by `Debug`).
    pub secret: AppSecret,
    /// How a worker opens the shared store (a URL, a path, a table name: the caller's
    /// choice, passed to the `open` function of [`run_worker`]).
    pub store: String,
    /// How many concurrent `access_token()` calls each process makes per round.
    pub callers: usize,
}

impl Job {
    /// A job for the sandbox's default Mini Program, 1,000 callers per process.
    pub fn new(sandbox_url: impl Into<String>, store: impl Into<String>) -> Self {
        Self {
            sandbox_url: sandbox_url.into(),
            appid: wechat_sandbox_defaults::MINIPROGRAM_APPID.into(),
            secret: wechat_sandbox_defaults::MINIPROGRAM_SECRET.into(),
            store: store.into(),
            callers: 1_000,
        }
    }
}

/// The sandbox's default Mini Program (the sandbox crate is not a dependency of the SDK).
mod wechat_sandbox_defaults {
    pub(super) const MINIPROGRAM_APPID: &str = "wx5a4d1e0f0a000003";
    pub(super) const MINIPROGRAM_SECRET: &str = "sandbox-miniprogram-secret";
}

fn app(job: &Job, stores: Stores) -> WeChatApp {
    WeChatApp::builder(job.appid.clone(), job.secret.clone())
        .api_base(job.sandbox_url.clone())
        .stores(stores)
        .build()
        .unwrap_or_else(|e| panic!("app: {e}"))
}

/// A fingerprint of a token, so processes can compare tokens without printing them.
fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The worker's side: when [`WORKER_ENV`] is set, opens the stores with `open(job.store)`,
/// says it is ready, waits for the parent's go (a line on stdin), makes `job.callers`
/// concurrent `access_token()` calls, checks they all got one token and reports its
/// fingerprint. Returns `false` (doing nothing) in an ordinary test run.
pub async fn run_worker<F, Fut>(open: F) -> bool
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Stores>,
{
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return false;
    };
    let job: Job = serde_json::from_str(&spec).unwrap_or_else(|e| panic!("job: {e}"));
    let tokens = app(&job, open(job.store.clone()).await).server_tokens();
    println!("{READY}");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap_or_default();
    let calls = (0..job.callers).map(|_| tokens.access_token());
    let mut seen = std::collections::BTreeSet::new();
    for (i, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        match result {
            Ok(token) => seen.insert(fingerprint(token.expose_secret())),
            Err(e) => panic!("access_token #{i} failed: {e}"),
        };
    }
    assert_eq!(seen.len(), 1, "every caller got the same token");
    println!("{DONE}{}", seen.pop_first().unwrap_or_default());
    true
}

async fn control(
    http: &reqwest::Client,
    job: &Job,
    method: reqwest::Method,
    route: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!(
        "{}/__sandbox/{route}",
        job.sandbox_url.trim_end_matches('/')
    );
    let mut request = http.request(method, &url);
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{route}: {e}"));
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{route}: {e}"))
}

/// A started worker process and the thread reading its output.
struct Worker {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(job: &Job, worker_test: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")))
            .args([worker_test, "--exact", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, serde_json::to_string(job).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn worker: {e}"));
        let stdout: ChildStdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// Waits (up to a minute) for a line containing `marker`; returns what follows it.
    async fn expect(&mut self, marker: &'static str) -> Option<String> {
        let lines = std::mem::replace(&mut self.lines, std::sync::mpsc::channel().1);
        let (found, lines) = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                match lines.recv_timeout(left) {
                    Ok(line) => {
                        if let Some(pos) = line.find(marker) {
                            return (Some(line[pos + marker.len()..].to_owned()), lines);
                        }
                    }
                    Err(_) => break,
                }
            }
            (None, lines)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        self.lines = lines;
        found
    }

    fn go(&mut self) {
        let mut stdin = self
            .child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("no stdin"));
        let _ = writeln!(stdin, "go");
    }

    async fn finish(mut self) -> bool {
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|status| status.success())
    }
}

/// The parent's side: through `stores`, gets the app's server token once, then `rounds`
/// times expires it (the sandbox's clock moves past its `expires_in`, and the stored
/// credential is moved back as far), starts two worker processes (`worker_test` names the
/// test that calls [`run_worker`]) and releases them at once. Asserts that each round
/// reaches WeChat's token endpoint exactly once, that every call of both processes got the
/// token now in the store, and that WeChat accepts it (a phone-number exchange with it).
pub async fn assert_one_fetch_per_expiry(
    job: Job,
    stores: Stores,
    worker_test: &str,
    rounds: usize,
) {
    let http = reqwest::Client::new();
    let key = format!("server_token:{}", job.appid);
    app(&job, stores.clone())
        .server_tokens()
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("first token: {e}"));

    for round in 0..rounds {
        // Expired for WeChat (its clock) and for us (the stored expiry).
        control(
            &http,
            &job,
            reqwest::Method::POST,
            "clock/advance",
            serde_json::json!({ "seconds": 7300 }),
        )
        .await;
        let stored = stores
            .credentials
            .get_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("round {round}: no stored server token"));
        let aged = Credential::new(
            stored.value.clone(),
            stored.obtained_at - 7_300_000,
            stored.expires_at - 7_300_000,
        );
        stores
            .credentials
            .delete_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stores
                .credentials
                .put_credential(&key, &aged)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        control(
            &http,
            &job,
            reqwest::Method::DELETE,
            "journal",
            serde_json::json!({}),
        )
        .await;
        // A slow fetch, so both processes are certainly waiting on the same expiry.
        control(
            &http,
            &job,
            reqwest::Method::POST,
            "faults",
            serde_json::json!({ "path": TOKEN_PATH, "fault": "delay", "ms": 300 }),
        )
        .await;

        let mut workers = [
            Worker::spawn(&job, worker_test),
            Worker::spawn(&job, worker_test),
        ];
        for worker in &mut workers {
            assert!(
                worker.expect(READY).await.is_some(),
                "round {round}: a worker process did not start"
            );
        }
        for worker in &mut workers {
            worker.go();
        }
        let mut fingerprints = Vec::new();
        for mut worker in workers {
            let done = worker.expect(DONE).await;
            assert!(
                worker.finish().await,
                "round {round}: a worker process failed"
            );
            fingerprints
                .push(done.unwrap_or_else(|| panic!("round {round}: a worker gave no token")));
        }

        let journal = control(
            &http,
            &job,
            reqwest::Method::GET,
            "journal",
            serde_json::Value::Null,
        )
        .await;
        let fetches = journal.as_array().map_or(0, |entries| {
            entries.iter().filter(|e| e["path"] == TOKEN_PATH).count()
        });
        assert_eq!(
            fetches, 1,
            "round {round}: one token request per expiry across both processes"
        );

        let now = stores
            .credentials
            .get_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("round {round}: no stored server token"));
        assert!(
            now.obtained_at > stored.obtained_at,
            "round {round}: a newer token is stored"
        );
        assert_eq!(
            fingerprints,
            [
                fingerprint(now.value.expose_secret()),
                fingerprint(now.value.expose_secret())
            ],
            "round {round}: both processes used the stored token"
        );
        // WeChat accepts it: a phone-number exchange with a fresh app (so the token comes
        // from the store, not from this process's memory of the old one).
        let minted = control(
            &http,
            &job,
            reqwest::Method::POST,
            "mp/phone_code",
            serde_json::json!({ "appid": job.appid, "user": "alice" }),
        )
        .await;
        let code = minted["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no phone code: {minted}"))
            .to_owned();
        let phone = app(&job, stores.clone())
            .mini_program()
            .get_phone_number(code)
            .await;
        assert!(
            phone.is_ok(),
            "round {round}: WeChat accepts the stored token: {phone:?}"
        );
    }
}
