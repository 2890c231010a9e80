//! Refresh, retry and error classification through the transport seam: WeChat is an
//! async closure here, no socket involved.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wechat_oauth::error::ResponseErrorKind;
use wechat_oauth::transport::{HttpRequest, HttpResponse, TransportError};
use wechat_oauth::{AccessToken, Error, MemoryStore, OAuthClient, OAuthClientBuilder, TokenStore};

/// What the fake WeChat answers: status and body, or a transport failure.
type Answer = Result<(u16, String), TransportError>;

/// A scripted WeChat: answers each request with `route(path, query)` and records the
/// paths it was asked for.
#[derive(Clone)]
struct FakeWeChat {
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeWeChat {
    fn client(
        route: impl Fn(&str, &str) -> Answer + Send + Sync + 'static,
    ) -> (Self, OAuthClientBuilder) {
        let fake = Self {
            seen: Arc::default(),
        };
        let seen = Arc::clone(&fake.seen);
        let route = Arc::new(route);
        let http = move |request: HttpRequest| {
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            seen.lock().unwrap().push(path.clone());
            let answer = route(&path, &query);
            async move {
                let (status, body) = answer?;
                let mut response = HttpResponse::new(Bytes::from(body));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                Ok(response)
            }
        };
        let builder = OAuthClient::builder("wx5a4d1e0f0a000001", "app-secret")
            .http_client(http)
            .retry_backoff(Duration::ZERO);
        (fake, builder)
    }

    fn calls(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

fn ok(body: &str) -> Answer {
    Ok((200, body.to_owned()))
}

const USER: &str = r#"{"openid":"o1","nickname":"n","sex":0,"province":"","city":"","country":"","headimgurl":"","privilege":[]}"#;
const FRESH: &str = r#"{"access_token":"AT2","expires_in":7200,"refresh_token":"RT2","openid":"o1","scope":"snsapi_userinfo"}"#;

async fn stored(client: &OAuthClient, age: Duration) -> AccessToken {
    let created = wechat_oauth::now_millis() - i64::try_from(age.as_millis()).unwrap();
    let token = AccessToken::new("AT1", 7200, "RT1", "o1", "snsapi_userinfo", created);
    client.token_store().save("o1", &token).await.unwrap();
    token
}

#[tokio::test]
async fn busy_answers_are_retried_up_to_the_limit() {
    let busy = Arc::new(Mutex::new(2));
    let (fake, builder) = FakeWeChat::client(move |path, _| match path {
        "/sns/userinfo" => {
            let mut left = busy.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return ok(r#"{"errcode":-1,"errmsg":"system error"}"#);
            }
            ok(USER)
        }
        _ => ok("{}"),
    });
    let client = builder.max_retries(2).build().unwrap();
    stored(&client, Duration::ZERO).await;
    assert_eq!(client.get_user("o1").await.unwrap().openid, "o1");
    assert_eq!(fake.calls("/sns/userinfo"), 3);
}

#[tokio::test]
async fn retries_stop_at_the_limit_with_the_last_error() {
    let (fake, builder) =
        FakeWeChat::client(|_, _| Err(TransportError::connect(std::io::Error::other("refused"))));
    let client = builder.max_retries(1).build().unwrap();
    stored(&client, Duration::ZERO).await;
    let err = client.get_user("o1").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport(ref t) if t.is_connect()),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(fake.calls("/sns/userinfo"), 2);
}

#[tokio::test]
async fn a_code_exchange_is_never_retried() {
    let (fake, builder) = FakeWeChat::client(|_, _| Err(TransportError::timeout()));
    let client = builder.max_retries(3).build().unwrap();
    let err = client.get_access_token("CODE").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(fake.calls("/sns/oauth2/access_token"), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_many_concurrent_callers() {
    let (fake, builder) = FakeWeChat::client(|path, query| match path {
        "/sns/oauth2/refresh_token" => {
            assert!(query.contains("refresh_token=RT1"), "{query}");
            ok(FRESH)
        }
        "/sns/userinfo" if query.contains("access_token=AT2") => ok(USER),
        "/sns/userinfo" => ok(r#"{"errcode":42001,"errmsg":"access_token expired"}"#),
        _ => ok("{}"),
    });
    let client = builder.build().unwrap();
    stored(&client, Duration::from_secs(7300)).await;
    let calls = (0..50).map(|_| client.get_user("o1"));
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().openid, "o1");
    }
    assert_eq!(fake.calls("/sns/oauth2/refresh_token"), 1);
    assert_eq!(fake.calls("/sns/userinfo"), 50);
    let saved = client.token_store().get("o1").await.unwrap().unwrap();
    assert_eq!(saved.access_token.expose_secret(), "AT2");
}

#[tokio::test]
async fn a_token_rejected_early_is_refreshed_and_the_call_retried_once() {
    let (fake, builder) = FakeWeChat::client(|path, query| match path {
        "/sns/oauth2/refresh_token" => ok(FRESH),
        "/sns/userinfo" if query.contains("access_token=AT2") => ok(USER),
        "/sns/userinfo" => ok(r#"{"errcode":40001,"errmsg":"invalid credential, rid: 1-2-3"}"#),
        _ => ok("{}"),
    });
    let client = builder.build().unwrap();
    stored(&client, Duration::ZERO).await;
    assert_eq!(client.get_user("o1").await.unwrap().openid, "o1");
    assert_eq!(fake.calls("/sns/oauth2/refresh_token"), 1);
    assert_eq!(fake.calls("/sns/userinfo"), 2);
}

#[tokio::test]
async fn a_dead_refresh_token_deletes_the_stored_token() {
    let (fake, builder) = FakeWeChat::client(|path, _| match path {
        "/sns/oauth2/refresh_token" => ok(r#"{"errcode":40030,"errmsg":"invalid refresh_token"}"#),
        _ => ok(USER),
    });
    let store = Arc::new(MemoryStore::new());
    let client = builder.token_store(Arc::clone(&store)).build().unwrap();
    stored(&client, Duration::from_secs(7300)).await;
    let err = client.get_user("o1").await.unwrap_err();
    assert!(err.is_reauthorize_required(), "{err:?}");
    assert!(store.get("o1").await.unwrap().is_none());
    assert_eq!(fake.calls("/sns/userinfo"), 0);
    let err = client.get_user("o1").await.unwrap_err();
    assert!(err.is_no_token(), "{err:?}");
}

#[tokio::test]
async fn answers_are_classified_by_status_and_body() {
    let (_, builder) = FakeWeChat::client(|_, query| {
        let status_and_body = match query
            .split("code=")
            .nth(1)
            .and_then(|s| s.split('&').next())
        {
            Some("html") => (502, "<html>Bad Gateway</html>".to_owned()),
            Some("empty") => (200, "  ".to_owned()),
            Some("cut") => (200, r#"{"access_token":"AT","#.to_owned()),
            Some("huge") => (200, format!(r#"{{"pad":"{}"}}"#, "x".repeat(4096))),
            Some("status") => (503, r#"{"ok":true}"#.to_owned()),
            _ => (
                200,
                r#"{"errcode":"40029","errmsg":"invalid code, rid: 6-7"}"#.to_owned(),
            ),
        };
        Ok(status_and_body)
    });
    let client = builder.max_body_bytes(1024).build().unwrap();
    let kind = |err: Error| match err {
        Error::Response(e) => Some((e.status, e.kind)),
        _ => None,
    };
    let exchange = |code: &'static str| client.get_access_token(code);
    assert_eq!(
        kind(exchange("html").await.unwrap_err()),
        Some((Some(502), ResponseErrorKind::NotJson))
    );
    assert_eq!(
        kind(exchange("empty").await.unwrap_err()),
        Some((None, ResponseErrorKind::Empty))
    );
    assert_eq!(
        kind(exchange("cut").await.unwrap_err()),
        Some((None, ResponseErrorKind::Truncated))
    );
    assert_eq!(
        kind(exchange("huge").await.unwrap_err()),
        Some((None, ResponseErrorKind::TooLarge))
    );
    assert_eq!(
        kind(exchange("status").await.unwrap_err()),
        Some((Some(503), ResponseErrorKind::Status))
    );
    let err = exchange("other").await.unwrap_err();
    assert!(err.is_invalid_code(), "{err:?}");
    assert_eq!(err.wechat().and_then(|e| e.rid.as_deref()), Some("6-7"));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_hits_the_deadline() {
    let http = |_: HttpRequest| async {
        std::future::pending::<()>().await;
        Ok::<HttpResponse, TransportError>(HttpResponse::new(Bytes::new()))
    };
    let client = OAuthClient::builder("wx5a4d1e0f0a000001", "app-secret")
        .http_client(http)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let err = client.get_access_token("CODE").await.unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
}
