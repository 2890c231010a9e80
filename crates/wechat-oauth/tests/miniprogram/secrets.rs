//! The session_key, codes, tokens and decrypted data never reach the app's client, `Debug`
//! output or logs (docs/protocol.md §4.1, §7).

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use wechat_sandbox::defaults::{MINIPROGRAM_APPID, MINIPROGRAM_SECRET};

use crate::start;

/// Everything written to the log, for inspection.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_full_login_never_exposes_the_session_key_codes_tokens_or_user_data() {
    let captured = Captured::default();
    // Everything at TRACE except the sandbox itself, which plays WeChat and may log freely.
    let subscriber = tracing_subscriber::registry()
        .with(
            Targets::new()
                .with_default(LevelFilter::TRACE)
                .with_target("wechat_sandbox", LevelFilter::OFF),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_ansi(false),
        );
    // Global, so that `log` records (reqwest's) are captured too and tasks on any thread
    // report here. Other tests in this binary may log into it as well; they use other keys.
    subscriber.try_init().unwrap();
    tracing::info!("capture works");

    let (sandbox, client) = start().await;
    let js_code = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let login = client.login(js_code.as_str()).await.unwrap();
    let session = client.session(&login.openid).await.unwrap().unwrap();
    let session_key = session.session_key.expose_secret().to_owned();
    let device = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let decrypted = client
        .decrypt_for(&login.openid, &device.encrypted_data, &device.iv)
        .await
        .unwrap();
    let user = decrypted.user_info().unwrap();
    assert!(client.verify_signature(&device.raw_data, &device.signature, &session.session_key));
    client.check_session_key(&login.openid).await.unwrap();
    let server_token = client.server_token().access_token().await.unwrap();
    let phone_code = sandbox.mp_phone_code(MINIPROGRAM_APPID, "alice").unwrap();
    let phone = client.get_phone_number(phone_code.as_str()).await.unwrap();
    // A failure path too: the stale key after a new device login.
    let _ = sandbox.mp_login(MINIPROGRAM_APPID, "alice").unwrap();
    let rotated = sandbox.mp_userinfo(MINIPROGRAM_APPID, "alice").unwrap();
    let failed = client
        .decrypt_for(&login.openid, &rotated.encrypted_data, &rotated.iv)
        .await
        .unwrap_err();
    let by_code_err = client
        .get_user_by_code(js_code.as_str(), &device.encrypted_data, &device.iv)
        .await
        .unwrap_err();

    // What the app sends its own client: the login result has no key.
    let login_json = serde_json::to_string(&login).unwrap();
    assert!(login_json.contains(&login.openid));
    let key_hex = hex::encode(STANDARD.decode(&session_key).unwrap());
    let shown = [
        login_json,
        format!("{login:?}"),
        format!("{session:?}"),
        format!("{client:?}"),
        format!("{:?}", client.server_token()),
        format!("{decrypted:?}"),
        format!("{user:?}"),
        format!("{phone:?}"),
        format!("{failed} {failed:?}"),
        format!("{by_code_err} {by_code_err:?}"),
        String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned(),
    ];
    let logs = shown.last().unwrap();
    assert!(
        logs.contains("capture works"),
        "the capture itself must work"
    );
    assert!(
        logs.contains("wechat_request"),
        "SDK requests must be traced: {logs}"
    );

    let forbidden = [
        ("session_key", session_key.as_str()),
        ("session_key bytes (hex)", key_hex.as_str()),
        ("app secret", MINIPROGRAM_SECRET),
        ("js_code", js_code.as_str()),
        ("phone code", phone_code.as_str()),
        ("server access token", server_token.expose_secret()),
        ("encryptedData", &device.encrypted_data[..32]),
        ("iv", device.iv.as_str()),
        ("signature", device.signature.as_str()),
        ("nickname", user.nick_name.as_str()),
        ("phone number", phone.pure_phone_number.as_str()),
    ];
    for text in &shown {
        for (what, secret) in forbidden {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "{what} leaked into: {text}");
        }
    }
}
