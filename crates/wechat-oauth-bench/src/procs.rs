//! Spawning the processes under test: each pinned to its own core with `taskset`, each
//! printing one JSON report as its last stdout line.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::measure::ClientReport;

/// Which CPU core each side runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Sandbox on core 0, every client on core 1 (the recorded runs).
    Cores,
    /// As [`Cores`](Self::Cores), and the sandbox as a real-time task (`chrt -f 10`) so
    /// that other work on a shared machine cannot take the server's core mid-run (the
    /// kernel still keeps 5 % of it for everything else). Clients stay ordinary tasks:
    /// node's V8 helper threads, pinned to the client's one core, spin when run
    /// first-in-first-out, which inflated its CPU per call by ~70 % in a trial run.
    CoresRealtime,
    /// No pinning (the smoke test, which must run anywhere).
    None,
}

impl Pinning {
    /// A command for `program` pinned to `core` (when pinning).
    pub fn command(self, core: usize, program: impl AsRef<Path>) -> Command {
        let mut cmd = self.bare_command(core, program);
        // A failing client explains itself in one line, not a page of backtrace.
        cmd.env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0");
        cmd
    }

    fn bare_command(self, core: usize, program: impl AsRef<Path>) -> Command {
        match self {
            Pinning::CoresRealtime if core == Self::SERVER_CORE => {
                let mut cmd = Command::new("chrt");
                cmd.args(["-f", "10", "taskset", "-c", &core.to_string()])
                    .arg(program.as_ref());
                cmd
            }
            Pinning::Cores | Pinning::CoresRealtime => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(core.to_string()).arg(program.as_ref());
                cmd
            }
            Pinning::None => Command::new(program.as_ref()),
        }
    }

    /// The core the sandbox runs on.
    pub const SERVER_CORE: usize = 0;
    /// The core every client runs on.
    pub const CLIENT_CORE: usize = 1;
}

/// A running client: its stdout is read line by line, the last line being its report.
#[derive(Debug)]
pub struct RunningClient {
    name: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl RunningClient {
    /// Spawns `cmd` with piped stdin/stdout (stderr is inherited, so failures explain
    /// themselves on the console).
    pub fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("spawning {name}"))?;
        let stdout = child.stdout.take().context("client stdout")?;
        Ok(RunningClient {
            name: name.to_owned(),
            child,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// Waits for the client to print `ready` (the storm clients do, after seeding).
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .with_context(|| format!("{} not ready within {timeout:?}", self.name))??;
        anyhow::ensure!(
            line.as_deref() == Some("ready"),
            "{} said {line:?} instead of ready",
            self.name
        );
        Ok(())
    }

    /// Releases a client waiting in [`wait_ready`](Self::wait_ready).
    pub async fn go(&mut self) -> anyhow::Result<()> {
        let stdin = self.child.stdin.as_mut().context("client stdin")?;
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Waits for the client to exit and parses its report.
    pub async fn report(mut self, timeout: Duration) -> anyhow::Result<ClientReport> {
        let name = self.name.clone();
        let collect = async {
            let mut last = None;
            while let Some(line) = self.stdout.next_line().await? {
                last = Some(line);
            }
            let status = self.child.wait().await?;
            anyhow::ensure!(status.success(), "{name} exited with {status}");
            let last = last.with_context(|| format!("{name} printed nothing"))?;
            serde_json::from_str::<ClientReport>(&last)
                .with_context(|| format!("{name} printed {last:?}"))
        };
        tokio::time::timeout(timeout, collect)
            .await
            .with_context(|| format!("{name} did not finish within {timeout:?}"))?
    }
}

/// Where the harness finds its programs.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `bench-client` binary of this crate.
    pub bench_client: PathBuf,
    /// `node`, with `NODE_PATH` pointing at an install of `wechat-oauth@1.5.0` and
    /// `wechat@2.1.0`; `None`
    /// when node is unavailable (the node columns are then reported as not run).
    pub node: Option<NodeSetup>,
}

/// How to run the npm library.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// `node_modules` holding `wechat-oauth` and `wechat`.
    pub node_path: PathBuf,
    /// The driver script (`node/bench.js` in this crate).
    pub script: PathBuf,
}

impl NodeSetup {
    /// The npm packages the node side runs, at the versions compared against.
    pub const PACKAGES: [&str; 2] = ["wechat-oauth@1.5.0", "wechat@2.1.0"];

    /// Installs [`PACKAGES`](Self::PACKAGES) under `dir` (once; later calls reuse them).
    pub async fn install(dir: &Path) -> anyhow::Result<Self> {
        let node_path = dir.join("node_modules");
        let installed = |spec: &str| {
            let (name, version) = spec.split_once('@').unwrap_or((spec, ""));
            std::fs::read_to_string(node_path.join(name).join("package.json")).is_ok_and(|p| {
                serde_json::from_str::<serde_json::Value>(&p)
                    .is_ok_and(|p| p["version"].as_str() == Some(version))
            })
        };
        if !Self::PACKAGES.iter().all(|p| installed(p)) {
            std::fs::create_dir_all(dir)?;
            if !dir.join("package.json").exists() {
                std::fs::write(
                    dir.join("package.json"),
                    "{\"name\":\"bench-node\",\"private\":true}\n",
                )?;
            }
            let status = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .args(Self::PACKAGES)
                .current_dir(dir)
                .stdout(Stdio::null())
                .status()
                .await
                .context("running npm")?;
            anyhow::ensure!(
                status.success(),
                "npm install {} failed: {status}",
                Self::PACKAGES.join(" ")
            );
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/bench.js");
        Ok(NodeSetup { node_path, script })
    }

    /// `node bench.js <mode>`, pinned.
    pub fn command(&self, pin: Pinning, mode: &str) -> Command {
        let mut cmd = pin.command(Pinning::CLIENT_CORE, "node");
        cmd.env("NODE_PATH", &self.node_path)
            .arg(&self.script)
            .arg(mode);
        cmd
    }
}

/// A server under test (a message-interface server): started pinned, its address read
/// from its first stdout line (`listening on URL`), its CPU and peak RSS read from
/// `/proc/<pid>` by the harness, so servers in any language are measured alike.
#[derive(Debug)]
pub struct RunningServer {
    name: String,
    url: String,
    pid: u32,
    child: Child,
}

impl RunningServer {
    /// Spawns `cmd` and waits (up to `timeout`) for its `listening on URL` line.
    pub async fn spawn(name: &str, mut cmd: Command, timeout: Duration) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("spawning {name}"))?;
        let pid = child.id().with_context(|| format!("{name} has no pid"))?;
        let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
        let first = tokio::time::timeout(timeout, lines.next_line())
            .await
            .with_context(|| format!("{name} did not start within {timeout:?}"))??
            .with_context(|| format!("{name} exited before listening"))?;
        let url = first
            .strip_prefix("listening on ")
            .with_context(|| format!("{name} said {first:?} instead of `listening on URL`"))?
            .to_owned();
        // Keep draining stdout so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(RunningServer {
            name: name.to_owned(),
            url,
            pid,
            child,
        })
    }

    /// The URL it serves.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its CPU time so far (all threads).
    pub fn cpu(&self) -> anyhow::Result<crate::measure::CpuTime> {
        crate::measure::CpuTime::of_pid(self.pid)
            .with_context(|| format!("reading the CPU time of {}", self.name))
    }

    /// Its peak RSS so far, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        crate::measure::peak_rss_kib_of(self.pid)
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
