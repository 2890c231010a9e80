//! What every client process reports about itself, and how it is measured.
//!
//! CPU and peak RSS come from the client's own kernel accounting: `/proc/self/stat`
//! (utime + stime, all threads, including ones that have exited) and `VmHWM` in
//! `/proc/self/status` (the same high-water mark `getrusage(RUSAGE_SELF).ru_maxrss`
//! reports). The node driver reports the same fields from `process.cpuUsage()` and
//! `process.resourceUsage().maxRSS`, so both sides are measured by the kernel alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Kernel clock ticks per second for `/proc/<pid>/stat` (USER_HZ, fixed at 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU time a process has used so far (user + system, all threads).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    /// Seconds in user mode.
    pub user: f64,
    /// Seconds in the kernel on the process's behalf.
    pub system: f64,
}

impl CpuTime {
    /// Reads this process's CPU time from `/proc/self/stat`.
    pub fn of_self() -> std::io::Result<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        parse_stat_cpu(&stat)
            .ok_or_else(|| std::io::Error::other("unexpected /proc/self/stat format"))
    }

    /// Reads another process's CPU time from `/proc/<pid>/stat` (the harness measures the
    /// message servers it started this way, whatever they are written in).
    pub fn of_pid(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        parse_stat_cpu(&stat)
            .ok_or_else(|| std::io::Error::other("unexpected /proc/<pid>/stat format"))
    }

    /// CPU used between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    /// User + system seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

/// Fields 14 and 15 (utime, stime) of `/proc/<pid>/stat`; the command name in field 2
/// may contain spaces and parentheses, so counting starts after its closing `)`.
fn parse_stat_cpu(stat: &str) -> Option<CpuTime> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11); // field 3 is the first here
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user: utime / USER_HZ,
        system: stime / USER_HZ,
    })
}

/// This process's peak resident set size in KiB (`VmHWM`), or 0 if unreadable.
pub fn peak_rss_kib() -> u64 {
    peak_rss_kib_at("/proc/self/status")
}

/// Another process's peak resident set size in KiB (`VmHWM`), or 0 if unreadable.
pub fn peak_rss_kib_of(pid: u32) -> u64 {
    peak_rss_kib_at(&format!("/proc/{pid}/status"))
}

fn peak_rss_kib_at(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// Per-call latencies of one run, in nanoseconds (an in-memory store round trip is well
/// under a microsecond).
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// An empty set with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Latencies(Vec::with_capacity(n))
    }

    /// Records one call.
    pub fn record(&mut self, d: Duration) {
        self.0.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds another set's samples.
    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The `p`-quantile (0.0..=1.0) in milliseconds; 0 when empty.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let idx = ((self.0.len() as f64 * p) as usize).min(self.0.len() - 1);
        self.0[idx] as f64 / 1e6
    }
}

/// One client run, as printed (JSON, last stdout line) by `bench-client` and by
/// `node/bench.js`; the harness reads it back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientReport {
    /// Which client: `ours`, `hyper`, `node-default`, `node-keepalive`, `raw`, ...
    pub client: String,
    /// Calls kept in flight (or launched at once, for the refresh storm).
    pub concurrency: usize,
    /// Wall-clock seconds of the measured window.
    pub seconds: f64,
    /// Calls that succeeded.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// The first error's description, if any (never contains a secret: clients print
    /// the SDK's redacted `Display`).
    #[serde(default)]
    pub first_error: Option<String>,
    /// User CPU seconds in the window.
    pub cpu_user_s: f64,
    /// System CPU seconds in the window.
    pub cpu_sys_s: f64,
    /// Peak RSS of the client process over its whole life, KiB.
    pub peak_rss_kib: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

impl ClientReport {
    /// Successful calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.calls as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Client CPU microseconds per successful call.
    pub fn cpu_us_per_call(&self) -> f64 {
        if self.calls > 0 {
            (self.cpu_user_s + self.cpu_sys_s) * 1e6 / self.calls as f64
        } else {
            0.0
        }
    }

    /// Peak RSS in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_fields_are_found_after_a_command_name_with_spaces() {
        let stat = "1234 (bench (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(
            parse_stat_cpu(stat),
            Some(CpuTime {
                user: 2.5,
                system: 0.75
            })
        );
    }

    #[test]
    fn percentiles_pick_the_sample_at_the_rank() {
        let mut l = Latencies::default();
        for us in 1..=100 {
            l.record(Duration::from_micros(us * 1000));
        }
        assert_eq!(l.percentile_ms(0.5), 51.0);
        assert_eq!(l.percentile_ms(0.99), 100.0);
    }
}
