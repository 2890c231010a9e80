//! `/sns/jscode2session`, `/wxa/checksession`, `/wxa/business/getuserphonenumber` and the
//! Mini Program device stand-ins (docs/protocol.md §4).

use std::time::Duration;

use aes::cipher::{BlockModeDecrypt as _, KeyIvInit as _, block_padding::Pkcs7};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use wechat_sandbox::defaults::*;
use wechat_sandbox::{AppKind, Error};

use crate::support::*;

async fn code2session(env: &Env, js_code: &str) -> Value {
    env.get_json(
        "/sns/jscode2session",
        &[
            ("appid", MINIPROGRAM_APPID),
            ("secret", MINIPROGRAM_SECRET),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ],
    )
    .await
}

/// `hex(hmac_sha256(key = session_key text, ""))`, computed independently of the sandbox.
fn checksession_signature(session_key: &str) -> String {
    let mac = <Hmac<Sha256>>::new_from_slice(session_key.as_bytes()).unwrap();
    hex::encode(mac.finalize().into_bytes())
}

async fn checksession(env: &Env, token: &str, openid: &str, signature: &str) -> Value {
    env.get_json(
        "/wxa/checksession",
        &[
            ("access_token", token),
            ("openid", openid),
            ("signature", signature),
            ("sig_method", "hmac_sha256"),
        ],
    )
    .await
}

#[test]
fn the_checksession_signature_helper_matches_the_protocol_vectors() {
    // docs/protocol.md §4.3; vectors derived by hand.
    assert_eq!(
        checksession_signature("HyVFkGl5F5OQWJZZaNzBBg=="),
        "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058"
    );
    assert_eq!(
        checksession_signature("tiihtNczf5v6AKRyjwEUhQ=="),
        "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735"
    );
}

#[tokio::test]
async fn jscode2session_returns_the_current_session_key_without_errcode() {
    let env = start().await;
    let js_code = env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let response = env
        .http
        .get(env.url("/sns/jscode2session"))
        .query(&[
            ("appid", MINIPROGRAM_APPID),
            ("secret", MINIPROGRAM_SECRET),
            ("js_code", &js_code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
    let session: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let key = session["session_key"].as_str().unwrap();
    assert_eq!(key.len(), 24);
    assert_eq!(BASE64.decode(key).unwrap().len(), 16);
    assert_eq!(
        Some(key.to_owned()),
        env.sandbox.session_key(MINIPROGRAM_APPID, "alice")
    );
    assert_eq!(
        session["openid"],
        env.sandbox.openid(MINIPROGRAM_APPID, "alice")
    );
    assert_eq!(session["unionid"], env.sandbox.unionid("alice"));
    assert!(
        session.get("errcode").is_none() && session.get("expires_in").is_none(),
        "{session}"
    );
}

#[tokio::test]
async fn js_codes_are_single_use_and_expire_after_five_minutes() {
    let env = start().await;
    let js_code = env.sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    assert!(
        code2session(&env, &js_code)
            .await
            .get("session_key")
            .is_some()
    );
    assert_errcode(&code2session(&env, &js_code).await, 40163);
    let stale = env.sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    env.sandbox.advance_clock(Duration::from_secs(300));
    assert_errcode(&code2session(&env, &stale).await, 40029);
    assert_errcode(&code2session(&env, "unknown").await, 40029);
}

#[tokio::test]
async fn jscode2session_reports_each_missing_or_wrong_parameter() {
    let env = start().await;
    let js = env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let j = js.as_str();
    let cases: [(&[(&str, &str)], i64); 6] = [
        (
            &[
                ("secret", MINIPROGRAM_SECRET),
                ("js_code", j),
                ("grant_type", "authorization_code"),
            ],
            41002,
        ),
        (
            &[
                ("appid", "wx0000000000000000"),
                ("secret", MINIPROGRAM_SECRET),
                ("js_code", j),
                ("grant_type", "authorization_code"),
            ],
            40013,
        ),
        (
            &[
                ("appid", MINIPROGRAM_APPID),
                ("js_code", j),
                ("grant_type", "authorization_code"),
            ],
            41004,
        ),
        (
            &[
                ("appid", MINIPROGRAM_APPID),
                ("secret", "nope"),
                ("js_code", j),
                ("grant_type", "authorization_code"),
            ],
            40125,
        ),
        (
            &[
                ("appid", MINIPROGRAM_APPID),
                ("secret", MINIPROGRAM_SECRET),
                ("grant_type", "authorization_code"),
            ],
            41008,
        ),
        (
            &[
                ("appid", MINIPROGRAM_APPID),
                ("secret", MINIPROGRAM_SECRET),
                ("js_code", j),
            ],
            40002,
        ),
    ];
    for (query, errcode) in cases {
        assert_errcode(&env.get_json("/sns/jscode2session", query).await, errcode);
    }
    // A js_code belongs to its Mini Program: another app's credentials get 40029.
    let other = env
        .get_json(
            "/sns/jscode2session",
            &[
                ("appid", OFFICIAL_APPID),
                ("secret", OFFICIAL_SECRET),
                ("js_code", j),
                ("grant_type", "authorization_code"),
            ],
        )
        .await;
    assert_errcode(&other, 40029);
}

#[tokio::test]
async fn mp_login_rotates_the_session_key_and_checksession_follows_it() {
    let env = start().await;
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    let openid = env.sandbox.openid(MINIPROGRAM_APPID, "alice");
    let first = code2session(
        &env,
        &env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap(),
    )
    .await;
    let old_key = first["session_key"].as_str().unwrap().to_owned();
    assert_eq!(
        checksession(&env, &token, &openid, &checksession_signature(&old_key)).await,
        json!({"errcode": 0, "errmsg": "ok"})
    );

    env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let new_key = env.sandbox.session_key(MINIPROGRAM_APPID, "alice").unwrap();
    assert_ne!(new_key, old_key);
    assert_errcode(
        &checksession(&env, &token, &openid, &checksession_signature(&old_key)).await,
        87009,
    );
    assert_eq!(
        checksession(&env, &token, &openid, &checksession_signature(&new_key)).await["errcode"],
        0
    );
    // Upper-case hex is a different string: WeChat compares the lower-case digest.
    let upper = checksession_signature(&new_key).to_uppercase();
    assert_errcode(&checksession(&env, &token, &openid, &upper).await, 87009);
}

#[tokio::test]
async fn checksession_reports_bad_tokens_openids_and_methods() {
    let env = start().await;
    env.sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let key = env.sandbox.session_key(MINIPROGRAM_APPID, "bob").unwrap();
    let sig = checksession_signature(&key);
    let openid = env.sandbox.openid(MINIPROGRAM_APPID, "bob");
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    assert_errcode(
        &env.get_json(
            "/wxa/checksession",
            &[
                ("openid", &openid),
                ("signature", &sig),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await,
        41001,
    );
    assert_errcode(&checksession(&env, "bogus", &openid, &sig).await, 40001);
    assert_errcode(
        &env.get_json(
            "/wxa/checksession",
            &[
                ("access_token", &token),
                ("signature", &sig),
                ("sig_method", "hmac_sha256"),
            ],
        )
        .await,
        41009,
    );
    let foreign = env.sandbox.openid(OFFICIAL_APPID, "bob");
    assert_errcode(&checksession(&env, &token, &foreign, &sig).await, 40003);
    assert_errcode(
        &env.get_json(
            "/wxa/checksession",
            &[
                ("access_token", &token),
                ("openid", &openid),
                ("signature", &sig),
                ("sig_method", "md5"),
            ],
        )
        .await,
        87009,
    );
    // A user who never logged in has no session_key to match.
    let alice = env.sandbox.openid(MINIPROGRAM_APPID, "alice");
    assert_errcode(&checksession(&env, &token, &alice, &sig).await, 87009);
}

fn decrypt(session_key: &str, encrypted_data: &str, iv: &str) -> Value {
    let key = BASE64.decode(session_key).unwrap();
    let iv = BASE64.decode(iv).unwrap();
    let plaintext = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
        .unwrap()
        .decrypt_padded_vec::<Pkcs7>(&BASE64.decode(encrypted_data).unwrap())
        .unwrap();
    serde_json::from_slice(&plaintext).unwrap()
}

#[tokio::test]
async fn mp_userinfo_is_signed_and_encrypted_with_the_current_session_key() {
    let env = start().await;
    env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let key = env.sandbox.session_key(MINIPROGRAM_APPID, "alice").unwrap();
    let info = env.sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();

    let expected_signature =
        hex::encode(Sha1::digest(format!("{}{key}", info.raw_data).as_bytes()));
    assert_eq!(info.signature, expected_signature);
    let raw: Value = serde_json::from_str(&info.raw_data).unwrap();
    assert_eq!(raw["nickName"], "微信用户");
    assert_eq!(raw["gender"], 0);
    assert_eq!(raw["city"], "");

    let data = decrypt(&key, &info.encrypted_data, &info.iv);
    assert_eq!(
        data["openId"],
        env.sandbox.openid(MINIPROGRAM_APPID, "alice")
    );
    assert_eq!(data["unionId"], env.sandbox.unionid("alice"));
    assert_eq!(data["nickName"], "微信用户");
    assert_eq!(data["watermark"]["appid"], MINIPROGRAM_APPID);
    assert_eq!(data["watermark"]["timestamp"], env.sandbox.now_ms() / 1000);

    let again = env.sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    assert_ne!(again.iv, info.iv, "the IV is random per call");
    assert_eq!(BASE64.decode(&again.iv).unwrap().len(), 16);

    env.sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let rotated = env.sandbox.session_key(MINIPROGRAM_APPID, "alice").unwrap();
    let stale_signature = hex::encode(Sha1::digest(
        format!("{}{rotated}", info.raw_data).as_bytes(),
    ));
    assert_ne!(info.signature, stale_signature);
}

#[tokio::test]
async fn device_stand_ins_refuse_unknown_apps_users_and_other_kinds() {
    let env = start().await;
    assert!(matches!(
        env.sandbox.mp_userinfo(MINIPROGRAM_APPID, "bob"),
        Err(Error::NoSession { .. })
    ));
    assert!(matches!(
        env.sandbox.mp_login(OFFICIAL_APPID, "bob"),
        Err(Error::WrongAppKind {
            expected: AppKind::MiniProgram,
            ..
        })
    ));
    assert!(matches!(
        env.sandbox.mp_login("wx0000000000000000", "bob"),
        Err(Error::UnknownApp(_))
    ));
    assert!(matches!(
        env.sandbox.mp_phone_code(MINIPROGRAM_APPID, "zed"),
        Err(Error::UnknownUser(_))
    ));
}

async fn phone(env: &Env, token: &str, body: &Value) -> Value {
    env.post_json(
        "/wxa/business/getuserphonenumber",
        &[("access_token", token)],
        body,
    )
    .await
}

#[tokio::test]
async fn phone_code_exchange_returns_phone_info_with_a_watermark() {
    let env = start().await;
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    let code = env
        .sandbox
        .mp_phone_code(MINIPROGRAM_APPID, "alice")
        .unwrap();
    let openid = env.sandbox.openid(MINIPROGRAM_APPID, "alice");
    let body = phone(&env, &token, &json!({ "code": code, "openid": openid })).await;
    assert_eq!(body["errcode"], 0);
    assert_eq!(body["errmsg"], "ok");
    let info = &body["phone_info"];
    let pure = info["purePhoneNumber"].as_str().unwrap();
    assert_eq!(pure.len(), 11);
    assert_eq!(info["phoneNumber"], pure);
    assert_eq!(info["countryCode"], 86);
    assert_eq!(info["watermark"]["appid"], MINIPROGRAM_APPID);
    assert_errcode(&phone(&env, &token, &json!({ "code": code })).await, 40163);
}

#[tokio::test]
async fn phone_code_exchange_needs_a_json_body_and_a_fresh_code() {
    let env = start().await;
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    let code = env.sandbox.mp_phone_code(MINIPROGRAM_APPID, "bob").unwrap();
    // A form-encoded body: 47001 (§4.5).
    let form = env
        .http
        .post(env.url("/wxa/business/getuserphonenumber"))
        .query(&[("access_token", &token)])
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("code={code}"))
        .send()
        .await
        .unwrap();
    assert_errcode(
        &serde_json::from_slice(&form.bytes().await.unwrap()).unwrap(),
        47001,
    );
    // The code in the query string and `{}` as body: 40029.
    let in_query = env
        .post_json(
            "/wxa/business/getuserphonenumber",
            &[("access_token", &token), ("code", &code)],
            &json!({}),
        )
        .await;
    assert_errcode(&in_query, 40029);
    let wrong_openid =
        json!({ "code": code, "openid": env.sandbox.openid(MINIPROGRAM_APPID, "alice") });
    assert_errcode(&phone(&env, &token, &wrong_openid).await, 40003);
    assert_errcode(&phone(&env, "stale", &json!({ "code": code })).await, 40001);
    let no_token = env
        .post_json(
            "/wxa/business/getuserphonenumber",
            &[],
            &json!({ "code": code }),
        )
        .await;
    assert_errcode(&no_token, 41001);
    let get = env
        .get_json(
            "/wxa/business/getuserphonenumber",
            &[("access_token", &token)],
        )
        .await;
    assert_errcode(&get, 43002);

    let stale = env.sandbox.mp_phone_code(MINIPROGRAM_APPID, "bob").unwrap();
    env.sandbox.advance_clock(Duration::from_secs(300));
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    assert_errcode(&phone(&env, &token, &json!({ "code": stale })).await, 40029);
}

#[tokio::test]
async fn the_control_plane_offers_the_device_stand_ins() {
    let env = start().await;
    let login = env
        .post_json(
            "/__sandbox/mp/login",
            &[],
            &json!({"appid": MINIPROGRAM_APPID, "user": "bob"}),
        )
        .await;
    let session = code2session(&env, login["js_code"].as_str().unwrap()).await;
    let key = session["session_key"].as_str().unwrap();
    let info = env
        .post_json(
            "/__sandbox/mp/userinfo",
            &[],
            &json!({"appid": MINIPROGRAM_APPID, "user": "bob"}),
        )
        .await;
    let raw = info["rawData"].as_str().unwrap();
    assert_eq!(
        info["signature"],
        hex::encode(Sha1::digest(format!("{raw}{key}").as_bytes()))
    );
    let data = decrypt(
        key,
        info["encryptedData"].as_str().unwrap(),
        info["iv"].as_str().unwrap(),
    );
    assert_eq!(data["openId"], session["openid"]);
    let phone_code = env
        .post_json(
            "/__sandbox/mp/phone_code",
            &[],
            &json!({"appid": MINIPROGRAM_APPID, "user": "bob"}),
        )
        .await;
    let token = env
        .server_token(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .await;
    assert_eq!(
        phone(&env, &token, &json!({ "code": phone_code["code"] })).await["errcode"],
        0
    );

    let refused = env
        .http
        .post(env.url("/__sandbox/mp/userinfo"))
        .json(&json!({"appid": OFFICIAL_APPID, "user": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("not a miniprogram app")
    );
}
