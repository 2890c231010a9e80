//! Round trips against the sandbox: WeChat's side (an independent implementation in
//! `wechat-sandbox`) verifies the server URL, pushes every kind of message and event in
//! every mode to this crate's axum integration over real HTTP, and judges the replies as
//! WeChat would.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wechat_oauth_message::{
    Article, Event, Message, MessageKind, MessageServer, Mode, Music, Reply,
};
use wechat_sandbox::defaults::{OFFICIAL_APPID, OFFICIAL_SECRET};
use wechat_sandbox::{PushOptions, PushRecord, Sandbox, ScanTarget, ServerConfig, ServerMode};

const TOKEN: &str = "round-trip-token";
const KEY: &str = "RoundTripEncodingAesKey0123456789abcdefghij";

/// Replies that say what the typed parse saw, in a reply type chosen per kind, so the
/// sandbox's judgement covers every reply type too.
fn describe(message: &Message) -> Reply {
    match &message.kind {
        MessageKind::Text(t) => Reply::text(format!("text|{}", t.content)),
        MessageKind::Image(i) => Reply::image(i.media_id.clone()),
        MessageKind::Voice(v) => Reply::voice(v.media_id.clone()),
        MessageKind::Video(v) => Reply::Video {
            media_id: v.media_id.clone(),
            title: Some(v.thumb_media_id.clone()),
            description: None,
        },
        MessageKind::ShortVideo(v) => {
            Reply::text(format!("shortvideo|{}|{}", v.media_id, v.thumb_media_id))
        }
        MessageKind::Location(l) => Reply::text(format!(
            "location|{}|{}|{:?}|{}",
            l.latitude, l.longitude, l.scale, l.label
        )),
        MessageKind::Link(l) => {
            let mut music = Music::new("thumb");
            music.title = Some(l.title.clone());
            music.description = Some(l.description.clone());
            music.music_url = Some(l.url.clone());
            Reply::Music(music)
        }
        MessageKind::Event(event) => match event {
            Event::Subscribe(s) => Reply::text(format!(
                "subscribe|{:?}|{:?}",
                s.scene(),
                s.ticket.is_some()
            )),
            Event::Unsubscribe => Reply::Success,
            Event::Scan(s) => Reply::text(format!("scan|{}|{}", s.scene, s.ticket.is_some())),
            Event::Location(l) => Reply::text(format!(
                "LOCATION|{}|{}|{:?}",
                l.latitude, l.longitude, l.precision
            )),
            Event::Click { event_key } => Reply::News(vec![Article::new(
                event_key.clone(),
                "d",
                "http://p",
                "http://u",
            )]),
            Event::View { url, menu_id } => Reply::text(format!("view|{url}|{menu_id:?}")),
            Event::TemplateSendJobFinish { msg_id, status } => {
                Reply::text(format!("template|{msg_id}|{status}"))
            }
            Event::MassSendJobFinish {
                msg_id, sent_count, ..
            } => Reply::text(format!("mass|{msg_id}|{sent_count:?}")),
            Event::ScanCode {
                wait_msg,
                scan_type,
                scan_result,
                ..
            } => Reply::text(format!("scancode|{wait_msg}|{scan_type}|{scan_result}")),
            Event::Other { event } => Reply::text(format!(
                "event|{event}|{}",
                message.field("debug_str").unwrap_or("-")
            )),
            _ => Reply::Success,
        },
        _ => Reply::text(format!(
            "unknown|{}|{}",
            message.msg_type,
            message.field("Title").unwrap_or("-")
        )),
    }
}

struct Harness {
    sandbox: Sandbox,
    calls: Arc<AtomicUsize>,
    url: String,
}

fn server_mode(mode: Mode) -> ServerMode {
    match mode {
        Mode::Compatible => ServerMode::Compatible,
        Mode::Safe => ServerMode::Safe,
        _ => ServerMode::Plain,
    }
}

/// Starts the sandbox and this crate's axum router on a real socket, and registers the
/// router as the Official Account's server URL (which verifies it).
async fn harness(mode: Mode, handler_delay: Duration) -> Harness {
    let sandbox = Sandbox::builder()
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut builder = MessageServer::builder(TOKEN, OFFICIAL_APPID).mode(mode);
    if mode != Mode::Plain {
        builder = builder.encoding_aes_key(KEY);
    }
    let server = builder.build().unwrap_or_else(|e| panic!("{e}"));
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let calls = calls.clone();
        move |message: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(handler_delay).await;
                describe(&message)
            }
        }
    };
    let app = wechat_oauth_message::axum::router("/wechat", server, handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}/wechat");
    let mut config = ServerConfig::new(url.clone(), TOKEN);
    if mode != Mode::Plain {
        config = config.encrypted(KEY, server_mode(mode));
    }
    let verified = sandbox.register_server(OFFICIAL_APPID, config).await;
    let attempt = verified.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(attempt.status, Some(200));
    Harness {
        sandbox,
        calls,
        url,
    }
}

/// Every kind the message interface knows, with the fields WeChat sends, and the reply
/// the handler must have produced (as the sandbox decoded it).
/// (MsgType, the fields pushed, the reply fields expected).
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<(&'static str, &'static str)>,
);

fn cases() -> Vec<Case> {
    vec![
        (
            "text",
            vec![("Content", "你好 <b>&amp; ]]> world")],
            vec![
                ("MsgType", "text"),
                ("Content", "text|你好 <b>&amp; ]]> world"),
            ],
        ),
        (
            "image",
            vec![("PicUrl", "http://mmbiz/pic"), ("MediaId", "img-1")],
            vec![("MsgType", "image"), ("Image/MediaId", "img-1")],
        ),
        (
            "voice",
            vec![
                ("MediaId", "voice-1"),
                ("Format", "amr"),
                ("Recognition", ""),
            ],
            vec![("MsgType", "voice"), ("Voice/MediaId", "voice-1")],
        ),
        (
            "video",
            vec![("MediaId", "vid-1"), ("ThumbMediaId", "thumb-1")],
            vec![
                ("MsgType", "video"),
                ("Video/MediaId", "vid-1"),
                ("Video/Title", "thumb-1"),
            ],
        ),
        (
            "shortvideo",
            vec![("MediaId", "sv-1"), ("ThumbMediaId", "thumb-2")],
            vec![("Content", "shortvideo|sv-1|thumb-2")],
        ),
        (
            "location",
            vec![
                ("Location_X", "23.134521"),
                ("Location_Y", "113.358803"),
                ("Scale", "20"),
                ("Label", "位置信息"),
            ],
            vec![("Content", "location|23.134521|113.358803|Some(20)|位置信息")],
        ),
        (
            "link",
            vec![
                ("Title", "公众平台官网链接"),
                ("Description", "desc"),
                ("Url", "http://mp.weixin.qq.com"),
            ],
            vec![
                ("MsgType", "music"),
                ("Music/Title", "公众平台官网链接"),
                ("Music/MusicUrl", "http://mp.weixin.qq.com"),
                ("Music/ThumbMediaId", "thumb"),
            ],
        ),
        (
            "event",
            vec![("Event", "subscribe")],
            vec![("Content", "subscribe|None|false")],
        ),
        (
            "event",
            vec![
                ("Event", "subscribe"),
                ("EventKey", "qrscene_123123"),
                ("Ticket", "TICKET"),
            ],
            vec![("Content", "subscribe|Some(\"123123\")|true")],
        ),
        (
            "event",
            vec![
                ("Event", "SCAN"),
                ("EventKey", "123123"),
                ("Ticket", "TICKET"),
            ],
            vec![("Content", "scan|123123|true")],
        ),
        (
            "event",
            vec![
                ("Event", "LOCATION"),
                ("Latitude", "23.137466"),
                ("Longitude", "113.352425"),
                ("Precision", "119.385040"),
            ],
            vec![("Content", "LOCATION|23.137466|113.352425|Some(119.38504)")],
        ),
        (
            "event",
            vec![("Event", "CLICK"), ("EventKey", "V1001_TODAY_MUSIC")],
            vec![
                ("MsgType", "news"),
                ("ArticleCount", "1"),
                ("Articles/item/Title", "V1001_TODAY_MUSIC"),
            ],
        ),
        (
            "event",
            vec![
                ("Event", "VIEW"),
                ("EventKey", "www.qq.com"),
                ("MenuId", "439342175"),
            ],
            vec![("Content", "view|www.qq.com|Some(\"439342175\")")],
        ),
        (
            "event",
            vec![
                ("Event", "TEMPLATESENDJOBFINISH"),
                ("MsgID", "200163836"),
                ("Status", "failed:user block"),
            ],
            vec![("Content", "template|200163836|failed:user block")],
        ),
        (
            "event",
            vec![
                ("Event", "MASSSENDJOBFINISH"),
                ("MsgID", "1988"),
                ("Status", "sendsuccess"),
                ("TotalCount", "100"),
                ("FilterCount", "80"),
                ("SentCount", "75"),
                ("ErrorCount", "5"),
            ],
            vec![("Content", "mass|1988|Some(75)")],
        ),
        (
            "event",
            vec![
                ("Event", "scancode_waitmsg"),
                ("EventKey", "rselfmenu_0_0"),
                ("ScanCodeInfo/ScanType", "qrcode"),
                ("ScanCodeInfo/ScanResult", "http://weixin.qq.com/r/x"),
            ],
            vec![("Content", "scancode|true|qrcode|http://weixin.qq.com/r/x")],
        ),
        (
            "event",
            vec![("Event", "debug_demo"), ("debug_str", "hello world")],
            vec![("Content", "event|debug_demo|hello world")],
        ),
        (
            "miniprogrampage",
            vec![
                ("Title", "a page"),
                ("AppId", "wx1"),
                ("PagePath", "pages/index"),
            ],
            vec![("Content", "unknown|miniprogrampage|a page")],
        ),
    ]
}

fn assert_reply(record: &PushRecord, mode: Mode, expected: &[(&str, &str)]) {
    let reply = &record.reply;
    assert_eq!(
        reply.verdict, "message",
        "{:?} {:?}",
        record.msg_type, reply
    );
    assert_eq!(reply.encrypted, mode != Mode::Plain, "{reply:?}");
    for (name, value) in expected {
        assert_eq!(
            reply.field(name),
            Some(*value),
            "{} {name}: {reply:?}",
            record.msg_type
        );
    }
    assert_eq!(record.attempts.len(), 1);
}

async fn every_kind_round_trips(mode: Mode) {
    let h = harness(mode, Duration::ZERO).await;
    for (msg_type, fields, expected) in cases() {
        // Events are deduplicated on (sender, CreateTime, Event): one user does not follow
        // twice in one second, so neither does the test.
        h.sandbox.advance_clock(Duration::from_secs(1));
        let record = h
            .sandbox
            .push(
                OFFICIAL_APPID,
                "alice",
                msg_type,
                &fields,
                PushOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_reply(&record, mode, &expected);
        let openid = h.sandbox.openid(OFFICIAL_APPID, "alice");
        assert_eq!(record.reply.field("ToUserName"), Some(openid.as_str()));
        assert_eq!(
            record.reply.field("FromUserName"),
            Some(h.sandbox.original_id(OFFICIAL_APPID).as_str())
        );
    }
    // Unsubscribe is answered `success`: there is no one left to reply to.
    let record = h
        .sandbox
        .push(
            OFFICIAL_APPID,
            "bob",
            "event",
            &[("Event", "unsubscribe")],
            PushOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.reply.verdict, "success");
    assert_eq!(h.calls.load(Ordering::SeqCst), cases().len() + 1);
    assert_eq!(h.sandbox.pushes().len(), cases().len() + 1);
}

#[tokio::test]
async fn every_kind_round_trips_in_plaintext_mode() {
    every_kind_round_trips(Mode::Plain).await;
}

#[tokio::test]
async fn every_kind_round_trips_in_compatible_mode() {
    every_kind_round_trips(Mode::Compatible).await;
}

#[tokio::test]
async fn every_kind_round_trips_in_safe_mode() {
    every_kind_round_trips(Mode::Safe).await;
}

#[tokio::test]
async fn a_compatible_account_answers_a_plaintext_push_in_plaintext() {
    let h = harness(Mode::Compatible, Duration::ZERO).await;
    let record = h
        .sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "plain")],
            PushOptions::default().mode(ServerMode::Plain),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_reply(&record, Mode::Plain, &[("Content", "text|plain")]);
}

#[tokio::test]
async fn a_wrong_token_fails_verification_and_registers_nothing() {
    let h = harness(Mode::Plain, Duration::ZERO).await;
    let other = Sandbox::builder()
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = other
        .register_server(
            OFFICIAL_APPID,
            ServerConfig::new(h.url.clone(), "not-the-token"),
        )
        .await;
    let message = refused.map(|_| ()).unwrap_err().to_string();
    assert!(message.contains("verification failed"), "{message}");
    assert!(message.contains("HTTP 401"), "{message}");
    let push = other
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "x")],
            PushOptions::default(),
        )
        .await;
    assert!(push.is_err(), "nothing was registered");
    assert_eq!(h.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_slow_answer_is_retried_and_the_retry_is_answered_once() {
    // The handler takes 2.5 s; the sandbox gives up after 1 s per delivery, so the second
    // delivery arrives while the first is still being handled.
    let h = harness(Mode::Safe, Duration::from_millis(2500)).await;
    let record = h
        .sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "slow")],
            PushOptions::default()
                .timeout(Duration::from_secs(1))
                .tries(3),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.attempts.len(), 2, "{:?}", record.attempts);
    assert_eq!(record.attempts[0].outcome, "timeout");
    assert_eq!(record.attempts[1].outcome, "answered");
    assert_eq!(
        record.attempts[1].body, record.attempts[0].body,
        "a retry resends the same push"
    );
    assert_eq!(record.reply.verdict, "success");
    assert_eq!(
        h.calls.load(Ordering::SeqCst),
        1,
        "the handler saw the push once"
    );
}

#[tokio::test]
async fn follow_by_qr_then_scan_again() {
    let h = harness(Mode::Safe, Duration::ZERO).await;
    let http = reqwest::Client::new();
    let base = h.sandbox.url().to_owned();
    let token: serde_json::Value = http
        .get(format!(
            "{base}/cgi-bin/token?grant_type=client_credential&appid={OFFICIAL_APPID}&secret={OFFICIAL_SECRET}"
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let access_token = token["access_token"].as_str().unwrap_or_default();
    let qr: serde_json::Value = http
        .post(format!("{base}/cgi-bin/qrcode/create?access_token={access_token}"))
        .body(r#"{"expire_seconds":300,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"login-42"}}}"#)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ticket = qr["ticket"].as_str().unwrap_or_default().to_owned();
    assert_eq!(qr["expire_seconds"], 300);

    let first = h
        .sandbox
        .scan(
            OFFICIAL_APPID,
            "alice",
            ScanTarget::Ticket(ticket.clone()),
            PushOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.event.as_deref(), Some("subscribe"));
    assert_eq!(
        first.reply.field("Content"),
        Some("subscribe|Some(\"login-42\")|true")
    );

    let again = h
        .sandbox
        .scan(
            OFFICIAL_APPID,
            "alice",
            ScanTarget::Scene("login-42".into()),
            PushOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.event.as_deref(), Some("SCAN"));
    assert_eq!(again.reply.field("Content"), Some("scan|login-42|true"));
}

/// Serves `app` on a free loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_retry_that_reaches_another_instance_is_answered_once() {
    // Two instances share one lease store behind a round-robin balancer: instance 0 is
    // slow, instance 1 fast. Requests alternate: the verification GET goes to 0, the first
    // push to 1, the second push to 0 (too slow: the sandbox retries) and its retry to 1.
    let store = Arc::new(wechat_oauth::MemoryStore::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut backends = Vec::new();
    for delay_ms in [2500u64, 0] {
        let server = MessageServer::builder(TOKEN, OFFICIAL_APPID)
            .mode(Mode::Safe)
            .encoding_aes_key(KEY)
            .dedupe(store.clone())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let calls = calls.clone();
        let handler = move |message: Message| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                describe(&message)
            }
        };
        let base = serve(wechat_oauth_message::axum::router(
            "/wechat", server, handler,
        ))
        .await;
        backends.push(format!("{base}/wechat"));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let balancer = axum::Router::new().route(
        "/wechat",
        axum::routing::any(
            move |method: axum::http::Method, query: axum::extract::RawQuery, body: String| {
                let backend = backends[next.fetch_add(1, Ordering::SeqCst) % 2].clone();
                async move {
                    let url = format!("{backend}?{}", query.0.unwrap_or_default());
                    let answer = reqwest::Client::new()
                        .request(method, url)
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(r) => {
                            let status = r.status();
                            (status, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()),
                    }
                }
            },
        ),
    );
    let url = format!("{}/wechat", serve(balancer).await);
    let sandbox = Sandbox::builder()
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sandbox
        .register_server(
            OFFICIAL_APPID,
            ServerConfig::new(url, TOKEN).encrypted(KEY, ServerMode::Safe),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let record = sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "balanced")],
            PushOptions::default()
                .timeout(Duration::from_secs(1))
                .tries(3),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["answered"], "{:?}", record.attempts);
    assert_eq!(record.reply.field("Content"), Some("text|balanced"));
    // The slow instance takes this delivery and claims it; the retry, on the fast
    // instance, finds the claim and answers `success` without handling it again.
    let record = sandbox
        .push(
            OFFICIAL_APPID,
            "bob",
            "text",
            &[("Content", "balanced again")],
            PushOptions::default()
                .timeout(Duration::from_secs(1))
                .tries(3),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["timeout", "answered"], "{:?}", record.attempts);
    assert_eq!(record.reply.verdict, "success");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "each push was handled once"
    );
}

#[tokio::test]
async fn a_push_from_a_clock_far_ahead_is_refused_as_stale() {
    // The sandbox's clock runs 10 minutes ahead: its pushes carry a timestamp outside the
    // server's 5-minute window, and the server refuses them without calling the handler.
    let h = harness(Mode::Safe, Duration::ZERO).await;
    h.sandbox.advance_clock(Duration::from_secs(600));
    let record = h
        .sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "late")],
            PushOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.attempts[0].status, Some(401));
    let answer = record.attempts[0].response.clone().unwrap_or_default();
    assert!(answer.contains("stale timestamp"), "{answer}");
    assert_eq!(record.reply.verdict, "invalid");
    assert_eq!(h.calls.load(Ordering::SeqCst), 0);
}
