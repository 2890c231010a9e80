//! The storage-model rows alone, in the smoke plan's short mode: on every backend, each
//! kind of state's round trip through the store and through the raw driver runs without
//! an error (every save, touch and claim accepted). Nothing about speed is asserted.

use std::collections::BTreeSet;

use wechat_oauth_bench::procs::Programs;
use wechat_oauth_bench::results::Results;
use wechat_oauth_bench::sandbox::SandboxServer;
use wechat_oauth_bench::suite::{Plan, STATE_BACKENDS, STATE_KINDS, StoreUrls, Suite};

use crate::smoke::{assert_sane, in_ci};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_store_rows_run_beside_their_raw_driver_on_every_backend() {
    let scratch = std::env::temp_dir().join(format!(
        "wechat-oauth-bench-state-rows-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    let programs = Programs {
        bench_client: env!("CARGO_BIN_EXE_bench-client").into(),
        node: None,
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
    let mut results = Results::default();
    suite.state_stores(&mut results).await.unwrap();

    for s in &results.state_stores {
        let what = format!("{} {} x{}", s.backend, s.kind, s.concurrency);
        assert_sane(&s.store, &format!("{what} store"));
        assert_sane(&s.raw, &format!("{what} raw"));
        assert_eq!(s.store.concurrency, s.concurrency, "{what}");
    }
    let per_backend = STATE_KINDS.len() * plan.store_levels.len();
    let ran: BTreeSet<&str> = results
        .state_stores
        .iter()
        .map(|s| s.backend.as_str())
        .collect();
    for backend in STATE_BACKENDS {
        let rows = results
            .state_stores
            .iter()
            .filter(|s| s.backend == backend)
            .count();
        // Memory and the SQLite file need no server: their rows always run.
        if in_ci() || backend == "memory" || backend == "SQLite" {
            assert_eq!(rows, per_backend, "{backend}: {:#?}", results.not_run);
        } else if rows == 0 {
            eprintln!("SKIPPED outside CI: {backend} ({:#?})", results.not_run);
        }
    }
    assert!(ran.iter().all(|b| STATE_BACKENDS.contains(b)), "{ran:?}");
    let _ = std::fs::remove_dir_all(&scratch);
}
