use std::path::Path;

use wechat_oauth_bench::measure::ClientReport;
use wechat_oauth_bench::procs::{NodeSetup, Programs};
use wechat_oauth_bench::sandbox::SandboxServer;
use wechat_oauth_bench::suite::{Plan, StoreUrls, Suite, run_all};
use wechat_oauth_bench::{chart, micro, report};

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

pub(crate) fn assert_sane(r: &ClientReport, what: &str) {
    assert!(r.calls > 0, "{what}: no successful call: {r:?}");
    assert_eq!(r.errors, 0, "{what}: errors: {r:?}");
    assert!(
        r.seconds > 0.0 && r.calls_per_sec() > 0.0,
        "{what}: no time measured: {r:?}"
    );
    assert!(
        r.p50_ms > 0.0 && r.p99_ms >= r.p50_ms,
        "{what}: latencies: {r:?}"
    );
    assert!(r.peak_rss_kib > 0, "{what}: no RSS: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_and_refresh_storms_refresh_once_per_openid() {
    let scratch = tempfile_dir();
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-node");
    let node = match NodeSetup::install(&node_dir).await {
        Ok(node) => Some(node),
        Err(e) if !in_ci() => {
            eprintln!("SKIPPING the npm library's scenarios: node/npm unavailable: {e:#}");
            None
        }
        Err(e) => panic!("under CI the npm library must be installable: {e:#}"),
    };
    let programs = Programs {
        bench_client: env!("CARGO_BIN_EXE_bench-client").into(),
        node,
    };
    let plan = Plan::smoke(scratch.clone());
    let stores = StoreUrls::from_env(&scratch);
    let sandbox = SandboxServer::in_process(&plan.users()).await.unwrap();
    let suite = Suite {
        plan: &plan,
        programs: &programs,
        sandbox: &sandbox,
        stores: &stores,
    };

    let mut results = run_all(&suite, "smoke").await.unwrap();

    let clients = if programs.node.is_some() { 4 } else { 2 };
    assert_eq!(results.getuser.len(), plan.levels.len() * clients);
    for r in &results.getuser {
        assert_sane(r, &format!("getUser {} x{}", r.client, r.concurrency));
    }
    assert_eq!(results.https.len(), plan.https_levels.len() * clients);
    for r in &results.https {
        assert_sane(
            r,
            &format!("getUser over HTTPS {} x{}", r.client, r.concurrency),
        );
    }
    let cpu: f64 = results
        .getuser
        .iter()
        .map(|r| r.cpu_user_s + r.cpu_sys_s)
        .sum();
    assert!(cpu > 0.0, "no client CPU measured in any getUser run");

    let ours = results
        .storms
        .iter()
        .find(|s| s.processes == 1 && s.label.starts_with("ours"))
        .unwrap();
    assert_eq!(
        ours.refresh_requests, plan.storm_openids,
        "ours, one process: one refresh per openid"
    );
    assert_eq!(ours.ok_calls(), plan.storm_calls as u64);
    if programs.node.is_some() {
        let node = results
            .storms
            .iter()
            .find(|s| s.label.starts_with("npm"))
            .unwrap();
        assert_eq!(
            node.refresh_requests, plan.storm_calls,
            "the npm library refreshes once per call"
        );
    }
    for shared in results.storms.iter().filter(|s| s.processes == 2) {
        assert!(
            shared.refresh_requests <= shared.openids,
            "{}: {} refreshes",
            shared.label,
            shared.refresh_requests
        );
        assert!(
            shared.refresh_requests > 0,
            "{}: the tokens were expired, yet nothing refreshed",
            shared.label
        );
        assert_eq!(
            shared.ok_calls(),
            plan.storm_calls as u64,
            "{}",
            shared.label
        );
    }

    for s in &results.stores {
        assert_sane(&s.store, &format!("{} store x{}", s.backend, s.concurrency));
        assert_sane(&s.raw, &format!("{} raw x{}", s.backend, s.concurrency));
    }
    for s in &results.state_stores {
        let what = format!("{} {} x{}", s.backend, s.kind, s.concurrency);
        assert_sane(&s.store, &format!("{what} store"));
        assert_sane(&s.raw, &format!("{what} raw"));
    }
    // The memory backend needs no server, so its rows always run; under CI all of them do.
    let per_backend = wechat_oauth_bench::suite::STATE_KINDS.len() * plan.store_levels.len();
    let memory_rows = results
        .state_stores
        .iter()
        .filter(|s| s.backend == "memory")
        .count();
    assert_eq!(memory_rows, per_backend);
    if in_ci() {
        assert_eq!(
            results.state_stores.len(),
            wechat_oauth_bench::suite::STATE_BACKENDS.len() * per_backend
        );
    }

    assert_eq!(results.sites.len(), 2 * plan.message_levels.len());
    for m in &results.sites {
        let what = format!("site {} x{}", m.server, m.load.concurrency);
        assert_sane(&m.load, &what);
        assert_eq!(m.load.calls, plan.messages as u64, "{what}");
        assert!(m.server_peak_rss_kib > 0, "{what}: no server RSS");
    }

    // The npm middleware checks each message's signature and decrypts it, so a clean run
    // also proves the load generator signs and encrypts as WeChat does.
    {
        let servers = if programs.node.is_some() { 2 } else { 1 };
        assert_eq!(
            results.messages.len(),
            servers * 2 * plan.message_levels.len(),
            "{:?}",
            results.messages
        );
    }
    for m in &results.messages {
        let what = format!("messages {} {} x{}", m.server, m.mode, m.load.concurrency);
        assert_sane(&m.load, &what);
        assert_eq!(m.load.calls, plan.messages as u64, "{what}");
        assert!(m.server_peak_rss_kib > 0, "{what}: no server RSS");
    }
    let cpu: f64 = results.messages.iter().map(|m| m.server_cpu_s).sum();
    assert!(
        results.messages.is_empty() || cpu > 0.0,
        "no server CPU measured in any message run"
    );
    if in_ci() {
        assert!(
            results.not_run.is_empty(),
            "under CI every scenario must run: {:?}",
            results.not_run
        );
        assert_eq!(results.storms.len(), 4);
        assert_eq!(
            results.stores.len(),
            stores.backends.len() * plan.store_levels.len()
        );
    } else if !results.not_run.is_empty() {
        eprintln!(
            "SKIPPED outside CI (a database server is down?): {:#?}",
            results.not_run
        );
    }

    // The micro cases compute what they claim, and node's reference loop runs.
    let client = micro::client().unwrap();
    assert!(micro::authorize_url(&client).contains("#wechat_redirect"));
    assert_eq!(
        micro::parse_token(micro::TOKEN_RESPONSE)
            .unwrap()
            .expires_in,
        7200
    );
    assert!(
        micro::decrypt_and_verify(),
        "the official vector decrypts and its signature checks"
    );
    if let Some(node) = &programs.node {
        let m = suite.node_decrypt(node).await.unwrap();
        assert!(m.ns_per_op > 0.0);
        results.micro.push(m);
    }

    // Reporting: the section renders every scenario and the chart draws.
    let section = report::render(&results, Some("chart.png"));
    assert!(section.starts_with(report::BEGIN) && section.trim_end().ends_with(report::END));
    assert!(section.contains("| 10 | ours |") && section.contains("Refresh storm"));
    assert!(section.contains("getUser over HTTPS"));
    assert!(section.contains("The login middleware: one signed-in page"));
    assert!(section.contains("Message interface"));
    assert!(section.contains("≤ 1.1× bare hyper GET") && section.contains("≥ 0.9× bare hyper GET"));
    chart::draw(&results, &scratch.join("chart.png")).unwrap();
    assert!(std::fs::metadata(scratch.join("chart.png")).unwrap().len() > 1000);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wechat-oauth-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
