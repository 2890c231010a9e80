//! The server access-token manager against the sandbox (docs/protocol.md §5).

use std::time::Duration;

use wechat_oauth::Error;
use wechat_oauth::miniprogram::{MiniProgramClient, SessionKeyStatus};
use wechat_oauth::server_token::{ServerTokenManager, TokenEndpoint};
use wechat_sandbox::Fault;
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET};

use crate::{requests_to, start};

fn manager(sandbox: &wechat_sandbox::Sandbox, endpoint: TokenEndpoint) -> ServerTokenManager {
    ServerTokenManager::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .token_endpoint(endpoint)
        .build()
        .unwrap()
}

#[tokio::test]
async fn fifty_concurrent_callers_on_a_cold_cache_make_one_token_request() {
    let (sandbox, _) = start().await;
    let tokens = manager(&sandbox, TokenEndpoint::Stable);
    let calls = (0..50).map(|_| tokens.access_token());
    let results = futures::future::join_all(calls).await;
    let first = results[0].as_ref().unwrap().clone();
    assert!(results.iter().all(|r| r.as_ref().ok() == Some(&first)));
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);

    let request = &sandbox.journal()[0];
    assert_eq!(request.method, "POST");
    let body: serde_json::Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["grant_type"], "client_credential");
    assert_eq!(body["appid"], MINIPROGRAM_APPID);
    assert_eq!(body["force_refresh"], false);
    // Cached afterwards.
    tokens.access_token().await.unwrap();
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
}

#[tokio::test]
async fn callers_queued_behind_a_failed_fetch_share_its_failure() {
    let (sandbox, _) = start().await;
    let tokens = manager(&sandbox, TokenEndpoint::Stable);
    sandbox.inject_fault("/cgi-bin/stable_token", Fault::ErrCode(-1));
    let results = futures::future::join_all((0..50).map(|_| tokens.access_token())).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().err().and_then(Error::errcode) == Some(-1))
    );
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
    // The failure is not cached: the next caller tries again, and succeeds.
    tokens.access_token().await.unwrap();
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 2);
}

#[tokio::test]
async fn fifty_concurrent_callers_on_many_threads_make_one_token_request() {
    let (sandbox, _) = start().await;
    let tokens = manager(&sandbox, TokenEndpoint::Stable);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let tokens = tokens.clone();
            runtime.spawn(async move {
                tokens
                    .access_token()
                    .await
                    .map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let mut seen = Vec::new();
    for handle in handles {
        seen.push(handle.await.unwrap().unwrap());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1);
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
    runtime.shutdown_background();
}

#[tokio::test]
async fn an_injected_40001_refreshes_once_and_retries_once() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let session = client.code_to_session(js_code).await.unwrap();
    assert_eq!(
        client.check_session_key(&session.openid).await.unwrap(),
        SessionKeyStatus::Valid
    );
    sandbox.clear_journal();

    sandbox.inject_fault("/wxa/checksession", Fault::ErrCode(40001));
    assert_eq!(
        client.check_session_key(&session.openid).await.unwrap(),
        SessionKeyStatus::Valid
    );
    assert_eq!(requests_to(&sandbox, "/wxa/checksession"), 2);
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);

    // Rejected twice: one refresh, one retry, then the error propagates.
    sandbox.clear_journal();
    sandbox.inject_fault("/wxa/checksession", Fault::ErrCode(42001));
    sandbox.inject_fault("/wxa/checksession", Fault::ErrCode(40001));
    let err = client.check_session_key(&session.openid).await.unwrap_err();
    assert!(err.is_token_invalid(), "{err:?}");
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(requests_to(&sandbox, "/wxa/checksession"), 2);
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
}

#[tokio::test]
async fn a_token_superseded_on_the_legacy_endpoint_is_refreshed_and_the_call_retried() {
    let (sandbox, _) = start().await;
    let client = MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .token_endpoint(TokenEndpoint::Legacy)
        .build()
        .unwrap();
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let session = client.code_to_session(js_code).await.unwrap();
    let first = client.server_token().access_token().await.unwrap();

    // Another process on cgi-bin/token: its fetch invalidates ours
    // (docs/protocol.md §5), and WeChat answers 40001.
    manager(&sandbox, TokenEndpoint::Legacy)
        .access_token()
        .await
        .unwrap();
    sandbox.clear_journal();
    assert_eq!(
        client.check_session_key(&session.openid).await.unwrap(),
        SessionKeyStatus::Valid
    );
    assert_eq!(requests_to(&sandbox, "/wxa/checksession"), 2);
    let fetches: Vec<_> = sandbox
        .journal()
        .into_iter()
        .filter(|e| e.path == "/cgi-bin/token")
        .collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].method, "GET");
    let names: Vec<_> = fetches[0].params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["grant_type", "appid", "secret"]);
    assert_ne!(client.server_token().access_token().await.unwrap(), first);
}

#[tokio::test]
async fn the_token_is_refreshed_five_minutes_before_the_expiry_wechat_gave() {
    let (sandbox, _) = start().await;
    // An hour into the stable token's life WeChat answers `expires_in` ≈ 3600, not 7200.
    let warm = manager(&sandbox, TokenEndpoint::Stable);
    warm.access_token().await.unwrap();
    sandbox.advance_clock(Duration::from_secs(3600));
    let tokens = manager(&sandbox, TokenEndpoint::Stable);
    let token = tokens.access_token().await.unwrap();
    sandbox.clear_journal();

    // Our clock, not the sandbox's: move tokio's time forward while no request is in flight.
    let skip = |secs| async move {
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(secs)).await;
        tokio::time::resume();
    };
    skip(3600 - 300 - 30).await; // 30 s before the refresh point
    assert_eq!(tokens.access_token().await.unwrap(), token);
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 0);
    skip(60).await; // 30 s past it, still 4.5 minutes before expiry
    tokens.access_token().await.unwrap();
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
}

#[tokio::test]
async fn bad_credentials_and_insecure_bases_are_refused() {
    let (sandbox, _) = start().await;
    let wrong = ServerTokenManager::builder(MINIPROGRAM_APPID, "wrong-secret")
        .api_base(sandbox.url())
        .build()
        .unwrap();
    let err = wrong.access_token().await.unwrap_err();
    assert_eq!(err.errcode(), Some(40125));
    assert!(!format!("{err} {err:?} {wrong:?}").contains("wrong-secret"));

    let insecure = ServerTokenManager::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base("http://api.example.com")
        .build();
    assert!(matches!(insecure, Err(Error::Config(_))));
    assert!(
        ServerTokenManager::builder(MINIPROGRAM_APPID, "")
            .build()
            .is_err()
    );
}
