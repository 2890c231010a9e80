//! `open(url)` for every scheme, against the real servers where one is needed.

use std::time::Duration;

use wechat_oauth_stores::{OpenError, open, redact};
use wechat_oauth_test_support::{self as conformance, Server, connected_or_skip};

async fn round_trip(url: &str) {
    let stores = open(url).await.unwrap_or_else(|e| panic!("{e}"));
    // Every kind of state comes from the URL's backend.
    let session_openid = conformance::unique_namespace("open-mp");
    let session = wechat_oauth::miniprogram::Session::new(&session_openid, None, "a2V5", 1);
    assert!(stores.sessions.save_session(&session).await.unwrap());
    assert_eq!(
        stores.sessions.get_session(&session_openid).await.unwrap(),
        Some(session)
    );
    stores
        .sessions
        .delete_session(&session_openid)
        .await
        .unwrap();
    assert!(
        stores
            .leases
            .claim_once(&session_openid, std::time::Duration::from_secs(5))
            .await
            .unwrap()
    );
    let store = stores.tokens;
    let openid = conformance::unique_namespace("open");
    let token = conformance::sample_token(&openid, 1_700_000_000_000);
    assert!(store.save(&openid, &token).await.unwrap());
    assert_eq!(store.get(&openid).await.unwrap(), Some(token));
    store.delete(&openid).await.unwrap();
}

#[tokio::test]
async fn open_memory_file_and_sqlite_urls() {
    round_trip("memory:").await;
    let dir = tempfile::tempdir().unwrap();
    round_trip(&format!("file://{}", dir.path().join("tokens").display())).await;
    assert!(dir.path().join("tokens").is_dir());
    round_trip(&format!(
        "sqlite://{}",
        dir.path().join("tokens.db").display()
    ))
    .await;
    assert!(dir.path().join("tokens.db").is_file());
    round_trip("sqlite::memory:").await;
}

#[tokio::test]
async fn open_server_urls() {
    for server in [
        Server::MySql,
        Server::Postgres,
        Server::Redis,
        Server::MongoDb,
    ] {
        let url = server.url();
        // Probe first, so a missing server skips (or fails under CI) with a clear message.
        if connected_or_skip(server, open(&url).await).is_some() {
            round_trip(&url).await;
        }
    }
}

#[tokio::test]
async fn open_rejects_unknown_schemes_and_missing_schemes() {
    let err = open("cassandra://db/keyspace").await.err().unwrap();
    assert!(
        matches!(err, OpenError::UnsupportedScheme { ref scheme } if scheme == "cassandra"),
        "{err}"
    );
    let err = open("tokens.db").await.err().unwrap();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err}");
    let err = open("file:").await.err().unwrap();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn open_never_shows_the_password_of_an_unreachable_server() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (scheme, db) in [
        ("mysql", "db"),
        ("postgres", "db"),
        ("redis", "0"),
        ("mongodb", "db"),
    ] {
        let url = format!("{scheme}://user:s3cr3t-pw@127.0.0.1:{closed}/{db}");
        let opened = tokio::time::timeout(Duration::from_secs(30), open(&url))
            .await
            .unwrap();
        let err = opened.err().unwrap();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{scheme}: {shown}");
        assert!(
            err.is_transient(),
            "{scheme}: an unreachable server is transient: {err}"
        );
    }
}

#[test]
fn redact_hides_passwords_but_keeps_the_rest() {
    assert_eq!(
        redact("postgres://app:pw@db:5432/app"),
        "postgres://app:***@db:5432/app"
    );
    assert_eq!(
        redact("redis://:pw@127.0.0.1:6379/0"),
        "redis://:***@127.0.0.1:6379/0"
    );
    assert_eq!(redact("memory:"), "memory:");
    assert!(!redact("mysql://u:p w@[bad/").contains("p w"));
}

// Included for its functions; its `main` is the example's own.
#[allow(dead_code)]
#[path = "../../examples/miniprogram_multiprocess.rs"]
mod miniprogram_multiprocess;

/// The 多进程 Mini Program example, against the sandbox: one instance logs the user in,
/// others (opening the same store URL on their own) decrypt and check the session key.
mod example {
    use super::miniprogram_multiprocess::{check, client, decrypt, login, phone};
    use wechat_sandbox::Sandbox;
    use wechat_sandbox::defaults::MINIPROGRAM_APPID;

    #[tokio::test]
    async fn the_multiprocess_mini_program_example_shares_sessions_through_the_store() {
        let sandbox = Sandbox::builder().start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("mp.db").display());
        // Each instance opens the store itself, as a separate process would.
        let instance = || async {
            client(
                wechat_oauth_stores::open(&url).await.unwrap(),
                Some(sandbox.url()),
            )
            .unwrap()
        };
        let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
        let openid = login(&instance().await, &js_code).await.unwrap();
        assert_eq!(openid, sandbox.openid(MINIPROGRAM_APPID, "alice"));

        let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
        let other = instance().await;
        let nickname = decrypt(&other, &openid, &device.encrypted_data, &device.iv)
            .await
            .unwrap();
        assert!(!nickname.is_empty());
        assert!(check(&instance().await, &openid).await.unwrap());

        // Mini Program login + phone number: the button's code, on yet another instance.
        let code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
        let number = phone(&instance().await, &openid, &code).await.unwrap();
        assert!(number.len() == 11 && number.starts_with("138"), "{number}");
        let bob = sandbox.mp_phone_code(MINIPROGRAM_APPID, "bob").unwrap();
        assert!(
            phone(&other, &openid, &bob).await.is_err(),
            "bob's code for alice"
        );

        // The device logs in again: every instance sees the stored key go stale.
        sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
        assert!(!check(&other, &openid).await.unwrap());
        // An instance on a store of its own has no session to decrypt with.
        let alone = client(wechat_oauth::Stores::memory(), Some(sandbox.url())).unwrap();
        assert!(
            decrypt(&alone, &openid, &device.encrypted_data, &device.iv)
                .await
                .is_err()
        );
    }
}
