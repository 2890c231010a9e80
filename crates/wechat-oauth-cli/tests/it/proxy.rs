//! A proxy set in the environment (`HTTP_PROXY`, as curl and reqwest read it) is used for
//! the calls to WeChat, and `NO_PROXY` exempts a host from it.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::World;

/// A forward proxy for plain http: relays each connection to the sandbox unchanged (the
/// sandbox routes absolute-form request targets by path) and records each connection's
/// first request line.
pub async fn forward_proxy(world: &World) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = world.sandbox_addr();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (target, record) = (target.clone(), record.clone());
            tokio::spawn(async move {
                let mut head = vec![0; 4096];
                let Ok(n) = inbound.read(&mut head).await else {
                    return;
                };
                head.truncate(n);
                let line = String::from_utf8_lossy(&head);
                let line = line.lines().next().unwrap_or_default().to_owned();
                record.lock().unwrap().push(line);
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                if tokio::io::AsyncWriteExt::write_all(&mut outbound, &head)
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn calls_go_through_the_proxy_the_environment_sets() {
    let world = World::new().await;
    let (proxy, seen) = forward_proxy(&world).await;

    let env = [
        ("HTTP_PROXY", Some(proxy.as_str())),
        ("NO_PROXY", None),
        ("no_proxy", None),
    ];
    let token = world.exchange_with_env("alice", &env).await.0.json();

    assert_eq!(token["openid"], world.openid("alice"));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("GET http://")
                && line.contains("/sns/oauth2/access_token?")),
        "the proxy saw {seen:?}"
    );
}

#[tokio::test]
async fn no_proxy_exempts_the_api_host() {
    let world = World::new().await;
    let (proxy, seen) = forward_proxy(&world).await;

    let env = [
        ("HTTP_PROXY", Some(proxy.as_str())),
        ("NO_PROXY", Some("127.0.0.1")),
        ("no_proxy", None),
    ];
    let token = world.exchange_with_env("alice", &env).await.0.json();

    assert_eq!(token["openid"], world.openid("alice"));
    assert_eq!(seen.lock().unwrap().len(), 0, "the proxy was used");
    assert_eq!(world.hits("/sns/oauth2/access_token"), 1);
}
