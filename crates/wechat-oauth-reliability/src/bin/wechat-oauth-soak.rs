//! `wechat-oauth-soak`: the bounded soak run (docs/RELIABILITY.md §6).
//!
//! ```text
//! wechat-oauth-soak [--minutes N | --seconds N] [--warmup-seconds N] [--storm-every-seconds N]
//! wechat-oauth-soak sandbox [wechat-sandbox flags]   # the sandbox child it starts itself
//! ```
//!
//! Prints a summary and a `SOAK {json}` line; exits 0 only when the run had 0 errors, 0
//! lost tokens, RSS at the end within 10 % of RSS after the warm-up and at most one
//! refresh per user and storm; 1 when a criterion failed; 2 when the run could not be set up.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
#[cfg(feature = "jemalloc")]
use wechat_oauth_reliability::soak::HeapProbe;
use wechat_oauth_reliability::soak::{SoakConfig, render, run};

// jemalloc by default (feature `jemalloc`): with glibc malloc the process keeps memory its
// tokio worker threads freed, and RSS creeps up while the live heap stays flat
// (docs/RELIABILITY.md §6). `--no-default-features` runs on glibc malloc to compare.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The live heap: bytes the program holds allocated.
#[cfg(feature = "jemalloc")]
const HEAP: HeapProbe = HeapProbe {
    allocator: "jemalloc",
    allocated_bytes: || {
        // The statistics are refreshed when the epoch advances.
        tikv_jemalloc_ctl::epoch::advance().ok()?;
        tikv_jemalloc_ctl::stats::allocated::read()
            .ok()
            .map(|b| b as u64)
    },
};

/// The longest run accepted, so that a typo cannot leave it running for days.
const MAX_MINUTES: u64 = 120;

#[derive(Debug, Parser)]
#[command(
    name = "wechat-oauth-soak",
    about = "Soak run of the wechat-oauth middleware, SDK and Redis store against the sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run time in minutes (default 10).
    #[arg(long, conflicts_with = "seconds")]
    minutes: Option<u64>,
    /// Run time in seconds.
    #[arg(long)]
    seconds: Option<u64>,
    /// Warm-up before the first RSS sample (default: a sixth of the run, 5 s to 120 s).
    #[arg(long)]
    warmup_seconds: Option<u64>,
    /// Seconds between clock jumps (default 15; 5 for runs under two minutes).
    #[arg(long)]
    storm_every_seconds: Option<u64>,
    /// Milliseconds each login loop pauses after a login (default 0: as fast as it goes).
    #[arg(long, default_value_t = 0)]
    login_pause_ms: u64,
    /// Concurrent login loops (default 4; 0 for none, to isolate the other work).
    #[arg(long, default_value_t = 4)]
    login_loops: usize,
    /// Concurrent `get_user` loops (default 4; 0 for none).
    #[arg(long, default_value_t = 4)]
    get_loops: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sandbox (what the soak starts as its child process).
    Sandbox(wechat_sandbox::cli::SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Sandbox(args)) = &cli.command {
        let result = args.runtime().map_err(|e| e.to_string()).and_then(|rt| {
            rt.block_on(wechat_sandbox::cli::serve(args))
                .map_err(|e| e.to_string())
        });
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wechat-oauth-soak sandbox: {e}");
                ExitCode::from(2)
            }
        };
    }
    let seconds = match (cli.minutes, cli.seconds) {
        (Some(m), _) => m.saturating_mul(60),
        (None, Some(s)) => s,
        (None, None) => 600,
    };
    if seconds == 0 || seconds > MAX_MINUTES * 60 {
        eprintln!("wechat-oauth-soak: the run must last 1 s to {MAX_MINUTES} minutes");
        return ExitCode::from(2);
    }
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wechat-oauth-soak: cannot find its own executable: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = SoakConfig::new(Duration::from_secs(seconds), program);
    // glibc's counters are read through FFI, which this workspace forbids (`unsafe_code`);
    // on glibc the report has RSS only.
    #[cfg(feature = "jemalloc")]
    {
        config.heap = Some(HEAP);
    }
    if let Some(w) = cli.warmup_seconds {
        config.warmup = Duration::from_secs(w);
    }
    config.login_pause = Duration::from_millis(cli.login_pause_ms);
    config.login_loops = cli.login_loops;
    config.get_loops = cli.get_loops;
    if let Some(s) = cli.storm_every_seconds {
        config.storm_every = Duration::from_secs(s.max(1));
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wechat-oauth-soak: {e}");
            return ExitCode::from(2);
        }
    };
    // On Ctrl-C or SIGTERM the run is dropped, which stops its Redis and sandbox.
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = run(&config) => Some(outcome),
            () = wechat_sandbox::cli::shutdown_signal() => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!("wechat-oauth-soak: interrupted");
        return ExitCode::from(2);
    };
    match outcome {
        Ok(report) => {
            print!("{}", render(&report));
            let failures = report.failures();
            if failures.is_empty() {
                println!("soak: PASS");
                ExitCode::SUCCESS
            } else {
                for f in failures {
                    println!("soak: FAIL: {f}");
                }
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("wechat-oauth-soak: {e}");
            ExitCode::from(2)
        }
    }
}
