//! Configuration checks.

use wechat_oauth_axum::{ConfigError, Key, WeChatLogin};

fn client() -> wechat_oauth::OAuthClient {
    wechat_oauth::OAuthClient::builder("wx1", "secret")
        .build()
        .unwrap()
}

fn build(callback: &str) -> Result<WeChatLogin, ConfigError> {
    WeChatLogin::builder(client(), callback, Key::generate()).build()
}

#[test]
fn callback_urls_must_be_exact_absolute_and_safe() {
    assert!(build("https://example.com/auth/wechat/callback").is_ok());
    assert!(build("http://localhost:8080/cb").is_ok());
    assert!(build("http://127.0.0.1:3000/cb").is_ok());
    assert_eq!(
        build("http://example.com/cb").unwrap_err(),
        ConfigError::InsecureCallback
    );
    for bad in [
        "https://example.com/#/cb",
        "https://example.com/cb?x=1",
        "/cb",
        "ftp://example.com/cb",
        "",
    ] {
        assert!(
            matches!(build(bad), Err(ConfigError::CallbackUrl(_))),
            "{bad:?}"
        );
    }
    let lan = WeChatLogin::builder(client(), "http://192.168.1.5/cb", Key::generate())
        .allow_http_callback(true)
        .build();
    assert!(lan.is_ok());
}

#[test]
fn paths_cookie_names_and_lifetimes_are_checked() {
    let builder = || WeChatLogin::builder(client(), "https://example.com/cb", Key::generate());
    assert_eq!(
        builder().login_path("/cb").build().unwrap_err(),
        ConfigError::PathConflict
    );
    assert!(matches!(
        builder().login_path("login").build(),
        Err(ConfigError::Path { .. })
    ));
    assert!(matches!(
        builder().logout_path("/out/{id}").build(),
        Err(ConfigError::Path { .. })
    ));
    assert!(matches!(
        builder().after_login("//evil.com").build(),
        Err(ConfigError::Path { .. })
    ));
    assert!(matches!(
        builder().session_cookie("bad name").build(),
        Err(ConfigError::CookieName(_))
    ));
    assert_eq!(
        builder()
            .state_ttl(std::time::Duration::from_secs(601))
            .build()
            .unwrap_err(),
        ConfigError::StateTtl
    );
}

#[test]
fn debug_output_holds_no_key_or_secret() {
    let login = WeChatLogin::builder(
        client(),
        "https://example.com/cb",
        Key::from_bytes(&[b'k'; 32]).unwrap(),
    )
    .build()
    .unwrap();
    let debug = format!("{login:?}");
    assert!(debug.contains("wx1"));
    assert!(
        !debug.contains("secret") && !debug.contains("kkkk"),
        "{debug}"
    );
}

#[test]
fn nested_routes_must_all_be_under_the_prefix() {
    let builder = || {
        WeChatLogin::builder(
            client(),
            "https://example.com/auth/wechat/callback",
            Key::generate(),
        )
    };
    assert!(builder().nested_under("/auth").build().is_ok());
    assert!(matches!(
        builder()
            .nested_under("/auth")
            .logout_path("/logout")
            .build(),
        Err(ConfigError::OutsidePrefix {
            which: "logout",
            ..
        })
    ));
    assert!(matches!(
        builder().nested_under("/au").build(),
        Err(ConfigError::OutsidePrefix { .. })
    ));
    assert!(matches!(
        builder().nested_under("/auth/").build(),
        Err(ConfigError::Path { .. })
    ));
}
