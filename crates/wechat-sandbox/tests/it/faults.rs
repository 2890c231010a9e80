//! Every fault kind, FIFO order per path, and what a fault leaves untouched.

use std::time::Duration;

use serde_json::{Value, json};
use wechat_sandbox::Fault;
use wechat_sandbox::defaults::*;

use crate::support::*;

async fn userinfo_response(env: &Env, token: &Value) -> reqwest::Response {
    env.http
        .get(env.url("/sns/userinfo"))
        .query(&[
            ("access_token", token["access_token"].as_str().unwrap()),
            ("openid", token["openid"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn errcode_fault_answers_the_errcode_without_consuming_the_code() {
    let env = start().await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    env.sandbox
        .inject_fault("/sns/oauth2/access_token", Fault::ErrCode(-1));
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await,
        -1,
    );
    let journal = env.sandbox.journal();
    assert_eq!(journal.len(), 1, "the faulted request is journaled");
    assert_eq!(journal[0].param("code"), Some(code.as_str()));
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code)
            .await
            .get("openid")
            .is_some()
    );
}

#[tokio::test]
async fn faults_are_used_first_in_first_out_one_per_request_and_per_path() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    for code in [45011, 40226, 42001] {
        env.sandbox
            .inject_fault("/sns/userinfo", Fault::ErrCode(code));
    }
    // Another path is not affected.
    let auth = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    assert_eq!(env.get_json("/sns/auth", &auth).await["errcode"], 0);
    for code in [45011, 40226, 42001] {
        assert_errcode(&env.userinfo(&token, None).await, code);
    }
    assert_eq!(env.userinfo(&token, None).await["nickname"], "Alice");
}

#[tokio::test]
async fn html502_fault_is_a_gateway_error_page() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox.inject_fault("/sns/userinfo", Fault::Html502);
    let response = userinfo_response(&env, &token).await;
    assert_eq!(response.status(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("502 Bad Gateway"));
}

#[tokio::test]
async fn empty_gbk_fault_is_an_empty_html_body_with_status_200() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox.inject_fault("/sns/userinfo", Fault::EmptyGbk);
    let response = userinfo_response(&env, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=gbk");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn truncated_json_fault_does_not_parse() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox
        .inject_fault("/sns/userinfo", Fault::TruncatedJson);
    let response = userinfo_response(&env, &token).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"{"));
    assert!(serde_json::from_slice::<Value>(&body).unwrap_err().is_eof());
}

#[tokio::test]
async fn delay_fault_holds_the_answer_past_a_client_timeout_then_processes() {
    let env = start().await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    env.sandbox.inject_fault(
        "/sns/oauth2/access_token",
        Fault::Delay(Duration::from_millis(1500)),
    );
    let err = env
        .http
        .get(env.url("/sns/oauth2/access_token"))
        .query(&[
            ("appid", OFFICIAL_APPID),
            ("secret", OFFICIAL_SECRET),
            ("code", &code),
            ("grant_type", "authorization_code"),
        ])
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // The delayed request was still processed once its delay passed: the code is now used.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await,
        40163,
    );
}

#[tokio::test]
async fn reset_fault_drops_the_connection_without_an_answer() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox.inject_fault("/sns/userinfo", Fault::Reset);
    let err = env
        .http
        .get(env.url("/sns/userinfo"))
        .query(&[
            ("access_token", token["access_token"].as_str().unwrap()),
            ("openid", token["openid"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_request() && !err.is_timeout(), "{err:?}");
    assert_eq!(env.userinfo(&token, None).await["nickname"], "Alice");
}

#[tokio::test]
async fn faults_can_be_queued_listed_and_cleared_over_http() {
    let env = start().await;
    let queued = env
        .post_json(
            "/__sandbox/faults",
            &[],
            &json!({"path": "/cgi-bin/token", "fault": "errcode", "errcode": 40164, "count": 2}),
        )
        .await;
    assert_eq!(queued["queued"], 2);
    env.post_json(
        "/__sandbox/faults",
        &[],
        &json!({"path": "/cgi-bin/token", "fault": "delay", "ms": 5}),
    )
    .await;
    let listed: Value = env.get_json("/__sandbox/faults", &[]).await;
    assert_eq!(
        listed["/cgi-bin/token"],
        json!([{"fault": "errcode", "errcode": 40164}, {"fault": "errcode", "errcode": 40164}, {"fault": "delay", "ms": 5}])
    );
    let query = [
        ("grant_type", "client_credential"),
        ("appid", MINIPROGRAM_APPID),
        ("secret", MINIPROGRAM_SECRET),
    ];
    assert_errcode(&env.get_json("/cgi-bin/token", &query).await, 40164);
    let cleared = env
        .http
        .delete(env.url("/__sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert!(
        env.get_json("/cgi-bin/token", &query)
            .await
            .get("access_token")
            .is_some()
    );

    for (fault, status) in [
        ("html502", 502),
        ("empty_gbk", 200),
        ("truncated_json", 200),
    ] {
        env.post_json(
            "/__sandbox/faults",
            &[],
            &json!({"path": "/cgi-bin/token", "fault": fault}),
        )
        .await;
        let response = env
            .http
            .get(env.url("/cgi-bin/token"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{fault}");
    }
    env.post_json(
        "/__sandbox/faults",
        &[],
        &json!({"path": "/cgi-bin/token", "fault": "reset"}),
    )
    .await;
    assert!(
        env.http
            .get(env.url("/cgi-bin/token"))
            .query(&query)
            .send()
            .await
            .is_err()
    );

    let bad = env
        .http
        .post(env.url("/__sandbox/faults"))
        .json(&json!({"path": "/x", "fault": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("unknown fault"));
}

#[tokio::test]
async fn respond_fault_sends_a_canned_answer_for_other_quirks() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let quirky = r#"{"openid":"o1","nickname":"A","sex":"1","province":"","city":"","country":"","headimgurl":"","privilege":[],"extra":true}"#;
    env.sandbox.inject_fault(
        "/sns/userinfo",
        Fault::Respond {
            status: 200,
            content_type: "application/json; encoding=utf-8".into(),
            body: quirky.into(),
        },
    );
    let response = userinfo_response(&env, &token).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json; encoding=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), quirky);

    env.post_json(
        "/__sandbox/faults",
        &[],
        &json!({"path": "/sns/userinfo", "fault": "respond", "status": 500, "body": "{}"}),
    )
    .await;
    let response = userinfo_response(&env, &token).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(env.userinfo(&token, None).await["nickname"], "Alice");
}
