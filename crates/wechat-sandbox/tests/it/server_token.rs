//! `/cgi-bin/token` and `/cgi-bin/stable_token` (docs/protocol.md §5).

use std::time::Duration;

use serde_json::{Value, json};
use wechat_sandbox::defaults::*;

use crate::support::*;

/// Whether a server token is currently accepted, probed through checksession: 87009 means
/// the token passed and only the (deliberately absent) signature failed.
async fn token_errcode(env: &Env, token: &str) -> i64 {
    let openid = env.sandbox.openid(MINIPROGRAM_APPID, "alice");
    let body = env
        .get_json(
            "/wxa/checksession",
            &[
                ("access_token", token),
                ("openid", &openid),
                ("signature", "x"),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await;
    body["errcode"].as_i64().unwrap()
}

async fn stable(env: &Env, force_refresh: bool) -> Value {
    let body = json!({"grant_type": "client_credential", "appid": MINIPROGRAM_APPID, "secret": MINIPROGRAM_SECRET, "force_refresh": force_refresh});
    env.post_json("/cgi-bin/stable_token", &[], &body).await
}

#[tokio::test]
async fn cgi_bin_token_rotates_and_the_old_token_answers_40001() {
    let env = start().await;
    let response = env
        .http
        .get(env.url("/cgi-bin/token"))
        .query(&[
            ("grant_type", "client_credential"),
            ("appid", MINIPROGRAM_APPID),
            ("secret", MINIPROGRAM_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let first = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token_errcode(&env, &first).await, 87009);
    let second = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    assert_ne!(first, second);
    assert_eq!(token_errcode(&env, &first).await, 40001);
    assert_eq!(token_errcode(&env, &second).await, 87009);
    env.sandbox.advance_clock(Duration::from_secs(7200));
    assert_eq!(token_errcode(&env, &second).await, 42001);
}

#[tokio::test]
async fn cgi_bin_token_reports_each_missing_or_wrong_parameter() {
    let env = start().await;
    let cases: [(&[(&str, &str)], i64); 5] = [
        (
            &[("appid", MINIPROGRAM_APPID), ("secret", MINIPROGRAM_SECRET)],
            40002,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("secret", MINIPROGRAM_SECRET),
            ],
            41002,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", "wx0000000000000000"),
                ("secret", "s"),
            ],
            40013,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", MINIPROGRAM_APPID),
            ],
            41004,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", MINIPROGRAM_APPID),
                ("secret", "wrong"),
            ],
            40125,
        ),
    ];
    for (query, errcode) in cases {
        assert_errcode(&env.get_json("/cgi-bin/token", query).await, errcode);
    }
}

#[tokio::test]
async fn stable_token_repeats_the_same_token_and_is_isolated_from_cgi_bin_token() {
    let env = start().await;
    let first = stable(&env, false).await;
    assert_eq!(first["expires_in"], 7200);
    env.sandbox.advance_clock(Duration::from_secs(100));
    let second = stable(&env, false).await;
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(second["expires_in"], 7100);
    let plain = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    let stable_token = first["access_token"].as_str().unwrap();
    assert_eq!(token_errcode(&env, stable_token).await, 87009);
    assert_eq!(token_errcode(&env, &plain).await, 87009);
}

#[tokio::test]
async fn stable_token_rotates_five_minutes_early_with_an_overlap() {
    let env = start().await;
    let first = stable(&env, false).await;
    env.sandbox.advance_clock(Duration::from_secs(7200 - 300));
    let second = stable(&env, false).await;
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["expires_in"], 7200);
    assert_eq!(
        token_errcode(&env, first["access_token"].as_str().unwrap()).await,
        87009,
        "old token valid during the overlap"
    );
    env.sandbox.advance_clock(Duration::from_secs(300));
    assert_eq!(
        token_errcode(&env, first["access_token"].as_str().unwrap()).await,
        42001
    );
}

#[tokio::test]
async fn stable_token_force_refresh_replaces_the_token_at_most_every_30_seconds() {
    let env = start().await;
    let first = stable(&env, false).await;
    let forced = stable(&env, true).await;
    assert_ne!(forced["access_token"], first["access_token"]);
    assert_eq!(
        token_errcode(&env, first["access_token"].as_str().unwrap()).await,
        40001
    );
    assert_errcode(&stable(&env, true).await, 45011);
    env.sandbox.advance_clock(Duration::from_secs(30));
    assert!(stable(&env, true).await.get("access_token").is_some());
}

#[tokio::test]
async fn stable_token_wants_a_post_with_a_json_body() {
    let env = start().await;
    assert_errcode(
        &env.get_json("/cgi-bin/stable_token", &[("appid", MINIPROGRAM_APPID)])
            .await,
        43002,
    );
    let form = env
        .http
        .post(env.url("/cgi-bin/stable_token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credential&appid={MINIPROGRAM_APPID}&secret={MINIPROGRAM_SECRET}"
        ))
        .send()
        .await
        .unwrap();
    assert_errcode(
        &serde_json::from_slice(&form.bytes().await.unwrap()).unwrap(),
        47001,
    );
    let cases = [
        (
            json!({"appid": MINIPROGRAM_APPID, "secret": MINIPROGRAM_SECRET}),
            40002,
        ),
        (
            json!({"grant_type": "client_credential", "secret": MINIPROGRAM_SECRET}),
            41002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": "wx0000000000000000", "secret": "s"}),
            40013,
        ),
        (
            json!({"grant_type": "client_credential", "appid": MINIPROGRAM_APPID}),
            41004,
        ),
        (
            json!({"grant_type": "client_credential", "appid": MINIPROGRAM_APPID, "secret": "wrong"}),
            40125,
        ),
    ];
    for (body, errcode) in cases {
        assert_errcode(
            &env.post_json("/cgi-bin/stable_token", &[], &body).await,
            errcode,
        );
    }
}

#[tokio::test]
async fn stable_token_force_refresh_is_limited_to_twenty_a_day() {
    let env = start().await;
    for _ in 0..20 {
        assert!(stable(&env, true).await.get("access_token").is_some());
        env.sandbox.advance_clock(Duration::from_secs(30));
    }
    assert_errcode(&stable(&env, true).await, 45009);
    // Normal mode still answers, with the last forced token.
    assert!(stable(&env, false).await.get("access_token").is_some());
    env.sandbox.advance_clock(Duration::from_secs(86_400));
    assert!(stable(&env, true).await.get("access_token").is_some());
}
