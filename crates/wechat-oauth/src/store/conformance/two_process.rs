//! Two OS processes, one store, one expired token: one refresh per expiry.
//!
//! The test binary re-executes itself (`std::env::current_exe()`) filtered to a worker
//! test that acts only when [`WORKER_ENV`] is set. The parent drives the sandbox through its
//! HTTP control plane (`/__sandbox/...`), so the same harness serves every store crate.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AppSecret, OAuthClient, Stores, TokenStatus, TokenStore};

/// The variable that carries the job to the worker process (JSON).
pub const WORKER_ENV: &str = "WECHAT_OAUTH_TWO_PROCESS_WORKER";

const REFRESH_PATH: &str = "/sns/oauth2/refresh_token";
const USERINFO_PATH: &str = "/sns/userinfo";
const READY: &str = "two-process-worker: ready";
const DONE: &str = "two-process-worker: done";

/// What both processes need to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The sandbox's base URL.
    pub sandbox_url: String,
    /// The app both processes act for.
    pub appid: String,
    /// Its secret (a sandbox default here, but still never printed by `Debug`).
    pub secret: AppSecret,
    /// How the worker opens the shared store (a URL, a path: the caller's choice).
    pub store: String,
    /// The user whose token both processes hammer.
    pub openid: String,
    /// How many concurrent `get_user` calls each process makes per round.
    pub callers: usize,
}

fn client(job: &Job, stores: Stores) -> OAuthClient {
    OAuthClient::builder(job.appid.clone(), job.secret.clone())
        .api_base(job.sandbox_url.clone())
        .open_base(job.sandbox_url.clone())
        .stores(stores)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// `callers` concurrent `get_user(openid)` calls; panics unless all succeed.
async fn hammer(client: &OAuthClient, openid: &str, callers: usize) {
    let calls = (0..callers).map(|_| client.get_user(openid));
    for (i, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        match result {
            Ok(user) => assert_eq!(user.openid, openid),
            Err(e) => panic!("get_user #{i} failed: {e}"),
        }
    }
}

/// The worker's side: when [`WORKER_ENV`] is set, opens the store with `open(job.store)`,
/// says it is ready, waits for the parent's go (a line on stdin), hammers `get_user` and
/// reports. Returns `false` (doing nothing) in an ordinary test run.
pub async fn run_worker<F, Fut>(open: F) -> bool
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Stores>,
{
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return false;
    };
    let job: Job = serde_json::from_str(&spec).unwrap_or_else(|e| panic!("job: {e}"));
    let client = client(&job, open(job.store.clone()).await);
    println!("{READY}");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap_or_default();
    hammer(&client, &job.openid, job.callers).await;
    println!("{DONE}");
    true
}

async fn control(
    http: &reqwest::Client,
    job: &Job,
    method: reqwest::Method,
    route: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!("{}/__sandbox/{route}", job.sandbox_url);
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

/// The parent's side: logs `job.openid`'s user in through `store`, then `rounds` times
/// expires the token (sandbox clock and stored `create_at`), starts the worker process
/// (`worker_test`, the name of the test that calls [`run_worker`]) and hammers alongside
/// it. Asserts that each round reaches WeChat's refresh endpoint exactly once and that the
/// store ends with the newest token, one WeChat accepts.
///
/// `user` is the sandbox user behind `job.openid`.
pub async fn assert_one_refresh_per_expiry(
    job: Job,
    user: &str,
    stores: Stores,
    worker_test: &str,
    rounds: usize,
) {
    let http = reqwest::Client::new();
    let store = stores.tokens.clone();
    let client = client(&job, stores);
    let minted = control(
        &http,
        &job,
        reqwest::Method::POST,
        "codes",
        serde_json::json!({ "appid": job.appid, "user": user, "scope": "snsapi_userinfo" }),
    )
    .await;
    let code = minted["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {minted}"))
        .to_owned();
    let mut previous = client
        .get_access_token(code)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(
        previous.openid, job.openid,
        "the job's openid is the user's"
    );

    for round in 0..rounds {
        // Expired for WeChat (its clock) and for us (the stored create_at).
        control(
            &http,
            &job,
            reqwest::Method::POST,
            "clock/advance",
            serde_json::json!({ "seconds": 7201 }),
        )
        .await;
        let mut aged = store
            .get(&job.openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        aged.create_at -= 7_201_000;
        store
            .delete(&job.openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store
                .save(&job.openid, &aged)
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
        // A slow refresh, so both processes are certainly waiting on the same expiry.
        control(
            &http,
            &job,
            reqwest::Method::POST,
            "faults",
            serde_json::json!({ "path": REFRESH_PATH, "fault": "delay", "ms": 300 }),
        )
        .await;

        let mut worker = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")))
            .args([worker_test, "--exact", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, serde_json::to_string(&job).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn worker: {e}"));
        let stdout = worker.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut done = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(READY) {
                    let _ = ready_tx.send(());
                }
                done |= line.contains(DONE);
            }
            done
        });
        let ready = tokio::task::spawn_blocking(move || {
            ready_rx.recv_timeout(Duration::from_secs(60)).is_ok()
        })
        .await
        .unwrap_or(false);
        assert!(ready, "round {round}: the worker process did not start");
        let mut stdin = worker.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let _ = writeln!(stdin, "go");
        drop(stdin);

        hammer(&client, &job.openid, job.callers).await;
        let status = tokio::task::spawn_blocking(move || worker.wait())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let worker_done = reader.join().unwrap_or(false);
        assert!(
            status.success() && worker_done,
            "round {round}: the worker process failed ({status})"
        );

        let journal = control(
            &http,
            &job,
            reqwest::Method::GET,
            "journal",
            serde_json::Value::Null,
        )
        .await;
        let count = |path: &str| {
            journal.as_array().map_or(0, |entries| {
                entries.iter().filter(|e| e["path"] == path).count()
            })
        };
        assert_eq!(
            count(USERINFO_PATH),
            2 * job.callers,
            "round {round}: both processes fetched the profile with the shared token"
        );
        assert_eq!(
            count(REFRESH_PATH),
            1,
            "round {round}: one refresh per expiry across both processes"
        );

        let stored = store
            .get(&job.openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        assert!(
            stored.create_at > previous.create_at,
            "round {round}: the store holds the newest token"
        );
        assert!(stored.is_valid());
        let status = client.verify_token(&job.openid, &stored.access_token).await;
        assert!(
            matches!(status, Ok(TokenStatus::Valid)),
            "round {round}: WeChat accepts the stored token: {status:?}"
        );
        previous = stored;
    }
}
