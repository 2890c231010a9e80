//! WeChat's retry answered once across two OS processes sharing Redis.
//!
//! Two processes (this test binary re-executed, filtered to [`CHILD`]) each serve the
//! message router with a Redis store as the dedupe, behind a round-robin TCP proxy: a
//! delivery on a new connection goes to the other process. The handler is slower than the
//! sandbox's per-delivery timeout, so the sandbox drops the first delivery (its connection
//! with it) and retries on a new connection, which reaches the other process. With Redis
//! the retry is recognised there and answered `success`: the handler runs once in all. The
//! control: the same setup with each process's own in-memory dedupe runs it twice.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use wechat_oauth_message::{Message, MessageServer, Reply};
use wechat_oauth_redis::{RedisOptions, RedisStore};
use wechat_oauth_test_support::{Server, connected_or_skip, unique_namespace};
use wechat_sandbox::defaults::OFFICIAL_APPID;
use wechat_sandbox::{PushOptions, Sandbox, ServerConfig};

/// This binary, re-executed, runs only this test as a child process.
const CHILD: &str = "two_process::child_process_entry_point";
/// Carries the child's job (JSON).
const JOB_ENV: &str = "WECHAT_OAUTH_MESSAGE_TWO_PROCESS_CHILD";
const TOKEN: &str = "two-process-token";
/// How long the handler takes, and how long the sandbox waits for each delivery.
const HANDLER: Duration = Duration::from_millis(2500);
const DELIVERY_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Serialize, Deserialize)]
struct Job {
    /// `redis://…` with a key prefix, or `memory` for per-process dedupe (the control).
    redis_url: Option<String>,
    prefix: String,
    handler_ms: u64,
}

/// The child's body: serves the message router until its standard input closes, printing
/// `listening <addr>`, `push <n>` for each POST that reaches it and `handled <MsgId>` for
/// each handler run. Does nothing in an ordinary test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_entry_point() {
    let Ok(job) = std::env::var(JOB_ENV) else {
        return;
    };
    let job: Job = serde_json::from_str(&job).unwrap();
    let builder = MessageServer::builder(TOKEN, OFFICIAL_APPID);
    let server = match &job.redis_url {
        Some(url) => {
            let store = RedisStore::connect_with(url, RedisOptions::new().prefix(&job.prefix))
                .await
                .unwrap();
            builder.dedupe(store)
        }
        None => builder,
    }
    .build()
    .unwrap();
    let handler_time = Duration::from_millis(job.handler_ms);
    let router =
        wechat_oauth_message::axum::router("/wechat", server, move |m: Message| async move {
            println!("handled {}", m.msg_id.unwrap_or_default());
            tokio::time::sleep(handler_time).await;
            Reply::text("slow answer")
        });
    let pushes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let router = router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let pushes = pushes.clone();
            async move {
                if request.method() == axum::http::Method::POST {
                    let n = pushes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    println!("push {n}");
                }
                next.run(request).await
            }
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    // Until the parent closes our stdin.
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
    serving.abort();
    println!("child done");
}

/// A running child and the lines it printed.
struct ChildProcess {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl ChildProcess {
    async fn spawn(job: &Job) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([CHILD, "--exact", "--nocapture", "--test-threads=1"])
            .env(JOB_ENV, serde_json::to_string(job).unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                // libtest's `test NAME ... ` comes first on the line.
                if let Some((_, addr)) = line.split_once("listening ") {
                    return addr.trim().to_owned();
                }
            }
            panic!("the child exited before listening");
        })
        .await
        .expect("the child listens in time");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            addr,
            lines,
            reader,
        }
    }

    /// Closes the child's stdin, waits for it to exit and returns what it printed.
    async fn finish(mut self) -> Vec<String> {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the child exits")
            .unwrap();
        assert!(status.success(), "the child failed: {status}");
        let _ = self.reader.await;
        let lines = self.lines.lock().unwrap().clone();
        assert!(lines.iter().any(|l| l == "child done"), "{lines:?}");
        lines
    }
}

/// A TCP proxy sending each new connection to the next backend in turn.
async fn round_robin(backends: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let backend = backends[next % backends.len()].clone();
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

/// One slow push through the proxy to two children; returns the sandbox's record and each
/// child's output.
async fn slow_push_to_two_processes(
    redis_url: Option<String>,
    prefix: &str,
) -> (wechat_sandbox::PushRecord, Vec<Vec<String>>) {
    let job = Job {
        redis_url,
        prefix: prefix.to_owned(),
        handler_ms: u64::try_from(HANDLER.as_millis()).unwrap(),
    };
    let first = ChildProcess::spawn(&job).await;
    let second = ChildProcess::spawn(&job).await;
    let proxy = round_robin(vec![first.addr.clone(), second.addr.clone()]).await;
    let sandbox = Sandbox::builder().start().await.unwrap();
    sandbox
        .register_server(
            OFFICIAL_APPID,
            ServerConfig::new(format!("http://{proxy}/wechat"), TOKEN),
        )
        .await
        .unwrap();
    let record = sandbox
        .push(
            OFFICIAL_APPID,
            "alice",
            "text",
            &[("Content", "slow, please")],
            PushOptions::default().timeout(DELIVERY_TIMEOUT).tries(3),
        )
        .await
        .unwrap();
    // Every handler started has finished (and printed) by now.
    tokio::time::sleep(HANDLER + Duration::from_millis(300)).await;
    let outputs = vec![first.finish().await, second.finish().await];
    (record, outputs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reaching_the_other_process_is_answered_once_through_redis() {
    let url = Server::Redis.url();
    let prefix = format!("{}:", unique_namespace("msg2p"));
    let probe = RedisStore::connect_with(&url, RedisOptions::new().prefix(&prefix)).await;
    if connected_or_skip(Server::Redis, probe).is_none() {
        return;
    }

    let (record, outputs) = slow_push_to_two_processes(Some(url), &prefix).await;

    // The sandbox: the first delivery timed out, the retry was answered `success`.
    let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["timeout", "answered"], "{record:#?}");
    assert_eq!(record.attempts[1].attempt, 2);
    assert_eq!(record.attempts[1].response.as_deref(), Some("success"));
    assert_eq!(record.reply.verdict, "success");
    // Each delivery reached a different process…
    let pushes: Vec<usize> = outputs.iter().map(|o| count(o, "push ")).collect();
    assert_eq!(pushes, [1, 1], "{outputs:?}");
    // …and the handler ran once in all, for that message.
    let handled: Vec<&String> = outputs
        .iter()
        .flatten()
        .filter(|l| l.starts_with("handled "))
        .collect();
    assert_eq!(handled.len(), 1, "{outputs:?}");
    let msg_id = wechat_oauth_message::xml::parse(
        record.message.as_bytes(),
        wechat_oauth_message::XmlLimits::default(),
    )
    .unwrap()
    .get("MsgId")
    .unwrap()
    .to_owned();
    assert_eq!(handled[0], &format!("handled {msg_id}"));
}

/// The control: without a shared dedupe the retry that reaches the other process runs the
/// handler again (and the third delivery, back at the first process, is recognised there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shared_store_the_other_process_runs_the_handler_again() {
    let (record, outputs) = slow_push_to_two_processes(None, "").await;

    let outcomes: Vec<&str> = record.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["timeout", "timeout", "answered"], "{record:#?}");
    let handled: usize = outputs.iter().map(|o| count(o, "handled ")).sum();
    assert_eq!(handled, 2, "{outputs:?}");
}
