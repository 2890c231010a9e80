//! The server every client talks to: one `wechat-sandbox`, started once per suite, and
//! its HTTP control plane (`/__sandbox/...`) for minting codes, moving its clock and
//! reading its request journal.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::procs::Pinning;

/// The Official Account app every scenario uses.
pub const APPID: &str = wechat_sandbox::defaults::OFFICIAL_APPID;
/// Its secret.
pub const SECRET: &str = wechat_sandbox::defaults::OFFICIAL_SECRET;

/// Journal entries kept: the largest storm (10,000 calls by node: 10,000 refreshes plus
/// 10,000 userinfo requests) must fit, or the oldest entries, the refreshes, would be lost.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// A running sandbox, in its own process or (for the smoke test) in this one.
#[derive(Debug)]
pub struct SandboxServer {
    url: String,
    http: reqwest::Client,
    running: Running,
    /// How the server was started, for the report.
    pub description: String,
}

#[derive(Debug)]
enum Running {
    Process(Child),
    // Held only to keep the server alive: dropping the last handle stops it.
    InProcess {
        _server: Box<wechat_sandbox::Sandbox>,
    },
}

impl SandboxServer {
    /// Starts the `wechat-sandbox` binary on 127.0.0.1, pinned to the server core, with a
    /// single-threaded runtime when the binary offers `--threads`, and `users` extra users.
    pub async fn spawn(binary: &Path, pin: Pinning, users: &[String]) -> anyhow::Result<Self> {
        let help = tokio::process::Command::new(binary)
            .arg("--help")
            .output()
            .await?;
        let threads_flag = String::from_utf8_lossy(&help.stdout).contains("--threads");
        let mut cmd = pin.command(Pinning::SERVER_CORE, binary);
        cmd.args(["--listen", "127.0.0.1:0"]);
        if threads_flag {
            cmd.args(["--threads", "1"]);
        }
        cmd.args(["--journal-capacity", &JOURNAL_CAPACITY.to_string()]);
        for user in users {
            cmd.arg("--user").arg(user);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("sandbox stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("sandbox did not start within 30 s")??
            .context("sandbox exited before listening")?;
        let url = first
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected first line {first:?}"))?;
        // Keep draining stdout so a chatty sandbox never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let description = format!(
            "`{}` binary{}{}",
            binary
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            match pin {
                Pinning::Cores => ", pinned to core 0",
                Pinning::CoresRealtime => ", pinned to core 0, real-time (`chrt -f 10`)",
                Pinning::None => "",
            },
            if threads_flag {
                ", `--threads 1`"
            } else {
                ", default runtime (no `--threads` flag)"
            }
        );
        Ok(Self::new(
            url.trim_end_matches('/').to_owned(),
            Running::Process(child),
            description,
        ))
    }

    /// Starts the sandbox inside this process (smoke test: no pinning, no separate binary).
    pub async fn in_process(users: &[String]) -> anyhow::Result<Self> {
        let mut builder = wechat_sandbox::Sandbox::builder();
        for user in wechat_sandbox::defaults::USERS
            .iter()
            .copied()
            .chain(users.iter().map(String::as_str))
        {
            builder = builder.user(user);
        }
        let sandbox = builder.journal_capacity(JOURNAL_CAPACITY).start().await?;
        Ok(Self::new(
            sandbox.url().to_owned(),
            Running::InProcess {
                _server: Box::new(sandbox),
            },
            "in-process sandbox".into(),
        ))
    }

    fn new(url: String, running: Running, description: String) -> Self {
        SandboxServer {
            url,
            http: reqwest::Client::new(),
            running,
            description,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sandbox process id, when it runs in its own process.
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => child.id(),
            Running::InProcess { .. } => None,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "POST {path}: HTTP {status}: {text}");
        Ok(if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// One authorization code per user, as if each approved `snsapi_userinfo`.
    pub async fn mint_codes(&self, users: &[String]) -> anyhow::Result<Vec<String>> {
        let mut codes = Vec::with_capacity(users.len());
        for user in users {
            let minted = self
                .post(
                    "/__sandbox/codes",
                    json!({ "appid": APPID, "user": user, "scope": "snsapi_userinfo" }),
                )
                .await?;
            let code = minted["code"]
                .as_str()
                .with_context(|| format!("no code in {minted}"))?;
            codes.push(code.to_owned());
        }
        Ok(codes)
    }

    /// Moves the sandbox's clock forward.
    pub async fn advance_clock(&self, by: Duration) -> anyhow::Result<()> {
        self.post(
            "/__sandbox/clock/advance",
            json!({ "seconds": by.as_secs() }),
        )
        .await
        .map(drop)
    }

    /// Forgets the journal (between runs, so it neither grows without bound nor mixes runs).
    pub async fn clear_journal(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .delete(format!("{}/__sandbox/journal", self.url))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "DELETE /__sandbox/journal: HTTP {}",
            response.status()
        );
        Ok(())
    }

    /// How many journaled requests hit `path` since the last clear.
    pub async fn count_requests(&self, path: &str) -> anyhow::Result<usize> {
        let journal: serde_json::Value = self
            .http
            .get(format!("{}/__sandbox/journal", self.url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let entries = journal
            .as_array()
            .or_else(|| journal["entries"].as_array())
            .context("journal is not a list")?;
        Ok(entries.iter().filter(|e| e["path"] == path).count())
    }
}
