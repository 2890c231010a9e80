//! Worker processes and the sandbox's control plane, shared by every multi-process harness.
//!
//! A test binary re-executes itself (`std::env::current_exe()`) filtered to one worker test,
//! with the job (JSON) in [`WORKER_ENV`]. The worker says it is ready, waits for the
//! parent's go (a line on stdin), does its job and reports one result line. The sandbox is
//! driven over HTTP (`/__sandbox/...`), so workers need nothing but its URL.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The variable that carries the job to a worker process (JSON).
pub(crate) const WORKER_ENV: &str = "WECHAT_OAUTH_TEST_WORKER";

const READY: &str = "wechat-oauth-worker: ready";
const DONE: &str = "wechat-oauth-worker: done ";

/// How long a worker may take to start or to finish its job.
const PATIENCE: Duration = Duration::from_secs(120);

/// In a worker process: its job, or `None` in an ordinary test run.
pub(crate) fn job<T: DeserializeOwned>() -> Option<T> {
    let spec = std::env::var(WORKER_ENV).ok()?;
    Some(serde_json::from_str(&spec).unwrap_or_else(|e| panic!("worker job: {e}")))
}

/// In a worker process: says it is ready and waits for the parent's go.
pub(crate) fn ready_and_wait() {
    println!("{READY}");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap_or_default();
}

/// In a worker process: reports the job's result (one line, no secrets).
pub(crate) fn done(result: &str) {
    println!("{DONE}{result}");
}

/// A started worker process and the thread reading its output.
pub(crate) struct Worker {
    child: Child,
    lines: Option<Receiver<String>>,
}

impl Worker {
    /// Starts `worker_test` (the name of the test that calls the harness's `run_worker`) of
    /// this binary with `job`, and waits until it is ready.
    pub(crate) async fn start(worker_test: &str, job: &impl Serialize) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")))
            .args([worker_test, "--exact", "--nocapture", "--test-threads=1"])
            .env(WORKER_ENV, serde_json::to_string(job).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn worker: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut worker = Self {
            child,
            lines: Some(lines),
        };
        assert!(
            worker.expect(READY).await.is_some(),
            "a worker process ({worker_test}) did not start"
        );
        worker
    }

    /// Waits for a line containing `marker`; returns what follows it.
    async fn expect(&mut self, marker: &'static str) -> Option<String> {
        let lines = self.lines.take()?;
        let (found, lines) = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + PATIENCE;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
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
        self.lines = Some(lines);
        found
    }

    /// Lets the worker start its job.
    pub(crate) fn go(&mut self) {
        let mut stdin = self
            .child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("no stdin"));
        let _ = writeln!(stdin, "go");
    }

    /// Waits for the worker's result and its successful exit; `None` if it failed.
    pub(crate) async fn finish(mut self) -> Option<String> {
        let result = self.expect(DONE).await;
        let exited = tokio::task::spawn_blocking(move || {
            let mut worker = self;
            worker.child.wait()
        })
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|status| status.success());
        result.filter(|_| exited)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A worker left behind by a failed assertion must not outlive the test.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The sandbox's control plane: `method /__sandbox/<route>` with an optional JSON body.
pub(crate) async fn control(
    http: &reqwest::Client,
    sandbox_url: &str,
    method: reqwest::Method,
    route: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!("{}/__sandbox/{route}", sandbox_url.trim_end_matches('/'));
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
