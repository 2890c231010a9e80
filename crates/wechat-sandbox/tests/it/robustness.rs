//! Hostile or odd input never panics or wedges the sandbox, and codes stay single use under
//! concurrency.

use serde_json::Value;
use wechat_sandbox::defaults::*;

use crate::support::*;

#[tokio::test]
async fn malformed_queries_get_wechat_errors_never_a_crash() {
    let env = start().await;
    let paths = [
        "/sns/oauth2/access_token",
        "/sns/oauth2/refresh_token",
        "/sns/userinfo",
        "/sns/auth",
        "/sns/jscode2session",
        "/wxa/checksession",
        "/cgi-bin/token",
    ];
    let long = "x".repeat(8 * 1024);
    let queries = [
        String::new(),
        "appid".to_owned(),
        "%zz=%zz&&&==".to_owned(),
        "appid=%E4%BD%A0%00%ff&secret=%0A&code=%C3%28&grant_type=authorization_code".to_owned(),
        format!(
            "appid={OFFICIAL_APPID}&appid=wx1&secret={OFFICIAL_SECRET}&code={long}&grant_type=authorization_code"
        ),
        "access_token=&openid=&lang=".to_owned(),
        format!("access_token={long}&openid={long}"),
    ];
    for path in paths {
        for query in &queries {
            let response = env
                .http
                .get(format!("{}{path}?{query}", env.sandbox.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}?{query}");
            let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert!(
                body["errcode"].as_i64().is_some_and(|c| c != 0),
                "{path}?{query}: {body}"
            );
        }
    }
    for page in ["/connect/oauth2/authorize", "/connect/qrconnect"] {
        for query in &queries {
            let response = env
                .http
                .get(format!("{}{page}?{query}", env.sandbox.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{page}?{query}");
            assert!(
                response.text().await.unwrap().contains("错误码"),
                "{page}?{query}"
            );
        }
    }
    for body in [
        "",
        "null",
        "[]",
        "{\"code\": 5}",
        "{\"grant_type\": [1]}",
        "\u{0}\u{1}",
    ] {
        for path in [
            "/cgi-bin/stable_token",
            "/wxa/business/getuserphonenumber?access_token=x",
        ] {
            let response = env
                .http
                .post(format!("{}{path}", env.sandbox.url()))
                .body(body)
                .send()
                .await
                .unwrap();
            let parsed: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            assert!(
                parsed["errcode"].as_i64().is_some_and(|c| c != 0),
                "{path} {body:?}: {parsed}"
            );
        }
    }
    // Still healthy afterwards.
    assert_eq!(
        env.login("alice", "snsapi_base").await["scope"],
        "snsapi_base"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let env = start().await;
    let response = env
        .http
        .post(env.url("/cgi-bin/stable_token"))
        .body(vec![b'{'; 2 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_redeemed_by_many_clients_at_once_succeeds_exactly_once() {
    let env = start().await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    let url = env.url("/sns/oauth2/access_token");
    let attempts = (0..100).map(|_| {
        let http = env.http.clone();
        let url = url.clone();
        let code = code.clone();
        tokio::spawn(async move {
            let query = [
                ("appid", OFFICIAL_APPID),
                ("secret", OFFICIAL_SECRET),
                ("code", code.as_str()),
                ("grant_type", "authorization_code"),
            ];
            let body: Value = http
                .get(url)
                .query(&query)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        })
    });
    let mut successes = 0;
    let mut replays = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let body = attempt.await.unwrap();
        if body.get("access_token").is_some() {
            successes += 1;
        } else if body["errcode"] == 40163 {
            replays += 1;
        }
    }
    assert_eq!((successes, replays), (1, 99));
}
