//! Interop with the npm `wechat-oauth` 1.5.0 itself: a token the node library stored reads
//! back in Rust and expires correctly (the npm package's README schemas).
//!
//! Needs node and npm (installs the package once into the target dir). Under `CI=true` a
//! missing node or a failed install fails the test; elsewhere it is skipped loudly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wechat_oauth::{AccessToken, now_millis};
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};

use crate::common::*;

/// `node_modules` holding `wechat-oauth@1.5.0`, installed on first use.
fn seed_node_modules() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wechat-oauth-npm-1.5.0");
    let modules = dir.join("node_modules");
    if modules.join("wechat-oauth").join("package.json").exists() {
        return Some(modules);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let installed = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg("wechat-oauth@1.5.0")
        .status()
        .is_ok_and(|s| s.success());
    installed.then_some(modules)
}

fn unavailable(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("node interop test cannot run under CI: {why}");
    }
    eprintln!("SKIPPING node interop test: {why} (it runs under CI=true)");
}

#[tokio::test]
async fn a_token_the_node_library_stored_with_string_fields_expires_and_refreshes() {
    let Some(modules) = seed_node_modules() else {
        return unavailable("node/npm or the wechat-oauth@1.5.0 install is unavailable");
    };
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let three_hours = Duration::from_secs(3 * 3600);
    let before = now_millis() - 3 * 3600 * 1000;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/seed_store.js");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .env("NODE_PATH", &modules)
        .env("SANDBOX_URL", sandbox.url())
        .env("APPID", OFFICIAL_APPID)
        .env("SECRET", OFFICIAL_SECRET)
        .env("CODE", &code)
        .env("OUT", out.path())
        .env("CLOCK_BEHIND_MS", three_hours.as_millis().to_string())
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    // The node library believes its own token valid: it compares a string create_at.
    assert_eq!(report["isValid"], true, "{report}");

    let row = std::fs::read_to_string(out.path()).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&row).unwrap();
    assert!(
        raw["create_at"].is_string() && raw["expires_in"].is_string(),
        "{raw}"
    );
    let token: AccessToken = serde_json::from_str(&row).unwrap();
    let after = now_millis() - 3 * 3600 * 1000;
    assert!(
        (before..=after).contains(&token.create_at),
        "create_at parsed as a number"
    );
    assert_eq!(token.expires_in, 7200);
    assert_eq!(token.openid, sandbox.openid(OFFICIAL_APPID, "alice"));
    assert!(!token.is_valid(), "three hours old: expired");

    // Rust picks the row up from a shared store, refreshes it and serves the user.
    client
        .token_store()
        .save(&token.openid, &token)
        .await
        .unwrap();
    sandbox.advance_clock(three_hours);
    sandbox.clear_journal();
    let user = client.get_user(&token.openid).await.unwrap();
    assert_eq!(user.openid, token.openid);
    let refreshes = calls(&sandbox, REFRESH);
    assert_eq!(refreshes.len(), 1);
    assert_eq!(
        refreshes[0].param("refresh_token"),
        Some(token.refresh_token.expose_secret())
    );
    assert!(
        client
            .token_store()
            .get(&token.openid)
            .await
            .unwrap()
            .unwrap()
            .is_valid()
    );
}
