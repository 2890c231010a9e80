//! Authorize URLs and `state`, checked by the sandbox's authorize pages, which validate
//! parameters, order and `state` exactly as WeChat does.

use std::collections::HashSet;

use wechat_oauth::{OAuthClient, Scope, is_valid_state, new_state, states_match};
use wechat_sandbox::Sandbox;
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET, WEBSITE_APPID, WEBSITE_SECRET};

use crate::common::*;

/// Follows `url` as a WeChat user `user` who approves; returns the callback `Location`.
async fn approve(url: &str, user: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The fragment never leaves the browser.
    let url = url.split('#').next().unwrap();
    let response = http
        .get(url)
        .header("X-Sandbox-User", user)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body_or_location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    match body_or_location {
        Some(location) if status.is_redirection() => location,
        _ => panic!(
            "not redirected ({status}): {}",
            response.text().await.unwrap_or_default()
        ),
    }
}

fn client_for(sandbox: &Sandbox, appid: &str, secret: &str) -> OAuthClient {
    OAuthClient::builder(appid, secret)
        .api_base(sandbox.url())
        .open_base(sandbox.url())
        .build()
        .unwrap()
}

#[test]
fn new_state_is_unique_alphanumeric_and_long_enough() {
    let states: HashSet<String> = (0..10_000).map(|_| new_state()).collect();
    assert_eq!(states.len(), 10_000);
    for state in &states {
        assert!(
            state.len() >= 22,
            "≥128 bits of [A-Za-z0-9] needs ≥22 characters"
        );
        assert!(state.len() <= 128);
        assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()), "{state}");
        assert!(is_valid_state(state));
    }
    let a = new_state();
    assert!(states_match(&a, &a.clone()));
    assert!(!states_match(&a, &new_state()));
    assert!(!states_match(&a, &a[..a.len() - 1]));
}

#[tokio::test]
async fn the_sandbox_accepts_our_authorize_url_and_echoes_the_state() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox, OFFICIAL_APPID, OFFICIAL_SECRET);
    let state = new_state();
    let url = client.authorize_url(
        "http://127.0.0.1:8080/cb?from=menu",
        &state,
        Scope::UserInfo,
    );
    assert!(!url.contains(OFFICIAL_SECRET));
    let location = approve(&url, "alice").await;
    let callback = url::Url::parse(&location).unwrap();
    assert_eq!(callback.path(), "/cb");
    let params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("from").as_deref(),
        Some("menu"),
        "redirect_uri encoded exactly once"
    );
    assert!(states_match(&state, &get("state").unwrap()));
    // The code from the real page works.
    let user = client.get_user_by_code(get("code").unwrap()).await.unwrap();
    assert_eq!(user.openid, sandbox.openid(OFFICIAL_APPID, "alice"));
}

#[tokio::test]
async fn the_sandbox_accepts_base_scope_force_popup_and_the_seed_shape() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox, OFFICIAL_APPID, OFFICIAL_SECRET);
    let url = client
        .authorize("http://127.0.0.1/cb")
        .state(&new_state())
        .force_popup(true)
        .build();
    approve(&url, "bob").await;
    let url = client
        .authorize("http://127.0.0.1/cb")
        .connect_redirect(false)
        .build();
    let location = approve(&url, "bob").await;
    assert!(location.contains("code="), "{location}");
}

#[tokio::test]
async fn the_sandbox_accepts_our_website_url() {
    let sandbox = sandbox().await;
    let client = client_for(&sandbox, WEBSITE_APPID, WEBSITE_SECRET);
    let state = new_state();
    let url = client.authorize_url_for_website("http://localhost:3000/login/callback", &state);
    assert!(url.contains("/connect/qrconnect?") && !url.contains(WEBSITE_SECRET));
    let location = approve(&url, "bob").await;
    assert!(
        location.starts_with("http://localhost:3000/login/callback?code="),
        "{location}"
    );
    assert!(location.ends_with(&format!("&state={state}")), "{location}");
}

#[test]
fn connect_redirect_is_on_by_default_and_can_be_turned_off() {
    let on = OAuthClient::builder("wxid", "s").build().unwrap();
    assert!(
        on.authorize_url("https://e.com/", "s1", Scope::Base)
            .ends_with("&state=s1&connect_redirect=1#wechat_redirect")
    );
    let off = OAuthClient::builder("wxid", "s")
        .connect_redirect(false)
        .build()
        .unwrap();
    assert!(
        off.authorize_url("https://e.com/", "s1", Scope::Base)
            .ends_with("&state=s1#wechat_redirect")
    );
    // Per URL too.
    assert!(
        on.authorize("https://e.com/")
            .connect_redirect(false)
            .build()
            .ends_with("&state=#wechat_redirect")
    );
}
