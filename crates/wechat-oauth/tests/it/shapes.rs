//! The SDK's main flows against the sandbox in every answer shape real WeChat uses
//! (`wechat_sandbox::Shapes::variants`): `language` present, `""` or absent, `unionid`
//! absent, `\/` escapes, each errmsg suffix, `/sns/*` as `text/plain` or JSON, and the
//! trailing comma in a refreshed scope. Each flow must parse to the same values whatever
//! the shape; errors must carry the bare message with the request id split off.

use wechat_oauth::miniprogram::MiniProgramClient;
use wechat_oauth::{OAuthClient, TokenStatus, WeChatError};
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET, OFFICIAL_APPID};
use wechat_sandbox::{ErrmsgShape, Fault, Sandbox, Shapes};

use crate::common::builder;

/// The errmsg of 40001 as WeChat words it, URL included (escaped `\/` on the wire in the
/// `escape_slashes` shape).
const STALE_TOKEN_TEXT: &str = "invalid credential, access_token is invalid or not latest, \
     could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r";

/// `e` is `errcode` with exactly `text` as its message, and the request id (if the shape
/// has one) in `rid`, never in the message.
#[track_caller]
fn assert_split(name: &str, shapes: &Shapes, e: &WeChatError, errcode: i64, text: &str) {
    assert_eq!(e.errcode, errcode, "{name}: {e:?}");
    assert_eq!(
        e.errmsg, text,
        "{name}: the request id stays out of the message"
    );
    let rid = e.rid.as_deref();
    match shapes.errmsg {
        ErrmsgShape::Bare => assert_eq!(rid, None, "{name}"),
        ErrmsgShape::Rid | ErrmsgShape::RidNoComma | ErrmsgShape::HintRid => {
            let rid = rid.unwrap_or_else(|| panic!("{name}: no rid in {e:?}"));
            let groups: Vec<&str> = rid.split('-').collect();
            assert!(
                groups.len() == 3 && groups.iter().all(|g| g.len() == 8),
                "{name}: rid {rid:?}"
            );
        }
        _ => {
            // `hints: [ req_id: X ]` and `hint: [X]`: the id WeChat gave is kept as the rid.
            let rid = rid.unwrap_or_else(|| panic!("{name}: no request id in {e:?}"));
            assert!(
                rid.contains('-') && rid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{name}: request id {rid:?}"
            );
        }
    }
    let shown = e.to_string();
    assert!(
        !shown.contains("rid:") && !shown.contains("hint"),
        "{name}: {shown}"
    );
}

async fn official_flows(name: &str, shapes: &Shapes, sandbox: &Sandbox, client: &OAuthClient) {
    let expected_unionid = shapes.unionid.then(|| sandbox.unionid("alice"));

    // Code exchange.
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let token = client.get_access_token(code).await.unwrap();
    assert_eq!(
        token.openid,
        sandbox.openid(OFFICIAL_APPID, "alice"),
        "{name}"
    );
    assert_eq!(token.unionid, expected_unionid, "{name}");
    assert_eq!(token.scope, "snsapi_userinfo", "{name}");

    // User info.
    let user = client.get_user(&token.openid).await.unwrap();
    assert_eq!(user.openid, token.openid, "{name}");
    assert_eq!(user.nickname, "Alice", "{name}");
    assert!(
        user.headimgurl
            .starts_with("https://thirdwx.qlogo.cn/mmopen/vi_32/")
            && user.headimgurl.ends_with("/132")
            && !user.headimgurl.contains('\\'),
        "{name}: headimgurl {:?}",
        user.headimgurl
    );
    assert_eq!(user.unionid, expected_unionid, "{name}");
    assert_eq!(
        user.language.as_deref(),
        shapes.language.as_deref(),
        "{name}"
    );
    assert_eq!((user.sex, user.country.as_str()), (0, ""), "{name}");

    // Refresh: the scope may come back as `snsapi_base,snsapi_userinfo,`.
    let refreshed = client
        .refresh_access_token(token.refresh_token.clone())
        .await
        .unwrap();
    assert_eq!(refreshed.openid, token.openid, "{name}");
    assert!(
        refreshed.has_scope("snsapi_userinfo"),
        "{name}: {refreshed:?}"
    );
    assert!(
        !refreshed.has_scope(""),
        "{name}: an empty scope is no scope"
    );
    if shapes.refresh_scope_trailing_comma {
        assert!(refreshed.has_scope("snsapi_base"), "{name}");
        assert_eq!(refreshed.scope, "snsapi_base,snsapi_userinfo,", "{name}");
    } else {
        assert_eq!(refreshed.scope, "snsapi_userinfo", "{name}");
    }
    // The refreshed token (saved under the openid) still reads the profile.
    assert_eq!(
        client.get_user(&token.openid).await.unwrap().openid,
        token.openid
    );

    // Verify: a good token, then a bad one whose error is split cleanly.
    let status = client
        .verify_token(&token.openid, &refreshed.access_token)
        .await
        .unwrap();
    assert_eq!(status, TokenStatus::Valid, "{name}");
    match client
        .verify_token(
            &token.openid,
            &wechat_oauth::AccessTokenValue::new("not-a-token"),
        )
        .await
        .unwrap()
    {
        TokenStatus::Invalid(e) => assert_split(name, shapes, &e, 40014, "invalid access_token"),
        other => panic!("{name}: {other:?}"),
    }

    // A bad code: the errmsg shape on the exchange.
    let err = client.get_access_token("no-such-code").await.unwrap_err();
    assert!(err.is_invalid_code(), "{name}: {err:?}");
    assert_split(name, shapes, err.wechat().unwrap(), 40029, "invalid code");
}

async fn mini_program_flows(name: &str, shapes: &Shapes, sandbox: &Sandbox) {
    let client = MiniProgramClient::builder(MINIPROGRAM_APPID, MINIPROGRAM_SECRET)
        .api_base(sandbox.url())
        .build()
        .unwrap();
    let expected_unionid = shapes.unionid.then(|| sandbox.unionid("bob"));

    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let session = client.code_to_session(js_code).await.unwrap();
    assert_eq!(
        session.openid,
        sandbox.openid(MINIPROGRAM_APPID, "bob"),
        "{name}"
    );
    assert_eq!(session.unionid, expected_unionid, "{name}");
    assert_eq!(
        Some(session.session_key.expose_secret()),
        sandbox.session_key(MINIPROGRAM_APPID, "bob").as_deref(),
        "{name}"
    );

    // jscode2session and the decrypted profile together.
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "bob").unwrap();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "bob").unwrap();
    let user = client
        .get_user_by_code(&js_code, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    assert_eq!(user.unionid, expected_unionid, "{name}");
    assert!(
        user.user_info
            .avatar_url
            .starts_with("https://thirdwx.qlogo.cn/"),
        "{name}"
    );

    // Phone number (a `/wxa/` call: errcode 0 plus data).
    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "bob").unwrap();
    let phone = client.get_phone_number(code).await.unwrap();
    assert!(phone.pure_phone_number.starts_with("138"), "{name}");

    // A stale server token: the 40001 errmsg carries a URL, escaped as `\/` in one shape.
    sandbox.inject_fault("/wxa/business/getuserphonenumber", Fault::ErrCode(40001));
    let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "bob").unwrap();
    let err = client.get_phone_number(code).await.unwrap_err();
    assert_split(name, shapes, err.wechat().unwrap(), 40001, STALE_TOKEN_TEXT);

    // An invalid js_code.
    let err = client.code_to_session("no-such-code").await.unwrap_err();
    assert_split(name, shapes, err.wechat().unwrap(), 40029, "invalid code");
}

#[tokio::test]
async fn every_flow_parses_every_answer_shape() {
    for (name, shapes) in Shapes::variants() {
        let sandbox = Sandbox::builder()
            .shapes(shapes.clone())
            .start()
            .await
            .unwrap();
        let client = builder(&sandbox).build().unwrap();
        official_flows(name, &shapes, &sandbox, &client).await;
        mini_program_flows(name, &shapes, &sandbox).await;
    }
}

#[tokio::test]
async fn a_shape_changed_mid_session_does_not_disturb_stored_tokens() {
    // One sandbox, shapes switched between calls: what was stored under one shape keeps
    // working under the next (a real app meets a WeChat that changes under it).
    let sandbox = Sandbox::builder().start().await.unwrap();
    let client = builder(&sandbox).build().unwrap();
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    let token = client.get_access_token(code).await.unwrap();
    for (name, shapes) in Shapes::variants() {
        sandbox.set_shapes(shapes.clone());
        let user = client.get_user(&token.openid).await.unwrap();
        assert_eq!(user.openid, token.openid, "{name}");
        assert_eq!(
            user.unionid,
            shapes.unionid.then(|| sandbox.unionid("alice")),
            "{name}"
        );
        client
            .refresh_access_token(token.refresh_token.clone())
            .await
            .unwrap();
    }
}
