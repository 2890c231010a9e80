//! End-to-end behaviour beyond the upstream suite: wire shape, scopes, refresh-and-retry,
//! re-authorization, token checks, website login, snapshot users.

use std::time::Duration;

use wechat_oauth::{Lang, OAuthClient, TokenStatus};
use wechat_sandbox::Fault;
use wechat_sandbox::defaults::{
    OFFICIAL_APPID, OFFICIAL_SECRET, SNAPSHOT_USER, WEBSITE_APPID, WEBSITE_SECRET,
};

use crate::common::*;

#[tokio::test]
async fn requests_carry_wechat_parameters_in_wire_order() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    client.get_user(&token.openid).await.unwrap();
    client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap();
    client
        .refresh_access_token(&token.refresh_token)
        .await
        .unwrap();
    let journal = sandbox.journal();
    let shape: Vec<(&str, Vec<&str>)> = journal
        .iter()
        .map(|e| (e.path.as_str(), e.param_names()))
        .collect();
    assert_eq!(
        shape,
        [
            (EXCHANGE, vec!["appid", "secret", "code", "grant_type"]),
            (USERINFO, vec!["access_token", "openid", "lang"]),
            (AUTH, vec!["access_token", "openid"]),
            (REFRESH, vec!["appid", "grant_type", "refresh_token"]),
        ]
    );
    assert!(journal.iter().all(|e| e.method == "GET"));
    assert_eq!(journal[0].param("grant_type"), Some("authorization_code"));
    assert_eq!(journal[0].param("secret"), Some(OFFICIAL_SECRET));
    assert_eq!(journal[3].param("grant_type"), Some("refresh_token"));
}

#[tokio::test]
async fn base_scope_token_gives_a_clear_scope_error() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_base").await;
    assert_eq!(token.scope, "snsapi_base");
    assert_eq!(token.unionid, None);
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert!(err.is_scope_insufficient(), "{err:?}");
    assert_eq!(err.errcode(), Some(48001));
    assert!(err.to_string().contains("snsapi_userinfo"), "{err}");
    assert!(
        calls(&sandbox, REFRESH).is_empty(),
        "48001 is not a token problem"
    );
}

async fn assert_refresh_and_retry_once_on(errcode: i64) {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.clear_journal();
    sandbox.inject_fault(USERINFO, Fault::ErrCode(errcode));
    let user = client.get_user(&token.openid).await.unwrap();
    assert_eq!(user.openid, token.openid);
    let paths: Vec<_> = sandbox.journal().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, [USERINFO, REFRESH, USERINFO], "after {errcode}");
}

#[tokio::test]
async fn userinfo_40001_refreshes_once_and_retries_once() {
    assert_refresh_and_retry_once_on(40001).await;
}

#[tokio::test]
async fn userinfo_42001_refreshes_once_and_retries_once() {
    assert_refresh_and_retry_once_on(42001).await;
}

#[tokio::test]
async fn userinfo_40014_refreshes_once_and_retries_once() {
    assert_refresh_and_retry_once_on(40014).await;
}

#[tokio::test]
async fn a_second_token_rejection_is_returned_not_retried_again() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.clear_journal();
    sandbox.inject_fault(USERINFO, Fault::ErrCode(42001));
    sandbox.inject_fault(USERINFO, Fault::ErrCode(42001));
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert!(
        err.is_token_invalid() && err.errcode() == Some(42001),
        "{err:?}"
    );
    let paths: Vec<_> = sandbox.journal().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, [USERINFO, REFRESH, USERINFO]);
}

#[tokio::test]
async fn refresh_40030_deletes_the_token_and_asks_to_reauthorize() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    expire_everywhere(&sandbox, &client, &token.openid).await;
    sandbox.inject_fault(REFRESH, Fault::ErrCode(40030));
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert!(err.is_reauthorize_required(), "{err:?}");
    assert_eq!(client.token_store().get(&token.openid).await.unwrap(), None);
    // The next call says "authorize first" without asking WeChat again.
    sandbox.clear_journal();
    assert!(
        client
            .get_user(&token.openid)
            .await
            .unwrap_err()
            .is_no_token()
    );
    assert!(sandbox.journal().is_empty());
}

#[tokio::test]
async fn refresh_token_past_30_days_asks_to_reauthorize() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.advance_clock(Duration::from_secs(31 * 24 * 3600));
    age_stored_token(
        client.token_store().as_ref(),
        &token.openid,
        Duration::from_secs(7201),
    )
    .await;
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert_eq!(err.errcode(), Some(42002), "{err:?}");
    assert!(err.is_reauthorize_required());
    assert_eq!(client.token_store().get(&token.openid).await.unwrap(), None);
}

#[tokio::test]
async fn reauthorize_on_42007_also_deletes() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    sandbox.inject_fault(USERINFO, Fault::ErrCode(40001));
    sandbox.inject_fault(REFRESH, Fault::ErrCode(42007));
    let err = client.get_user(&token.openid).await.unwrap_err();
    assert!(err.is_reauthorize_required(), "{err:?}");
    assert_eq!(client.token_store().get(&token.openid).await.unwrap(), None);
}

#[tokio::test]
async fn verify_token_is_tri_state() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).max_retries(1).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    assert_eq!(
        client
            .verify_token(&token.openid, &token.access_token)
            .await
            .unwrap(),
        TokenStatus::Valid
    );
    // Someone else's openid with this token: invalid (40003).
    let bob = sandbox.openid(OFFICIAL_APPID, "bob");
    match client
        .verify_token(&bob, &token.access_token)
        .await
        .unwrap()
    {
        TokenStatus::Invalid(e) => assert_eq!(e.errcode, 40003),
        other => panic!("{other:?}"),
    }
    // Expired: invalid (42001).
    sandbox.advance_clock(Duration::from_secs(7201));
    let status = client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap();
    assert!(
        matches!(&status, TokenStatus::Invalid(e) if e.errcode == 42001),
        "{status:?}"
    );
    assert!(!status.is_valid());
    // Busy WeChat (every attempt answers -1): an error, not "invalid".
    sandbox.inject_fault(AUTH, Fault::ErrCode(-1));
    sandbox.inject_fault(AUTH, Fault::ErrCode(-1));
    let err = client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap_err();
    assert!(err.is_retryable() && err.errcode() == Some(-1), "{err:?}");
    // Unreachable: an error too.
    sandbox.inject_fault(AUTH, Fault::Reset);
    sandbox.inject_fault(AUTH, Fault::Reset);
    let err = client
        .verify_token(&token.openid, &token.access_token)
        .await
        .unwrap_err();
    assert!(matches!(err, wechat_oauth::Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn website_qr_login_flow() {
    let sandbox = sandbox().await;
    let client = OAuthClient::builder(WEBSITE_APPID, WEBSITE_SECRET)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .build()
        .unwrap();
    let code = sandbox
        .mint_code(WEBSITE_APPID, "bob", "snsapi_login")
        .unwrap();
    let user = client.get_user_by_code(code).await.unwrap();
    assert_eq!(user.openid, sandbox.openid(WEBSITE_APPID, "bob"));
    assert_eq!(
        user.unionid.as_deref(),
        Some(sandbox.unionid("bob").as_str())
    );
    let token = client
        .token_store()
        .get(&user.openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.scope, "snsapi_login");
}

#[tokio::test]
async fn snapshot_users_are_flagged() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, SNAPSHOT_USER, "snsapi_userinfo").await;
    assert!(token.is_snapshotuser);
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    assert!(!alice.is_snapshotuser);
}

#[tokio::test]
async fn a_code_is_single_use() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let code = sandbox
        .mint_code(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .unwrap();
    client.get_access_token(code.as_str()).await.unwrap();
    let err = client.get_access_token(code.as_str()).await.unwrap_err();
    assert!(err.is_code_used() && !err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn user_info_lang_variants_reach_the_wire() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox).default_lang(Lang::ZhTw).build().unwrap();
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    client.get_user(&token.openid).await.unwrap();
    client.user_info(&token, Lang::En).await.unwrap();
    let langs: Vec<_> = calls(&sandbox, USERINFO)
        .iter()
        .map(|e| e.param("lang").unwrap().to_owned())
        .collect();
    assert_eq!(langs, ["zh_TW", "en"]);
}

#[tokio::test]
async fn get_latest_access_token_refreshes_only_when_needed() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    assert_eq!(
        client.get_latest_access_token(&token.openid).await.unwrap(),
        token
    );
    expire_everywhere(&sandbox, &client, &token.openid).await;
    let fresh = client.get_latest_access_token(&token.openid).await.unwrap();
    assert!(fresh.is_valid() && fresh.access_token != token.access_token);
    assert_eq!(calls(&sandbox, REFRESH).len(), 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_early() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let token = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    // 30 s left: still valid by the seed's rule, but inside the 60 s skew.
    let aged = age_stored_token(
        client.token_store().as_ref(),
        &token.openid,
        Duration::from_secs(7170),
    )
    .await;
    assert!(aged.is_valid());
    client.get_user(&token.openid).await.unwrap();
    assert_eq!(calls(&sandbox, REFRESH).len(), 1);
}
