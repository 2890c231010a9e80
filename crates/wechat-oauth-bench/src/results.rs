//! Everything one suite run measured, kept as JSON (`target/bench-results.json`) and
//! rendered into `BENCHMARKS.md` and the chart.

use serde::{Deserialize, Serialize};

use crate::measure::ClientReport;

/// One suite run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// Where and how it ran.
    pub machine: Machine,
    /// getUser runs: one report per (client, calls in flight).
    pub getuser: Vec<ClientReport>,
    /// The same over HTTPS (the sandbox behind a TLS relay on loopback).
    #[serde(default)]
    pub https: Vec<ClientReport>,
    /// Refresh storms.
    pub storms: Vec<Storm>,
    /// Token store round trips.
    pub stores: Vec<StoreRun>,
    /// Round trips of the storage model's other kinds of state (issue 11).
    #[serde(default)]
    pub state_stores: Vec<StoreRun>,
    /// Message-interface servers under a load of pushed messages.
    #[serde(default)]
    pub messages: Vec<ServerRun>,
    /// The login middleware's per-request cost: the same page with and without it.
    #[serde(default)]
    pub sites: Vec<ServerRun>,
    /// Micro benchmarks.
    pub micro: Vec<Micro>,
    /// Scenarios that could not run, with the reason.
    pub not_run: Vec<String>,
}

/// The machine and conditions of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Online cores.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// `node --version`.
    pub node: String,
    /// `/proc/loadavg` when the run started.
    pub load_before: String,
    /// `/proc/loadavg` when it ended.
    pub load_after: String,
    /// UTC start time.
    pub started_utc: String,
    /// Wall-clock seconds the whole run took.
    pub seconds: f64,
    /// The command that produced it.
    pub command: String,
    /// How the sandbox was started.
    pub sandbox: String,
    /// How clients were pinned.
    pub pinning: String,
}

/// One refresh storm.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Storm {
    /// `ours, memory store`, `node`, `ours, Redis, 2 processes`, ...
    pub label: String,
    /// Client processes sharing the store.
    pub processes: usize,
    /// Distinct openids, all expired.
    pub openids: usize,
    /// `get_user` calls launched at once, over all processes.
    pub calls: usize,
    /// `/sns/oauth2/refresh_token` requests the sandbox saw.
    pub refresh_requests: usize,
    /// `/sns/userinfo` requests the sandbox saw.
    pub userinfo_requests: usize,
    /// Each process's own report.
    pub reports: Vec<ClientReport>,
}

impl Storm {
    /// Successful calls over all processes.
    pub fn ok_calls(&self) -> u64 {
        self.reports.iter().map(|r| r.calls).sum()
    }

    /// Failed calls over all processes.
    pub fn errors(&self) -> u64 {
        self.reports.iter().map(|r| r.errors).sum()
    }

    /// Wall time of the slowest process.
    pub fn seconds(&self) -> f64 {
        self.reports.iter().map(|r| r.seconds).fold(0.0, f64::max)
    }
}

/// One backend at one concurrency: through its `TokenStore` and through the raw driver.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoreRun {
    /// `memory`, `file`, `SQLite`, ...
    pub backend: String,
    /// The kind of state: empty for user tokens, else `mp-sessions`, `web-sessions`,
    /// `credentials` or `claim-once`.
    #[serde(default)]
    pub kind: String,
    /// Concurrent callers.
    pub concurrency: usize,
    /// get + save through the store.
    pub store: ClientReport,
    /// The same round trip through the driver.
    pub raw: ClientReport,
}

/// One micro benchmark.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Micro {
    /// What it does.
    pub name: String,
    /// Mean nanoseconds per operation.
    pub ns_per_op: f64,
    /// Where the figure comes from (criterion, node loop).
    pub source: String,
}

/// One server under test (a message-interface server, a site), one scenario, one load: the
/// load generator's report (its calls are the requests answered and checked) and the
/// server's own CPU over the measured window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerRun {
    /// `ours`, `npm wechat 2.1.0`, `WeChatUser`, `no middleware`.
    pub server: String,
    /// The scenario: `plain` or `encrypted` for messages, `memory store` for sites.
    pub mode: String,
    /// The load generator's report (messages answered, latencies, errors).
    pub load: ClientReport,
    /// Server CPU seconds (user + system, all threads) over the measured window.
    pub server_cpu_s: f64,
    /// The server's peak RSS over its life, KiB.
    pub server_peak_rss_kib: u64,
}

impl ServerRun {
    /// Server CPU microseconds per message (request) answered.
    pub fn server_cpu_us_per_message(&self) -> f64 {
        if self.load.calls > 0 {
            self.server_cpu_s * 1e6 / self.load.calls as f64
        } else {
            0.0
        }
    }
}
