use wechat_oauth::MemoryStore;
use wechat_oauth_test_support as conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    let store = MemoryStore::new();
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
}

mod new_kinds {
    use std::time::Duration;

    use wechat_oauth::store::{
        Credential, CredentialStore, LeaseStore, MemoryStore, Stores, WebSession, WebSessionStore,
    };
    use wechat_oauth::{Secret, now_millis};

    fn web(id: &str, openid: &str, lifetime_ms: i64) -> WebSession {
        let now = now_millis();
        let mut s = WebSession::new(Secret::new(id), openid, "{}", now, now + lifetime_ms);
        s.idle_expires_at = now + lifetime_ms;
        s
    }

    #[tokio::test]
    async fn a_single_use_value_is_claimed_once() {
        let store = MemoryStore::new();
        assert_eq!(
            store
                .claim_once("state:n1", Duration::from_secs(60))
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            store
                .claim_once("state:n1", Duration::from_secs(60))
                .await
                .ok(),
            Some(false)
        );
        assert_eq!(
            store
                .claim_once("state:n2", Duration::from_secs(60))
                .await
                .ok(),
            Some(true)
        );
    }

    #[tokio::test]
    async fn web_sessions_expire_revoke_and_sign_out_everywhere() {
        let stores = Stores::memory();
        let a = web("aaaaaaaaaaaaaaaaaaaa", "o1", 60_000);
        let b = web("bbbbbbbbbbbbbbbbbbbb", "o1", 60_000);
        let expired = web("cccccccccccccccccccc", "o2", -1);
        for s in [&a, &b, &expired] {
            stores.web_sessions.create_web_session(s).await.unwrap();
        }
        assert!(
            stores
                .web_sessions
                .get_web_session("aaaaaaaaaaaaaaaaaaaa")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            stores
                .web_sessions
                .get_web_session("cccccccccccccccccccc")
                .await
                .unwrap()
                .is_none()
        );
        stores
            .web_sessions
            .delete_web_session("aaaaaaaaaaaaaaaaaaaa")
            .await
            .unwrap();
        assert!(
            stores
                .web_sessions
                .get_web_session("aaaaaaaaaaaaaaaaaaaa")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            stores
                .web_sessions
                .delete_web_sessions_for("o1")
                .await
                .unwrap(),
            1
        );
        assert!(
            stores
                .web_sessions
                .get_web_session("bbbbbbbbbbbbbbbbbbbb")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            stores
                .web_sessions
                .create_web_session(&web("short", "o1", 1))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_older_credential_never_replaces_a_newer_one() {
        let store = MemoryStore::new();
        let newer = Credential::new("t2", 2_000, 9_000);
        let older = Credential::new("t1", 1_000, 9_000);
        assert_eq!(
            store.put_credential("server_token:wx1", &newer).await.ok(),
            Some(true)
        );
        assert_eq!(
            store.put_credential("server_token:wx1", &older).await.ok(),
            Some(false)
        );
        let kept = store.get_credential("server_token:wx1").await.unwrap();
        assert_eq!(kept.map(|c| c.value), Some(Secret::new("t2")));
    }
}
