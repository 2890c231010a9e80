//! `/connect/oauth2/authorize` and `/connect/qrconnect`: validation, scripted approval, the
//! consent page (docs/protocol.md §2).

use wechat_sandbox::defaults::*;

use crate::support::*;

/// Asserts the HTML error page: status 200, no redirect, WeChat's code in the body.
async fn assert_page_error(response: reqwest::Response, code: u32) -> String {
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains(&format!("错误码：{code}")),
        "expected {code} in {body}"
    );
    body
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "expected a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn scripted_approval_redirects_with_code_and_state() {
    let env = start().await;
    let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_userinfo", "Abc123");
    let response = env
        .page(
            &format!("/connect/oauth2/authorize?{query}"),
            Some("alice"),
            None,
        )
        .await;
    let location = location(&response);
    assert!(
        location.starts_with("http://127.0.0.1:9/cb?code="),
        "{location}"
    );
    let (code, state) = callback_params(&location);
    assert_eq!(code.unwrap().len(), 32);
    assert_eq!(state.as_deref(), Some("Abc123"));
}

#[tokio::test]
async fn fragment_in_redirect_uri_stays_after_the_query() {
    let env = start().await;
    let query = authorize_query(
        OFFICIAL_APPID,
        "http://localhost:3000/app?x=1#/pages/home",
        "snsapi_base",
        "s",
    );
    let response = env
        .page(
            &format!("/connect/oauth2/authorize?{query}"),
            Some("bob"),
            None,
        )
        .await;
    let location = location(&response);
    let (head, fragment) = location.split_once('#').unwrap();
    assert_eq!(fragment, "/pages/home");
    assert!(
        head.starts_with("http://localhost:3000/app?x=1&code="),
        "{location}"
    );
    assert!(head.ends_with("&state=s"), "{location}");
}

#[tokio::test]
async fn deny_redirects_with_state_only() {
    let env = start().await;
    for (page, appid, scope) in [
        (
            "/connect/oauth2/authorize",
            OFFICIAL_APPID,
            "snsapi_userinfo",
        ),
        ("/connect/qrconnect", WEBSITE_APPID, "snsapi_login"),
    ] {
        let query = authorize_query(appid, CALLBACK, scope, "xyz");
        let response = env
            .page(&format!("{page}?{query}"), Some("alice"), Some("deny"))
            .await;
        assert_eq!(location(&response), "http://127.0.0.1:9/cb?state=xyz");
    }
}

#[tokio::test]
async fn parameter_order_is_enforced_on_oauth2_authorize() {
    let env = start().await;
    let cb = enc(CALLBACK);
    let swapped = format!(
        "/connect/oauth2/authorize?redirect_uri={cb}&appid={OFFICIAL_APPID}&response_type=code&scope=snsapi_base&state=s"
    );
    let body = assert_page_error(env.page(&swapped, Some("alice"), None).await, 10005).await;
    assert!(body.contains("Scope 参数错误或没有 Scope 权限"));
    let state_first = format!(
        "/connect/oauth2/authorize?appid={OFFICIAL_APPID}&redirect_uri={cb}&response_type=code&state=s&scope=snsapi_base"
    );
    assert_page_error(env.page(&state_first, Some("alice"), None).await, 10005).await;
    let extra_before_state = format!(
        "/connect/oauth2/authorize?appid={OFFICIAL_APPID}&redirect_uri={cb}&response_type=code&scope=snsapi_base&connect_redirect=1&state=s"
    );
    assert_page_error(
        env.page(&extra_before_state, Some("alice"), None).await,
        10005,
    )
    .await;
    let duplicate = format!(
        "{}&state=t",
        authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s")
    );
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{duplicate}"),
            Some("alice"),
            None,
        )
        .await,
        10005,
    )
    .await;
}

#[tokio::test]
async fn documented_extras_after_state_are_accepted_and_unknown_ones_are_not() {
    let env = start().await;
    let base = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s");
    let ok = env
        .page(
            &format!("/connect/oauth2/authorize?{base}&forcePopup=true&connect_redirect=1"),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(ok.status(), 302);
    let unknown = env
        .page(
            &format!("/connect/oauth2/authorize?{base}&foo=1"),
            Some("alice"),
            None,
        )
        .await;
    assert_page_error(unknown, 10005).await;
    let without_state = format!(
        "/connect/oauth2/authorize?appid={OFFICIAL_APPID}&redirect_uri={}&response_type=code&scope=snsapi_base",
        enc(CALLBACK)
    );
    let response = env.page(&without_state, Some("alice"), None).await;
    assert!(location(&response).ends_with("&state="));
}

#[tokio::test]
async fn parameter_names_are_case_sensitive() {
    let env = start().await;
    let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s")
        .replacen("appid=", "appId=", 1);
    let body = assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{query}"),
            Some("alice"),
            None,
        )
        .await,
        10012,
    )
    .await;
    assert!(body.contains("case-sensitive"));
}

#[tokio::test]
async fn missing_parameters_name_their_own_error_code() {
    let env = start().await;
    let cb = enc(CALLBACK);
    let cases = [
        (
            format!("redirect_uri={cb}&response_type=code&scope=snsapi_base&state=s"),
            10012,
        ),
        (
            format!("appid=&redirect_uri={cb}&response_type=code&scope=snsapi_base&state=s"),
            10012,
        ),
        (
            format!("appid={OFFICIAL_APPID}&response_type=code&scope=snsapi_base&state=s"),
            10011,
        ),
        (
            format!("appid={OFFICIAL_APPID}&redirect_uri={cb}&response_type=code&state=s"),
            10010,
        ),
        (
            format!(
                "appid={OFFICIAL_APPID}&redirect_uri={cb}&response_type=token&scope=snsapi_base&state=s"
            ),
            10008,
        ),
        (
            format!(
                "appid=wx0000000000000000&redirect_uri={cb}&response_type=code&scope=snsapi_base&state=s"
            ),
            10012,
        ),
    ];
    for (query, code) in cases {
        assert_page_error(
            env.page(
                &format!("/connect/oauth2/authorize?{query}"),
                Some("alice"),
                None,
            )
            .await,
            code,
        )
        .await;
    }
}

#[tokio::test]
async fn scope_must_be_allowed_for_the_app_kind() {
    let env = start().await;
    let login_on_oa = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_login", "s");
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{login_on_oa}"),
            Some("alice"),
            None,
        )
        .await,
        10005,
    )
    .await;
    let userinfo_on_web = authorize_query(WEBSITE_APPID, CALLBACK, "snsapi_userinfo", "s");
    assert_page_error(
        env.page(
            &format!("/connect/qrconnect?{userinfo_on_web}"),
            Some("alice"),
            None,
        )
        .await,
        10005,
    )
    .await;
    let bogus = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_everything", "s");
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{bogus}"),
            Some("alice"),
            None,
        )
        .await,
        10005,
    )
    .await;
}

#[tokio::test]
async fn each_page_takes_only_its_own_app_kind() {
    let env = start().await;
    let website_on_oauth2 = authorize_query(WEBSITE_APPID, CALLBACK, "snsapi_login", "s");
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{website_on_oauth2}"),
            Some("alice"),
            None,
        )
        .await,
        10016,
    )
    .await;
    let oa_on_qrconnect = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s");
    assert_page_error(
        env.page(
            &format!("/connect/qrconnect?{oa_on_qrconnect}"),
            Some("alice"),
            None,
        )
        .await,
        10016,
    )
    .await;
    let mp = authorize_query(MINIPROGRAM_APPID, CALLBACK, "snsapi_base", "s");
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{mp}"),
            Some("alice"),
            None,
        )
        .await,
        10016,
    )
    .await;
}

#[tokio::test]
async fn state_must_be_alphanumeric_and_at_most_128_bytes() {
    let env = start().await;
    let longest = "a".repeat(128);
    let ok = env
        .page(
            &format!(
                "/connect/oauth2/authorize?{}",
                authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", &longest)
            ),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(ok.status(), 302);
    for bad in ["a".repeat(129), "a-b".to_owned(), "a%26b".to_owned()] {
        let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", &bad);
        assert_page_error(
            env.page(
                &format!("/connect/oauth2/authorize?{query}"),
                Some("alice"),
                None,
            )
            .await,
            10013,
        )
        .await;
    }
}

#[tokio::test]
async fn default_domain_accepts_loopback_hosts_on_any_port_only() {
    let env = start().await;
    for ok in [
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "https://[::1]:4443/cb",
        "http://127.5.6.7/x",
    ] {
        let query = authorize_query(OFFICIAL_APPID, ok, "snsapi_base", "s");
        assert_eq!(
            env.page(
                &format!("/connect/oauth2/authorize?{query}"),
                Some("alice"),
                None
            )
            .await
            .status(),
            302,
            "{ok}"
        );
    }
    for bad in [
        "http://example.com/cb",
        "ftp://127.0.0.1/cb",
        "/relative/cb",
        "http://127.0.0.1.evil.com/cb",
    ] {
        let query = authorize_query(OFFICIAL_APPID, bad, "snsapi_base", "s");
        assert_page_error(
            env.page(
                &format!("/connect/oauth2/authorize?{query}"),
                Some("alice"),
                None,
            )
            .await,
            10003,
        )
        .await;
    }
}

#[tokio::test]
async fn configured_domain_must_match_exactly_without_subdomains_or_ports() {
    let env = start_with(builder_with_domain("example.com")).await;
    let ok = authorize_query(
        "wxdomain0000000001",
        "https://example.com/wechat/cb",
        "snsapi_base",
        "s",
    );
    assert_eq!(
        env.page(
            &format!("/connect/oauth2/authorize?{ok}"),
            Some("alice"),
            None
        )
        .await
        .status(),
        302
    );
    for bad in [
        "https://www.example.com/cb",
        "https://example.com:8443/cb",
        "http://127.0.0.1/cb",
        "https://example.com.cn/cb",
    ] {
        let query = authorize_query("wxdomain0000000001", bad, "snsapi_base", "s");
        let body = assert_page_error(
            env.page(
                &format!("/connect/oauth2/authorize?{query}"),
                Some("alice"),
                None,
            )
            .await,
            10003,
        )
        .await;
        assert!(body.contains("redirect_uri 域名与后台配置不一致"));
    }

    let env = start_with(builder_with_domain("192.168.1.10:8080")).await;
    let ok = authorize_query(
        "wxdomain0000000001",
        "http://192.168.1.10:8080/cb",
        "snsapi_base",
        "s",
    );
    assert_eq!(
        env.page(
            &format!("/connect/oauth2/authorize?{ok}"),
            Some("alice"),
            None
        )
        .await
        .status(),
        302
    );
    let wrong_port = authorize_query(
        "wxdomain0000000001",
        "http://192.168.1.10:8081/cb",
        "snsapi_base",
        "s",
    );
    assert_page_error(
        env.page(
            &format!("/connect/oauth2/authorize?{wrong_port}"),
            Some("alice"),
            None,
        )
        .await,
        10003,
    )
    .await;
}

#[tokio::test]
async fn snsapi_base_approves_silently_as_the_first_user() {
    let env = start().await;
    let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s");
    let response = env
        .page(&format!("/connect/oauth2/authorize?{query}"), None, None)
        .await;
    let code = callback_params(&location(&response)).0.unwrap();
    let token = env.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await;
    assert_eq!(token["openid"], env.sandbox.openid(OFFICIAL_APPID, "alice"));
    assert_eq!(token["scope"], "snsapi_base");
}

/// Extracts the `href` of the element with this id from the consent page.
fn href_of(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let rest = &page[at..];
    let start = rest.find("href=\"").unwrap() + 6;
    let end = rest[start..].find('"').unwrap();
    rest[start..start + end].replace("&amp;", "&")
}

#[tokio::test]
async fn consent_page_lists_users_and_its_links_approve_and_deny() {
    let env = start().await;
    let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_userinfo", "st1");
    let response = env
        .page(&format!("/connect/oauth2/authorize?{query}"), None, None)
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    for user in USERS {
        assert!(page.contains(&format!("id=\"approve-{user}\"")), "{page}");
    }

    let approve = env
        .http
        .get(env.url(&href_of(&page, "approve-bob")))
        .send()
        .await
        .unwrap();
    let cookie = approve.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("wechat_sandbox_user=bob;"), "{cookie}");
    let (code, state) = callback_params(&location(&approve));
    assert_eq!(state.as_deref(), Some("st1"));
    let token = env
        .exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code.unwrap())
        .await;
    assert_eq!(token["openid"], env.sandbox.openid(OFFICIAL_APPID, "bob"));

    let deny = env
        .http
        .get(env.url(&href_of(&page, "deny")))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&deny), "http://127.0.0.1:9/cb?state=st1");

    // The browser now "is" bob: a silent snsapi_base authorization picks him.
    let base = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s");
    let silent = env
        .http
        .get(env.url(&format!("/connect/oauth2/authorize?{base}")))
        .header("Cookie", "wechat_sandbox_user=bob")
        .send()
        .await
        .unwrap();
    let token = env
        .exchange(
            OFFICIAL_APPID,
            OFFICIAL_SECRET,
            &callback_params(&location(&silent)).0.unwrap(),
        )
        .await;
    assert_eq!(token["openid"], env.sandbox.openid(OFFICIAL_APPID, "bob"));
}

#[tokio::test]
async fn consent_links_are_validated_again_when_followed() {
    let env = start().await;
    let tampered = format!(
        "/__sandbox/consent?page=oauth2&user=alice&action=approve&query={}",
        enc(&authorize_query(
            OFFICIAL_APPID,
            "http://evil.example/cb",
            "snsapi_userinfo",
            "s"
        ))
    );
    assert_page_error(
        env.http.get(env.url(&tampered)).send().await.unwrap(),
        10003,
    )
    .await;
}

#[tokio::test]
async fn qrconnect_shows_a_scan_page_and_accepts_any_parameter_order() {
    let env = start().await;
    let query = authorize_query(WEBSITE_APPID, CALLBACK, "snsapi_login", "w1");
    let page = env
        .page(&format!("/connect/qrconnect?{query}"), None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("微信扫码登录") && page.contains("id=\"approve-alice\""));
    // better-auth's order (§1.1): scope first, plus `lang`.
    let reordered = format!(
        "/connect/qrconnect?scope=snsapi_login&response_type=code&appid={WEBSITE_APPID}&redirect_uri={}&state=w2&lang=en",
        enc(CALLBACK)
    );
    let response = env.page(&reordered, Some("bob"), None).await;
    let (code, state) = callback_params(&location(&response));
    assert_eq!(state.as_deref(), Some("w2"));
    let token = env
        .exchange(WEBSITE_APPID, WEBSITE_SECRET, &code.unwrap())
        .await;
    assert_eq!(token["scope"], "snsapi_login");
    assert_eq!(token["unionid"], env.sandbox.unionid("bob"));
}

#[tokio::test]
async fn unknown_scripted_user_is_a_client_error_naming_the_known_users() {
    let env = start().await;
    let query = authorize_query(OFFICIAL_APPID, CALLBACK, "snsapi_base", "s");
    let response = env
        .page(
            &format!("/connect/oauth2/authorize?{query}"),
            Some("mallory"),
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("alice, bob, guest"));
}

#[tokio::test]
async fn the_journal_keeps_authorize_parameters_in_wire_order() {
    let env = start().await;
    env.code_via_page(OFFICIAL_APPID, "alice", "snsapi_userinfo")
        .await;
    let journal = env.sandbox.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].path, "/connect/oauth2/authorize");
    assert_eq!(
        journal[0].param_names(),
        ["appid", "redirect_uri", "response_type", "scope", "state"]
    );
    assert_eq!(journal[0].param("redirect_uri"), Some(CALLBACK));
}

fn full_url(query: &str) -> String {
    format!("https://open.weixin.qq.com/connect/oauth2/authorize?{query}#wechat_redirect")
}

#[tokio::test]
async fn check_authorize_url_applies_the_page_checks_plus_path_and_fragment() {
    let env = start().await;
    let good = full_url(&authorize_query(
        OFFICIAL_APPID,
        CALLBACK,
        "snsapi_userinfo",
        "abc",
    ));
    assert_eq!(env.sandbox.check_authorize_url(&good), Ok(()));
    let with_extra = good.replace("#wechat_redirect", "&connect_redirect=1#wechat_redirect");
    assert_eq!(env.sandbox.check_authorize_url(&with_extra), Ok(()));

    let no_fragment = good.trim_end_matches("#wechat_redirect");
    let problem = env.sandbox.check_authorize_url(no_fragment).unwrap_err();
    assert_eq!(problem.errcode, None);
    assert!(problem.detail.contains("#wechat_redirect"));

    let swapped = full_url(&format!(
        "redirect_uri={}&appid={OFFICIAL_APPID}&response_type=code&scope=snsapi_base&state=s",
        enc(CALLBACK)
    ));
    assert_eq!(
        env.sandbox
            .check_authorize_url(&swapped)
            .unwrap_err()
            .errcode,
        Some(10005)
    );
    let website = format!(
        "https://open.weixin.qq.com/connect/qrconnect?{}#wechat_redirect",
        authorize_query(WEBSITE_APPID, CALLBACK, "snsapi_login", "s")
    );
    assert_eq!(env.sandbox.check_authorize_url(&website), Ok(()));
    let wrong_path = good.replace("/connect/oauth2/authorize", "/connect/oauth2/authorise");
    assert_eq!(
        env.sandbox
            .check_authorize_url(&wrong_path)
            .unwrap_err()
            .errcode,
        None
    );
    assert!(env.sandbox.check_authorize_url("not a url").is_err());
    // Checking a URL is not a request: nothing is journaled, no code is minted.
    assert!(env.sandbox.journal().is_empty());

    let over_http = env
        .get_json("/__sandbox/check-authorize-url", &[("url", &swapped)])
        .await;
    assert_eq!(over_http["ok"], false);
    assert_eq!(over_http["errcode"], 10005);
    assert_eq!(
        env.get_json("/__sandbox/check-authorize-url", &[("url", &good)])
            .await,
        serde_json::json!({"ok": true})
    );
}
