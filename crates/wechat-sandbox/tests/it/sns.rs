//! `/sns/oauth2/access_token`, `/sns/oauth2/refresh_token`, `/sns/userinfo`, `/sns/auth`
//! (docs/protocol.md §3).

use std::time::Duration;

use serde_json::Value;
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::*;

use crate::support::*;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn code_exchange_returns_the_token_fields_as_text_plain() {
    let env = start().await;
    let code = env
        .code_via_page(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .await;
    let response = env
        .http
        .get(env.url("/sns/oauth2/access_token"))
        .query(&[
            ("appid", OFFICIAL_APPID),
            ("secret", OFFICIAL_SECRET),
            ("code", &code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    let token: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(token["expires_in"], 7200);
    assert_eq!(token["openid"], env.sandbox.openid(OFFICIAL_APPID, "alice"));
    assert_eq!(token["scope"], "snsapi_userinfo");
    assert_eq!(token["unionid"], env.sandbox.unionid("alice"));
    assert!(token["access_token"].as_str().unwrap().len() > 64);
    assert!(token["refresh_token"].as_str().unwrap().len() > 64);
    assert!(
        token.get("errcode").is_none() && token.get("is_snapshotuser").is_none(),
        "{token}"
    );
}

#[tokio::test]
async fn snsapi_base_exchange_carries_no_unionid() {
    let env = start().await;
    let token = env.login("bob", "snsapi_base").await;
    assert_eq!(token["scope"], "snsapi_base");
    assert!(token.get("unionid").is_none(), "{token}");
}

#[tokio::test]
async fn a_code_is_single_use() {
    let env = start().await;
    let code = env
        .code_via_page(OFFICIAL_APPID, "alice", "snsapi_base")
        .await;
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code)
            .await
            .get("access_token")
            .is_some()
    );
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await,
        40163,
    );
}

#[tokio::test]
async fn unknown_codes_and_codes_of_another_app_are_invalid() {
    let env = start().await;
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, "NOT-A-CODE")
            .await,
        40029,
    );
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    assert_errcode(
        &env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &code).await,
        40029,
    );
    // Still unused for its own app.
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code)
            .await
            .get("openid")
            .is_some()
    );
}

#[tokio::test]
async fn official_account_codes_expire_after_five_minutes() {
    let env = start().await;
    let fresh = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    let stale = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    env.sandbox.advance_clock(4 * MIN + Duration::from_secs(59));
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &fresh)
            .await
            .get("openid")
            .is_some()
    );
    env.sandbox.advance_clock(Duration::from_secs(1));
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &stale).await,
        40029,
    );
}

#[tokio::test]
async fn website_codes_live_ten_minutes() {
    let env = start().await;
    let fresh = env
        .sandbox
        .mint_code(WEBSITE_APPID, "alice", "snsapi_login")
        .unwrap();
    let stale = env
        .sandbox
        .mint_code(WEBSITE_APPID, "alice", "snsapi_login")
        .unwrap();
    env.sandbox.advance_clock(9 * MIN);
    assert!(
        env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &fresh)
            .await
            .get("openid")
            .is_some()
    );
    env.sandbox.advance_clock(MIN);
    assert_errcode(
        &env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &stale).await,
        40029,
    );
}

#[tokio::test]
async fn code_exchange_reports_each_missing_or_wrong_parameter() {
    let env = start().await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    let c = code.as_str();
    let cases: [(&[(&str, &str)], i64); 7] = [
        (
            &[
                ("secret", OFFICIAL_SECRET),
                ("code", c),
                ("grant_type", "authorization_code"),
            ],
            41002,
        ),
        (
            &[
                ("appid", "wx0000000000000000"),
                ("secret", OFFICIAL_SECRET),
                ("code", c),
                ("grant_type", "authorization_code"),
            ],
            40013,
        ),
        (
            &[
                ("appid", OFFICIAL_APPID),
                ("code", c),
                ("grant_type", "authorization_code"),
            ],
            41004,
        ),
        (
            &[
                ("appid", OFFICIAL_APPID),
                ("secret", "wrong"),
                ("code", c),
                ("grant_type", "authorization_code"),
            ],
            40125,
        ),
        (
            &[
                ("appid", OFFICIAL_APPID),
                ("secret", OFFICIAL_SECRET),
                ("grant_type", "authorization_code"),
            ],
            41008,
        ),
        (
            &[
                ("appid", OFFICIAL_APPID),
                ("secret", OFFICIAL_SECRET),
                ("code", c),
            ],
            40002,
        ),
        (
            &[
                ("appid", OFFICIAL_APPID),
                ("secret", OFFICIAL_SECRET),
                ("code", c),
                ("grant_type", "client_credential"),
            ],
            40002,
        ),
    ];
    for (query, errcode) in cases {
        assert_errcode(
            &env.get_json("/sns/oauth2/access_token", query).await,
            errcode,
        );
    }
    // None of the failures consumed the code.
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, c)
            .await
            .get("openid")
            .is_some()
    );
}

#[tokio::test]
async fn sns_routes_answer_43001_to_post() {
    let env = start().await;
    let response = env
        .http
        .post(env.url("/sns/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_errcode(
        &serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        43001,
    );
}

#[tokio::test]
async fn userinfo_returns_post_2021_profile_values_in_every_lang() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    for lang in [None, Some("zh_CN"), Some("zh_TW"), Some("en")] {
        let user = env.userinfo(&token, lang).await;
        assert_eq!(user["openid"], token["openid"]);
        assert_eq!(user["nickname"], "Alice");
        assert_eq!(user["sex"], 0);
        for region in ["province", "city", "country"] {
            assert_eq!(user[region], "");
        }
        assert!(user["headimgurl"].as_str().unwrap().ends_with("/132"));
        assert_eq!(user["privilege"], serde_json::json!([]));
        assert_eq!(user["unionid"], env.sandbox.unionid("alice"));
    }
    assert_errcode(&env.userinfo(&token, Some("fr")).await, 40035);
}

#[tokio::test]
async fn userinfo_rejects_base_scope_foreign_openids_and_bad_tokens() {
    let env = start().await;
    let base = env.login("alice", "snsapi_base").await;
    assert_errcode(&env.userinfo(&base, None).await, 48001);

    let token = env.login("alice", "snsapi_userinfo").await;
    let at = token["access_token"].as_str().unwrap();
    let bob = env.sandbox.openid(OFFICIAL_APPID, "bob");
    assert_errcode(
        &env.get_json("/sns/userinfo", &[("access_token", at), ("openid", &bob)])
            .await,
        40003,
    );
    let openid = token["openid"].as_str().unwrap();
    assert_errcode(
        &env.get_json(
            "/sns/userinfo",
            &[("access_token", "bogus"), ("openid", openid)],
        )
        .await,
        40014,
    );
    assert_errcode(
        &env.get_json("/sns/userinfo", &[("openid", openid)]).await,
        41001,
    );
    assert_errcode(
        &env.get_json("/sns/userinfo", &[("access_token", at)]).await,
        41009,
    );
}

#[tokio::test]
async fn access_tokens_expire_after_7200_seconds() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox.advance_clock(Duration::from_secs(7199));
    assert_eq!(env.userinfo(&token, None).await["nickname"], "Alice");
    env.sandbox.advance_clock(Duration::from_secs(1));
    assert_errcode(&env.userinfo(&token, None).await, 42001);
    let auth = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    assert_errcode(&env.get_json("/sns/auth", &auth).await, 42001);
}

#[tokio::test]
async fn sns_auth_checks_the_token_against_the_openid() {
    let env = start().await;
    let token = env.login("bob", "snsapi_base").await;
    let at = token["access_token"].as_str().unwrap();
    let openid = token["openid"].as_str().unwrap();
    assert_eq!(
        env.get_json("/sns/auth", &[("access_token", at), ("openid", openid)])
            .await,
        serde_json::json!({"errcode": 0, "errmsg": "ok"})
    );
    let alice = env.sandbox.openid(OFFICIAL_APPID, "alice");
    assert_errcode(
        &env.get_json("/sns/auth", &[("access_token", at), ("openid", &alice)])
            .await,
        40003,
    );
    assert_errcode(
        &env.get_json(
            "/sns/auth",
            &[("access_token", "AT.bogus"), ("openid", openid)],
        )
        .await,
        40014,
    );
    assert_errcode(
        &env.get_json("/sns/auth", &[("openid", openid)]).await,
        41001,
    );
    assert_errcode(
        &env.get_json("/sns/auth", &[("access_token", at)]).await,
        41009,
    );
}

async fn refresh(env: &Env, appid: &str, refresh_token: &str) -> Value {
    env.get_json(
        "/sns/oauth2/refresh_token",
        &[
            ("appid", appid),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_before_expiry_returns_the_same_access_token_with_its_expiry_extended() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let rt = token["refresh_token"].as_str().unwrap();
    env.sandbox.advance_clock(Duration::from_secs(7000));
    let refreshed = refresh(&env, OFFICIAL_APPID, rt).await;
    assert_eq!(refreshed["access_token"], token["access_token"]);
    assert_eq!(refreshed["refresh_token"], token["refresh_token"]);
    assert_eq!(refreshed["expires_in"], 7200);
    assert_eq!(refreshed["openid"], token["openid"]);
    assert_eq!(refreshed["scope"], "snsapi_userinfo");
    assert!(
        refreshed.get("unionid").is_none(),
        "the refresh response lists no unionid: {refreshed}"
    );
    // 7000 s later the original expiry has passed, the extended one has not.
    env.sandbox.advance_clock(Duration::from_secs(7000));
    assert_eq!(env.userinfo(&token, None).await["nickname"], "Alice");
}

#[tokio::test]
async fn refresh_after_expiry_issues_a_new_access_token_and_retires_the_old_one() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    env.sandbox.advance_clock(Duration::from_secs(7200));
    let refreshed = refresh(
        &env,
        OFFICIAL_APPID,
        token["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_ne!(refreshed["access_token"], token["access_token"]);
    assert_eq!(env.userinfo(&refreshed, None).await["nickname"], "Alice");
    assert_errcode(&env.userinfo(&token, None).await, 40014);
}

#[tokio::test]
async fn a_new_authorization_revokes_the_previous_refresh_token_only() {
    let env = start().await;
    let first = env.login("alice", "snsapi_userinfo").await;
    let bob = env.login("bob", "snsapi_userinfo").await;
    let second = env.login("alice", "snsapi_base").await;
    assert_errcode(
        &refresh(
            &env,
            OFFICIAL_APPID,
            first["refresh_token"].as_str().unwrap(),
        )
        .await,
        40030,
    );
    // The first access token lives on until it expires; the second refresh token and
    // another user's work.
    assert_eq!(env.userinfo(&first, None).await["nickname"], "Alice");
    for token in [&second, &bob] {
        let refreshed = refresh(
            &env,
            OFFICIAL_APPID,
            token["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(refreshed["openid"], token["openid"], "{refreshed}");
    }
    // One refresh token per user is held, however often they authorize.
    for _ in 0..5 {
        env.login("alice", "snsapi_base").await;
    }
    let stats = env.get_json("/__sandbox/stats", &[]).await;
    assert_eq!(stats["tokens"]["refresh"], 2, "{stats}");
    assert_eq!(stats["tokens"]["access"], 8, "{stats}");
}

#[tokio::test]
async fn refresh_tokens_last_thirty_days_and_are_never_extended() {
    let env = start().await;
    let token = env.login("alice", "snsapi_base").await;
    let rt = token["refresh_token"].as_str().unwrap();
    env.sandbox.advance_clock(Duration::from_secs(29 * 86_400));
    assert!(
        refresh(&env, OFFICIAL_APPID, rt)
            .await
            .get("access_token")
            .is_some()
    );
    env.sandbox.advance_clock(Duration::from_secs(86_400));
    assert_errcode(&refresh(&env, OFFICIAL_APPID, rt).await, 42002);
}

#[tokio::test]
async fn refresh_takes_no_secret_and_reports_bad_parameters() {
    let env = start().await;
    let token = env.login("alice", "snsapi_base").await;
    let rt = token["refresh_token"].as_str().unwrap();
    assert_errcode(
        &refresh(&env, OFFICIAL_APPID, "not-a-refresh-token").await,
        40030,
    );
    assert_errcode(&refresh(&env, WEBSITE_APPID, rt).await, 40030);
    assert_errcode(
        &env.get_json(
            "/sns/oauth2/refresh_token",
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await,
        41002,
    );
    assert_errcode(
        &env.get_json(
            "/sns/oauth2/refresh_token",
            &[
                ("appid", "wx0000000000000000"),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
            ],
        )
        .await,
        40013,
    );
    assert_errcode(
        &env.get_json(
            "/sns/oauth2/refresh_token",
            &[("appid", OFFICIAL_APPID), ("refresh_token", rt)],
        )
        .await,
        40002,
    );
    assert_errcode(
        &env.get_json(
            "/sns/oauth2/refresh_token",
            &[("appid", OFFICIAL_APPID), ("grant_type", "refresh_token")],
        )
        .await,
        41003,
    );
    let ok = refresh(&env, OFFICIAL_APPID, rt).await;
    assert_eq!(ok["openid"], token["openid"]);
}

#[tokio::test]
async fn snapshot_users_get_the_flag_and_virtual_ids_on_official_accounts_only() {
    let env = start().await;
    let token = env.login(SNAPSHOT_USER, "snsapi_userinfo").await;
    assert_eq!(token["is_snapshotuser"], 1);
    assert_eq!(
        token["openid"],
        env.sandbox.openid(OFFICIAL_APPID, SNAPSHOT_USER)
    );
    assert_eq!(token["unionid"], env.sandbox.unionid(SNAPSHOT_USER));
    let user = env.userinfo(&token, None).await;
    assert_eq!(user["nickname"], "微信用户");
    let refreshed = refresh(
        &env,
        OFFICIAL_APPID,
        token["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refreshed["is_snapshotuser"], 1);

    let web_code = env
        .sandbox
        .mint_code(WEBSITE_APPID, SNAPSHOT_USER, "snsapi_login")
        .unwrap();
    let web = env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &web_code).await;
    assert!(web.get("is_snapshotuser").is_none(), "{web}");

    // A user of the same name who is not a snapshot user has different (real) ids.
    let other = Sandbox::builder()
        .user(SNAPSHOT_USER)
        .start()
        .await
        .unwrap();
    assert_ne!(
        other.openid(OFFICIAL_APPID, SNAPSHOT_USER),
        env.sandbox.openid(OFFICIAL_APPID, SNAPSHOT_USER)
    );
    assert_ne!(
        other.unionid(SNAPSHOT_USER),
        env.sandbox.unionid(SNAPSHOT_USER)
    );
}

#[tokio::test]
async fn ids_are_deterministic_per_user_and_app_and_unionid_spans_apps() {
    let env = start().await;
    let again = Sandbox::builder().start().await.unwrap();
    assert_eq!(
        env.sandbox.openid(OFFICIAL_APPID, "alice"),
        again.openid(OFFICIAL_APPID, "alice")
    );
    assert_ne!(
        env.sandbox.openid(OFFICIAL_APPID, "alice"),
        env.sandbox.openid(WEBSITE_APPID, "alice")
    );
    assert_ne!(
        env.sandbox.openid(OFFICIAL_APPID, "alice"),
        env.sandbox.openid(OFFICIAL_APPID, "bob")
    );
    let openid = env.sandbox.openid(OFFICIAL_APPID, "alice");
    assert_eq!(openid.len(), 28);
    assert!(openid.starts_with('o'));

    let oa = env.login("alice", "snsapi_userinfo").await;
    let code = env
        .code_via_page(WEBSITE_APPID, "alice", "snsapi_login")
        .await;
    let web = env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &code).await;
    assert_ne!(oa["openid"], web["openid"]);
    assert_eq!(oa["unionid"], web["unionid"]);
}

#[tokio::test]
async fn unknown_routes_answer_404_naming_the_request() {
    let env = start().await;
    let response = env.http.get(env.url("/sns/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("GET /sns/nope"));
}

#[tokio::test]
async fn website_tokens_read_the_profile_and_pass_sns_auth() {
    let env = start().await;
    let code = env
        .code_via_page(WEBSITE_APPID, "bob", "snsapi_login")
        .await;
    let token = env.exchange(WEBSITE_APPID, WEBSITE_SECRET, &code).await;
    let user = env.userinfo(&token, Some("en")).await;
    assert_eq!(user["nickname"], "Bob");
    assert_eq!(user["openid"], env.sandbox.openid(WEBSITE_APPID, "bob"));
    let auth = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    assert_eq!(env.get_json("/sns/auth", &auth).await["errcode"], 0);
}
