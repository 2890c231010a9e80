//! The Official Account's server side: QR codes, JS-SDK tickets, follower info, and the
//! pushes to a server URL (control plane and library), against small test servers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use wechat_sandbox::defaults::*;
use wechat_sandbox::{PushOptions, ScanTarget, ServerConfig};

use crate::support::*;

/// A server URL that answers every GET with `get_body` and every POST, after `delay`, with
/// `post_body` (`{openid}` replaced by the push's `openid` parameter).
async fn test_server(
    get_body: &'static str,
    post_body: impl Into<String>,
    delay: Duration,
) -> String {
    let post_body = Arc::new(post_body.into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let get_body = Arc::new(get_body);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let get_body = get_body.clone();
            let post_body = post_body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let get_body = get_body.clone();
                    let post_body = post_body.clone();
                    async move {
                        let query = req.uri().query().unwrap_or("").to_owned();
                        let param = |name: &str| {
                            form_urlencoded::parse(query.as_bytes())
                                .find(|(k, _)| k == name)
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default()
                        };
                        let body = if req.method() == hyper::Method::GET {
                            get_body.replace("{echostr}", &param("echostr"))
                        } else {
                            tokio::time::sleep(delay).await;
                            post_body.replace("{openid}", &param("openid"))
                        };
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/wx")
}

async fn access_token(env: &Env) -> String {
    env.server_token(OFFICIAL_APPID, OFFICIAL_SECRET).await
}

async fn create_qr(env: &Env, token: &str, body: Value) -> Value {
    env.post_json("/cgi-bin/qrcode/create", &[("access_token", token)], &body)
        .await
}

#[tokio::test]
async fn qrcode_create_issues_temporary_and_permanent_tickets() {
    let env = start().await;
    let token = access_token(&env).await;
    let temporary = create_qr(
        &env,
        &token,
        json!({"expire_seconds": 604800, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 123}}}),
    )
    .await;
    assert_eq!(temporary["expire_seconds"], 604800);
    assert!(
        temporary["url"]
            .as_str()
            .unwrap()
            .starts_with("http://weixin.qq.com/q/")
    );
    let default = create_qr(
        &env,
        &token,
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "test"}}}),
    )
    .await;
    assert_eq!(default["expire_seconds"], 60, "60 s when omitted");
    let capped = create_qr(
        &env,
        &token,
        json!({"expire_seconds": 99999999, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 5}}}),
    )
    .await;
    assert_eq!(capped["expire_seconds"], 2_592_000, "30 days at most");
    let permanent = create_qr(
        &env,
        &token,
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}}),
    )
    .await;
    assert!(permanent.get("expire_seconds").is_none(), "{permanent}");
    assert!(permanent["ticket"].as_str().is_some());
}

#[tokio::test]
async fn qrcode_create_refuses_bad_scenes_and_tokens() {
    let env = start().await;
    let token = access_token(&env).await;
    for body in [
        json!({"action_name": "QR_SCENE", "scene": {"scene_id": 1}}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}}),
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}}),
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": ""}}}),
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x".repeat(65)}}}),
        json!({"action_name": "QR_WHATEVER", "action_info": {"scene": {"scene_id": 1}}}),
    ] {
        assert_errcode(&create_qr(&env, &token, body).await, 40053);
    }
    let any = json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 1}}});
    assert_errcode(&create_qr(&env, "not-a-token", any.clone()).await, 40001);
    let website = env.server_token(WEBSITE_APPID, WEBSITE_SECRET).await;
    assert_errcode(&create_qr(&env, &website, any).await, 48001);
}

#[tokio::test]
async fn showqrcode_returns_a_png_of_the_ticket_until_it_expires() {
    let env = start().await;
    let token = access_token(&env).await;
    let qr = create_qr(
        &env,
        &token,
        json!({"expire_seconds": 120, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "login"}}}),
    )
    .await;
    let ticket = qr["ticket"].as_str().unwrap();
    let response = env
        .http
        .get(env.url("/cgi-bin/showqrcode"))
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: a square image of (modules + 8) × 8 pixels.
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!(width, height);
    assert_eq!(width % 8, 0);
    assert!(width >= (21 + 8) * 8, "{width}");

    env.sandbox.advance_clock(Duration::from_secs(121));
    let expired = env
        .http
        .get(env.url("/cgi-bin/showqrcode"))
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 404);
}

#[tokio::test]
async fn getticket_needs_a_server_token_and_caches_the_ticket() {
    let env = start().await;
    let token = access_token(&env).await;
    let first = env
        .get_json(
            "/cgi-bin/ticket/getticket",
            &[("access_token", &token), ("type", "jsapi")],
        )
        .await;
    assert_eq!(first["errcode"], 0);
    assert_eq!(first["errmsg"], "ok");
    assert_eq!(first["expires_in"], 7200);
    let again = env
        .get_json(
            "/cgi-bin/ticket/getticket",
            &[("access_token", &token), ("type", "jsapi")],
        )
        .await;
    assert_eq!(
        again["ticket"], first["ticket"],
        "the same ticket until it expires"
    );
    let card = env
        .get_json(
            "/cgi-bin/ticket/getticket",
            &[("access_token", &token), ("type", "wx_card")],
        )
        .await;
    assert_ne!(card["ticket"], first["ticket"]);
    env.sandbox.advance_clock(Duration::from_secs(7200));
    let token = access_token(&env).await;
    let later = env
        .get_json(
            "/cgi-bin/ticket/getticket",
            &[("access_token", &token), ("type", "jsapi")],
        )
        .await;
    assert_ne!(
        later["ticket"], first["ticket"],
        "a new ticket after expiry"
    );
    assert_errcode(
        &env.get_json("/cgi-bin/ticket/getticket", &[("type", "jsapi")])
            .await,
        41001,
    );
    assert_errcode(
        &env.get_json(
            "/cgi-bin/ticket/getticket",
            &[("access_token", "stale"), ("type", "jsapi")],
        )
        .await,
        40001,
    );
}

#[tokio::test]
async fn user_info_follows_the_2021_rules_and_the_follow_state() {
    let env = start().await;
    let token = access_token(&env).await;
    let openid = env.sandbox.openid(OFFICIAL_APPID, "alice");
    let before = env
        .get_json(
            "/cgi-bin/user/info",
            &[
                ("access_token", &token),
                ("openid", &openid),
                ("lang", "zh_CN"),
            ],
        )
        .await;
    assert_eq!(
        before,
        json!({"subscribe": 0, "openid": openid, "unionid": env.sandbox.unionid("alice")})
    );

    env.sandbox
        .set_following(OFFICIAL_APPID, "alice", true, PushOptions::default())
        .await
        .unwrap();
    let after = env
        .get_json(
            "/cgi-bin/user/info",
            &[("access_token", &token), ("openid", &openid)],
        )
        .await;
    assert_eq!(after["subscribe"], 1);
    assert_eq!(after["unionid"], env.sandbox.unionid("alice").as_str());
    assert!(after["subscribe_time"].as_i64().unwrap() > 1_600_000_000);
    for gone in [
        "nickname",
        "headimgurl",
        "sex",
        "city",
        "province",
        "country",
    ] {
        assert!(
            after.get(gone).is_none(),
            "{gone} is no longer returned: {after}"
        );
    }

    let other_app = env.sandbox.openid(WEBSITE_APPID, "alice");
    assert_errcode(
        &env.get_json(
            "/cgi-bin/user/info",
            &[("access_token", &token), ("openid", &other_app)],
        )
        .await,
        40003,
    );
    assert_errcode(
        &env.get_json("/cgi-bin/user/info", &[("access_token", &token)])
            .await,
        41009,
    );

    let bob = env.sandbox.openid(OFFICIAL_APPID, "bob");
    let batch = env
        .post_json(
            "/cgi-bin/user/info/batchget",
            &[("access_token", &token)],
            &json!({"user_list": [{"openid": openid, "lang": "zh_CN"}, {"openid": bob}]}),
        )
        .await;
    let list = batch["user_info_list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["subscribe"], 1);
    assert_eq!(list[1]["subscribe"], 0);
    let too_many: Vec<Value> = (0..101).map(|_| json!({"openid": openid})).collect();
    assert_errcode(
        &env.post_json(
            "/cgi-bin/user/info/batchget",
            &[("access_token", &token)],
            &json!({"user_list": too_many}),
        )
        .await,
        40035,
    );
    let form = env
        .http
        .post(env.url("/cgi-bin/user/info/batchget"))
        .query(&[("access_token", &token)])
        .body(format!("user_list[0][openid]={openid}"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_errcode(&form, 47001);
}

#[tokio::test]
async fn verification_fails_when_the_echostr_comes_back_quoted() {
    let env = start().await;
    let url = test_server("\"{echostr}\"", "success", Duration::ZERO).await;
    let err = env
        .sandbox
        .register_server(OFFICIAL_APPID, ServerConfig::new(url.clone(), "t"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("token验证失败"), "{err}");
    let push = env
        .sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "x")],
            PushOptions::default(),
        )
        .await;
    assert!(push.is_err(), "nothing registered");
    let ok_url = test_server("{echostr}", "success", Duration::ZERO).await;
    let attempt = env
        .sandbox
        .register_server(OFFICIAL_APPID, ServerConfig::new(ok_url, "t"))
        .await
        .unwrap();
    let names: Vec<&str> = attempt.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["signature", "timestamp", "nonce", "echostr"]);
}

#[tokio::test]
async fn a_server_that_never_answers_in_time_gets_every_try() {
    let env = start().await;
    let url = test_server("{echostr}", "success", Duration::from_millis(500)).await;
    env.sandbox
        .register_server(OFFICIAL_APPID, ServerConfig::new(url, "t"))
        .await
        .unwrap();
    let record = env
        .sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "x")],
            PushOptions::default()
                .timeout(Duration::from_millis(100))
                .tries(3),
        )
        .await
        .unwrap();
    let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["timeout", "timeout", "timeout"]);
    assert_eq!(record.reply.verdict, "none");
}

#[tokio::test]
async fn replies_wechat_would_not_show_are_judged_invalid() {
    let env = start().await;
    let account = wechat_sandbox::original_id(OFFICIAL_APPID);
    let head = format!(
        "<xml><ToUserName><![CDATA[{{openid}}]]></ToUserName><FromUserName><![CDATA[{account}]]></FromUserName><CreateTime>1</CreateTime>"
    );
    let cases = [
        // An XML reply with empty content is not "no reply" (node-webot/weixin-robot#79).
        (
            format!(
                "{head}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[]]></Content></xml>"
            ),
            "Content",
        ),
        (
            format!(
                "{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>2</ArticleCount><Articles><item><Title>a</Title></item></Articles></xml>"
            ),
            "ArticleCount",
        ),
        (
            format!("{head}<MsgType><![CDATA[link]]></MsgType></xml>"),
            "MsgType",
        ),
        (
            head.replace("{openid}", "someone-else")
                + "<MsgType>text</MsgType><Content>x</Content></xml>",
            "ToUserName",
        ),
        ("{\"json\": true}".to_owned(), "<xml>"),
    ];
    for (body, problem) in cases {
        let url = test_server("{echostr}", body.clone(), Duration::ZERO).await;
        env.sandbox
            .register_server(OFFICIAL_APPID, ServerConfig::new(url, "t"))
            .await
            .unwrap();
        let record = env
            .sandbox
            .push(
                OFFICIAL_APPID,
                "alice",
                "text",
                &[("Content", "x")],
                PushOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(record.reply.verdict, "invalid", "{body}");
        let why = record.reply.problem.clone().unwrap_or_default();
        assert!(why.contains(problem), "{why}");
    }
}

#[tokio::test]
async fn the_control_plane_registers_pushes_scans_and_lists() {
    let env = start().await;
    let url = test_server("{echostr}", "success", Duration::ZERO).await;
    let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let registered = env
        .http
        .post(env.url("/__sandbox/oa/server"))
        .json(&json!({"appid": OFFICIAL_APPID, "url": url, "token": "t", "encoding_aes_key": key, "mode": "safe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let pushed: Value = env
        .http
        .post(env.url("/__sandbox/oa/push"))
        .json(&json!({"appid": OFFICIAL_APPID, "user": "bob", "msg_type": "event", "fields": {"Event": "CLICK", "EventKey": "MENU_K1"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["reply"]["verdict"], "success");
    assert_eq!(pushed["mode"], "safe");
    let attempt = &pushed["attempts"][0];
    let names: Vec<&str> = attempt["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "signature",
            "timestamp",
            "nonce",
            "openid",
            "encrypt_type",
            "msg_signature"
        ]
    );
    let sent = attempt["body"].as_str().unwrap();
    assert!(sent.contains("<Encrypt><![CDATA["), "{sent}");
    assert!(
        !sent.contains("MENU_K1"),
        "safe mode sends no plaintext: {sent}"
    );
    assert!(
        pushed["message"]
            .as_str()
            .unwrap()
            .contains("<EventKey><![CDATA[MENU_K1]]></EventKey>")
    );

    let token = access_token(&env).await;
    let qr = create_qr(
        &env,
        &token,
        json!({"expire_seconds": 60, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 77}}}),
    )
    .await;
    let scanned: Value = env
        .http
        .post(env.url("/__sandbox/oa/scan"))
        .json(&json!({"appid": OFFICIAL_APPID, "user": "bob", "ticket": qr["ticket"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scanned["event"], "subscribe");
    assert!(scanned["message"].as_str().unwrap().contains("qrscene_77"));
    let openid = env.sandbox.openid(OFFICIAL_APPID, "bob");
    let info = env
        .get_json(
            "/cgi-bin/user/info",
            &[("access_token", &token), ("openid", &openid)],
        )
        .await;
    assert_eq!(info["subscribe_scene"], "ADD_SCENE_QR_CODE");
    assert_eq!(info["qr_scene"], 77);

    let pushes: Value = env
        .http
        .get(env.url("/__sandbox/oa/pushes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushes.as_array().unwrap().len(), 2);

    env.sandbox.advance_clock(Duration::from_secs(61));
    let expired = env
        .sandbox
        .scan(
            OFFICIAL_APPID,
            "alice",
            ScanTarget::Scene("77".into()),
            PushOptions::default(),
        )
        .await;
    assert!(expired.is_err(), "an expired QR code cannot be scanned");
    let bad = env
        .http
        .post(env.url("/__sandbox/oa/push"))
        .json(&json!({"appid": WEBSITE_APPID, "user": "bob", "msg_type": "text"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
