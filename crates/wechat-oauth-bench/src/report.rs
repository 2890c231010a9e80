//! `BENCHMARKS.md`: the generated section between `<!-- bench:begin -->` and
//! `<!-- bench:end -->` (the rest of the file, e.g. the sandbox throughput section, is
//! left as it is), and the targets the results are judged against.

use std::fmt::Write as _;
use std::path::Path;

use crate::measure::ClientReport;
use crate::results::Results;

/// Start of the generated section.
pub const BEGIN: &str = "<!-- bench:begin -->";
/// End of the generated section.
pub const END: &str = "<!-- bench:end -->";

/// One bar from issue 7 and whether this run clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The bar, in words.
    pub bar: String,
    /// What was measured.
    pub measured: String,
    /// `None` when the inputs were not measured.
    pub met: Option<bool>,
}

fn find<'a>(r: &'a Results, client: &str, level: usize) -> Option<&'a ClientReport> {
    r.getuser
        .iter()
        .find(|c| c.client == client && c.concurrency == level)
}

/// The calls-in-flight level the targets are read at.
pub const TARGET_LEVEL: usize = 200;

/// Judges `results` against the targets of issue 7.
pub fn targets(r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    let level = TARGET_LEVEL;
    let ours = find(r, "ours", level);
    let node = find(r, "node-keepalive", level);
    let hyper = find(r, "hyper", level);
    let ratio = |bar: &str, measured: Option<(f64, f64)>, unit: &str, ok: &dyn Fn(f64) -> bool| {
        match measured {
            Some((a, b)) if b > 0.0 => {
                let x = a / b;
                Target {
                    bar: bar.into(),
                    measured: format!("{a:.1} vs {b:.1} {unit}: {x:.3}×"),
                    met: Some(ok(x)),
                }
            }
            _ => Target {
                bar: bar.into(),
                measured: "not measured".into(),
                met: None,
            },
        }
    };
    out.push(ratio(
        &format!("client CPU per get_user ≤ 1/10 of npm (keep-alive), {level} in flight"),
        ours.zip(node)
            .map(|(o, n)| (o.cpu_us_per_call(), n.cpu_us_per_call())),
        "µs/call",
        &|x| x <= 0.1,
    ));
    // Context for the bar above: what no HTTP/1.1 client can go below on this machine.
    let mut floor = ratio(
        &format!(
            "reference, not a bar: the bare hyper GET's CPU per call ÷ npm's, {level} in flight \
             (the floor; one writev + one recvfrom per call)"
        ),
        hyper
            .zip(node)
            .map(|(h, n)| (h.cpu_us_per_call(), n.cpu_us_per_call())),
        "µs/call",
        &|_| true,
    );
    floor.met = None;
    out.push(floor);
    out.push(ratio(
        &format!("client CPU per get_user ≤ 1.5× bare hyper GET, {level} in flight"),
        ours.zip(hyper)
            .map(|(o, h)| (o.cpu_us_per_call(), h.cpu_us_per_call())),
        "µs/call",
        &|x| x <= 1.5,
    ));
    out.push(ratio(
        &format!("get_user calls/s ≥ 3× npm (keep-alive), {level} in flight"),
        ours.zip(node)
            .map(|(o, n)| (o.calls_per_sec(), n.calls_per_sec())),
        "calls/s",
        &|x| x >= 3.0,
    ));
    let peak = |client: &str| {
        r.getuser
            .iter()
            .filter(|c| c.client.starts_with(client))
            .map(|c| c.peak_rss_mib())
            .reduce(f64::max)
    };
    out.push(ratio(
        "client peak RSS ≤ 1/5 of npm (largest over all levels, either agent)",
        peak("ours").zip(peak("node")),
        "MiB",
        &|x| x <= 0.2,
    ));
    for s in &r.storms {
        let (bar, met) = if s.label.starts_with("npm") {
            (
                "npm library: one refresh per call (reference, not a bar)".to_owned(),
                None,
            )
        } else if s.processes == 1 {
            (
                format!("refresh storm, {}: exactly one refresh per openid", s.label),
                Some(s.refresh_requests == s.openids && s.errors() == 0),
            )
        } else {
            (
                format!("refresh storm, {}: at most one refresh per openid", s.label),
                Some(s.refresh_requests <= s.openids && s.errors() == 0),
            )
        };
        out.push(Target {
            bar,
            measured: format!(
                "{} refreshes for {} openids, {} calls, {} errors",
                s.refresh_requests,
                s.openids,
                s.calls,
                s.errors()
            ),
            met,
        });
    }
    for s in &r.stores {
        out.push(ratio(
            &format!(
                "{} store get+save within 2× raw driver, {} caller(s)",
                s.backend, s.concurrency
            ),
            Some((s.raw.calls_per_sec(), s.store.calls_per_sec())),
            "round trips/s (raw vs store)",
            &|x| x <= 2.0,
        ));
    }
    out
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "n/a",
    }
}

/// The generated section of `BENCHMARKS.md`, markers included.
pub fn render(r: &Results, chart: Option<&str>) -> String {
    let m = &r.machine;
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "<!-- Generated by wechat-oauth-bench; edit crates/wechat-oauth-bench/src/report.rs, not this block. -->"
    );
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "Command: `{}` — started {}, took {:.0} s.\n",
        m.command, m.started_utc, m.seconds
    );
    let _ = writeln!(
        s,
        "Machine: {} × {} cores, Linux {}, node {}. Load average (1/5/15 min) before: {}; after: {}. \
         The machine was shared with other work, so absolute figures are noisy; the ratios compare \
         clients measured back to back in one run against the same server.\n",
        m.cpu, m.cores, m.kernel, m.node, m.load_before, m.load_after
    );
    let _ = writeln!(
        s,
        "Method: one sandbox for the whole run ({}); {}. Each client is its own OS process, so CPU \
         and RSS are its own: CPU from the process's kernel accounting over the measured window \
         (`/proc/self/stat` for Rust, `process.cpuUsage()` for node), peak RSS from the kernel's \
         high-water mark over the process's life (`VmHWM` = `ru_maxrss`; node: `process.resourceUsage().maxRSS`).\n",
        m.sandbox, m.pinning
    );

    let _ = writeln!(s, "### getUser, valid token, memory store\n");
    let _ = writeln!(
        s,
        "Each client seeds its own tokens by exchanging sandbox-minted codes, then keeps N \
         `getUser` calls in flight for the run's duration (each completion starts the next). \
         `ours` = `OAuthClient::get_user`; `hyper` = a bare keep-alive hyper GET of the same \
         `/sns/userinfo` URL, body read, no decoding (the floor); `node-*` = npm `wechat-oauth` \
         1.5.0 with the default agent (a new connection per call) or a keep-alive agent, \
         its requests rewritten to the sandbox with the library's one request method wrapped.\n"
    );
    let _ = writeln!(
        s,
        "| in flight | client | calls/s | p50 ms | p99 ms | CPU µs/call | peak RSS MiB | errors |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for c in &r.getuser {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
            c.concurrency,
            c.client,
            c.calls_per_sec(),
            c.p50_ms,
            c.p99_ms,
            c.cpu_us_per_call(),
            c.peak_rss_mib(),
            c.errors
        );
    }
    let _ = writeln!(s, "\nRatios, ours ÷ other client, same level:\n");
    let _ = writeln!(
        s,
        "| in flight | CPU/call vs npm keep-alive | CPU/call vs hyper | calls/s vs npm keep-alive | calls/s vs hyper |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|");
    let mut levels: Vec<usize> = r.getuser.iter().map(|c| c.concurrency).collect();
    levels.dedup();
    for level in levels {
        let Some(ours) = find(r, "ours", level) else {
            continue;
        };
        let cell = |other: Option<&ClientReport>, f: fn(&ClientReport) -> f64| {
            other
                .filter(|o| f(o) > 0.0)
                .map_or("–".to_owned(), |o| format!("{:.3}×", f(ours) / f(o)))
        };
        let node = find(r, "node-keepalive", level);
        let hyper = find(r, "hyper", level);
        let _ = writeln!(
            s,
            "| {level} | {} | {} | {} | {} |",
            cell(node, ClientReport::cpu_us_per_call),
            cell(hyper, ClientReport::cpu_us_per_call),
            cell(node, ClientReport::calls_per_sec),
            cell(hyper, ClientReport::calls_per_sec)
        );
    }
    if let Some(chart) = chart {
        let _ = writeln!(
            s,
            "\n![getUser throughput and client CPU per call against calls in flight]({chart})"
        );
    }

    let _ = writeln!(s, "\n### Refresh storm\n");
    let _ = writeln!(
        s,
        "All calls are launched at once over openids whose access tokens have all expired \
         (`create_at` moved back 7300 s in the store, and the sandbox clock advanced 7300 s so \
         WeChat's side agrees). Refresh requests are counted in the sandbox's request journal. \
         The two-process rows seed the shared store once, then release two client processes \
         (both on the client core) at the same moment, each with half the calls.\n"
    );
    let _ = writeln!(
        s,
        "| scenario | processes | openids | calls | refresh requests | per openid | userinfo requests | ok | errors | seconds |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for st in &r.storms {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {:.2} |",
            st.label,
            st.processes,
            st.openids,
            st.calls,
            st.refresh_requests,
            st.refresh_requests as f64 / st.openids.max(1) as f64,
            st.userinfo_requests,
            st.ok_calls(),
            st.errors(),
            st.seconds()
        );
    }

    let _ = writeln!(s, "\n### Token stores: get + save\n");
    let _ = writeln!(
        s,
        "Each caller owns one openid and loops `get` then `save` (a newer `create_at` each time) \
         for the run's duration; `raw` does the same round trip with the backend's driver directly \
         (the same queries/commands the store issues, without the store's code). The database \
         servers run unpinned on the same machine.\n"
    );
    let _ = writeln!(
        s,
        "| backend | callers | store round trips/s | raw round trips/s | store ÷ raw time | store p50/p99 µs | raw p50/p99 µs | store CPU µs | raw CPU µs |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for st in &r.stores {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {:.2}× | {:.0} / {:.0} | {:.0} / {:.0} | {:.1} | {:.1} |",
            st.backend,
            st.concurrency,
            st.store.calls_per_sec(),
            st.raw.calls_per_sec(),
            st.raw.calls_per_sec() / st.store.calls_per_sec().max(f64::MIN_POSITIVE),
            st.store.p50_ms * 1000.0,
            st.store.p99_ms * 1000.0,
            st.raw.p50_ms * 1000.0,
            st.raw.p99_ms * 1000.0,
            st.store.cpu_us_per_call(),
            st.raw.cpu_us_per_call()
        );
    }

    let _ = writeln!(s, "\n### Micro benchmarks\n");
    let _ = writeln!(s, "| operation | time per op | source |");
    let _ = writeln!(s, "|---|---:|---|");
    for mb in &r.micro {
        let time = if mb.ns_per_op >= 1000.0 {
            format!("{:.2} µs", mb.ns_per_op / 1000.0)
        } else {
            format!("{:.0} ns", mb.ns_per_op)
        };
        let _ = writeln!(s, "| {} | {} | {} |", mb.name, time, mb.source);
    }

    let _ = writeln!(s, "\n### Targets (issue 7)\n");
    let _ = writeln!(s, "| bar | measured | |");
    let _ = writeln!(s, "|---|---|---|");
    for t in targets(r) {
        let _ = writeln!(s, "| {} | {} | {} |", t.bar, t.measured, mark(t.met));
    }
    if !r.not_run.is_empty() {
        let _ = writeln!(s, "\nNot run:\n");
        for n in &r.not_run {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "{END}");
    s
}

/// Replaces the generated section of the file at `path` (creating the file, or appending
/// the section, when absent), leaving everything outside the markers untouched.
pub fn write_section(path: &Path, section: &str) -> std::io::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, splice(&existing, section))
}

fn splice(existing: &str, section: &str) -> String {
    match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if b < e => format!(
            "{}{}{}",
            &existing[..b],
            section.trim_end(),
            &existing[e + END.len()..]
        ),
        _ if existing.trim().is_empty() => format!("# Benchmarks\n\n{section}"),
        _ => format!("{}\n\n{section}", existing.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let before = format!(
            "# Benchmarks\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## Sandbox throughput\n\nkept\n"
        );
        let after = splice(&before, &format!("{BEGIN}\nnew\n{END}\n"));
        assert_eq!(
            after,
            format!(
                "# Benchmarks\n\nintro\n\n{BEGIN}\nnew\n{END}\n\n## Sandbox throughput\n\nkept\n"
            )
        );
    }

    #[test]
    fn splice_appends_when_the_markers_are_missing() {
        let after = splice(
            "# Benchmarks\n\n## Sandbox throughput\n",
            &format!("{BEGIN}\nx\n{END}\n"),
        );
        assert_eq!(
            after,
            format!("# Benchmarks\n\n## Sandbox throughput\n\n{BEGIN}\nx\n{END}\n")
        );
    }
}
