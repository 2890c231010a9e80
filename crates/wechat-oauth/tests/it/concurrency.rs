//! Refresh coordination: one refresh per expired token, in one process and across
//! processes sharing a store (the npm package sends one refresh per caller).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wechat_oauth::store::{LeaseStore, TokenStore};
use wechat_oauth::{OAuthClient, now_millis};
use wechat_sandbox::{Fault, Sandbox};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_is_single_flight_under_200_concurrent_callers() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    let bob = login(&sandbox, &client, "bob", "snsapi_userinfo").await;
    // Both tokens expired, so bob needs a refresh of his own while alice's is in flight.
    expire_everywhere(&sandbox, &client, &alice.openid).await;
    age_stored_token(
        client.token_store().as_ref(),
        &bob.openid,
        Duration::from_secs(7201),
    )
    .await;
    sandbox.clear_journal();
    // Hold alice's refresh (the first to arrive) long enough that all 200 callers pile up
    // behind it.
    sandbox.inject_fault(REFRESH, Fault::Delay(Duration::from_millis(1500)));

    let finished = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (client, openid, finished) =
                (client.clone(), alice.openid.clone(), Arc::clone(&finished));
            tokio::spawn(async move {
                let result = client.get_user(&openid).await;
                finished.fetch_add(1, Ordering::SeqCst);
                result
            })
        })
        .collect();
    // Wait until the refresh is on the wire, then ask for another openid.
    while calls(&sandbox, REFRESH).is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = client.get_user(&bob.openid).await.unwrap();
    assert_eq!(other.openid, bob.openid);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "bob's refresh and call completed while alice's refresh was still in flight"
    );

    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().openid, alice.openid);
    }
    let refreshes = calls(&sandbox, REFRESH);
    assert_eq!(refreshes.len(), 2, "exactly one refresh per openid");
    let sent = |i: usize| refreshes[i].param("refresh_token").unwrap();
    assert_eq!(sent(0), alice.refresh_token.expose_secret());
    assert_eq!(sent(1), bob.refresh_token.expose_secret());
    let userinfo = calls(&sandbox, USERINFO);
    assert_eq!(
        userinfo
            .iter()
            .filter(|e| e.param("openid") == Some(alice.openid.as_str()))
            .count(),
        200
    );
}

/// Two clients, each with its own in-process state, stand in for two processes sharing
/// the stores `one` and `two` (the same backend, opened twice). Half of `callers`
/// concurrent `get_user` calls on an expired token go through each; exactly one refresh
/// reaches WeChat.
async fn assert_two_processes_refresh_once(
    sandbox: &Sandbox,
    one: impl TokenStore + LeaseStore + 'static,
    two: impl TokenStore + LeaseStore + 'static,
    callers: usize,
) {
    let one = builder(sandbox).token_store(one).build().unwrap();
    let two = builder(sandbox).token_store(two).build().unwrap();
    let alice = login(sandbox, &one, "alice", "snsapi_userinfo").await;
    expire_everywhere(sandbox, &one, &alice.openid).await;
    sandbox.clear_journal();
    sandbox.inject_fault(REFRESH, Fault::Delay(Duration::from_millis(300)));

    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let client: OAuthClient = if i % 2 == 0 { one.clone() } else { two.clone() };
            let openid = alice.openid.clone();
            tokio::spawn(async move { client.get_user(&openid).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().openid, alice.openid);
    }
    assert_eq!(calls(sandbox, REFRESH).len(), 1);
    let stored = two.token_store().get(&alice.openid).await.unwrap().unwrap();
    assert!(stored.is_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_sharing_a_store_refresh_once() {
    let sandbox = sandbox().await;
    let store = shared_memory_store();
    assert_two_processes_refresh_once(&sandbox, Arc::clone(&store), Arc::clone(&store), 100).await;
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_process_waits_for_the_lease_holder_instead_of_refreshing() {
    let sandbox = sandbox().await;
    let store = shared_memory_store();
    let client = builder(&sandbox)
        .token_store(Arc::clone(&store))
        .build()
        .unwrap();
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    let stale = age_stored_token(store.as_ref(), &alice.openid, Duration::from_secs(7201)).await;

    // "Another process" holds the refresh lease and saves a new token a little later.
    let lease = store
        .acquire_lease(
            &format!("refresh:{}", alice.openid),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    let other = {
        let store = Arc::clone(&store);
        let mut fresh = stale.clone();
        fresh.create_at = now_millis();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(store.save(&fresh.openid, &fresh).await.unwrap());
            store.release_lease(&lease).await.unwrap();
        })
    };
    sandbox.clear_journal();
    let user = client.get_user(&alice.openid).await.unwrap();
    other.await.unwrap();
    assert_eq!(user.openid, alice.openid);
    assert!(
        calls(&sandbox, REFRESH).is_empty(),
        "the waiting process did not refresh"
    );
}

#[tokio::test]
async fn a_lease_left_by_a_crashed_process_expires_and_is_taken_over() {
    let sandbox = sandbox().await;
    let store = shared_memory_store();
    let client = builder(&sandbox)
        .token_store(Arc::clone(&store))
        .refresh_lease_ttl(Duration::from_millis(300))
        .build()
        .unwrap();
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    expire_everywhere(&sandbox, &client, &alice.openid).await;
    // Taken and never released.
    let _abandoned = store
        .acquire_lease(
            &format!("refresh:{}", alice.openid),
            Duration::from_millis(300),
        )
        .await
        .unwrap()
        .unwrap();
    sandbox.clear_journal();
    client.get_user(&alice.openid).await.unwrap();
    assert_eq!(calls(&sandbox, REFRESH).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_leader_does_not_strand_the_others() {
    let sandbox = sandbox().await;
    let client = builder(&sandbox)
        .refresh_lease_ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    expire_everywhere(&sandbox, &client, &alice.openid).await;
    sandbox.inject_fault(REFRESH, Fault::Delay(Duration::from_millis(300)));
    let leader = {
        let (client, openid) = (client.clone(), alice.openid.clone());
        tokio::spawn(async move { client.get_user(&openid).await })
    };
    while calls(&sandbox, REFRESH).is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let follower = {
        let (client, openid) = (client.clone(), alice.openid.clone());
        tokio::spawn(async move { client.get_user(&openid).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    leader.abort();
    // The follower takes over the flight, and the aborted leader's store lease is released
    // in the background: no waiting out the 30 s lease.
    let user = tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower waited out the abandoned 30 s lease")
        .unwrap()
        .unwrap();
    assert_eq!(user.openid, alice.openid);
    assert_eq!(
        calls(&sandbox, REFRESH).len(),
        2,
        "the follower refreshed after the abort"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_file_store_refresh_once() {
    // Each "process" opens the directory on its own, as separate processes would.
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox().await;
    let open = || wechat_oauth::store::FileStore::open(dir.path().to_path_buf());
    assert_two_processes_refresh_once(&sandbox, open().await.unwrap(), open().await.unwrap(), 60)
        .await;
}

#[tokio::test]
async fn the_seed_closures_ported_with_fn_store_work_end_to_end() {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use wechat_oauth::AccessToken;
    use wechat_oauth::store::{BoxError, FnStore};

    // The "database": openid -> the token's JSON, as the seed's saveToken would write it.
    let db: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let (read, write, remove) = (Arc::clone(&db), Arc::clone(&db), Arc::clone(&db));
    let store = FnStore::new(
        move |openid: String| {
            let json = read.lock().unwrap().get(&openid).cloned();
            async move {
                let token: Option<AccessToken> =
                    json.map(|j| serde_json::from_str(&j)).transpose()?;
                Ok::<_, BoxError>(token)
            }
        },
        move |openid: String, token: AccessToken| {
            let json = serde_json::to_string(&token);
            let write = Arc::clone(&write);
            async move {
                write.lock().unwrap().insert(openid, json?);
                Ok::<_, BoxError>(())
            }
        },
    )
    .with_delete(move |openid: String| {
        remove.lock().unwrap().remove(&openid);
        async { Ok::<_, BoxError>(()) }
    });
    let sandbox = sandbox().await;
    let client = builder(&sandbox).token_store(store).build().unwrap();
    let alice = login(&sandbox, &client, "alice", "snsapi_userinfo").await;
    assert!(db.lock().unwrap().contains_key(&alice.openid));
    expire_everywhere(&sandbox, &client, &alice.openid).await;
    sandbox.clear_journal();
    let users = futures::future::join_all((0..20).map(|_| client.get_user(&alice.openid))).await;
    assert!(
        users
            .iter()
            .all(|u| u.as_ref().is_ok_and(|u| u.openid == alice.openid))
    );
    assert_eq!(calls(&sandbox, REFRESH).len(), 1);
}
