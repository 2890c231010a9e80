//! Shared helpers: a started sandbox plus a client that does not follow redirects.

use reqwest::redirect::Policy;
use serde_json::Value;
use wechat_sandbox::defaults::*;
use wechat_sandbox::{AppKind, Sandbox};

pub const CALLBACK: &str = "http://127.0.0.1:9/cb";

pub struct Env {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub async fn start() -> Env {
    Env {
        sandbox: Sandbox::builder().start().await.unwrap(),
        http: client(),
    }
}

pub async fn start_with(builder: wechat_sandbox::SandboxBuilder) -> Env {
    Env {
        sandbox: builder.start().await.unwrap(),
        http: client(),
    }
}

/// Percent-encodes one query component.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The authorize query in WeChat's required order.
pub fn authorize_query(appid: &str, redirect_uri: &str, scope: &str, state: &str) -> String {
    format!(
        "appid={appid}&redirect_uri={}&response_type=code&scope={scope}&state={state}",
        enc(redirect_uri)
    )
}

/// Asserts a WeChat error envelope: the errcode, and an errmsg ending in `, rid: x-x-x`.
#[track_caller]
pub fn assert_errcode(body: &Value, errcode: i64) {
    assert_eq!(body["errcode"], errcode, "unexpected body {body}");
    let errmsg = body["errmsg"].as_str().unwrap();
    let (_, rid) = errmsg
        .rsplit_once(", rid: ")
        .unwrap_or_else(|| panic!("no rid in {errmsg:?}"));
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "rid {rid:?}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit())),
        "rid {rid:?}"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "an error carries only errcode and errmsg: {body}"
    );
}

/// The `code` and `state` query values of a callback `Location`.
pub fn callback_params(location: &str) -> (Option<String>, Option<String>) {
    let url = url::Url::parse(location).unwrap();
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    (get("code"), get("state"))
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.url())
    }

    /// GET `path` with the query pairs in the given order; returns the JSON body.
    pub async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(self.url(path))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    pub async fn post_json(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .query(query)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
    }

    /// GET a page with an optional scripted user (and action).
    pub async fn page(
        &self,
        path_and_query: &str,
        user: Option<&str>,
        action: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.get(self.url(path_and_query));
        if let Some(user) = user {
            request = request.header("X-Sandbox-User", user);
        }
        if let Some(action) = action {
            request = request.header("X-Sandbox-Action", action);
        }
        request.send().await.unwrap()
    }

    /// Scripted approval on the authorize page of the app's kind; returns the code.
    pub async fn code_via_page(&self, appid: &str, user: &str, scope: &str) -> String {
        let page = if scope == "snsapi_login" {
            "/connect/qrconnect"
        } else {
            "/connect/oauth2/authorize"
        };
        let query = authorize_query(appid, CALLBACK, scope, "s1");
        let response = self
            .page(&format!("{page}?{query}"), Some(user), None)
            .await;
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        callback_params(&location).0.unwrap()
    }

    pub async fn exchange(&self, appid: &str, secret: &str, code: &str) -> Value {
        self.get_json(
            "/sns/oauth2/access_token",
            &[
                ("appid", appid),
                ("secret", secret),
                ("code", code),
                ("grant_type", "authorization_code"),
            ],
        )
        .await
    }

    /// Official Account login through the page: the token response.
    pub async fn login(&self, user: &str, scope: &str) -> Value {
        let code = self.code_via_page(OFFICIAL_APPID, user, scope).await;
        self.exchange(OFFICIAL_APPID, OFFICIAL_SECRET, &code).await
    }

    pub async fn userinfo(&self, token: &Value, lang: Option<&str>) -> Value {
        let mut query = vec![
            ("access_token", token["access_token"].as_str().unwrap()),
            ("openid", token["openid"].as_str().unwrap()),
        ];
        if let Some(lang) = lang {
            query.push(("lang", lang));
        }
        self.get_json("/sns/userinfo", &query).await
    }

    pub async fn server_token(&self, appid: &str, secret: &str) -> String {
        let body = self
            .get_json(
                "/cgi-bin/token",
                &[
                    ("grant_type", "client_credential"),
                    ("appid", appid),
                    ("secret", secret),
                ],
            )
            .await;
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// A sandbox whose Official Account only accepts callbacks on `example.com`.
pub fn builder_with_domain(domain: &str) -> wechat_sandbox::SandboxBuilder {
    Sandbox::builder()
        .app("wxdomain0000000001", "s", AppKind::Official)
        .domain(domain)
        .user("alice")
}
