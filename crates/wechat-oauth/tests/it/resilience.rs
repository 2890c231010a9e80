//! Retries, timeouts, size limits and malformed answers (docs/protocol.md §1, §3.1, §6,
//! §7).

use std::time::Duration;

use wechat_oauth::error::ResponseErrorKind;
use wechat_oauth::{Error, OAuthClient, TokenStore};
use wechat_sandbox::Fault;
use wechat_sandbox::defaults::OFFICIAL_APPID;

use crate::common::*;

#[tokio::test]
async fn code_exchange_is_never_retried_on_busy() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(5).build().unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    sandbox.inject_fault(EXCHANGE, Fault::ErrCode(-1));
    let err = client.get_access_token(code).await.unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert!(
        err.is_retryable(),
        "busy is retryable in general, just not for a code"
    );
    assert_eq!(calls(&sandbox, EXCHANGE).len(), 1);
}

#[tokio::test]
async fn code_exchange_is_never_retried_on_a_connection_reset() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(5).build().unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    sandbox.inject_fault(EXCHANGE, Fault::Reset);
    let err = client.get_user_by_code(code).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(calls(&sandbox, EXCHANGE).len(), 1);
}

#[tokio::test]
async fn userinfo_is_retried_on_busy_until_it_succeeds() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(2).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(USERINFO, Fault::ErrCode(-1));
    sandbox.inject_fault(USERINFO, Fault::ErrCode(-1));
    client.get_user(&token.openid).await.unwrap();
    assert_eq!(calls(&sandbox, USERINFO).len(), 3);
}

#[tokio::test]
async fn userinfo_retries_are_bounded() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(2).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    for _ in 0..3 {
        sandbox.inject_fault(USERINFO, Fault::ErrCode(-1));
    }
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    assert_eq!(calls(&sandbox, USERINFO).len(), 3);
}

#[tokio::test]
async fn transport_errors_on_idempotent_calls_are_retried() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(1).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(USERINFO, Fault::Reset);
    client
        .user_info(&token, wechat_oauth::Lang::ZhCn)
        .await
        .unwrap();
    sandbox.inject_fault(super::common::REFRESH, Fault::Reset);
    client
        .refresh_access_token(&token.refresh_token)
        .await
        .unwrap();
    assert_eq!(calls(&sandbox, USERINFO).len(), 2);
    assert_eq!(calls(&sandbox, REFRESH).len(), 2);
}

#[tokio::test]
async fn rate_limit_and_other_errors_are_not_retried() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(3).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(USERINFO, Fault::ErrCode(40003));
    let err = client
        .user_info(&token, wechat_oauth::Lang::ZhCn)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40003));
    assert_eq!(calls(&sandbox, USERINFO).len(), 1);
}

#[tokio::test]
async fn a_slow_wechat_times_out_with_a_typed_error() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox)
        .timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    sandbox.inject_fault(EXCHANGE, Fault::Delay(Duration::from_secs(5)));
    let err = client.get_access_token(code.as_str()).await.unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!format!("{err:?}").contains(&code));
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn the_total_timeout_holds_with_a_caller_supplied_client_too() {
    // A caller's reqwest client with its own, shorter timeout: it is honoured (the SDK's
    // deadline applies too, and is longer here).
    let sandbox = sandbox().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // Log in with a default client so only the call under test races the short timeout.
    let token = login(&sandbox, &client(&sandbox), "alice", "snsapi_userinfo").await;
    let client = builder(&sandbox)
        .http_client(http)
        .max_retries(0)
        .token_store(wechat_oauth::MemoryStore::new())
        .build()
        .unwrap();
    client
        .token_store()
        .save(&token.openid, &token)
        .await
        .unwrap();
    sandbox.inject_fault(USERINFO, Fault::Delay(Duration::from_secs(5)));
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn a_timed_out_userinfo_is_retried() {
    let sandbox = sandbox().await;
    let token = login(&sandbox, &client(&sandbox), "alice", "snsapi_userinfo").await;
    // Generous enough for the retry to succeed on a loaded machine, far below the delay.
    let client = builder(&sandbox)
        .timeout(Duration::from_secs(1))
        .max_retries(1)
        .build()
        .unwrap();
    client
        .token_store()
        .save(&token.openid, &token)
        .await
        .unwrap();
    sandbox.inject_fault(USERINFO, Fault::Delay(Duration::from_secs(10)));
    client.get_user(&token.openid).await.unwrap();
    assert_eq!(calls(&sandbox, USERINFO).len(), 2);
}

async fn response_error_for(fault: Fault) -> wechat_oauth::error::ResponseError {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(USERINFO, fault);
    match client.get_user(&token.openid).await {
        Err(Error::Response(e)) => {
            assert_eq!(
                calls(&sandbox, USERINFO).len(),
                1,
                "malformed answers are not retried"
            );
            e
        }
        other => panic!("expected a response error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_gbk_body_is_a_typed_error() {
    let e = response_error_for(Fault::EmptyGbk).await;
    assert_eq!((e.status, e.kind), (None, ResponseErrorKind::Empty));
}

#[tokio::test]
async fn an_html_502_page_is_a_typed_error_keeping_the_status() {
    let e = response_error_for(Fault::Html502).await;
    assert_eq!(
        (e.status, &e.kind),
        (Some(502), &ResponseErrorKind::NotJson)
    );
    assert!(e.snippet.contains("502 Bad Gateway"), "{}", e.snippet);
    assert!(e.to_string().contains("HTTP 502"));
}

#[tokio::test]
async fn truncated_json_is_a_typed_error_with_a_redacted_snippet() {
    let e = response_error_for(Fault::TruncatedJson).await;
    assert_eq!(e.kind, ResponseErrorKind::Truncated);
    assert!(!e.snippet.contains("86_TRUNCATED"), "{}", e.snippet);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_body_bytes(64).build().unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    match client.get_access_token(code).await {
        Err(Error::Response(e)) => assert_eq!(e.kind, ResponseErrorKind::TooLarge),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_wechat_is_a_connect_error_without_the_url() {
    // Bind a port, then free it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = OAuthClient::builder(OFFICIAL_APPID, "the-app-secret")
        .api_base(format!("http://127.0.0.1:{port}"))
        .max_retries(0)
        .build()
        .unwrap();
    let err = client.get_access_token("the-code").await.unwrap_err();
    match &err {
        Error::Transport(t) => assert!(t.is_connect(), "{t:?}"),
        other => panic!("{other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("the-app-secret")
            && !shown.contains("the-code")
            && !shown.contains("secret="),
        "{shown}"
    );
}

#[tokio::test]
async fn refresh_and_token_checks_are_retried_on_busy() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(1).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(REFRESH, Fault::ErrCode(-1));
    client
        .refresh_access_token(&token.refresh_token)
        .await
        .unwrap();
    sandbox.inject_fault(AUTH, Fault::ErrCode(-1));
    let status = client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap();
    assert!(status.is_valid());
    assert_eq!(calls(&sandbox, REFRESH).len(), 2);
    assert_eq!(calls(&sandbox, AUTH).len(), 2);
}
