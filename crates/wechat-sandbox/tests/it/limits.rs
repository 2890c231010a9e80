//! Connection limits and control-plane bounds: half-sent requests and silent sockets are
//! closed, idle keep-alive connections time out, the connection cap answers 503, and the
//! control plane refuses what would grow it without bound (issue: 300 slowloris
//! connections stayed open for 40 s; `count: 5000000` grew the sandbox by hundreds of MB).

use std::io::ErrorKind;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wechat_sandbox::{Sandbox, ServerLimits};

use crate::cli::Running;
use crate::support::*;

/// Far longer than any limit below: a connection still open after this was never closed.
const PATIENCE: Duration = Duration::from_secs(15);

fn limits(header_ms: u64, idle_ms: u64, max_connections: usize) -> ServerLimits {
    let mut limits = ServerLimits::default();
    limits.header_read_timeout = Duration::from_millis(header_ms);
    limits.idle_timeout = Duration::from_millis(idle_ms);
    limits.max_connections = max_connections;
    limits
}

async fn start_limited(limits: ServerLimits) -> Env {
    start_with(Sandbox::builder().limits(limits)).await
}

async fn connect(env: &Env) -> TcpStream {
    TcpStream::connect(env.sandbox.addr()).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
/// Panics if it is still open after [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("unexpected read error {e}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all)
        .await
        .expect("the sandbox left the connection open");
    received
}

/// One keep-alive request on `stream`; returns the status line.
async fn request(stream: &mut TcpStream, path: &str) -> String {
    let head = format!("GET {path} HTTP/1.1\r\nHost: sandbox\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    // The answers are small and carry a Content-Length: read until the body is complete.
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return head.lines().next().unwrap_or("").to_owned();
            }
        }
    }
}

#[tokio::test]
async fn slowloris_half_sent_requests_are_closed_after_the_header_read_timeout() {
    let env = start_limited(limits(300, 60_000, 100)).await;
    // Fifty connections each send half a request head and then nothing.
    let mut streams = Vec::new();
    for _ in 0..50 {
        let mut stream = connect(&env).await;
        stream
            .write_all(b"GET /sns/auth?access_token=a&openid=o HTTP/1.1\r\nHost: sandbox\r\n")
            .await
            .unwrap();
        streams.push(stream);
    }
    for stream in &mut streams {
        let answer = until_closed(stream).await;
        // Closed without processing the request: no answer, or at most an error status.
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(env.sandbox.request_count("/sns/auth"), 0);
}

#[tokio::test]
async fn slowloris_trickling_bytes_does_not_extend_the_header_read_timeout() {
    let env = start_limited(limits(400, 60_000, 100)).await;
    let mut stream = connect(&env).await;
    stream
        .write_all(b"GET /sns/auth HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header byte every 50 ms, forever: the deadline counts from the first byte.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if stream.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, trickle)
        .await
        .expect("the trickling connection was never closed");
    assert_eq!(env.sandbox.request_count("/sns/auth"), 0);
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_read_timeout() {
    let env = start_limited(limits(300, 60_000, 100)).await;
    let mut stream = connect(&env).await;
    assert!(until_closed(&mut stream).await.is_empty());
}

#[tokio::test]
async fn slow_request_bodies_are_refused_with_408() {
    let env = start_limited(limits(300, 60_000, 100)).await;
    let mut stream = connect(&env).await;
    stream
        .write_all(
            b"POST /__sandbox/faults HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"path\":",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(env.sandbox.request_count("/sns/userinfo"), 0);
}

#[tokio::test]
async fn idle_keep_alive_connections_outlive_the_header_timeout_and_close_after_the_idle_timeout() {
    // Between requests the idle timeout applies, not the (shorter) header read timeout.
    let env = start_limited(limits(300, 2_500, 100)).await;
    let mut stream = connect(&env).await;
    assert_eq!(
        request(&mut stream, "/__sandbox/clock").await,
        "HTTP/1.1 200 OK"
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        request(&mut stream, "/__sandbox/clock").await,
        "HTTP/1.1 200 OK",
        "a keep-alive connection idle for longer than the header timeout still works"
    );
    // Then, silent, it is closed after the idle timeout.
    assert!(until_closed(&mut stream).await.is_empty());
}

#[tokio::test]
async fn a_delay_fault_longer_than_the_header_timeout_is_still_answered() {
    let env = start_limited(limits(200, 60_000, 100)).await;
    env.sandbox.inject_fault(
        "/cgi-bin/token",
        wechat_sandbox::Fault::Delay(Duration::from_millis(800)),
    );
    let body = env.get_json("/cgi-bin/token", &[]).await;
    assert_errcode(&body, 40002);
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_a_freed_slot_is_reused() {
    let env = start_limited(limits(60_000, 60_000, 4)).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&env).await;
        assert_eq!(
            request(&mut stream, "/__sandbox/clock").await,
            "HTTP/1.1 200 OK"
        );
        held.push(stream);
    }
    let mut extra = connect(&env).await;
    let _ = extra
        .write_all(b"GET /__sandbox/clock HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        .await;
    let answer = String::from_utf8(until_closed(&mut extra).await).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("too many open connections\n"), "{answer}");

    // Closing one held connection frees its slot (once the server has seen the close).
    drop(held.pop());
    let reused = async {
        loop {
            let mut stream = connect(&env).await;
            let _ = stream
                .write_all(b"GET /__sandbox/clock HTTP/1.1\r\nHost: sandbox\r\n\r\n")
                .await;
            let mut buf = [0u8; 12];
            if stream.read_exact(&mut buf).await.is_ok() && &buf == b"HTTP/1.1 200" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, reused)
        .await
        .expect("the freed slot was never reused");
    // The held connections were never disturbed.
    for stream in &mut held {
        assert_eq!(request(stream, "/__sandbox/clock").await, "HTTP/1.1 200 OK");
    }
}

async fn post_fault(env: &Env, body: &Value) -> (u16, Value) {
    let response = env
        .http
        .post(env.url("/__sandbox/faults"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn queued(env: &Env) -> usize {
    let faults: Value = env
        .http
        .get(env.url("/__sandbox/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    faults
        .as_object()
        .unwrap()
        .values()
        .map(|q| q.as_array().unwrap().len())
        .sum()
}

#[tokio::test]
async fn oversized_control_calls_are_refused_with_a_clear_error() {
    let env = start().await;
    let errcode = |count: Value| json!({"path": "/sns/userinfo", "fault": "errcode", "errcode": -1, "count": count});

    // The issue's `count: 5000000`, and other counts out of range.
    for count in [
        json!(5_000_000),
        json!(0),
        json!(1001),
        json!(-1),
        json!(1e30),
    ] {
        let (status, error) = post_fault(&env, &errcode(count.clone())).await;
        assert_eq!(status, 400, "count {count}: {error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains("`count` must be between 1 and 1000")
                || message.starts_with("bad JSON body"),
            "count {count}: {message}"
        );
    }
    assert_eq!(queued(&env).await, 0);

    // A body over the control plane's limit: 413, and nothing queued.
    let huge = json!({"path": "/sns/userinfo", "fault": "respond", "body": "x".repeat(300 * 1024)});
    let (status, error) = post_fault(&env, &huge).await;
    assert_eq!(status, 413, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("262144 bytes"),
        "{error}"
    );
    // Within the body limit but over the respond-body limit: 400.
    let big = json!({"path": "/sns/userinfo", "fault": "respond", "body": "x".repeat(65 * 1024)});
    let (status, error) = post_fault(&env, &big).await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("65536 bytes"),
        "{error}"
    );

    for (bad, needle) in [
        (
            json!({"path": "sns/userinfo", "fault": "reset"}),
            "`path` must be a request path",
        ),
        (
            json!({"path": format!("/{}", "a".repeat(300)), "fault": "reset"}),
            "`path` must be",
        ),
        (
            json!({"path": "/sns/userinfo?x=1", "fault": "reset"}),
            "`path` must be",
        ),
        (
            json!({"path": "/x", "fault": "delay", "ms": 600_001}),
            "at most 600000 ms",
        ),
        (
            json!({"path": "/x", "fault": "respond", "body": "", "status": 1000}),
            "`status` must be",
        ),
        (
            json!({"path": "/x", "fault": "respond", "body": "", "content_type": "a\nb"}),
            "`content_type`",
        ),
    ] {
        let (status, error) = post_fault(&env, &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            error["error"].as_str().unwrap().contains(needle),
            "{bad}: {error}"
        );
    }
    assert_eq!(queued(&env).await, 0);

    // The total: 10 × 1,000 fit, one more does not.
    for i in 0..10 {
        let spec = json!({"path": format!("/p{i}"), "fault": "reset", "count": 1000});
        assert_eq!(post_fault(&env, &spec).await.0, 200);
    }
    let (status, error) = post_fault(&env, &json!({"path": "/p", "fault": "reset"})).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("at most 10000 faults may be queued"),
        "{error}"
    );
    assert_eq!(queued(&env).await, 10_000);
    env.http
        .delete(env.url("/__sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post_fault(&env, &json!({"path": "/p", "fault": "reset"}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn invented_paths_do_not_grow_the_request_counts_without_bound() {
    let env = start().await;
    let mut stream = connect(&env).await;
    for i in 0..1100 {
        assert!(
            request(&mut stream, &format!("/nowhere/{i}"))
                .await
                .contains(" 404 ")
        );
    }
    let stats: Value = env
        .http
        .get(env.url("/__sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counts = stats["requests"].as_object().unwrap();
    assert_eq!(counts.len(), 1025, "1,024 paths and the overflow count");
    assert_eq!(counts["(other paths)"], 1100 - 1024);
}

#[tokio::test]
async fn the_binary_takes_the_limits_as_flags_and_refuses_zero() {
    let running = Running::start(&["--header-read-timeout-ms", "300", "--max-connections", "8"]);
    let addr = running.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    assert!(
        until_closed(&mut stream).await.is_empty(),
        "a silent socket is closed"
    );
    drop(running);
    for flag in [
        "--max-connections",
        "--header-read-timeout-ms",
        "--idle-timeout-ms",
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wechat-sandbox"))
            .args(["--listen", "127.0.0.1:0", flag, "0"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flag} 0");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid sandbox configuration"),
            "{flag}: {stderr}"
        );
    }
}
