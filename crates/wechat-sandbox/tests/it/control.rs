//! The `/__sandbox/*` control plane and the library operations behind it.

use std::time::Duration;

use serde_json::{Value, json};
use wechat_sandbox::defaults::*;
use wechat_sandbox::{AppKind, Error, Sandbox};

use crate::support::*;

#[tokio::test]
async fn journal_lists_requests_in_wire_order_and_skips_the_control_plane() {
    let env = start().await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    let token = env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await;
    env.get_json(
        "/sns/oauth2/refresh_token",
        &[
            ("appid", OFFICIAL_APPID),
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    let journal: Value = env.get_json("/__sandbox/journal", &[]).await;
    let entries = journal.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{journal}");
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(entries[0]["path"], "/sns/oauth2/access_token");
    assert_eq!(
        entries[0]["params"],
        json!([
            ["appid", OFFICIAL_APPID],
            ["secret", OFFICIAL_SECRET],
            ["code", code],
            ["grant_type", "authorization_code"]
        ])
    );
    assert_eq!(entries[0]["body"], Value::Null);
    assert!(entries[0]["at_ms"].as_i64().unwrap() > 1_600_000_000_000);
    let names: Vec<&str> = entries[1]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["appid", "grant_type", "refresh_token"],
        "the refresh carried no secret"
    );

    let cleared = env
        .http
        .delete(env.url("/__sandbox/journal"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cleared.json::<Value>().await.unwrap(),
        json!({"cleared": 2})
    );
    assert!(env.sandbox.journal().is_empty());
}

#[tokio::test]
async fn journal_records_post_bodies_and_content_types() {
    let env = start().await;
    let body = json!({"grant_type": "client_credential", "appid": MINIPROGRAM_APPID, "secret": MINIPROGRAM_SECRET});
    env.post_json("/cgi-bin/stable_token", &[], &body).await;
    let journal = env.sandbox.journal();
    assert_eq!(journal[0].method, "POST");
    assert_eq!(journal[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(journal[0].body.as_deref().unwrap()).unwrap(),
        body
    );
    env.sandbox.clear_journal();
    assert!(env.sandbox.journal().is_empty());
}

#[tokio::test]
async fn journal_keeps_only_the_newest_entries_up_to_its_capacity() {
    let env = start_with(Sandbox::builder().journal_capacity(2)).await;
    for n in ["1", "2", "3"] {
        env.get_json("/sns/auth", &[("n", n)]).await;
    }
    let kept: Vec<String> = env
        .sandbox
        .journal()
        .iter()
        .map(|e| e.param("n").unwrap().to_owned())
        .collect();
    assert_eq!(kept, ["2", "3"]);
    // The counts never drop anything.
    assert_eq!(env.sandbox.request_count("/sns/auth"), 3);
    let stats = env.get_json("/__sandbox/stats", &[]).await;
    assert_eq!(
        stats,
        json!({
            "requests": {"/sns/auth": 3},
            "journal_len": 2,
            "journal_dropped": 1,
            "tokens": {"access": 0, "refresh": 0},
        })
    );
    env.sandbox.clear_journal();
    assert_eq!(env.sandbox.request_count("/sns/auth"), 0);
    let off = start_with(Sandbox::builder().journal_capacity(0)).await;
    off.get_json("/sns/auth", &[]).await;
    assert!(off.sandbox.journal().is_empty());
    assert_eq!(off.sandbox.request_count("/sns/auth"), 1);
}

#[tokio::test]
async fn clock_advances_over_http() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let before = env.get_json("/__sandbox/clock", &[]).await["now_ms"]
        .as_i64()
        .unwrap();
    let advanced = env
        .post_json("/__sandbox/clock/advance", &[], &json!({"seconds": 7200}))
        .await;
    assert_eq!(advanced["offset_ms"], 7_200_000);
    assert!(advanced["now_ms"].as_i64().unwrap() >= before + 7_200_000);
    assert_errcode(&env.userinfo(&token, None).await, 42001);
    let backwards = env
        .http
        .post(env.url("/__sandbox/clock/advance"))
        .json(&json!({"seconds": -5}))
        .send()
        .await
        .unwrap();
    assert_eq!(backwards.status(), 400);
}

#[tokio::test]
async fn an_absurd_clock_jump_saturates_instead_of_overflowing() {
    let env = start().await;
    env.sandbox.advance_clock(Duration::MAX);
    env.sandbox.advance_clock(Duration::MAX);
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_base")
        .unwrap();
    assert!(
        env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code)
            .await
            .get("openid")
            .is_some()
    );
    let far = env
        .post_json(
            "/__sandbox/clock/advance",
            &[],
            &json!({"seconds": i64::MAX}),
        )
        .await;
    assert!(far["now_ms"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn codes_are_minted_over_http_for_benchmarks() {
    let env = start().await;
    let minted = env
        .post_json(
            "/__sandbox/codes",
            &[],
            &json!({"appid": WEBSITE_APPID, "user": "bob", "scope": "snsapi_login"}),
        )
        .await;
    let token = env
        .exchange(
            WEBSITE_APPID,
            WEBSITE_SECRET,
            minted["code"].as_str().unwrap(),
        )
        .await;
    assert_eq!(token["openid"], env.sandbox.openid(WEBSITE_APPID, "bob"));
    let refused = env
        .http
        .post(env.url("/__sandbox/codes"))
        .json(&json!({"appid": WEBSITE_APPID, "user": "bob", "scope": "snsapi_userinfo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("scope")
    );
}

#[test]
fn mint_code_checks_app_user_and_scope() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sandbox = Sandbox::builder().start().await.unwrap();
        assert!(matches!(
            sandbox.mint_code("wx0000000000000000", "alice", "snsapi_base"),
            Err(Error::UnknownApp(_))
        ));
        assert!(matches!(
            sandbox.mint_code(OFFICIAL_APPID, "zed", "snsapi_base"),
            Err(Error::UnknownUser(_))
        ));
        assert!(matches!(
            sandbox.mint_code(OFFICIAL_APPID, "alice", "snsapi_login"),
            Err(Error::Scope { .. })
        ));
        assert!(matches!(
            sandbox.mint_code(MINIPROGRAM_APPID, "alice", "snsapi_base"),
            Err(Error::Scope { .. })
        ));
    });
}

#[tokio::test]
async fn reset_forgets_codes_tokens_faults_journal_and_clock() {
    let env = start().await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let code = env
        .sandbox
        .mint_code(OFFICIAL_APPID, "bob", "snsapi_base")
        .unwrap();
    env.sandbox
        .inject_fault("/sns/auth", wechat_sandbox::Fault::ErrCode(-1));
    env.sandbox.advance_clock(Duration::from_secs(3600));
    let reset = env.post_json("/__sandbox/reset", &[], &json!({})).await;
    assert_eq!(reset, json!({"ok": true}));
    assert!(env.sandbox.journal().is_empty());
    assert!(
        (env.sandbox.now_ms() - wall_ms()).abs() < 60_000,
        "the clock is back to wall time"
    );
    assert_errcode(
        &env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await,
        40029,
    );
    let auth = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    assert_errcode(&env.get_json("/sns/auth", &auth).await, 40014);
    // Ids survive a reset.
    assert_eq!(
        env.login("alice", "snsapi_base").await["openid"],
        token["openid"]
    );
    env.sandbox.reset();
    assert!(env.sandbox.journal().is_empty());
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn config_lists_apps_users_and_their_ids_without_secrets() {
    let env = start_with(
        Sandbox::builder()
            .app("wxcustom0000000001", "top-secret-value", AppKind::Website)
            .domain("login.example.com")
            .user("carol")
            .snapshot_user("visitor"),
    )
    .await;
    let response = env
        .http
        .get(env.url("/__sandbox/config"))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains("top-secret-value"));
    let config: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        config["apps"],
        json!([{"appid": "wxcustom0000000001", "kind": "website", "domain": "login.example.com"}])
    );
    assert_eq!(config["users"][0]["id"], "carol");
    assert_eq!(config["users"][1]["snapshot"], true);
    assert_eq!(
        config["users"][0]["openids"]["wxcustom0000000001"],
        env.sandbox.openid("wxcustom0000000001", "carol")
    );
    assert_eq!(
        config["users"][1]["unionid"],
        env.sandbox.unionid("visitor")
    );
    assert_eq!(env.sandbox.users().len(), 2);
    let debug = format!("{:?}", env.sandbox);
    assert!(
        debug.contains("wxcustom0000000001") && !debug.contains("top-secret-value"),
        "{debug}"
    );
    assert_eq!(env.sandbox.apps()[0].kind, AppKind::Website);
}

#[tokio::test]
async fn control_plane_errors_are_json_with_a_reason() {
    let env = start().await;
    let unknown = env
        .http
        .get(env.url("/__sandbox/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("/__sandbox/nope")
    );
    let bad = env
        .http
        .post(env.url("/__sandbox/clock/advance"))
        .body("seconds=5")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("bad JSON")
    );
}

#[tokio::test]
async fn builder_rejects_unusable_configuration() {
    let orphan_domain = Sandbox::builder().domain("example.com").start().await;
    assert!(
        matches!(orphan_domain, Err(Error::Config(msg)) if msg.contains("domain() must follow an app()"))
    );
    let duplicate = Sandbox::builder().user("a").user("a").start().await;
    assert!(matches!(duplicate, Err(Error::Config(msg)) if msg.contains("configured twice")));
    let taken = Sandbox::builder().start().await.unwrap();
    let clash = Sandbox::builder().listen(taken.addr()).start().await;
    assert!(matches!(clash, Err(Error::Bind { .. })));
}

#[tokio::test]
async fn the_server_stops_when_the_last_handle_is_dropped() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let url = format!("{}/sns/auth", sandbox.url());
    let clone = sandbox.clone();
    drop(sandbox);
    let http = reqwest::Client::new();
    assert!(
        http.get(&url).send().await.is_ok(),
        "a clone keeps it running"
    );
    drop(clone);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

#[test]
fn builder_debug_redacts_app_secrets() {
    let builder =
        Sandbox::builder().app("wxdebug000000001", "very-secret-value", AppKind::Official);
    let debug = format!("{builder:?}");
    assert!(
        debug.contains("wxdebug000000001") && !debug.contains("very-secret-value"),
        "{debug}"
    );
}
