//! No credentials in any log, even at `RUST_LOG=trace`: URL credentials (a base URL's
//! `user:password@`, a proxy's, a store's), the app secret, codes and tokens.

use wechat_sandbox::defaults::OFFICIAL_SECRET;

use crate::proxy::forward_proxy;
use crate::support::{Run, World, run};

const URL_PASSWORD: &str = "url-password-5f1d";

/// `base` with `user:URL_PASSWORD@` in its authority.
fn with_credentials(base: &str) -> String {
    let mut url = url::Url::parse(base).unwrap();
    url.set_username("url-user").unwrap();
    url.set_password(Some(URL_PASSWORD)).unwrap();
    url.into()
}

fn assert_no_password(out: &Run) {
    assert!(
        !out.mentions(URL_PASSWORD),
        "a URL password leaked: {out:#?}"
    );
}

#[tokio::test]
async fn credentials_in_the_api_base_are_refused_before_any_request_even_at_trace() {
    let world = World::new().await;
    let base = with_credentials(world.sandbox.url());
    let code = world.code("alice", "snsapi_base");

    let mut by_flag = world.command(&["exchange", "--code", &code, "--api-base", &base]);
    by_flag.env("RUST_LOG", "trace");
    let mut by_env = world.command(&["verify", "--openid", "o1"]);
    by_env
        .env("RUST_LOG", "trace")
        .env("WECHAT_API_BASE", &base);

    for out in [run(by_flag).await, run(by_env).await] {
        out.assert_failed_with(2);
        assert!(out.stderr.contains("user name or password"), "{out:#?}");
        assert_no_password(&out);
    }
    assert_eq!(world.sandbox.journal().len(), 0, "a request was sent");
}

#[tokio::test]
async fn credentials_in_the_open_base_are_refused_and_not_printed() {
    let world = World::new().await;
    let base = with_credentials(world.sandbox.url());

    let out = world
        .run(&[
            "authorize-url",
            "--redirect-uri",
            "https://a.example/",
            "--open-base",
            &base,
        ])
        .await;

    out.assert_failed_with(2);
    assert_no_password(&out);
}

#[tokio::test]
async fn a_whole_session_at_trace_logs_no_secret_code_or_token() {
    let world = World::new().await;
    let code = world.code("alice", "snsapi_userinfo");
    let trace = |args: &[&str]| {
        let mut command = world.command(args);
        command.env("RUST_LOG", "trace");
        command
    };

    let exchange = run(trace(&["exchange", "--code", &code, "--show-secrets"])).await;
    let token = exchange.json();
    let openid = token["openid"].as_str().unwrap();
    let user = run(trace(&["user", "--openid", openid])).await;
    let refresh = run(trace(&["refresh", "--openid", openid])).await;
    let verify = run(trace(&["verify", "--openid", openid])).await;

    assert_eq!(user.code, 0, "{user:#?}");
    assert_eq!(refresh.code, 0, "{refresh:#?}");
    assert_eq!(verify.code, 0, "{verify:#?}");
    assert!(
        exchange.stderr.contains("TRACE") || exchange.stderr.contains("DEBUG"),
        "no trace output at all: the test would prove nothing: {exchange:#?}"
    );
    let access_token = token["access_token"].as_str().unwrap();
    let refresh_token = token["refresh_token"].as_str().unwrap();
    for out in [&exchange, &user, &refresh, &verify] {
        for secret in [OFFICIAL_SECRET, code.as_str(), access_token, refresh_token] {
            assert!(
                !out.stderr.contains(secret),
                "a secret reached the log: {out:#?}"
            );
        }
    }
}

#[tokio::test]
async fn a_proxy_password_never_reaches_the_trace_log() {
    let world = World::new().await;
    let (proxy, seen) = forward_proxy(&world).await;
    let proxy = with_credentials(&proxy);

    let env = [
        ("HTTP_PROXY", Some(proxy.as_str())),
        ("NO_PROXY", None),
        ("no_proxy", None),
        ("RUST_LOG", Some("trace")),
    ];
    let (out, _) = world.exchange_with_env("alice", &env).await;

    assert_eq!(out.json()["openid"], world.openid("alice"));
    assert!(!seen.lock().unwrap().is_empty(), "the proxy was not used");
    assert_no_password(&out);
}

#[tokio::test]
async fn a_store_password_never_reaches_the_trace_log() {
    let var = "WECHAT_TEST_POSTGRES_URL";
    let Ok(store_url) = std::env::var(var) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{var} is not set under CI=true: source scripts/services.sh"
        );
        eprintln!(
            "SKIPPED the store-password log test: {var} not set (source scripts/services.sh)"
        );
        return;
    };
    // The services' PostgreSQL trusts loopback: it never asks for the password, so any
    // password connects, and the only place it can show up is the client's own logging.
    let mut url = url::Url::parse(&store_url).unwrap();
    url.set_password(Some(URL_PASSWORD)).unwrap();
    let user = format!("cli-log-{}", wechat_oauth::new_state());
    let sandbox = wechat_sandbox::Sandbox::builder().user(&user);
    let world = World::with_sandbox(sandbox, tempfile::tempdir().unwrap(), url.into()).await;
    let code = world.code(&user, "snsapi_base");

    let mut command = world.command(&["exchange", "--code", &code]);
    command.env("RUST_LOG", "trace");
    let out = run(command).await;

    assert_eq!(out.json()["openid"], world.openid(&user));
    assert_no_password(&out);
}
