//! Secrets never reach logs, `Debug` or `Display` (docs/protocol.md §7).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::format::FmtSpan;
use wechat_oauth::{Error, Lang, Scope};
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};
use wechat_sandbox::{Fault, Sandbox};

use crate::common::*;

/// Everything the subscriber writes, for grepping.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Set in the child process that runs the check alone.
const CHILD: &str = "WECHAT_OAUTH_SECRETS_TEST_CHILD";
const THIS_TEST: &str = "secrets::a_full_flow_at_trace_level_logs_no_secret_code_or_token";

#[test]
fn a_full_flow_at_trace_level_logs_no_secret_code_or_token() {
    if std::env::var_os(CHILD).is_none() {
        // `tracing` caches each callsite's interest process-wide, so a scoped subscriber
        // races with the other tests' threads and may miss events. Run the check alone in a
        // child process of this test binary, with a process-wide subscriber.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([THIS_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // The sandbox runs on its own runtime threads, outside the capturing subscriber: its
    // journal holds secrets by design and is not what is under test.
    let sandbox_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sandbox: Sandbox = sandbox_rt.block_on(Sandbox::builder().start()).unwrap();

    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer({
            let capture = capture.clone();
            move || capture.clone()
        })
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (errors, shown) = client_rt.block_on(run_every_path(&sandbox));

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("sns/oauth2/access_token"),
        "the capture saw the requests:\n{logs}"
    );
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"));

    // Every secret value that crossed the wire, read back from the sandbox's journal.
    let mut secrets = vec![OFFICIAL_SECRET.to_owned()];
    for entry in sandbox.journal() {
        for (name, value) in entry.params {
            if matches!(
                name.as_str(),
                "secret" | "code" | "access_token" | "refresh_token"
            ) && value.len() > 3
            {
                secrets.push(value);
            }
        }
    }
    assert!(
        secrets.len() > 10,
        "the flow exercised many secrets: {}",
        secrets.len()
    );
    assert!(!errors.is_empty());
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret value reached the logs"
        );
        for (i, err) in errors.iter().enumerate() {
            let text = format!("{err} | {err:?}");
            assert!(
                !text.contains(secret.as_str()),
                "error #{i} shows a secret: {text}"
            );
        }
        assert!(
            !shown.contains(secret.as_str()),
            "a Debug output shows a secret"
        );
    }
    for err in &errors {
        let text = format!("{err} | {err:?}");
        assert!(
            !text.contains("secret=") && !text.contains("code="),
            "{text}"
        );
    }
    assert!(!logs.contains("secret=") && !logs.contains("access_token="));
    drop(sandbox);
    sandbox_rt.shutdown_timeout(Duration::from_secs(1));
}

/// Runs success and failure paths; returns the errors met and the `Debug` of every value.
async fn run_every_path(sandbox: &Sandbox) -> (Vec<Error>, String) {
    let client = builder(sandbox).max_retries(1).build().unwrap();
    let mut errors = Vec::new();
    let mut shown = format!("{client:?}");
    let url = client.authorize_url("http://127.0.0.1/cb", "st", Scope::UserInfo);
    shown.push_str(&url);

    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let token = client.get_access_token(code.as_str()).await.unwrap();
    shown.push_str(&format!("{token:?}"));
    errors.push(client.get_access_token(code.as_str()).await.unwrap_err()); // 40163
    errors.push(
        client
            .get_access_token("no-such-code-1234")
            .await
            .unwrap_err(),
    ); // 40029

    let user = client.get_user(&token.openid).await.unwrap();
    shown.push_str(&format!("{user:?}"));
    client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap();
    let refreshed = client
        .refresh_access_token(&token.refresh_token)
        .await
        .unwrap();
    shown.push_str(&format!("{refreshed:?}"));

    // Early rejection: refresh and retry.
    sandbox.inject_fault(USERINFO, Fault::ErrCode(40001));
    client
        .get_user_with_lang(&token.openid, Lang::En)
        .await
        .unwrap();
    // Busy, then recovered.
    sandbox.inject_fault(USERINFO, Fault::ErrCode(-1));
    client.get_user(&token.openid).await.unwrap();
    // Expired: coordinated refresh.
    expire_everywhere(sandbox, &client, &token.openid).await;
    client.get_user(&token.openid).await.unwrap();
    // Malformed answers.
    for fault in [Fault::Html502, Fault::TruncatedJson, Fault::EmptyGbk] {
        sandbox.inject_fault(USERINFO, fault);
        errors.push(client.get_user(&token.openid).await.unwrap_err());
    }
    // Transport failures.
    sandbox.inject_fault(EXCHANGE, Fault::Reset);
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "bob", "snsapi_userinfo")
        .unwrap();
    errors.push(client.get_user_by_code(code).await.unwrap_err());
    let slow = builder(sandbox)
        .timeout(Duration::from_millis(100))
        .max_retries(0)
        .build()
        .unwrap();
    sandbox.inject_fault(EXCHANGE, Fault::Delay(Duration::from_millis(500)));
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "bob", "snsapi_userinfo")
        .unwrap();
    errors.push(slow.get_access_token(code).await.unwrap_err());
    // A dead refresh token: re-authorize, token deleted.
    sandbox.inject_fault(USERINFO, Fault::ErrCode(42001));
    sandbox.inject_fault(REFRESH, Fault::ErrCode(40030));
    errors.push(client.get_user(&token.openid).await.unwrap_err());
    errors.push(client.get_user(&token.openid).await.unwrap_err()); // no token
    // get_user_by_code end to end, and a snsapi_base token's 48001.
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "bob", "snsapi_userinfo")
        .unwrap();
    client.get_user_by_code(code).await.unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    errors.push(client.get_user_by_code(code).await.unwrap_err());
    (errors, shown)
}
