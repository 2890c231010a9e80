//! `send-message` against real servers: the message crate's axum router on a loopback
//! port, in the plain, compatible and safe modes, and servers that refuse the push or
//! answer something WeChat would not accept.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde_json::Value;
use wechat_oauth_message::{Event, Message, MessageKind, MessageServer, Mode, Reply};

use crate::support::{Run, bare_command, run, run_with_stdin};

const TOKEN: &str = "send-message-test-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OTHER_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";
const APPID: &str = "wx5a4d1e0f0a000001";

/// A message-interface server on a loopback port, recording what its handler got.
struct TestServer {
    url: String,
    got: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    fn messages(&self) -> Vec<Message> {
        self.got.lock().unwrap().clone()
    }
}

async fn serve(router: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, task)
}

/// The account's server: echoes texts, greets QR follows, names scanned scenes and menu keys.
async fn message_server(server: MessageServer) -> TestServer {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let router = wechat_oauth_message::axum::router("/wechat", server, move |m: Message| {
        seen.lock().unwrap().push(m.clone());
        async move {
            match (&m.kind, m.event()) {
                (MessageKind::Text(text), _) => Reply::text(format!("you said: {}", text.content)),
                (_, Some(Event::Subscribe(follow))) => Reply::text(format!(
                    "welcome, via {}",
                    follow.scene().unwrap_or("search")
                )),
                (_, Some(Event::Scan(scan))) => Reply::text(format!("scanned {}", scan.scene)),
                (_, Some(event)) => Reply::text(format!(
                    "{} {}",
                    event.name(),
                    m.field("EventKey").unwrap_or("")
                )),
                _ => Reply::Success,
            }
        }
    });
    let (url, task) = serve(router).await;
    TestServer { url, got, task }
}

fn plain_server() -> MessageServer {
    MessageServer::builder(TOKEN, APPID).build().unwrap()
}

fn encrypted_server(mode: Mode, key: &str) -> MessageServer {
    MessageServer::builder(TOKEN, APPID)
        .mode(mode)
        .encoding_aes_key(key)
        .build()
        .unwrap()
}

/// `send-message --url URL ARGS…` with the token (and key and appid when given) in the
/// environment.
async fn send(url: &str, key: Option<&str>, args: &[&str]) -> Run {
    let mut command = bare_command();
    command
        .env("WECHAT_SERVER_TOKEN", TOKEN)
        .args(["send-message", "--url", url])
        .args(args);
    if let Some(key) = key {
        command
            .env("WECHAT_ENCODING_AES_KEY", key)
            .env("WECHAT_APPID", APPID);
    }
    run(command).await
}

fn content(out: &Value) -> &str {
    out["fields"]["Content"].as_str().unwrap_or_default()
}

fn assert_no_secret(run: &Run) {
    for secret in [TOKEN, KEY, OTHER_KEY] {
        assert!(!run.mentions(secret), "a secret was printed: {run:#?}");
    }
}

#[tokio::test]
async fn a_plain_text_message_is_answered_and_the_reply_printed() {
    let server = message_server(plain_server()).await;

    let out = send(&server.url, None, &["--text", "hi <there> ]]> &"]).await;

    let json = out.json();
    assert_eq!(json["status"], 200);
    assert_eq!(json["reply"], "message");
    assert_eq!(json["encrypted"], false);
    assert_eq!(json["msg_type"], "text");
    assert_eq!(content(&json), "you said: hi <there> ]]> &");
    assert_eq!(json["fields"]["ToUserName"], "oSendMessageTestUser0000000");
    assert_eq!(json["fields"]["FromUserName"], "gh_000000000000");
    assert_eq!(json["sent"]["mode"], "plain");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0].kind, MessageKind::Text(t) if t.content == "hi <there> ]]> &"));
    assert_eq!(
        got[0].msg_id.map(|id| id.to_string()),
        json["sent"]["msg_id"].as_str().map(str::to_owned)
    );
    assert_no_secret(&out);
}

#[tokio::test]
async fn a_repeated_msg_id_is_a_retry_the_server_answers_success() {
    let server = message_server(plain_server()).await;

    let first = send(&server.url, None, &["--msg-id", "7250021412600020992"]).await;
    let retry = send(&server.url, None, &["--msg-id", "7250021412600020992"]).await;

    assert_eq!(first.json()["reply"], "message");
    let retry = retry.json();
    assert_eq!(retry["reply"], "success");
    assert_eq!(retry["xml"], Value::Null);
    assert_eq!(server.messages().len(), 1, "the handler ran once");
}

#[tokio::test]
async fn compatible_mode_sends_both_forms_and_decrypts_the_encrypted_reply() {
    let server = message_server(encrypted_server(Mode::Compatible, KEY)).await;

    let out = send(
        &server.url,
        Some(KEY),
        &["--mode", "compatible", "--text", "加密 compatible"],
    )
    .await;

    let json = out.json();
    assert_eq!(json["reply"], "message");
    assert_eq!(json["encrypted"], true);
    assert_eq!(content(&json), "you said: 加密 compatible");
    assert!(
        json["xml"]
            .as_str()
            .unwrap()
            .contains("<Content><![CDATA[you said: 加密 compatible]]></Content>"),
        "{json}"
    );
    assert_eq!(server.messages().len(), 1);
    assert_no_secret(&out);
}

#[tokio::test]
async fn safe_mode_events_reach_the_server_typed_and_their_replies_are_verified() {
    let server = message_server(encrypted_server(Mode::Safe, KEY)).await;
    // One sender per push: two `subscribe`s of one user in one second are one event to
    // the dedupe (FromUserName + CreateTime + Event), as they are to WeChat.
    let safe = |args: &[&str], i: usize| {
        let mut all = vec!["--mode".to_owned(), "safe".to_owned()];
        all.extend(["--from".to_owned(), format!("oSafeModeTestUser{i:011}")]);
        all.extend(args.iter().map(|a| (*a).to_owned()));
        all
    };
    let cases: [(&[&str], &str); 5] = [
        (&["--text", "secret words"], "you said: secret words"),
        (
            &["--event", "subscribe", "--scene", "login-42"],
            "welcome, via login-42",
        ),
        (&["--event", "subscribe"], "welcome, via search"),
        (
            &["--event", "scan", "--scene", "login-43"],
            "scanned login-43",
        ),
        (
            &["--event", "click", "--event-key", "MENU_NEWS"],
            "CLICK MENU_NEWS",
        ),
    ];
    for (i, (args, expected)) in cases.into_iter().enumerate() {
        let args = safe(args, i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = send(&server.url, Some(KEY), &args).await;
        let json = out.json();
        assert_eq!(json["encrypted"], true, "{args:?}: {json}");
        assert_eq!(content(&json), expected, "{args:?}");
        assert_no_secret(&out);
    }
    let got = server.messages();
    assert_eq!(got.len(), 5);
    match got[1].event() {
        Some(Event::Subscribe(follow)) => {
            assert_eq!(follow.scene(), Some("login-42"));
            assert_eq!(got[1].field("EventKey"), Some("qrscene_login-42"));
            assert!(got[1].field("Ticket").is_some());
        }
        other => panic!("not a QR follow: {other:?}"),
    }
    assert!(matches!(got[3].event(), Some(Event::Scan(s)) if s.scene == "login-43"));
}

#[tokio::test]
async fn the_token_and_key_can_come_from_standard_input() {
    let server = message_server(plain_server()).await;
    let mut command = bare_command();
    command.args(["send-message", "--url", &server.url, "--server-token", "-"]);

    let out = run_with_stdin(command, &format!("{TOKEN}\n")).await;

    assert_eq!(content(&out.json()), "you said: hello");
}

#[tokio::test]
async fn a_server_with_another_key_refuses_the_push_and_the_command_says_why() {
    let server = message_server(encrypted_server(Mode::Safe, OTHER_KEY)).await;

    let out = send(&server.url, Some(KEY), &["--mode", "safe"]).await;

    out.assert_failed_with(8);
    assert!(
        out.stderr.contains("the server refused the push: HTTP 40"),
        "{out:#?}"
    );
    // The server's own explanation: its key does not open what this key sealed.
    assert!(out.stderr.contains("wechat-oauth-message:"), "{out:#?}");
    assert!(server.messages().is_empty());
    assert_no_secret(&out);
}

#[tokio::test]
async fn a_server_with_another_token_refuses_the_signature() {
    let server = message_server(
        MessageServer::builder("another-token", APPID)
            .build()
            .unwrap(),
    )
    .await;

    let out = send(&server.url, None, &[]).await;

    out.assert_failed_with(8);
    assert!(
        out.stderr.contains("HTTP 403") || out.stderr.contains("HTTP 401"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("signature"), "{out:#?}");
}

/// A server that answers every push with `body`.
async fn fixed_answer(body: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    serve(Router::new().route("/wechat", post(move || async move { body }))).await
}

#[tokio::test]
async fn unusable_replies_fail_with_their_own_exit_status() {
    let cases: [(&str, &[&str], Option<&str>, &str); 4] = [
        ("<html>oops</html>", &[], None, "not acceptable XML"),
        (
            "<xml><ToUserName><![CDATA[oSendMessageTestUser0000000]]></ToUserName><FromUserName><![CDATA[gh_000000000000]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[plain]]></Content></xml>",
            &["--mode", "safe"],
            Some(KEY),
            "must be encrypted",
        ),
        (
            "<xml><Encrypt><![CDATA[AAAA]]></Encrypt><MsgSignature><![CDATA[0000000000000000000000000000000000000000]]></MsgSignature><TimeStamp>1</TimeStamp><Nonce><![CDATA[n]]></Nonce></xml>",
            &["--mode", "safe"],
            Some(KEY),
            "MsgSignature does not match",
        ),
        (
            "<xml><ToUserName><![CDATA[someone-else]]></ToUserName><FromUserName><![CDATA[gh_000000000000]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content></xml>",
            &[],
            None,
            "addressed wrongly",
        ),
    ];
    for (body, args, key, says) in cases {
        let (url, _task) = fixed_answer(body).await;
        let out = send(&url, key, args).await;
        out.assert_failed_with(9);
        assert!(out.stderr.contains(says), "{body}: {out:#?}");
    }
}

#[tokio::test]
async fn missing_secrets_and_bad_flags_are_usage_errors() {
    let mut no_token = bare_command();
    no_token.args(["send-message", "--url", "http://127.0.0.1:9/wechat"]);
    let out = run(no_token).await;
    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_SERVER_TOKEN"), "{out:#?}");

    let out = send("http://127.0.0.1:9/wechat", None, &["--mode", "safe"]).await;
    out.assert_failed_with(2);
    assert!(out.stderr.contains("WECHAT_ENCODING_AES_KEY"), "{out:#?}");

    let out = send(
        "http://127.0.0.1:9/wechat",
        Some("short"),
        &["--mode", "safe"],
    )
    .await;
    out.assert_failed_with(2);
    assert!(out.stderr.contains("43 characters"), "{out:#?}");

    let out = send("ftp://127.0.0.1/wechat", None, &[]).await;
    out.assert_failed_with(2);

    let out = send("http://127.0.0.1:9/wechat", None, &["--event", "click"]).await;
    out.assert_failed_with(2);
    assert!(out.stderr.contains("--event-key"), "{out:#?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_failure() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let out = send(&format!("http://127.0.0.1:{port}/wechat"), None, &[]).await;

    out.assert_failed_with(5);
    assert!(
        out.stderr.contains("could not reach the server"),
        "{out:#?}"
    );
}
