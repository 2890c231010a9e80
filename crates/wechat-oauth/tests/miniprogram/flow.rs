//! The Mini Program login flow against the sandbox's device stand-ins
//! (docs/protocol.md §4).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use wechat_oauth::miniprogram::{
    DecryptError, MemorySessionStore, MiniProgramClient, SessionKeyStatus, SessionStore,
};
use wechat_oauth::{Error, MemoryStore, TokenStore};
use wechat_sandbox::Fault;
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET};

use crate::{requests_to, start};

#[tokio::test]
async fn device_login_then_user_info_decrypts_and_its_signature_verifies() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let session = client.code_to_session(js_code).await.unwrap();
    assert_eq!(session.openid, sandbox.openid(MINIPROGRAM_APPID, "alice"));
    assert_eq!(session.unionid, Some(sandbox.unionid("alice")));
    assert_eq!(
        Some(session.session_key.expose_secret().to_owned()),
        sandbox.session_key(MINIPROGRAM_APPID, "alice")
    );

    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let user = client
        .decrypt_user_info(&session, &device.encrypted_data, &device.iv)
        .unwrap();
    assert_eq!(user.open_id.as_deref(), Some(session.openid.as_str()));
    assert_eq!(user.union_id, session.unionid);
    let watermark = user.watermark.clone().unwrap();
    assert_eq!(watermark.appid, MINIPROGRAM_APPID);
    assert_eq!(watermark.timestamp, sandbox.now_ms() / 1000);
    // rawData is the profile without ids; it matches the decrypted one.
    let raw: serde_json::Value = serde_json::from_str(&device.raw_data).unwrap();
    assert_eq!(raw["nickName"].as_str(), Some(user.nick_name.as_str()));
    assert_eq!(raw["avatarUrl"].as_str(), Some(user.avatar_url.as_str()));
    assert!(client.verify_signature(&device.raw_data, &device.signature, &session.session_key));
    assert!(!client.verify_signature(
        &device.raw_data.replace("}", ",\"x\":1}"),
        &device.signature,
        &session.session_key
    ));

    // The same data through the stored session.
    let decrypted = client
        .decrypt_for(&session.openid, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    assert_eq!(decrypted.user_info().unwrap(), user);
}

#[tokio::test]
async fn after_the_device_logs_in_again_the_old_key_fails_and_checksession_says_stale() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let old = client.code_to_session(js_code).await.unwrap();
    assert_eq!(
        client.check_session_key(&old.openid).await.unwrap(),
        SessionKeyStatus::Valid
    );

    // wx.login on the device rotates the session_key; our server has not seen the new code.
    let new_code = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "bob").unwrap();
    let stale = client.decrypt_user_info(&old, &device.encrypted_data, &device.iv);
    assert_eq!(stale.err(), Some(DecryptError::IllegalBuffer));
    let err = client
        .decrypt_for(&old.openid, &device.encrypted_data, &device.iv)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Decrypt(DecryptError::IllegalBuffer)),
        "{err:?}"
    );
    assert!(err.to_string().contains("-41003"), "{err}");
    assert!(!client.verify_signature(&device.raw_data, &device.signature, &old.session_key));
    assert_eq!(
        client.check_session_key(&old.openid).await.unwrap(),
        SessionKeyStatus::Stale
    );
    let checks: Vec<_> = sandbox
        .journal()
        .into_iter()
        .filter(|e| e.path == "/wxa/checksession")
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(
        checks[1].param("signature"),
        Some(
            wechat_oauth::miniprogram::session_key_signature(old.session_key.expose_secret())
                .as_str()
        )
    );
    assert_eq!(checks[1].param("sig_method"), Some("hmac_sha256"));

    // Logging in with the new code replaces the stored session and everything works again.
    let new = client.code_to_session(new_code).await.unwrap();
    assert_ne!(new.session_key, old.session_key);
    assert!(
        client
            .decrypt_user_info(&new, &device.encrypted_data, &device.iv)
            .is_ok()
    );
    assert_eq!(
        client.check_session_key(&new.openid).await.unwrap(),
        SessionKeyStatus::Valid
    );
}

#[tokio::test]
async fn get_user_by_code_returns_the_openid_unionid_and_profile() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let user = client
        .get_user_by_code(js_code, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    assert_eq!(user.openid, sandbox.openid(MINIPROGRAM_APPID, "alice"));
    assert_eq!(user.unionid, Some(sandbox.unionid("alice")));
    assert_eq!(user.user_info.open_id, Some(user.openid.clone()));
    // The session was stored on the way.
    let stored = client.session(&user.openid).await.unwrap().unwrap();
    assert_eq!(stored.openid, user.openid);
}

#[tokio::test]
async fn get_user_by_code_refuses_another_users_data() {
    let (sandbox, client) = start().await;
    // Bob's device data sent along with Alice's login code: it is under Bob's key.
    let alice_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let _ = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let bob_data = sandbox.mp_userinfo(MINIPROGRAM_APPID, "bob").unwrap();
    let err = client
        .get_user_by_code(alice_code, &bob_data.encrypted_data, &bob_data.iv)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Decrypt(DecryptError::IllegalBuffer)),
        "{err:?}"
    );
}

#[tokio::test]
async fn js_codes_are_single_use_and_never_retried() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    client.code_to_session(js_code.as_str()).await.unwrap();
    let replay = client.code_to_session(js_code.as_str()).await.unwrap_err();
    assert!(replay.is_code_used(), "{replay:?}");
    let unknown = client.code_to_session("no-such-code").await.unwrap_err();
    assert!(unknown.is_invalid_code(), "{unknown:?}");

    // WeChat busy on the exchange: one request, the error surfaces, no retry.
    sandbox.clear_journal();
    sandbox.inject_fault("/sns/jscode2session", Fault::ErrCode(-1));
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let busy = client.code_to_session(js_code).await.unwrap_err();
    assert_eq!(busy.errcode(), Some(-1));
    assert_eq!(requests_to(&sandbox, "/sns/jscode2session"), 1);

    // The exchange sends exactly WeChat's parameters, in order.
    let entry = sandbox
        .journal()
        .into_iter()
        .find(|e| e.path == "/sns/jscode2session")
        .unwrap();
    let names: Vec<_> = entry.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["appid", "secret", "js_code", "grant_type"]);
    assert_eq!(entry.param("grant_type"), Some("authorization_code"));
}

#[tokio::test]
async fn blocked_logins_and_garbage_answers_are_typed_errors() {
    let (sandbox, client) = start().await;
    sandbox.inject_fault("/sns/jscode2session", Fault::ErrCode(40226));
    let err = client.code_to_session("any").await.unwrap_err();
    assert_eq!(
        err.wechat().map(|e| e.kind()),
        Some(wechat_oauth::WeChatErrorKind::LoginBlocked)
    );
    for fault in [Fault::Html502, Fault::EmptyGbk, Fault::TruncatedJson] {
        sandbox.inject_fault("/sns/jscode2session", fault.clone());
        let err = client.code_to_session("any").await.unwrap_err();
        assert!(matches!(err, Error::Response(_)), "{fault:?}: {err:?}");
    }
    assert!(matches!(
        client.code_to_session("").await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn sessions_live_in_their_own_store_not_the_token_store() {
    let sandbox = wechat_sandbox::Sandbox::builder().start().await.unwrap();
    let sessions = Arc::new(MemorySessionStore::new());
    let tokens = MemoryStore::new();
    let client = MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .session_store(Arc::clone(&sessions))
        .build()
        .unwrap();
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let login = client.login(js_code).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions.get_session(&login.openid).await.unwrap().is_some());
    // An OAuth token store next to it is untouched (the seed mixed them).
    assert!(tokens.get(&login.openid).await.unwrap().is_none());

    // Unknown users have no session: a typed error, no request to WeChat.
    sandbox.clear_journal();
    let err = client.check_session_key("o-unknown").await.unwrap_err();
    assert!(err.is_no_session() && !err.is_no_token(), "{err:?}");
    assert!(
        client
            .decrypt_for("o-unknown", "", "")
            .await
            .unwrap_err()
            .is_no_session()
    );
    assert!(sandbox.journal().is_empty());
}

#[tokio::test]
async fn phone_number_comes_from_a_button_code_with_a_json_body() {
    let (sandbox, client) = start().await;
    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
    let phone = client.get_phone_number(code.as_str()).await.unwrap();
    // The sandbox gives every user a mainland mobile number, 138 + 8 digits.
    assert_eq!(
        phone.pure_phone_number.len(),
        11,
        "{}",
        phone.pure_phone_number
    );
    assert!(phone.pure_phone_number.starts_with("138"));
    assert_eq!(phone.phone_number, phone.pure_phone_number);
    assert_eq!(phone.country_code, "86");
    assert_eq!(
        phone.watermark.map(|w| w.appid).as_deref(),
        Some(MINIPROGRAM_APPID)
    );

    let request = sandbox
        .journal()
        .into_iter()
        .find(|e| e.path == "/wxa/business/getuserphonenumber")
        .unwrap();
    assert_eq!(request.method, "POST");
    assert!(request.param("access_token").is_some());
    let body: serde_json::Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({ "code": code }));

    // Single use, and never retried.
    sandbox.clear_journal();
    let again = client.get_phone_number(code.as_str()).await.unwrap_err();
    assert!(again.is_invalid_code() || again.is_code_used(), "{again:?}");
    assert_eq!(requests_to(&sandbox, "/wxa/business/getuserphonenumber"), 1);
}

#[tokio::test]
async fn a_rejected_server_token_on_the_phone_call_is_dropped_but_not_retried() {
    let (sandbox, client) = start().await;
    let first = client.server_token().access_token().await.unwrap();
    sandbox.inject_fault("/wxa/business/getuserphonenumber", Fault::ErrCode(40001));
    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
    let err = client.get_phone_number(code.as_str()).await.unwrap_err();
    assert!(err.is_token_invalid(), "{err:?}");
    assert_eq!(requests_to(&sandbox, "/wxa/business/getuserphonenumber"), 1);
    // The next call fetches the token again (the sandbox's stable token is unchanged).
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 1);
    let phone = client.get_phone_number(code.as_str()).await.unwrap();
    assert!(!phone.phone_number.is_empty());
    assert_eq!(requests_to(&sandbox, "/cgi-bin/stable_token"), 2);
    assert_eq!(client.server_token().access_token().await.unwrap(), first);
}

#[tokio::test]
async fn a_session_store_shared_by_two_clients_serves_both() {
    let sandbox = wechat_sandbox::Sandbox::builder().start().await.unwrap();
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let build = || {
        MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
            .api_base(sandbox.url())
            .session_store(Arc::clone(&store))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let login = a.login(js_code).await.unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let user = b
        .decrypt_user_info_for(&login.openid, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    assert_eq!(user.open_id, Some(login.openid));
}

#[tokio::test]
async fn every_flipped_bit_of_device_data_is_refused() {
    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let session = client.code_to_session(js_code).await.unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    assert!(
        client
            .decrypt_user_info(&session, &device.encrypted_data, &device.iv)
            .is_ok()
    );
    for (field, value) in [
        ("iv", &device.iv),
        ("encryptedData", &device.encrypted_data),
    ] {
        let bits = STANDARD.decode(value).unwrap().len() * 8;
        for bit in 0..bits {
            let mut bytes = STANDARD.decode(value).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let tampered = STANDARD.encode(&bytes);
            let (data, iv) = if field == "iv" {
                (device.encrypted_data.as_str(), tampered.as_str())
            } else {
                (tampered.as_str(), device.iv.as_str())
            };
            assert_eq!(
                client.decrypt_user_info(&session, data, iv).err(),
                Some(DecryptError::IllegalBuffer),
                "{field} bit {bit}"
            );
        }
    }
}

#[tokio::test]
async fn a_phone_code_bound_to_an_openid_is_refused_for_another_user() {
    let (sandbox, client) = start().await;
    let alice = sandbox.openid(MINIPROGRAM_APPID, "alice");
    let bob = sandbox.openid(MINIPROGRAM_APPID, "bob");
    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
    let err = client
        .get_phone_number_for(code.as_str(), &bob)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(40003), "{err:?}");
    let request = sandbox
        .journal()
        .into_iter()
        .rfind(|e| e.path == "/wxa/business/getuserphonenumber")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({ "code": code, "openid": bob }));

    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
    let phone = client
        .get_phone_number_for(code.as_str(), &alice)
        .await
        .unwrap();
    assert_eq!(phone.pure_phone_number.len(), 11);
}
