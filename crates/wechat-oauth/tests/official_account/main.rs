//! The Official Account's server-side APIs against the sandbox over real HTTP: follower
//! info (`user/info`, `batchget`) and the JS-SDK ticket and `wx.config` signature.

use std::sync::Arc;

use sha1::Digest as _;
use wechat_oauth::follower::SubscribeScene;
use wechat_oauth::store::{Credential, Stores};
use wechat_oauth::{Lang, OfficialAccountClient, WeChatApp};
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET, WEBSITE_APPID};
use wechat_sandbox::{PushOptions, Sandbox};

async fn setup() -> (Sandbox, OfficialAccountClient) {
    let sandbox = Sandbox::builder()
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = OfficialAccountClient::builder(OFFICIAL_APPID, OFFICIAL_SECRET)
        .api_base(sandbox.url())
        .allow_insecure_http(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    (sandbox, client)
}

#[tokio::test]
async fn a_follower_has_a_follow_state_and_unionid_but_no_profile() {
    let (sandbox, client) = setup().await;
    let openid = sandbox.openid(OFFICIAL_APPID, "alice");
    let before = client
        .get_follower(&openid, Lang::ZhCn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!before.subscribed);
    assert_eq!(before.unionid, Some(sandbox.unionid("alice")));
    assert_eq!(before.subscribe_time, None);

    sandbox
        .set_following(OFFICIAL_APPID, "alice", true, PushOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = client
        .get_follower(&openid, Lang::En)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(after.subscribed);
    assert!(after.subscribe_time.is_some_and(|t| t > 1_600_000_000));
    assert_eq!(after.subscribe_scene, Some(SubscribeScene::Search));
    let request = sandbox
        .journal()
        .into_iter()
        .rfind(|r| r.path == "/cgi-bin/user/info")
        .unwrap_or_else(|| panic!("no user/info request"));
    assert_eq!(request.param("lang"), Some("en"));
    assert_eq!(request.param("openid"), Some(openid.as_str()));
}

#[tokio::test]
async fn another_apps_openid_is_wechat_error_40003() {
    let (sandbox, client) = setup().await;
    let foreign = sandbox.openid(WEBSITE_APPID, "alice");
    let err = client.get_follower(&foreign, Lang::ZhCn).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40003), "{err}");
}

#[tokio::test]
async fn batchget_keeps_the_order_and_splits_at_100() {
    let (sandbox, client) = setup().await;
    sandbox
        .set_following(OFFICIAL_APPID, "bob", true, PushOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let alice = sandbox.openid(OFFICIAL_APPID, "alice");
    let bob = sandbox.openid(OFFICIAL_APPID, "bob");
    let followers = client
        .get_followers(&[&alice, &bob], Lang::ZhCn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(followers.len(), 2);
    assert_eq!(
        (followers[0].openid.as_str(), followers[0].subscribed),
        (alice.as_str(), false)
    );
    assert_eq!(
        (followers[1].openid.as_str(), followers[1].subscribed),
        (bob.as_str(), true)
    );

    sandbox.clear_journal();
    let many: Vec<&str> = (0..150)
        .map(|i| {
            if i % 2 == 0 {
                alice.as_str()
            } else {
                bob.as_str()
            }
        })
        .collect();
    let followers = client
        .get_followers(&many, Lang::ZhCn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(followers.len(), 150);
    assert_eq!(sandbox.request_count("/cgi-bin/user/info/batchget"), 2);
}

#[tokio::test]
async fn the_jsapi_ticket_is_fetched_once_for_concurrent_callers() {
    let (sandbox, client) = setup().await;
    let client = Arc::new(client);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.jsapi_ticket().await }));
    }
    let mut tickets = Vec::new();
    for task in tasks {
        let ticket = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        tickets.push(ticket.expose_secret().to_owned());
    }
    tickets.dedup();
    assert_eq!(tickets.len(), 1);
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 1);
    client
        .jsapi_ticket()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sandbox.request_count("/cgi-bin/ticket/getticket"),
        1,
        "cached"
    );
}

#[tokio::test]
async fn wx_config_signs_the_url_without_its_fragment() {
    let (sandbox, client) = setup().await;
    let page = "http://127.0.0.1:3000/profile?from=singlemessage&isappinstalled=0";
    let config = client
        .js_sdk_config(&format!("{page}#/tab/2"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.app_id, OFFICIAL_APPID);
    assert_eq!(config.nonce_str.len(), 16);
    // The signature, recomputed here from the ticket the sandbox issued.
    let ticket = client
        .jsapi_ticket()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let string1 = format!(
        "jsapi_ticket={}&noncestr={}&timestamp={}&url={page}",
        ticket.expose_secret(),
        config.nonce_str,
        config.timestamp
    );
    assert_eq!(
        config.signature,
        hex::encode(sha1::Sha1::digest(string1.as_bytes()))
    );
    let json = serde_json::to_value(&config).unwrap_or_default();
    assert!(
        json.get("nonceStr").is_some() && json.get("appId").is_some(),
        "{json}"
    );
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 1);
}

#[tokio::test]
async fn a_superseded_server_token_is_refreshed_once_and_the_call_retried() {
    let (sandbox, client) = setup().await;
    let openid = sandbox.openid(OFFICIAL_APPID, "alice");
    client
        .get_follower(&openid, Lang::ZhCn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Another process forces a new stable token: the cached one now answers 40001.
    let forced = reqwest::Client::new()
        .post(format!("{}/cgi-bin/stable_token", sandbox.url()))
        .json(&serde_json::json!({"grant_type": "client_credential", "appid": OFFICIAL_APPID, "secret": OFFICIAL_SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forced.status(), 200);
    let follower = client
        .get_follower(&openid, Lang::ZhCn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(follower.openid, openid);
    assert_eq!(
        sandbox.request_count("/cgi-bin/user/info"),
        3,
        "one rejected, one retried"
    );
}

/// Two clients (two instances of a site) on one set of stores.
fn two_clients(sandbox: &Sandbox, stores: &Stores) -> [OfficialAccountClient; 2] {
    [(), ()].map(|()| {
        WeChatApp::builder(OFFICIAL_APPID, OFFICIAL_SECRET)
            .api_base(sandbox.url())
            .allow_insecure_http(true)
            .stores(stores.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .official_account()
    })
}

#[tokio::test]
async fn the_jsapi_ticket_is_one_app_credential_for_every_instance_sharing_the_stores() {
    let (sandbox, _) = setup().await;
    let stores = Stores::memory();
    let clients = Arc::new(two_clients(&sandbox, &stores));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let clients = clients.clone();
        tasks.push(tokio::spawn(
            async move { clients[i % 2].jsapi_ticket().await },
        ));
    }
    let mut tickets = Vec::new();
    for task in tasks {
        let ticket = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        tickets.push(ticket.expose_secret().to_owned());
    }
    tickets.dedup();
    assert_eq!(tickets.len(), 1, "both instances use the same ticket");
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 1);
    let stored = stores
        .credentials
        .get_credential(&format!("jsapi_ticket:{OFFICIAL_APPID}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no jsapi_ticket credential in the store"));
    assert_eq!(stored.value.expose_secret(), tickets[0]);
    assert!(stored.expires_at - stored.obtained_at > 7_000_000);
}

#[tokio::test]
async fn an_expired_ticket_in_the_store_is_fetched_again_once() {
    let (sandbox, _) = setup().await;
    let stores = Stores::memory();
    let now = wechat_oauth::now_millis();
    stores
        .credentials
        .put_credential(
            &format!("jsapi_ticket:{OFFICIAL_APPID}"),
            &Credential::new("stale-ticket", now - 7_200_000, now - 1_000),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let [a, b] = two_clients(&sandbox, &stores);
    let (ta, tb) = tokio::join!(a.jsapi_ticket(), b.jsapi_ticket());
    let (ta, tb) = (
        ta.unwrap_or_else(|e| panic!("{e}")),
        tb.unwrap_or_else(|e| panic!("{e}")),
    );
    assert_ne!(ta.expose_secret(), "stale-ticket");
    assert_eq!(ta, tb);
    assert_eq!(sandbox.request_count("/cgi-bin/ticket/getticket"), 1);
}

#[tokio::test]
async fn a_rejected_server_token_while_fetching_the_ticket_is_refreshed_once() {
    let (sandbox, client) = setup().await;
    client
        .server_tokens()
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Another process forces a new stable token: the cached one now answers 40001.
    let forced = reqwest::Client::new()
        .post(format!("{}/cgi-bin/stable_token", sandbox.url()))
        .json(&serde_json::json!({"grant_type": "client_credential", "appid": OFFICIAL_APPID, "secret": OFFICIAL_SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forced.status(), 200);
    client
        .jsapi_ticket()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tickets: Vec<_> = sandbox
        .journal()
        .into_iter()
        .filter(|r| r.path == "/cgi-bin/ticket/getticket")
        .collect();
    assert_eq!(tickets.len(), 2, "the rejected call and its one retry");
}

#[tokio::test]
async fn a_temporary_qrcode_for_a_string_scene_shows_as_a_png() {
    let (sandbox, client) = setup().await;
    let code = client
        .create_temporary_qrcode("login-abc", 120)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code.expire_seconds, Some(120));
    assert!(
        code.url.starts_with("http://weixin.qq.com/q/"),
        "{}",
        code.url
    );
    let body = sandbox
        .journal()
        .into_iter()
        .rfind(|r| r.path == "/cgi-bin/qrcode/create")
        .unwrap_or_else(|| panic!("no qrcode/create request"))
        .body
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(body["action_name"], "QR_STR_SCENE");
    assert_eq!(body["action_info"]["scene"]["scene_str"], "login-abc");
    // The image URL (ticket URL-encoded) serves a PNG.
    let image = reqwest::get(code.image_url_on(sandbox.url()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image.status(), 200);
    let png = image.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(png.starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn bad_qrcode_scenes_are_refused_before_any_request() {
    let (sandbox, client) = setup().await;
    for (scene, ttl) in [("", 60), (&*"x".repeat(65), 60), ("ok", 0)] {
        let err = client
            .create_temporary_qrcode(scene, ttl)
            .await
            .unwrap_err();
        assert!(err.is_invalid_argument(), "{err}");
    }
    assert_eq!(sandbox.request_count("/cgi-bin/qrcode/create"), 0);
}
