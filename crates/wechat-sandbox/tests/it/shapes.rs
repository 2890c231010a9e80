//! Answer shapes (`Shapes`): each real-WeChat variation on the wire, over raw HTTP, set
//! through the builder, `set_shapes`, the control plane and the binary's flags.

use serde_json::{Value, json};
use wechat_sandbox::defaults::*;
use wechat_sandbox::{ErrmsgShape, Fault, Sandbox, Shapes, SnsContentType};

use crate::cli::Running;
use crate::support::*;

fn shapes(edit: impl FnOnce(&mut Shapes)) -> Shapes {
    let mut shapes = Shapes::default();
    edit(&mut shapes);
    shapes
}

async fn start_shaped(shapes: Shapes) -> Env {
    start_with(Sandbox::builder().shapes(shapes)).await
}

/// GET `path`; returns the raw body and its Content-Type.
async fn get_raw(env: &Env, path: &str, query: &[(&str, &str)]) -> (String, String) {
    let response = env
        .http
        .get(env.url(path))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (response.text().await.unwrap(), content_type)
}

async fn mp_session(env: &Env) -> Value {
    let js_code = env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    env.get_json(
        "/sns/jscode2session",
        &[
            ("appid", MINIPROGRAM_APPID),
            ("secret", MINIPROGRAM_SECRET),
            ("js_code", &js_code),
            ("grant_type", "authorization_code"),
        ],
    )
    .await
}

async fn refresh(env: &Env, token: &Value) -> Value {
    env.get_json(
        "/sns/oauth2/refresh_token",
        &[
            ("appid", OFFICIAL_APPID),
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ],
    )
    .await
}

#[tokio::test]
async fn userinfo_carries_an_empty_language_by_default_as_since_2021() {
    let env = start().await;
    assert_eq!(env.sandbox.shapes(), Shapes::default());
    let token = env.login("alice", "snsapi_userinfo").await;
    let user = env.userinfo(&token, None).await;
    assert_eq!(user["language"], "");
}

#[tokio::test]
async fn language_can_be_a_code_or_absent() {
    let env = start_shaped(shapes(|s| s.language = Some("zh_CN".into()))).await;
    let token = env.login("alice", "snsapi_userinfo").await;
    assert_eq!(env.userinfo(&token, None).await["language"], "zh_CN");
    env.sandbox.set_shapes(shapes(|s| s.language = None));
    let user = env.userinfo(&token, None).await;
    assert!(user.get("language").is_none(), "{user}");
    assert_eq!(user["nickname"], "Alice");
}

#[tokio::test]
async fn without_an_open_platform_binding_no_answer_carries_a_unionid() {
    let env = start_shaped(shapes(|s| s.unionid = false)).await;
    let token = env.login("alice", "snsapi_userinfo").await;
    assert!(token.get("unionid").is_none(), "{token}");
    assert!(token["access_token"].is_string());
    let user = env.userinfo(&token, None).await;
    assert!(user.get("unionid").is_none(), "{user}");
    assert_eq!(user["openid"], token["openid"]);
    let session = mp_session(&env).await;
    assert!(session.get("unionid").is_none(), "{session}");
    assert!(session["session_key"].is_string() && session["openid"].is_string());

    // With the default binding, all three carry it.
    env.sandbox.set_shapes(Shapes::default());
    let token = env.login("alice", "snsapi_userinfo").await;
    assert_eq!(token["unionid"], env.sandbox.unionid("alice"));
    assert_eq!(
        env.userinfo(&token, None).await["unionid"],
        env.sandbox.unionid("alice")
    );
    assert_eq!(
        mp_session(&env).await["unionid"],
        env.sandbox.unionid("alice")
    );
}

#[tokio::test]
async fn slashes_can_be_escaped_in_every_json_string() {
    let env = start_shaped(shapes(|s| s.escape_slashes = true)).await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let query = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    let (raw, _) = get_raw(&env, "/sns/userinfo", &query).await;
    assert!(
        raw.contains(r#""headimgurl":"https:\/\/thirdwx.qlogo.cn\/mmopen\/"#),
        "{raw}"
    );
    assert!(!raw.contains("https://"), "{raw}");
    let user: Value = serde_json::from_str(&raw).unwrap();
    assert!(
        user["headimgurl"]
            .as_str()
            .unwrap()
            .starts_with("https://thirdwx.qlogo.cn/mmopen/")
    );

    // An errmsg URL too: 40001 names one.
    let (raw, _) = get_raw(
        &env,
        "/wxa/checksession",
        &[
            ("access_token", "stale"),
            ("openid", "o"),
            ("signature", "s"),
        ],
    )
    .await;
    assert!(
        raw.contains(r#"more details at https:\/\/mmbizurl.cn\/s\/JtxxFh33r"#),
        "{raw}"
    );
    assert_errcode(&serde_json::from_str(&raw).unwrap(), 40001);
}

#[tokio::test]
async fn errmsg_takes_each_shape_real_wechat_uses() {
    let env = start().await;
    let check = |body: &Value, shape: ErrmsgShape| {
        assert_eq!(body["errcode"], 40029, "{body}");
        let errmsg = body["errmsg"].as_str().unwrap();
        let rest = errmsg
            .strip_prefix("invalid code")
            .unwrap_or_else(|| panic!("{shape}: {errmsg:?}"));
        let rid_ok = |rid: &str| {
            let groups: Vec<&str> = rid.split('-').collect();
            groups.len() == 3 && groups.iter().all(|g| g.len() == 8)
        };
        let hint_ok = |hint: &str, head: usize, tail: usize| {
            hint.split_once('-').is_some_and(|(h, t)| {
                h.len() == head
                    && t.len() == tail
                    && hint.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        let ok = match shape {
            ErrmsgShape::Rid => rest.strip_prefix(", rid: ").is_some_and(rid_ok),
            ErrmsgShape::RidNoComma => rest.strip_prefix(" rid: ").is_some_and(rid_ok),
            ErrmsgShape::Hints => rest
                .strip_prefix(", hints: [ req_id: ")
                .and_then(|r| r.strip_suffix(" ]"))
                .is_some_and(|h| hint_ok(h, 10, 7)),
            ErrmsgShape::Hint => rest
                .strip_prefix(" hint: [")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|h| hint_ok(h, 9, 6)),
            ErrmsgShape::HintRid => rest
                .strip_prefix(" hint: [")
                .and_then(|r| r.split_once("] rid: "))
                .is_some_and(|(h, rid)| hint_ok(h, 9, 6) && rid_ok(rid)),
            ErrmsgShape::Bare => rest.is_empty(),
            _ => false,
        };
        assert!(ok, "{shape}: {errmsg:?}");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    };
    for shape in ErrmsgShape::ALL {
        env.sandbox.set_shapes(shapes(|s| s.errmsg = shape));
        let body = env
            .exchange(OFFICIAL_APPID, OFFICIAL_SECRET, "no-such-code")
            .await;
        check(&body, shape);
        // An injected errcode fault takes the shape as well.
        env.sandbox
            .inject_fault("/sns/oauth2/access_token", Fault::ErrCode(40029));
        let body = env
            .exchange(OFFICIAL_APPID, OFFICIAL_SECRET, "no-such-code")
            .await;
        check(&body, shape);
    }
}

#[tokio::test]
async fn sns_answers_can_be_served_as_json() {
    let env = start_shaped(shapes(|s| s.sns_content_type = SnsContentType::Json)).await;
    let token = env.login("alice", "snsapi_userinfo").await;
    let query = [
        ("access_token", token["access_token"].as_str().unwrap()),
        ("openid", token["openid"].as_str().unwrap()),
    ];
    for path in ["/sns/userinfo", "/sns/auth"] {
        let (_, content_type) = get_raw(&env, path, &query).await;
        assert_eq!(content_type, "application/json; charset=utf-8", "{path}");
    }
    let (body, content_type) = get_raw(&env, "/sns/oauth2/access_token", &[]).await;
    assert_eq!(content_type, "application/json; charset=utf-8", "{body}");
    assert_errcode(&serde_json::from_str(&body).unwrap(), 41002);

    env.sandbox.set_shapes(Shapes::default());
    let (_, content_type) = get_raw(&env, "/sns/userinfo", &query).await;
    assert_eq!(content_type, "text/plain");
    // Other APIs are JSON whatever the /sns/ setting.
    let (_, content_type) = get_raw(&env, "/cgi-bin/token", &[]).await;
    assert_eq!(content_type, "application/json; charset=utf-8");
}

#[tokio::test]
async fn a_refreshed_scope_can_carry_the_real_trailing_comma() {
    let env = start_shaped(shapes(|s| s.refresh_scope_trailing_comma = true)).await;
    let token = env.login("alice", "snsapi_userinfo").await;
    assert_eq!(
        token["scope"], "snsapi_userinfo",
        "the exchange is unchanged"
    );
    assert_eq!(
        refresh(&env, &token).await["scope"],
        "snsapi_base,snsapi_userinfo,"
    );
    let base = env.login("bob", "snsapi_base").await;
    assert_eq!(refresh(&env, &base).await["scope"], "snsapi_base,");
    env.sandbox.set_shapes(Shapes::default());
    assert_eq!(refresh(&env, &token).await["scope"], "snsapi_userinfo");
}

#[tokio::test]
async fn canned_fault_bodies_are_sent_as_given() {
    let env = start_shaped(shapes(|s| {
        s.escape_slashes = true;
        s.sns_content_type = SnsContentType::Json;
    }))
    .await;
    let canned = r#"{"openid":"o/1"}"#;
    env.sandbox.inject_fault(
        "/sns/userinfo",
        Fault::Respond {
            status: 200,
            content_type: "text/plain".into(),
            body: canned.into(),
        },
    );
    let (body, content_type) = get_raw(&env, "/sns/userinfo", &[]).await;
    assert_eq!(
        (body.as_str(), content_type.as_str()),
        (canned, "text/plain")
    );
}

#[tokio::test]
async fn the_control_plane_reads_and_patches_shapes_and_reset_restores_them() {
    let env = start_shaped(shapes(|s| s.unionid = false)).await;
    let client = &env.http;
    let get = || async {
        let response = client
            .get(env.url("/__sandbox/shapes"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(
        get().await,
        json!({
            "language": "", "unionid": false, "escape_slashes": false, "errmsg": "rid",
            "sns_content_type": "text-plain", "refresh_scope_trailing_comma": false,
        })
    );
    let post = |body: Value| client.post(env.url("/__sandbox/shapes")).json(&body).send();
    let response =
        post(json!({"language": null, "errmsg": "hint-rid", "sns_content_type": "json"}))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, get().await);
    assert_eq!(answer["language"], Value::Null);
    assert_eq!(answer["errmsg"], "hint-rid");
    assert_eq!(
        answer["unionid"], false,
        "fields not named stay as they were"
    );
    let expected = shapes(|s| {
        s.unionid = false;
        s.language = None;
        s.errmsg = ErrmsgShape::HintRid;
        s.sns_content_type = SnsContentType::Json;
    });
    assert_eq!(env.sandbox.shapes(), expected);

    for (bad, needle) in [
        (json!({"errmsg": "rid,"}), "unknown errmsg shape"),
        (
            json!({"sns_content_type": "xml"}),
            "unknown /sns/* content type",
        ),
        (json!({"unionids": false}), "unknown field"),
        (json!({"unionid": "no"}), "bad JSON body"),
    ] {
        let response = post(bad.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(needle),
            "{bad}: {error}"
        );
    }
    assert_eq!(
        env.sandbox.shapes(),
        expected,
        "a refused patch changes nothing"
    );

    env.sandbox.reset();
    assert_eq!(env.sandbox.shapes(), shapes(|s| s.unionid = false));
}

#[tokio::test]
async fn the_binary_takes_every_shape_as_a_flag() {
    let running = Running::start(&[
        "--no-language",
        "--no-unionid",
        "--escape-slashes",
        "--errmsg",
        "hints",
        "--sns-content-type",
        "json",
        "--refresh-scope-trailing-comma",
    ]);
    let shapes: Value = client()
        .get(format!("{}/__sandbox/shapes", running.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shapes,
        json!({
            "language": null, "unionid": false, "escape_slashes": true, "errmsg": "hints",
            "sns_content_type": "json", "refresh_scope_trailing_comma": true,
        })
    );
    drop(running);
    let running = Running::start(&["--language", "en"]);
    let shapes: Value = client()
        .get(format!("{}/__sandbox/shapes", running.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shapes["language"], "en");
    assert_eq!(shapes["errmsg"], "rid");
}

#[test]
fn the_binary_refuses_an_unknown_shape() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
        .args(["--errmsg", "rid,"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown errmsg shape"), "{stderr}");
}

#[test]
fn variants_cover_each_option_alone_and_together() {
    let variants = Shapes::variants();
    assert_eq!(variants[0], ("default", Shapes::default()));
    let mut names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
    names.dedup();
    assert_eq!(names.len(), variants.len(), "names are unique");
    let all = &variants.last().unwrap().1;
    let d = Shapes::default();
    assert!(
        all.language != d.language
            && all.unionid != d.unionid
            && all.escape_slashes != d.escape_slashes
            && all.errmsg != d.errmsg
            && all.sns_content_type != d.sns_content_type
            && all.refresh_scope_trailing_comma != d.refresh_scope_trailing_comma
    );
    for shape in ErrmsgShape::ALL {
        assert!(
            variants.iter().any(|(_, s)| s.errmsg == shape),
            "{shape} is in the matrix"
        );
    }
}
