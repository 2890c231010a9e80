//! `wechat-oauth-bench`: runs the benchmark suite and writes `BENCHMARKS.md`.
//!
//! ```sh
//! cargo run -p wechat-oauth-bench --release -- all     # everything, rewrites BENCHMARKS.md + docs/bench-getuser.png
//! cargo run -p wechat-oauth-bench --release -- render  # re-render from target/bench-results.json
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wechat_oauth_bench::procs::{NodeSetup, Pinning, Programs};
use wechat_oauth_bench::results::{Micro, Results};
use wechat_oauth_bench::sandbox::SandboxServer;
use wechat_oauth_bench::suite::{Plan, StoreUrls, Suite, run_all};
use wechat_oauth_bench::{chart, micro, report};

#[derive(Debug, Parser)]
#[command(
    about = "wechat-oauth benchmarks beside the npm wechat-oauth 1.5.0, against one wechat-sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every scenario, then rewrite BENCHMARKS.md's results and the chart.
    All {
        /// Skip the criterion micro benchmarks (they run `cargo bench`).
        #[arg(long)]
        no_micro: bool,
        /// Run the sandbox as a real-time task (`chrt -f 10`): for a machine that is
        /// busy with other work.
        #[arg(long)]
        realtime: bool,
        /// The smoke test's tiny counts, for trying the harness out; writes
        /// `target/bench-quick/BENCHMARKS.md` and leaves BENCHMARKS.md alone.
        #[arg(long)]
        quick: bool,
    },
    /// Re-render BENCHMARKS.md and the chart from target/bench-results.json.
    Render,
    /// Run the criterion micro benchmarks in this process (`all` runs this pinned).
    Micro,
}

const COMMAND: &str = "cargo run -p wechat-oauth-bench --release -- all";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

fn cargo() -> std::process::Command {
    let mut cmd =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let results_path = target_dir().join("bench-results.json");
    match cli.command {
        Command::Micro => {
            let mut c = criterion::Criterion::default()
                .warm_up_time(std::time::Duration::from_secs(1))
                .measurement_time(std::time::Duration::from_secs(3))
                .output_directory(&target_dir().join("criterion"));
            micro::benches(&mut c);
            c.final_summary();
            Ok(())
        }
        Command::Render => {
            let results =
                serde_json::from_slice(&std::fs::read(&results_path).context("no previous run")?)?;
            write_outputs(&results, &workspace_root())
        }
        Command::All {
            no_micro,
            quick,
            realtime,
        } => {
            let pinning = if realtime {
                Pinning::CoresRealtime
            } else {
                Pinning::Cores
            };
            let results = run(no_micro || quick, quick, pinning).await?;
            if quick {
                return write_outputs(&results, &target_dir().join("bench-quick"));
            }
            std::fs::write(&results_path, serde_json::to_vec_pretty(&results)?)?;
            write_outputs(&results, &workspace_root())
        }
    }
}

async fn run(no_micro: bool, quick: bool, pinning: Pinning) -> anyhow::Result<Results> {
    raise_open_file_limit();
    // Both sides' binaries, in this binary's profile (release for recorded runs), built
    // before anything is timed.
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let status = cargo()
        .args([
            "build",
            "--profile",
            profile,
            "-p",
            "wechat-sandbox",
            "-p",
            "wechat-oauth-bench",
            "--bins",
        ])
        .status()?;
    anyhow::ensure!(status.success(), "cargo build failed");
    let release = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .to_path_buf();
    let node = match NodeSetup::install(&target_dir().join("bench-node")).await {
        Ok(node) => Some(node),
        Err(e) => {
            eprintln!("WARNING: the npm library will not be measured: {e:#}");
            None
        }
    };
    let programs = Programs {
        bench_client: release.join("bench-client"),
        node,
    };
    let scratch = target_dir().join("bench-scratch");
    let plan = if quick {
        Plan::smoke(scratch.clone())
    } else {
        Plan::full(scratch.clone())
    };
    let plan = Plan { pinning, ..plan };
    let stores = StoreUrls::from_env(&scratch);
    let sandbox =
        SandboxServer::spawn(&release.join("wechat-sandbox"), plan.pinning, &plan.users()).await?;
    let suite = Suite {
        plan: &plan,
        programs: &programs,
        sandbox: &sandbox,
        stores: &stores,
    };
    let command = format!(
        "{COMMAND}{}{}{}",
        if quick { " --quick" } else { "" },
        if pinning == Pinning::CoresRealtime {
            " --realtime"
        } else {
            ""
        },
        if no_micro && !quick {
            " --no-micro"
        } else {
            ""
        }
    );
    let mut results = run_all(&suite, &command).await?;
    if !no_micro {
        let started = std::time::Instant::now();
        match criterion_micro(pinning) {
            Ok(micro) => results.micro.extend(micro),
            Err(e) => results
                .not_run
                .push(format!("criterion micro benchmarks: {e:#}")),
        }
        if let Some(node) = &programs.node {
            results.micro.push(suite.node_decrypt(node).await?);
        }
        results.machine.seconds += started.elapsed().as_secs_f64();
        results.machine.load_after = wechat_oauth_bench::suite::loadavg();
    }
    Ok(results)
}

/// The criterion micro benchmarks in a child of this binary pinned to the client core,
/// then criterion's mean estimates.
fn criterion_micro(pinning: Pinning) -> anyhow::Result<Vec<Micro>> {
    let mut cmd = pinning
        .command(Pinning::CLIENT_CORE, std::env::current_exe()?)
        .into_std();
    let status = cmd.arg("micro").stdout(Stdio::inherit()).status()?;
    anyhow::ensure!(status.success(), "micro benchmarks failed");
    micro::BENCHES
        .iter()
        .map(|(id, name)| {
            let path = target_dir()
                .join("criterion")
                .join(id)
                .join("new/estimates.json");
            let estimates: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&path).with_context(|| format!("{}", path.display()))?,
            )?;
            let ns = estimates["mean"]["point_estimate"]
                .as_f64()
                .context("no mean estimate")?;
            Ok(Micro {
                name: (*name).into(),
                ns_per_op: ns,
                source: "criterion mean, Rust, client core".into(),
            })
        })
        .collect()
}

/// Ten thousand sockets in flight (storm, 1,000-deep getUser) need more than a default
/// descriptor limit of 1024: raise the soft limit to the hard one; children inherit it.
fn raise_open_file_limit() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let Some((soft, hard)) = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| {
            let mut numbers = l["Max open files".len()..].split_whitespace();
            Some((numbers.next()?.to_owned(), numbers.next()?.to_owned()))
        })
    else {
        return;
    };
    if soft == hard {
        return;
    }
    let ok = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={hard}:{hard}"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "WARNING: could not raise the open-file limit from {soft}; the largest runs may fail with EMFILE"
        );
    }
}

/// Writes `BENCHMARKS.md` and the chart under `root`.
fn write_outputs(results: &Results, root: &Path) -> anyhow::Result<()> {
    let chart_rel = "docs/bench-getuser.png";
    std::fs::create_dir_all(root.join("docs"))?;
    let chart = match chart::draw(results, &root.join(chart_rel)) {
        Ok(()) => Some(chart_rel),
        Err(e) => {
            eprintln!("WARNING: chart not drawn: {e:#}");
            None
        }
    };
    report::write_section(&root.join("BENCHMARKS.md"), &report::render(results, chart))?;
    for t in report::targets(results) {
        eprintln!(
            "{:<10} {} — {}",
            t.met.map_or("n/a", |m| if m { "met" } else { "MISSED" }),
            t.bar,
            t.measured
        );
    }
    Ok(())
}
