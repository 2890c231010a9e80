//! The server limits of `serve`, over real sockets: slowloris and idle connections are
//! closed, and the connection cap holds.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wechat_oauth_axum::{ServeLimits, serve};

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: ServeLimits) -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "home" }));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

/// Reads until the server closes the connection (EOF or reset); how long that took.
async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

async fn get_home(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_slowloris_header_trickle_is_cut_off_by_the_header_read_timeout() {
    let server = Server::start(
        ServeLimits::default()
            .header_read_timeout(Duration::from_millis(500))
            .idle_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header byte every 100 ms keeps the connection busy but never ends the head.
    let trickle = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), trickle).await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the trickle went on for {:?}",
        started.elapsed()
    );
    // Whatever hyper sent first (a 408, or nothing), the connection ends.
    wait_closed(&mut stream, Duration::from_secs(5)).await;
    server.stop().await;
}

#[tokio::test]
async fn silent_and_idle_keep_alive_connections_are_closed() {
    let server = Server::start(
        ServeLimits::default()
            .header_read_timeout(Duration::from_secs(1))
            .idle_timeout(Duration::from_secs(1)),
    )
    .await;
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    wait_closed(&mut silent, Duration::from_secs(10)).await;
    // A keep-alive connection after one request.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    assert!(get_home(&mut idle).await.contains("200 OK"));
    wait_closed(&mut idle, Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test]
async fn the_connection_cap_holds_and_frees_a_slot_when_a_connection_closes() {
    let server = Server::start(
        ServeLimits::default()
            .max_connections(2)
            .header_read_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_secs(30)),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        assert!(get_home(&mut stream).await.contains("200 OK"));
        held.push(stream);
    }
    // The third connects (the kernel queues it) but is not served while two are open.
    let addr = server.addr;
    let third = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        get_home(&mut stream).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "served past the cap");
    drop(held.pop());
    let answer = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(answer.contains("200 OK"), "{answer}");
    drop(held);
    server.stop().await;
}
