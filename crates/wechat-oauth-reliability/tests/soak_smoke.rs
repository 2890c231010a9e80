//! A 20-second soak (docs/RELIABILITY.md §6): the `wechat-oauth-soak` binary itself, judged
//! on the same criteria as the 10-minute run, checked here from its report as well as from
//! its exit status.
//!
//! The middleware remembers each callback's outcome for 60 s, so within 20 s its memory
//! cannot settle under logins at full speed; the login loops pause 200 ms after each login
//! here (about 18 logins a second instead of about 110), the `get_user` loops and the storms
//! (one every 5 s) run at full speed, and the warm-up (10 s) ends at the second storm.

use std::process::Command;

#[test]
fn twenty_second_soak_passes_its_criteria() {
    if std::env::var("CI").as_deref() != Ok("true")
        && !std::path::Path::new("/usr/bin/redis-server").exists()
    {
        println!("SKIPPED: soak smoke test: redis-server is not installed");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_wechat-oauth-soak"))
        .args([
            "--seconds",
            "20",
            "--warmup-seconds",
            "10",
            "--login-pause-ms",
            "200",
        ])
        .output()
        .expect("run wechat-oauth-soak");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    let json = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SOAK "))
        .unwrap_or_else(|| panic!("no SOAK line (exit {:?}): {stderr}", output.status));
    let report: serde_json::Value = serde_json::from_str(json).expect("the SOAK line is JSON");
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    assert_eq!(n("errors"), 0, "errors: {}", report["error_samples"]);
    assert_eq!(n("lost_tokens"), 0);
    assert_eq!(n("users_checked"), 40);
    assert!(
        n("logins") > 0 && n("get_user_calls") > 0,
        "the run did no work"
    );
    assert!(n("storms") >= 2, "fewer than two refresh storms");
    assert!(n("refreshes") > 0, "the storms caused no refresh");
    assert!(
        n("refreshes") <= n("refresh_bound"),
        "more than one refresh per user and storm"
    );
    let growth = report["rss_growth_percent"]
        .as_f64()
        .expect("rss_growth_percent");
    assert!(
        growth.abs() <= 10.0,
        "RSS {} KiB at the end vs {} KiB after warm-up ({growth:+.1} %)",
        n("rss_end_kib"),
        n("rss_after_warmup_kib")
    );
    assert!(output.status.success(), "exit {:?}", output.status);
}
