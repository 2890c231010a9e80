//! A client nobody here wrote agrees with the sandbox: the npm `wechat-oauth` 1.5.0 runs
//! getAccessToken → getUser (en, zh_CN) → verifyToken → refreshAccessToken against the
//! `wechat-sandbox` binary, with a code from the authorize page's scripted approval.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use wechat_sandbox::defaults::*;

use crate::cli::Running;
use crate::support::*;

/// node and npm, or why they are unusable. Under `CI=true` their absence fails the test.
fn node_tools() -> Option<()> {
    let works = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("node") && works("npm") {
        return Some(());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("node and npm are required under CI=true");
    }
    eprintln!("SKIPPING the npm wechat-oauth interop test: node or npm is not installed");
    None
}

/// Installs `wechat-oauth@1.5.0` once under the target directory and reuses it afterwards.
fn install_wechat_oauth() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-wechat-oauth-1.5.0");
    let manifest = dir.join("node_modules/wechat-oauth/package.json");
    let installed = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|pkg| pkg["version"] == "1.5.0");
    if !installed {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            r#"{"name":"sandbox-interop","version":"0.0.0","private":true}"#,
        )
        .unwrap();
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "wechat-oauth@1.5.0",
            ])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "npm install wechat-oauth@1.5.0 failed");
    }
    dir.join("node_modules")
}

#[tokio::test]
async fn npm_wechat_oauth_completes_the_web_flow_against_the_binary() {
    if node_tools().is_none() {
        return;
    }
    let node_modules = tokio::task::spawn_blocking(install_wechat_oauth)
        .await
        .unwrap();
    let sandbox = Running::start(&[]);
    let http = client();

    let query = authorize_query(
        OFFICIAL_APPID,
        "http://127.0.0.1:8080/callback",
        "snsapi_userinfo",
        "interop",
    );
    let response = http
        .get(format!("{}/connect/oauth2/authorize?{query}", sandbox.url))
        .header("X-Sandbox-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let (code, state) = callback_params(response.headers()["location"].to_str().unwrap());
    assert_eq!(state.as_deref(), Some("interop"));
    let code = code.unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/interop.js");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("NODE_PATH", &node_modules)
        .env("SANDBOX_URL", &sandbox.url)
        .env("APPID", OFFICIAL_APPID)
        .env("SECRET", OFFICIAL_SECRET)
        .env("CODE", &code)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();

    let config: Value = http
        .get(format!("{}/__sandbox/config", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice = &config["users"][0];
    assert_eq!(alice["id"], "alice");
    let openid = alice["openids"][OFFICIAL_APPID].as_str().unwrap();

    let token = &out["getAccessToken"];
    assert_eq!(token["err"], Value::Null, "{out}");
    assert_eq!(token["isValid"], true);
    assert_eq!(token["data"]["openid"], openid);
    assert_eq!(token["data"]["unionid"], alice["unionid"]);
    assert_eq!(token["data"]["scope"], "snsapi_userinfo");
    for key in ["getUserEn", "getUserZhCn", "getUserAfterRefresh"] {
        assert_eq!(out[format!("{key}Err")], Value::Null, "{key}: {out}");
        assert_eq!(out[key]["openid"], openid, "{key}");
        assert_eq!(out[key]["nickname"], "Alice", "{key}");
        assert_eq!(out[key]["sex"], 0, "{key}");
        assert_eq!(out[key]["unionid"], alice["unionid"], "{key}");
    }
    assert_eq!(
        out["verifyToken"],
        serde_json::json!({"errcode": 0, "errmsg": "ok"})
    );
    assert_eq!(out["verifyBogusErr"]["code"], 40014, "{out}");
    let refreshed = &out["refreshAccessToken"];
    assert_eq!(refreshed["err"], Value::Null, "{out}");
    assert_eq!(
        refreshed["data"]["access_token"], token["data"]["access_token"],
        "unexpired: same token, extended"
    );
    assert_eq!(refreshed["data"]["openid"], openid);
    assert_eq!(out["reuseCodeErr"]["code"], 40163, "{out}");

    // What the library sent, as the sandbox saw it.
    let journal: Value = http
        .get(format!("{}/__sandbox/journal", sandbox.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = |path: &str| -> Vec<Vec<String>> {
        journal
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["path"] == path)
            .map(|e| {
                e["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[0].as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        sent("/sns/oauth2/access_token")[0],
        ["appid", "secret", "code", "grant_type"]
    );
    assert_eq!(
        sent("/sns/oauth2/refresh_token"),
        [["appid", "grant_type", "refresh_token"]]
    );
    let langs: Vec<Value> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == "/sns/userinfo")
        .map(|e| {
            e["params"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p[0] == "lang")
                .map(|p| p[1].clone())
                .unwrap_or(Value::Null)
        })
        .collect();
    assert_eq!(langs[..2], [Value::from("en"), Value::from("zh_CN")]);
}
