//! The scenarios, run in order against one sandbox. [`Plan::full`] is the recorded run,
//! [`Plan::smoke`] the few-second version the test suite runs so none of this rots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::measure::ClientReport;
use crate::procs::{NodeSetup, Pinning, Programs, RunningClient, RunningServer};
use crate::results::{Micro, Results, ServerRun, StoreRun, Storm};
use crate::sandbox::{APPID, SECRET, SandboxServer};
use crate::tls::TlsRelay;
use crate::wechat_push::{Mode, bench_account};

/// How much of everything to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Calls in flight for the getUser comparison.
    pub levels: Vec<usize>,
    /// Calls in flight for the getUser comparison over HTTPS.
    pub https_levels: Vec<usize>,
    /// Length of each getUser run.
    pub getuser_duration: Duration,
    /// Users (openids) the getUser calls cycle over.
    pub getuser_users: usize,
    /// Openids in the refresh storm.
    pub storm_openids: usize,
    /// Calls launched at once in the refresh storm.
    pub storm_calls: usize,
    /// Concurrent callers for the store round trips.
    pub store_levels: Vec<usize>,
    /// Length of each store run.
    pub store_duration: Duration,
    /// Messages in flight for the message-interface rows.
    pub message_levels: Vec<usize>,
    /// Messages per measured message-interface run (after the warm-up).
    pub messages: usize,
    /// Warm-up messages before each measured run.
    pub message_warmup: usize,
    /// Length of the node decrypt loop.
    pub node_decrypt_duration: Duration,
    /// Pinning of the sandbox and clients.
    pub pinning: Pinning,
    /// Scratch directory (codes, openids, file and SQLite stores).
    pub scratch: PathBuf,
}

impl Plan {
    /// The recorded run (a few minutes).
    pub fn full(scratch: PathBuf) -> Self {
        Plan {
            levels: vec![1, 10, 50, 200, 1000],
            https_levels: vec![10, 200],
            getuser_duration: Duration::from_secs(4),
            getuser_users: 100,
            storm_openids: 1000,
            storm_calls: 10_000,
            store_levels: vec![1, 64],
            store_duration: Duration::from_secs(2),
            message_levels: vec![50],
            messages: 40_000,
            message_warmup: 5_000,
            node_decrypt_duration: Duration::from_secs(3),
            pinning: Pinning::Cores,
            scratch,
        }
    }

    /// Tiny counts: every scenario runs once, in seconds.
    pub fn smoke(scratch: PathBuf) -> Self {
        Plan {
            levels: vec![1, 10],
            https_levels: vec![10],
            getuser_duration: Duration::from_millis(200),
            getuser_users: 5,
            storm_openids: 10,
            storm_calls: 100,
            store_levels: vec![1, 4],
            store_duration: Duration::from_millis(100),
            message_levels: vec![4],
            messages: 200,
            message_warmup: 20,
            node_decrypt_duration: Duration::from_millis(100),
            pinning: Pinning::None,
            scratch,
        }
    }

    /// Every sandbox user the plan needs (the sandbox must know them to mint codes).
    pub fn users(&self) -> Vec<String> {
        let getuser = (0..self.getuser_users).map(|i| format!("u{i}"));
        getuser
            .chain((0..self.storm_openids).map(|i| format!("s{i}")))
            .collect()
    }
}

/// The databases behind the store benchmarks, from `WECHAT_TEST_*_URL`
/// (`scripts/services.sh` exports them) or the local defaults in BRIEF.md.
#[derive(Debug, Clone)]
pub struct StoreUrls {
    /// `(backend name, store URL)`, in report order.
    pub backends: Vec<(String, String)>,
}

impl StoreUrls {
    /// Every backend; the file and SQLite stores live under `scratch`.
    pub fn from_env(scratch: &Path) -> Self {
        let env =
            |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_owned());
        let backends = vec![
            ("memory".into(), "memory:".into()),
            (
                "file".into(),
                format!("file://{}", scratch.join("file-store").display()),
            ),
            (
                "SQLite".into(),
                format!(
                    "sqlite://{}?mode=rwc",
                    scratch.join("tokens.sqlite").display()
                ),
            ),
            (
                "MySQL (MariaDB)".into(),
                env("WECHAT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
            ),
            (
                "PostgreSQL".into(),
                env(
                    "WECHAT_TEST_POSTGRES_URL",
                    "postgres://postgres@127.0.0.1:5432/test",
                ),
            ),
            (
                "Redis".into(),
                env("WECHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
            ),
            (
                "MongoDB (jongodb)".into(),
                env("WECHAT_TEST_MONGODB_URL", "mongodb://127.0.0.1:27999/test"),
            ),
        ];
        StoreUrls { backends }
    }

    /// The URL of the backend named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.backends
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, url)| url.as_str())
    }
}

/// One suite run: the plan, the programs, the server.
#[derive(Debug)]
pub struct Suite<'a> {
    /// What to run.
    pub plan: &'a Plan,
    /// Which binaries.
    pub programs: &'a Programs,
    /// The one server.
    pub sandbox: &'a SandboxServer,
    /// Store URLs.
    pub stores: &'a StoreUrls,
}

const SLACK: Duration = Duration::from_secs(120);

/// The signed-in page: `WeChatUser` on the login middleware's router.
pub const SITE_LOGIN: &str = "WeChatUser";
/// The same page without the middleware.
pub const SITE_BARE: &str = "no middleware";

/// Our message interface (`wechat-oauth-message`'s axum router).
pub const OURS: &str = "ours";

/// The npm message middleware compared against.
pub const NPM_WECHAT: &str = "npm wechat 2.1.0";

impl Suite<'_> {
    fn client(&self, mode: &str) -> tokio::process::Command {
        let mut cmd = self
            .plan
            .pinning
            .command(Pinning::CLIENT_CORE, &self.programs.bench_client);
        cmd.arg(mode);
        cmd
    }

    fn common_args(cmd: &mut tokio::process::Command, base: &str) {
        cmd.args(["--base", base, "--appid", APPID, "--secret", SECRET]);
    }

    /// The arguments every seeding storm client takes (the Rust one and node's agree).
    fn storm_args(&self, cmd: &mut tokio::process::Command, codes: &Path, backdate: Duration) {
        Self::common_args(cmd, self.sandbox.url());
        cmd.arg("--codes").arg(codes);
        cmd.args(["--calls", &self.plan.storm_calls.to_string()]);
        cmd.args(["--backdate-secs", &backdate.as_secs().to_string()]);
    }

    async fn codes_file(&self, name: &str, users: &[String]) -> anyhow::Result<PathBuf> {
        let codes = self.sandbox.mint_codes(users).await?;
        let path = self.plan.scratch.join(format!("{name}.codes"));
        std::fs::write(&path, codes.join("\n"))?;
        Ok(path)
    }

    /// getUser, valid token, memory store: every client at every level, interleaved so
    /// drift in machine load touches all clients alike.
    pub async fn getuser(&self, results: &mut Results) -> anyhow::Result<()> {
        if self.programs.node.is_none() {
            results.not_run.push(
                "getUser with the npm library: node or wechat-oauth@1.5.0 unavailable".into(),
            );
        }
        results.getuser = self
            .getuser_runs("getUser", self.sandbox.url(), None, &self.plan.levels)
            .await?;
        Ok(())
    }

    /// The same getUser comparison over HTTPS: the sandbox behind a TLS-terminating relay
    /// (its own process, on the server core) with a self-signed certificate that the Rust
    /// clients trust through `SSL_CERT_FILE` and node through `NODE_EXTRA_CA_CERTS`.
    pub async fn getuser_https(&self, results: &mut Results) -> anyhow::Result<()> {
        let relay = TlsRelay::spawn(
            &self.programs.bench_client,
            self.plan.pinning,
            self.sandbox.url(),
            &self.plan.scratch.join("relay-cert.pem"),
        )
        .await?;
        results.https = self
            .getuser_runs(
                "getUser https",
                relay.url(),
                Some(relay.cert()),
                &self.plan.https_levels,
            )
            .await?;
        Ok(())
    }

    async fn getuser_runs(
        &self,
        what: &str,
        base: &str,
        trust: Option<&Path>,
        levels: &[usize],
    ) -> anyhow::Result<Vec<ClientReport>> {
        let users: Vec<String> = (0..self.plan.getuser_users)
            .map(|i| format!("u{i}"))
            .collect();
        let mut clients = vec!["ours", "hyper"];
        if self.programs.node.is_some() {
            clients.extend(["node-keepalive", "node-default"]);
        }
        let mut reports = Vec::new();
        for &level in levels {
            for &client in &clients {
                let codes = self.codes_file("getuser", &users).await?;
                let duration_ms = self.plan.getuser_duration.as_millis().to_string();
                let mut cmd = match (client, &self.programs.node) {
                    ("ours" | "hyper", _) => {
                        let mut cmd = self.client("getuser");
                        cmd.args(["--impl", client]);
                        if let Some(cert) = trust {
                            // Read by the platform verifier (rustls-platform-verifier) on Linux.
                            cmd.env("SSL_CERT_FILE", cert).env_remove("SSL_CERT_DIR");
                        }
                        cmd
                    }
                    (_, Some(node)) => {
                        let mut cmd = node.command(self.plan.pinning, "getuser");
                        if client == "node-keepalive" {
                            cmd.arg("--keepalive");
                        }
                        if let Some(cert) = trust {
                            cmd.env("NODE_EXTRA_CA_CERTS", cert);
                        }
                        cmd
                    }
                    (_, None) => unreachable!("node clients are only listed when node is set up"),
                };
                Self::common_args(&mut cmd, base);
                cmd.arg("--codes").arg(&codes);
                cmd.args([
                    "--concurrency",
                    &level.to_string(),
                    "--duration-ms",
                    &duration_ms,
                ]);
                let report = RunningClient::spawn(client, cmd)?
                    .report(self.plan.getuser_duration + SLACK)
                    .await?;
                eprintln!("{what} {client:>14} x{level:<5} {}", summary(&report));
                reports.push(report);
                self.sandbox.clear_journal().await?;
            }
        }
        Ok(reports)
    }

    /// Refresh storms: ours (one process, memory store), node, and ours in two processes
    /// sharing a Redis store and a PostgreSQL store.
    pub async fn storms(&self, results: &mut Results) -> anyhow::Result<()> {
        let users: Vec<String> = (0..self.plan.storm_openids)
            .map(|i| format!("s{i}"))
            .collect();
        let openids = self.plan.scratch.join("storm.openids");
        let backdate = Duration::from_secs(7300); // past WeChat's 7200 s access_token lifetime

        // One process, memory store.
        let codes = self.codes_file("storm", &users).await?;
        let mut cmd = self.client("storm");
        self.storm_args(&mut cmd, &codes, backdate);
        cmd.arg("--openids").arg(&openids);
        let storm = self
            .storm(
                "ours, memory store, 1 process",
                vec![RunningClient::spawn("ours storm", cmd)?],
                backdate,
            )
            .await?;
        results.storms.push(storm);

        match &self.programs.node {
            Some(node) => {
                let codes = self.codes_file("storm-node", &users).await?;
                let mut cmd = node.command(self.plan.pinning, "storm");
                self.storm_args(&mut cmd, &codes, backdate);
                let storm = self
                    .storm(
                        "npm wechat-oauth 1.5.0, memory store",
                        vec![RunningClient::spawn("node storm", cmd)?],
                        backdate,
                    )
                    .await?;
                results.storms.push(storm);
            }
            None => results
                .not_run
                .push("refresh storm with the npm library: node unavailable".into()),
        }

        for backend in ["Redis", "PostgreSQL"] {
            let Some(url) = self.stores.get(backend) else {
                continue;
            };
            match self
                .shared_storm(backend, url, &users, &openids, backdate)
                .await
            {
                Ok(storm) => results.storms.push(storm),
                Err(e) => results.not_run.push(format!(
                    "refresh storm over a shared {backend} store: {e:#}"
                )),
            }
        }
        Ok(())
    }

    async fn shared_storm(
        &self,
        backend: &str,
        url: &str,
        users: &[String],
        openids: &Path,
        backdate: Duration,
    ) -> anyhow::Result<Storm> {
        let codes = self.codes_file("storm-shared", users).await?;
        let mut seed = self.client("storm");
        Self::common_args(&mut seed, self.sandbox.url());
        seed.args([
            "--store",
            url,
            "--seed-only",
            "--backdate-secs",
            &backdate.as_secs().to_string(),
        ]);
        seed.arg("--codes")
            .arg(&codes)
            .arg("--openids")
            .arg(openids);
        RunningClient::spawn("seed", seed)?.report(SLACK).await?;
        let per_process = self.plan.storm_calls / 2;
        let mut processes = Vec::new();
        for i in 0..2 {
            let mut cmd = self.client("storm");
            Self::common_args(&mut cmd, self.sandbox.url());
            cmd.args(["--store", url, "--calls", &per_process.to_string()])
                .arg("--openids")
                .arg(openids);
            processes.push(RunningClient::spawn(&format!("{backend} storm {i}"), cmd)?);
        }
        self.storm(
            &format!("ours, shared {backend} store, 2 processes"),
            processes,
            backdate,
        )
        .await
    }

    /// Waits for every process to be seeded, expires the tokens on the sandbox's clock,
    /// releases them all at once and counts what reached the sandbox.
    async fn storm(
        &self,
        label: &str,
        mut processes: Vec<RunningClient>,
        backdate: Duration,
    ) -> anyhow::Result<Storm> {
        for p in &mut processes {
            p.wait_ready(SLACK).await?;
        }
        self.sandbox.advance_clock(backdate).await?;
        self.sandbox.clear_journal().await?;
        for p in &mut processes {
            p.go().await?;
        }
        let mut reports = Vec::new();
        for p in processes {
            reports.push(p.report(SLACK).await?);
        }
        let storm = Storm {
            label: label.to_owned(),
            processes: reports.len(),
            openids: self.plan.storm_openids,
            calls: reports.iter().map(|r| r.concurrency).sum(),
            refresh_requests: self
                .sandbox
                .count_requests("/sns/oauth2/refresh_token")
                .await?,
            userinfo_requests: self.sandbox.count_requests("/sns/userinfo").await?,
            reports,
        };
        self.sandbox.clear_journal().await?;
        eprintln!(
            "storm {label}: {} refreshes for {} openids, {} ok, {} errors, {:.2} s",
            storm.refresh_requests,
            storm.openids,
            storm.ok_calls(),
            storm.errors(),
            storm.seconds()
        );
        Ok(storm)
    }

    /// get + save per backend, through the store and through the raw driver.
    pub async fn stores(&self, results: &mut Results) -> anyhow::Result<()> {
        for (backend, url) in &self.stores.backends {
            for &level in &self.plan.store_levels {
                match self.store_run(backend, url, None, level).await {
                    Ok(run) => results.stores.push(run),
                    Err(e) => results
                        .not_run
                        .push(format!("store {backend} at {level}: {e:#}")),
                }
            }
        }
        Ok(())
    }

    /// The storage model's other kinds of state, per backend, through the store and
    /// through the raw driver.
    pub async fn state_stores(&self, results: &mut Results) -> anyhow::Result<()> {
        for (backend, url) in &self.stores.backends {
            if !STATE_BACKENDS.contains(&backend.as_str()) {
                continue;
            }
            for kind in STATE_KINDS {
                for &level in &self.plan.store_levels {
                    match self.store_run(backend, url, Some(kind), level).await {
                        Ok(run) => results.state_stores.push(run),
                        Err(e) => results
                            .not_run
                            .push(format!("{kind} on {backend} at {level}: {e:#}")),
                    }
                }
            }
        }
        Ok(())
    }

    /// One backend at one level: the store's round trip, then the raw driver's.
    async fn store_run(
        &self,
        backend: &str,
        url: &str,
        kind: Option<&str>,
        level: usize,
    ) -> anyhow::Result<StoreRun> {
        let mut run = StoreRun {
            backend: backend.to_owned(),
            kind: kind.unwrap_or_default().to_owned(),
            concurrency: level,
            ..StoreRun::default()
        };
        for implementation in ["store", "raw"] {
            let mut cmd = match kind {
                None => self.client("stores"),
                Some(kind) => {
                    let mut cmd = self.client("state");
                    cmd.args(["--kind", kind]);
                    cmd
                }
            };
            cmd.args([
                "--url",
                url,
                "--impl",
                implementation,
                "--concurrency",
                &level.to_string(),
                "--duration-ms",
                &self.plan.store_duration.as_millis().to_string(),
            ]);
            let report = RunningClient::spawn(implementation, cmd)?
                .report(self.plan.store_duration + SLACK)
                .await
                .inspect_err(|e| {
                    eprintln!(
                        "store {backend} {} x{level}: NOT RUN: {e:#}",
                        kind.unwrap_or("tokens")
                    );
                })?;
            if implementation == "store" {
                run.store = report;
            } else {
                run.raw = report;
            }
        }
        eprintln!(
            "store {backend:>18} {:<12} x{level:<3} store {} | raw {}",
            kind.unwrap_or("tokens"),
            summary(&run.store),
            summary(&run.raw)
        );
        Ok(run)
    }
}

/// The backends whose session, web-session, credential and claim round trips are measured
/// (names as in [`StoreUrls`]), each beside its raw driver.
pub const STATE_BACKENDS: [&str; 6] = [
    "memory",
    "SQLite",
    "MySQL (MariaDB)",
    "PostgreSQL",
    "Redis",
    "MongoDB (jongodb)",
];

/// The storage model's kinds of state besides user tokens, as `bench-client state --kind`.
pub const STATE_KINDS: [&str; 4] = ["mp-sessions", "web-sessions", "credentials", "claim-once"];

impl Suite<'_> {
    /// The message interface: each server (its own process, on the client core) answers
    /// pushed text messages, plain and encrypted, from the load generator (its own process,
    /// on the server core, where the idle sandbox is); the server's CPU is read from
    /// `/proc/<pid>/stat` around the measured window.
    pub async fn messages(&self, results: &mut Results) -> anyhow::Result<()> {
        let mut servers = vec![OURS];
        if self.programs.node.is_some() {
            servers.push(NPM_WECHAT);
        } else {
            results
                .not_run
                .push("message interface with the npm wechat middleware: node unavailable".into());
        }
        // Servers interleaved within each mode and load, so drift in machine load touches
        // them alike.
        for mode in [Mode::Plain, Mode::Encrypted] {
            for &level in &self.plan.message_levels {
                for &server in &servers {
                    let run = self.message_run(server, mode, level).await?;
                    eprintln!(
                        "messages {server:>18} {:<9} x{level:<4} {:>8.0}/s  server cpu {:>7.1} us/msg  errors {}",
                        mode.as_str(),
                        run.load.calls_per_sec(),
                        run.server_cpu_us_per_message(),
                        run.load.errors
                    );
                    results.messages.push(run);
                }
            }
        }
        Ok(())
    }

    /// The command that starts `server`, pinned to the client core.
    fn message_server(&self, server: &str, mode: Mode) -> anyhow::Result<tokio::process::Command> {
        match (server, &self.programs.node) {
            (OURS, _) => {
                let mut cmd = self.client("msg-server");
                cmd.args(["--mode", mode.as_str()]);
                Ok(cmd)
            }
            (NPM_WECHAT, Some(node)) => {
                let mut cmd = node.command(self.plan.pinning, "msg-server");
                cmd.args([
                    "--token",
                    bench_account::TOKEN,
                    "--aes-key",
                    bench_account::ENCODING_AES_KEY,
                    "--appid",
                    bench_account::APPID,
                ]);
                Ok(cmd)
            }
            _ => anyhow::bail!("no message server {server:?}"),
        }
    }

    /// One message row: a fresh server and the push load generator.
    async fn message_run(
        &self,
        server: &str,
        mode: Mode,
        level: usize,
    ) -> anyhow::Result<ServerRun> {
        let cmd = self.message_server(server, mode)?;
        self.server_run(server, mode.as_str(), cmd, |url| {
            let mut load = self.load_generator("push");
            load.args(["--url", url, "--mode", mode.as_str()]);
            load.args([
                "--messages",
                &self.plan.messages.to_string(),
                "--warmup",
                &self.plan.message_warmup.to_string(),
                "--concurrency",
                &level.to_string(),
            ]);
            load
        })
        .await
    }

    /// The login middleware's per-request cost: a signed-in page, and the same handler
    /// without the middleware, each its own site process.
    pub async fn sites(&self, results: &mut Results) -> anyhow::Result<()> {
        for &level in &self.plan.message_levels {
            for (site, implementation) in [(SITE_LOGIN, "login"), (SITE_BARE, "bare")] {
                let mut cmd = self.client("site");
                cmd.args(["--impl", implementation, "--sandbox", self.sandbox.url()]);
                let run = self
                    .server_run(site, "memory store", cmd, |url| {
                        let mut load = self.load_generator("browse");
                        load.args(["--site", url, "--sandbox", self.sandbox.url()]);
                        if implementation == "login" {
                            load.args(["--login-as", "u0"]);
                        }
                        load.args([
                            "--requests",
                            &self.plan.messages.to_string(),
                            "--warmup",
                            &self.plan.message_warmup.to_string(),
                            "--concurrency",
                            &level.to_string(),
                        ]);
                        load
                    })
                    .await?;
                eprintln!(
                    "site {site:>18} x{level:<4} {:>8.0}/s  server cpu {:>7.1} us/request  errors {}",
                    run.load.calls_per_sec(),
                    run.server_cpu_us_per_message(),
                    run.load.errors
                );
                results.sites.push(run);
            }
        }
        Ok(())
    }

    /// A `bench-client` load generator, pinned to the server core (the sandbox idles there
    /// while a server under test owns the client core).
    fn load_generator(&self, mode: &str) -> tokio::process::Command {
        let mut cmd = self
            .plan
            .pinning
            .command(Pinning::SERVER_CORE, &self.programs.bench_client);
        cmd.arg(mode);
        cmd
    }

    /// A fresh server process (so its peak RSS is this row's) and a load generator given its
    /// URL: the generator warms up, says `ready`; the server's CPU is read, the generator
    /// released, and the server's CPU read again when it reports.
    async fn server_run(
        &self,
        server: &str,
        scenario: &str,
        cmd: tokio::process::Command,
        load: impl FnOnce(&str) -> tokio::process::Command,
    ) -> anyhow::Result<ServerRun> {
        let running = RunningServer::spawn(server, cmd, Duration::from_secs(30)).await?;
        let mut generator = RunningClient::spawn("load generator", load(running.url()))?;
        generator.wait_ready(SLACK).await?;
        let before = running.cpu()?;
        generator.go().await?;
        let report = generator.report(SLACK).await?;
        let after = running.cpu()?;
        let peak = running.peak_rss_kib();
        running.stop().await;
        Ok(ServerRun {
            server: server.to_owned(),
            mode: scenario.to_owned(),
            load: report,
            server_cpu_s: after.since(before).total(),
            server_peak_rss_kib: peak,
        })
    }
}

impl Suite<'_> {
    /// The Mini Program decrypt + signature check in node's `crypto`, as a timed loop.
    pub async fn node_decrypt(&self, node: &NodeSetup) -> anyhow::Result<Micro> {
        let vector = self.plan.scratch.join("mp-vector.json");
        crate::micro::write_node_vector(&vector)?;
        let mut cmd = node.command(self.plan.pinning, "decrypt");
        cmd.arg("--vector").arg(&vector);
        cmd.args([
            "--duration-ms",
            &self.plan.node_decrypt_duration.as_millis().to_string(),
        ]);
        let r = RunningClient::spawn("node decrypt", cmd)?
            .report(self.plan.node_decrypt_duration + SLACK)
            .await?;
        anyhow::ensure!(r.calls > 0, "node decrypt loop ran no iteration");
        Ok(Micro {
            name: "the same decrypt + signature check in node 20 `crypto` (reference)".into(),
            ns_per_op: r.seconds * 1e9 / r.calls as f64,
            source: "node timed loop after warm-up, same run".into(),
        })
    }
}

fn summary(r: &ClientReport) -> String {
    format!(
        "{:>9.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  cpu {:>7.1} us/call  rss {:>6.1} MiB  errors {}",
        r.calls_per_sec(),
        r.p50_ms,
        r.p99_ms,
        r.cpu_us_per_call(),
        r.peak_rss_mib(),
        r.errors
    )
}

/// Facts about this machine, and the load average now.
pub fn machine(command: &str, sandbox: &str, pinning: Pinning) -> crate::results::Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let run = |prog: &str, arg: &str| {
        std::process::Command::new(prog)
            .arg(arg)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    crate::results::Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: run("uname", "-r"),
        node: run("node", "--version"),
        load_before: loadavg(),
        started_utc: run("date", "-u"),
        command: command.to_owned(),
        sandbox: sandbox.to_owned(),
        pinning: match pinning {
            Pinning::Cores => "sandbox on core 0, each client process on core 1 (`taskset -c`)".into(),
            Pinning::CoresRealtime => "sandbox on core 0 as a real-time FIFO task (`chrt -f 10`, so the other work \
                on this shared machine could not take the server's core mid-run), each client process on core 1 \
                (`taskset -c`) as an ordinary task"
                .into(),
            Pinning::None => "not pinned".into(),
        },
        ..Default::default()
    }
}

/// `/proc/loadavg`'s three load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs every scenario and returns what they measured.
pub async fn run_all(suite: &Suite<'_>, command: &str) -> anyhow::Result<Results> {
    let started = Instant::now();
    let mut results = Results {
        machine: machine(command, &suite.sandbox.description, suite.plan.pinning),
        ..Results::default()
    };
    std::fs::create_dir_all(&suite.plan.scratch).context("scratch directory")?;
    suite
        .getuser(&mut results)
        .await
        .context("getUser comparison")?;
    suite
        .getuser_https(&mut results)
        .await
        .context("getUser comparison over HTTPS")?;
    suite.storms(&mut results).await.context("refresh storm")?;
    suite
        .stores(&mut results)
        .await
        .context("store round trips")?;
    suite
        .state_stores(&mut results)
        .await
        .context("state store round trips")?;
    suite
        .messages(&mut results)
        .await
        .context("message interface")?;
    suite
        .sites(&mut results)
        .await
        .context("login middleware per request")?;
    results.machine.load_after = loadavg();
    results.machine.seconds = started.elapsed().as_secs_f64();
    Ok(results)
}
