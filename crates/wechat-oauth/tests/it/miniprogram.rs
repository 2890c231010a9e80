//! Counterparts of the npm package's Mini Program tests (its test
//! numbers 24–25 and 27–33), against the sandbox's Mini Program endpoints and device
//! stand-ins. The Mini Program client's own suite lives in `tests/miniprogram`.

use wechat_oauth::Error;
use wechat_oauth::miniprogram::{self, DecryptError, MiniProgramClient};
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET, OFFICIAL_APPID};

use crate::common::sandbox;

fn mp_client(sandbox: &Sandbox) -> MiniProgramClient {
    MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn upstream_24_mini_program_get_user_by_code() {
    let sandbox = sandbox().await;
    let client = mp_client(&sandbox);
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let user = client
        .get_user_by_code(&js_code, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    let json = serde_json::to_value(&user.user_info).unwrap();
    for key in [
        "openId",
        "nickName",
        "gender",
        "province",
        "city",
        "country",
        "avatarUrl",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    // Improvement: the openid (and unionid) from jscode2session are kept.
    assert_eq!(user.openid, sandbox.openid(MINIPROGRAM_APPID, "alice"));
}

#[tokio::test]
async fn upstream_25_mini_program_get_user_by_code_session_error() {
    let sandbox = sandbox().await;
    let err = mp_client(&sandbox)
        .get_user_by_code("invalid-js-code", "data", "iv")
        .await
        .unwrap_err();
    assert!(err.is_invalid_code(), "{err:?}");
}

#[tokio::test]
async fn upstream_27_get_session_key_invalid_appid() {
    let sandbox = sandbox().await;
    let client = MiniProgramClient::builder("appid", "appsecret")
        .api_base(sandbox.url())
        .build()
        .unwrap();
    let err = client.code_to_session("code").await.unwrap_err();
    assert_eq!(err.errcode(), Some(40013), "{err:?}");
    assert!(err.to_string().contains("invalid appid"), "{err}");
}

#[tokio::test]
async fn upstream_28_get_session_key_ok() {
    let sandbox = sandbox().await;
    let client = mp_client(&sandbox);
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let session = client.code_to_session(&js_code).await.unwrap();
    assert_eq!(session.openid, sandbox.openid(MINIPROGRAM_APPID, "bob"));
    assert_eq!(
        Some(session.session_key.expose_secret()),
        sandbox.session_key(MINIPROGRAM_APPID, "bob").as_deref()
    );
    assert!(session.created_at > 0);
}

#[test]
fn upstream_29_decrypt_with_nothing_is_an_error() {
    let err = miniprogram::decrypt("", "", "", None).unwrap_err();
    assert_eq!(err, DecryptError::IllegalAesKey);
}

/// A session key and `wx.getUserInfo` data made by the sandbox (an independent encryptor).
async fn device_data() -> (Sandbox, String, wechat_sandbox::MpUserInfo) {
    let sandbox = sandbox().await;
    sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let data = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let key = sandbox.session_key(MINIPROGRAM_APPID, "alice").unwrap();
    (sandbox, key, data)
}

#[tokio::test]
async fn upstream_30_decrypt_round_trips() {
    let (sandbox, key, data) = device_data().await;
    let json = miniprogram::decrypt(
        &key,
        &data.encrypted_data,
        &data.iv,
        Some(MINIPROGRAM_APPID),
    )
    .unwrap();
    assert_eq!(
        json["openId"],
        sandbox.openid(MINIPROGRAM_APPID, "alice").as_str()
    );
    assert_eq!(json["watermark"]["appid"], MINIPROGRAM_APPID);
}

#[tokio::test]
async fn upstream_31_decrypt_with_empty_data_is_an_error() {
    let (_sandbox, key, data) = device_data().await;
    assert!(miniprogram::decrypt(&key, "", &data.iv, Some(MINIPROGRAM_APPID)).is_err());
}

#[tokio::test]
async fn upstream_32_decrypt_with_empty_iv_is_an_error() {
    let (_sandbox, key, data) = device_data().await;
    let err =
        miniprogram::decrypt(&key, &data.encrypted_data, "", Some(MINIPROGRAM_APPID)).unwrap_err();
    assert_eq!(err, DecryptError::IllegalIv);
}

#[tokio::test]
async fn upstream_33_decrypt_for_another_appid_is_an_error() {
    let (_sandbox, key, data) = device_data().await;
    let err = miniprogram::decrypt(&key, &data.encrypted_data, &data.iv, Some(OFFICIAL_APPID))
        .unwrap_err();
    assert_eq!(err, DecryptError::IllegalBuffer);
    let _: Error = err.into();
}
