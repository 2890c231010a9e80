//! The built-in HTTP transport's cap on connections to WeChat.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use wechat_sandbox::{Fault, Sandbox};

use crate::common::*;

/// A TCP relay in front of the sandbox that records how many connections were open at once.
struct CountingProxy {
    url: String,
    peak: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(sandbox: &Sandbox) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let target = sandbox
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let (open, peak, opened) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (peak2, opened2) = (peak.clone(), opened.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                peak2.fetch_max(now, Ordering::SeqCst);
                opened2.fetch_add(1, Ordering::SeqCst);
                let (open, target) = (open.clone(), target.clone());
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { url, peak, opened }
    }
}

/// Runs `calls` concurrent `get_user` for one logged-in user through `proxy`, each answer
/// held back so the calls overlap, with `max_connections` as given (None: the default).
async fn overlapping_get_users(
    sandbox: &Sandbox,
    proxy: &CountingProxy,
    max_connections: Option<usize>,
    calls: usize,
) {
    let mut builder = builder(sandbox).api_base(&proxy.url);
    if let Some(limit) = max_connections {
        builder = builder.max_connections(limit);
    }
    let client = builder.build().unwrap();
    let token = login(sandbox, &client, "alice", "snsapi_userinfo").await;
    for _ in 0..calls {
        sandbox.inject_fault(USERINFO, Fault::Delay(Duration::from_millis(50)));
    }
    let results =
        futures::future::join_all((0..calls).map(|_| client.get_user(&token.openid))).await;
    for result in results {
        assert_eq!(result.unwrap().openid, token.openid);
    }
    assert_eq!(super::common::calls(sandbox, USERINFO).len(), calls);
}

#[tokio::test]
async fn max_connections_caps_the_connections_open_to_wechat() {
    let sandbox = sandbox().await;
    let proxy = CountingProxy::start(&sandbox).await;
    overlapping_get_users(&sandbox, &proxy, Some(2), 16).await;
    let peak = proxy.peak.load(Ordering::SeqCst);
    assert!(
        peak <= 2,
        "{peak} connections open at once with max_connections(2)"
    );
    // Kept alive and reused: the 16 calls (and the login) shared those connections.
    assert!(proxy.opened.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn overlapping_calls_open_more_connections_up_to_the_default_cap() {
    // The other side of the test above: the relay does see parallel connections, so the
    // cap there is the transport's doing.
    let sandbox = sandbox().await;
    let proxy = CountingProxy::start(&sandbox).await;
    overlapping_get_users(&sandbox, &proxy, None, 16).await;
    let peak = proxy.peak.load(Ordering::SeqCst);
    assert!(peak > 2, "only {peak} connections for 16 overlapping calls");
    assert!(peak <= wechat_oauth::DEFAULT_MAX_CONNECTIONS);
}
