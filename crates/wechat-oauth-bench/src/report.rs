//! `BENCHMARKS.md`: the generated section between `<!-- bench:begin -->` and
//! `<!-- bench:end -->` (the rest of the file, e.g. the sandbox throughput section, is
//! left as it is), and the targets the results are judged against.

use std::fmt::Write as _;
use std::path::Path;

use crate::measure::ClientReport;
use crate::results::{Results, ServerRun, StoreRun};

/// Start of the generated section.
pub const BEGIN: &str = "<!-- bench:begin -->";
/// End of the generated section.
pub const END: &str = "<!-- bench:end -->";

/// One bar from an issue and whether this run clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The issue that set the bar.
    pub issue: u32,
    /// The bar, in words.
    pub bar: String,
    /// What was measured.
    pub measured: String,
    /// `None` when the inputs were not measured.
    pub met: Option<bool>,
}

fn find<'a>(r: &'a Results, client: &str, level: usize) -> Option<&'a ClientReport> {
    find_in(&r.getuser, client, level)
}

fn find_in<'a>(runs: &'a [ClientReport], client: &str, level: usize) -> Option<&'a ClientReport> {
    runs.iter()
        .find(|c| c.client == client && c.concurrency == level)
}

/// The calls-in-flight level the targets are read at.
pub const TARGET_LEVEL: usize = 200;

/// Judges `results` against the targets of issues 7, 11, 12 and 13.
pub fn targets(r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    let level = TARGET_LEVEL;
    let ours = find(r, "ours", level);
    let node = find(r, "node-keepalive", level);
    let hyper = find(r, "hyper", level);
    let ratio = |issue: u32,
                 bar: &str,
                 measured: Option<(f64, f64)>,
                 unit: &str,
                 ok: &dyn Fn(f64) -> bool| {
        match measured {
            Some((a, b)) if b > 0.0 => {
                let x = a / b;
                Target {
                    issue,
                    bar: bar.into(),
                    measured: format!("{a:.1} vs {b:.1} {unit}: {x:.3}×"),
                    met: Some(ok(x)),
                }
            }
            _ => Target {
                issue,
                bar: bar.into(),
                measured: "not measured".into(),
                met: None,
            },
        }
    };
    out.push(ratio(
        7,
        &format!("client CPU per get_user ≤ 1/10 of npm (keep-alive), {level} in flight"),
        ours.zip(node)
            .map(|(o, n)| (o.cpu_us_per_call(), n.cpu_us_per_call())),
        "µs/call",
        &|x| x <= 0.1,
    ));
    // Context for the bar above: what no HTTP/1.1 client can go below on this machine.
    let mut floor = ratio(
        7,
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
        7,
        &format!("client CPU per get_user ≤ 1.5× bare hyper GET, {level} in flight"),
        ours.zip(hyper)
            .map(|(o, h)| (o.cpu_us_per_call(), h.cpu_us_per_call())),
        "µs/call",
        &|x| x <= 1.5,
    ));
    // Issue 12's no-regression bars, against the same floor.
    out.push(ratio(
        12,
        &format!(
            "client CPU per get_user ≤ 1.1× bare hyper GET, {level} in flight (no regression)"
        ),
        ours.zip(hyper)
            .map(|(o, h)| (o.cpu_us_per_call(), h.cpu_us_per_call())),
        "µs/call",
        &|x| x <= 1.1,
    ));
    out.push(ratio(
        12,
        &format!("get_user calls/s ≥ 0.9× bare hyper GET, {level} in flight (no regression)"),
        ours.zip(hyper)
            .map(|(o, h)| (o.calls_per_sec(), h.calls_per_sec())),
        "calls/s",
        &|x| x >= 0.9,
    ));
    out.push(ratio(
        7,
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
        7,
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
            issue: 7,
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
            7,
            &format!(
                "{} store get+save within 2× raw driver, {} caller(s)",
                s.backend, s.concurrency
            ),
            Some((s.raw.calls_per_sec(), s.store.calls_per_sec())),
            "round trips/s (raw vs store)",
            &|x| x <= 2.0,
        ));
    }
    for ours in r.messages.iter().filter(|m| m.server == crate::suite::OURS) {
        let npm = r.messages.iter().find(|n| {
            n.server == crate::suite::NPM_WECHAT
                && n.mode == ours.mode
                && n.load.concurrency == ours.load.concurrency
        });
        for (what, unit, f) in [
            (
                "messages/s",
                "messages/s",
                (|m: &ServerRun| m.load.calls_per_sec()) as fn(&ServerRun) -> f64,
            ),
            (
                "server CPU per message",
                "µs/message",
                ServerRun::server_cpu_us_per_message,
            ),
        ] {
            let mut t = ratio(
                13,
                &format!(
                    "reference, not a bar: {what}, ours ÷ npm wechat 2.1.0, {} mode, {} in flight",
                    ours.mode, ours.load.concurrency
                ),
                npm.map(|n| (f(ours), f(n))),
                unit,
                &|_| true,
            );
            t.met = None;
            out.push(t);
        }
    }
    let site = |name: &str| r.sites.iter().find(|s| s.server == name);
    if let Some(login) = site(crate::suite::SITE_LOGIN) {
        out.push(ratio(
            11,
            &format!(
                "an authenticated axum request (session lookup, memory store) ≤ 1.3× the CPU of the \
                 same handler without the middleware, {} in flight",
                login.load.concurrency
            ),
            site(crate::suite::SITE_BARE)
                .map(|b| (login.server_cpu_us_per_message(), b.server_cpu_us_per_message())),
            "µs/request (server)",
            &|x| x <= 1.3,
        ));
    }
    for s in &r.state_stores {
        out.push(ratio(
            11,
            &format!(
                "{} {} round trip within 2× raw, {} caller(s)",
                s.backend, s.kind, s.concurrency
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

/// Store round trips beside the raw driver's.
fn store_table(s: &mut String, runs: &[StoreRun], with_kind: bool) {
    let kind = if with_kind { "kind | " } else { "" };
    let _ = writeln!(
        s,
        "| {kind}backend | callers | store round trips/s | raw round trips/s | store ÷ raw time | store p50/p99 µs | raw p50/p99 µs | store CPU µs | raw CPU µs |"
    );
    let _ = writeln!(
        s,
        "|{}---|---:|---:|---:|---:|---:|---:|---:|---:|",
        if with_kind { "---|" } else { "" }
    );
    for st in runs {
        let kind = if with_kind {
            format!("{} | ", st.kind)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {kind}{} | {} | {:.0} | {:.0} | {:.2}× | {:.0} / {:.0} | {:.0} / {:.0} | {:.1} | {:.1} |",
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
}

/// The per-client table of one getUser comparison, then ours ÷ each other client.
fn client_tables(s: &mut String, runs: &[ClientReport]) {
    let _ = writeln!(
        s,
        "| in flight | client | calls/s | p50 ms | p99 ms | CPU µs/call | peak RSS MiB | errors |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for c in runs {
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
        "| in flight | CPU/call vs npm keep-alive | CPU/call vs npm default | CPU/call vs hyper | calls/s vs npm keep-alive | calls/s vs npm default | calls/s vs hyper |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
    let mut levels: Vec<usize> = runs.iter().map(|c| c.concurrency).collect();
    levels.dedup();
    for level in levels {
        let Some(ours) = find_in(runs, "ours", level) else {
            continue;
        };
        let cell = |other: Option<&ClientReport>, f: fn(&ClientReport) -> f64| {
            other
                .filter(|o| f(o) > 0.0)
                .map_or("–".to_owned(), |o| format!("{:.3}×", f(ours) / f(o)))
        };
        let keepalive = find_in(runs, "node-keepalive", level);
        let default = find_in(runs, "node-default", level);
        let hyper = find_in(runs, "hyper", level);
        let _ = writeln!(
            s,
            "| {level} | {} | {} | {} | {} | {} | {} |",
            cell(keepalive, ClientReport::cpu_us_per_call),
            cell(default, ClientReport::cpu_us_per_call),
            cell(hyper, ClientReport::cpu_us_per_call),
            cell(keepalive, ClientReport::calls_per_sec),
            cell(default, ClientReport::calls_per_sec),
            cell(hyper, ClientReport::calls_per_sec)
        );
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
         its requests sent to the sandbox by rewriting the library's hard-coded \
         `https://api.weixin.qq.com` prefix in `OAuth.prototype.request` (`node/bench.js`), so all \
         of its own code, urllib included, stays in the path.\n"
    );
    client_tables(&mut s, &r.getuser);
    if let Some(chart) = chart {
        let _ = writeln!(
            s,
            "\n![getUser throughput and client CPU per call against calls in flight]({chart})"
        );
    }

    if !r.https.is_empty() {
        let _ = writeln!(s, "\n### getUser over HTTPS, valid token, memory store\n");
        let _ = writeln!(
            s,
            "The same clients and load against the same sandbox, reached through a TLS-terminating \
             relay on loopback (`bench-client tls-relay`: its own process, pinned beside the sandbox; \
             a self-signed certificate made with rcgen for this run; TLS 1.3, aws-lc-rs). `ours` and \
             `hyper` (hyper + rustls with the SDK's connector: aws-lc-rs and the platform verifier) trust \
             the certificate through `SSL_CERT_FILE`; node through `NODE_EXTRA_CA_CERTS`. \
             `node-default` is urllib's default https agent (a new connection, and a TLS handshake, \
             per call); `node-keepalive` passes a keep-alive `https.Agent` as `httpsAgent`.\n"
        );
        client_tables(&mut s, &r.https);
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
    store_table(&mut s, &r.stores, false);

    if !r.state_stores.is_empty() {
        let _ = writeln!(
            s,
            "\n### Storage model: Mini Program sessions, web sessions, credentials, single-use values\n"
        );
        let _ = writeln!(
            s,
            "As above, one caller per row (openid, session id or credential key), for each kind of \
             state besides user tokens: `mp-sessions` = `get_session` + `save_session` (newer \
             `created_at`); `web-sessions` = `get_web_session` + `touch_web_session` (what each \
             authenticated request does); `credentials` = `get_credential` + `put_credential` (newer \
             `obtained_at`); `claim-once` = one `claim_once` of a value never seen before. `raw` issues \
             the statements / commands the backend's store issues for the same round trip, with the \
             driver alone, in a table, key prefix or collection of its own (MySQL's read-back after \
             an upsert included; on MongoDB the touch reads the record first, as the store does). \
             Backends measured: {}.\n",
            crate::suite::STATE_BACKENDS.join(", ")
        );
        store_table(&mut s, &r.state_stores, true);
    }

    if !r.messages.is_empty() {
        let _ = writeln!(
            s,
            "\n### Message interface: text messages pushed and answered\n"
        );
        let _ = writeln!(
            s,
            "The load generator (`bench-client push`, Rust hyper, keep-alive, its own process on the \
             server core, where the idle sandbox is) plays WeChat: it pre-builds text messages, each \
             with its own `MsgId`, signed (`signature`) and, in safe mode, encrypted (AES-256-CBC, \
             32-byte PKCS#7 block, `random ‖ length ‖ message ‖ appid`, `encrypt_type=aes`, \
             `msg_signature`) by its own implementation of WeChat's algorithms; sends a warm-up, \
             then keeps N messages in flight and checks every reply as WeChat would (the reply's \
             `MsgSignature` and decryption in safe mode; a text reply to the sender saying \
             `echo: <Content>`). The server under test runs alone on the client core, a fresh \
             process per row; its CPU (user + system, all threads) is read from `/proc/<pid>/stat` \
             around the measured window. `ours` = `wechat_oauth_message::axum::router` under \
             `axum::serve` (single-threaded runtime), in plain mode (明文) for the plain rows and \
             safe mode (安全, only encrypted pushes accepted) for the encrypted ones, retries \
             deduplicated in memory by `MsgId`; `npm wechat 2.1.0` = node-webot's middleware, \
             `wechat(config, (req, res) => res.reply(...))` in a plain node `http` server (it checks \
             signatures and decrypts, and keeps no record of `MsgId`s).\n"
        );
        let _ = writeln!(
            s,
            "| server | mode | in flight | messages | messages/s | p50 ms | p99 ms | server CPU µs/message | server peak RSS MiB | errors |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for m in &r.messages {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
                m.server,
                m.mode,
                m.load.concurrency,
                m.load.calls,
                m.load.calls_per_sec(),
                m.load.p50_ms,
                m.load.p99_ms,
                m.server_cpu_us_per_message(),
                m.server_peak_rss_kib as f64 / 1024.0,
                m.load.errors
            );
        }
        let ratios: Vec<String> = r
            .messages
            .iter()
            .filter(|m| m.server == "ours")
            .filter_map(|ours| {
                let npm = r.messages.iter().find(|n| {
                    n.server == crate::suite::NPM_WECHAT
                        && n.mode == ours.mode
                        && n.load.concurrency == ours.load.concurrency
                })?;
                Some(format!(
                    "| {} | {} | {:.3}× | {:.3}× |",
                    ours.mode,
                    ours.load.concurrency,
                    ours.load.calls_per_sec() / npm.load.calls_per_sec().max(f64::MIN_POSITIVE),
                    ours.server_cpu_us_per_message()
                        / npm.server_cpu_us_per_message().max(f64::MIN_POSITIVE)
                ))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(
                s,
                "\nRatios, ours ÷ npm wechat 2.1.0, same mode and load:\n"
            );
            let _ = writeln!(
                s,
                "| mode | in flight | messages/s | server CPU per message |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|");
            for line in ratios {
                let _ = writeln!(s, "{line}");
            }
        }
    }

    if !r.sites.is_empty() {
        let _ = writeln!(s, "\n### The login middleware: one signed-in page\n");
        let _ = writeln!(
            s,
            "A browser (`bench-client browse`, Rust hyper, keep-alive, its own process on the server \
             core) signs in once through the site's real login (login route, a sandbox-minted code, \
             the callback with its pending-login cookie), then keeps N `GET /profile` requests in \
             flight with its cookies, checking each answer (`200`, `hello <openid>`). \
             `{}` = the page takes a `WeChatUser` (signed session cookie checked, the \
             server-side session read from the memory store and its idle expiry pushed, on every \
             request); `{}` = the same handler shape on a router with no login at all. The site \
             runs alone on the client core, a fresh process per row; its CPU is read from \
             `/proc/<pid>/stat` around the measured window.\n",
            crate::suite::SITE_LOGIN,
            crate::suite::SITE_BARE
        );
        let _ = writeln!(
            s,
            "| site | in flight | requests | requests/s | p50 ms | p99 ms | server CPU µs/request | server peak RSS MiB | errors |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for m in &r.sites {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
                m.server,
                m.load.concurrency,
                m.load.calls,
                m.load.calls_per_sec(),
                m.load.p50_ms,
                m.load.p99_ms,
                m.server_cpu_us_per_message(),
                m.server_peak_rss_kib as f64 / 1024.0,
                m.load.errors
            );
        }
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

    let _ = writeln!(s, "\n### Targets\n");
    let _ = writeln!(s, "| issue | bar | measured | |");
    let _ = writeln!(s, "|---:|---|---|---|");
    for t in targets(r) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.issue,
            t.bar,
            t.measured,
            mark(t.met)
        );
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
