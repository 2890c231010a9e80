use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wechat_oauth::store::{FnStore, decode_stored_str, encode_for_store};
use wechat_oauth::{StoreError, TokenStore};
use wechat_oauth_test_support as conformance;

type Db = Arc<Mutex<HashMap<String, String>>>;

/// The seed's getToken/saveToken pair ported as closures over a map of openid -> JSON text,
/// as its file example keeps them.
fn json_map_store(db: &Db, with_delete: bool) -> FnStore {
    let (read, write, remove) = (db.clone(), db.clone(), db.clone());
    let store = FnStore::new(
        move |openid| {
            let text = read.lock().unwrap().get(&openid).cloned();
            async move { text.map(|t| decode_stored_str(&t)).transpose() }
        },
        move |openid, token| {
            let db = write.clone();
            async move {
                db.lock().unwrap().insert(openid, encode_for_store(&token)?);
                Ok::<_, StoreError>(())
            }
        },
    );
    if !with_delete {
        return store;
    }
    store.with_delete(move |openid| {
        remove.lock().unwrap().remove(&openid);
        async { Ok::<_, StoreError>(()) }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fn_store_passes_the_conformance_suite() {
    let db = Db::default();
    let store = json_map_store(&db, true);
    conformance::run(&store).await;
    conformance::state::run_state(&store).await;
    conformance::malformed_row_reads_as_malformed(&store, |openid| {
        db.lock()
            .unwrap()
            .insert(openid, "{\"access_token\": 5}".into());
        async {}
    })
    .await;
}

#[tokio::test]
async fn fn_store_without_delete_keeps_the_token_and_reports_no_error() {
    let db = Db::default();
    let store = json_map_store(&db, false);
    let token = conformance::sample_token("o1", 1);
    store.save("o1", &token).await.unwrap();
    store.delete("o1").await.unwrap();
    assert_eq!(store.get("o1").await.unwrap(), Some(token));
}

#[tokio::test]
async fn fn_store_reports_closure_failures_as_backend_errors() {
    let store = FnStore::new(
        |_openid| async { Err::<Option<wechat_oauth::AccessToken>, _>("database is on fire") },
        |_openid, _token| async { Ok::<(), StoreError>(()) },
    );
    let err = store.get("o1").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("database is on fire"));
}

/// The seed's getToken/saveToken pair applied to Mini Program sessions: your own map
/// behind two closures, newer-wins added.
#[tokio::test]
async fn fn_store_keeps_mini_program_sessions_through_your_own_functions() {
    use wechat_oauth::miniprogram::{Session, SessionStore};
    type Sessions = Arc<Mutex<HashMap<String, (Option<String>, String, i64)>>>;
    let db: Sessions = Arc::default();
    let (read, write) = (db.clone(), db.clone());
    let store = json_map_store(&Db::default(), true).with_sessions(
        move |openid| {
            let db = read.clone();
            async move {
                let row = db.lock().unwrap().get(&openid).cloned();
                Ok::<_, StoreError>(row.map(|(u, k, at)| Session::new(openid, u, k, at)))
            }
        },
        move |session: Session| {
            let db = write.clone();
            async move {
                db.lock().unwrap().insert(
                    session.openid.clone(),
                    (
                        session.unionid.clone(),
                        session.session_key.expose_secret().to_owned(),
                        session.created_at,
                    ),
                );
                Ok::<_, StoreError>(())
            }
        },
    );
    let session = Session::new("o-mp", Some("u1".into()), "a2V5LWtleS1rZXkta2V5LQ==", 5);
    assert!(store.save_session(&session).await.unwrap());
    assert!(
        db.lock().unwrap().contains_key("o-mp"),
        "the session went through save"
    );
    assert_eq!(
        store.get_session("o-mp").await.unwrap(),
        Some(session.clone())
    );
    let older = Session::new("o-mp", None, "b2xkLWtleS1rZXkta2V5LQ==", 4);
    assert!(
        !store.save_session(&older).await.unwrap(),
        "an older login is refused"
    );
    assert_eq!(store.get_session("o-mp").await.unwrap(), Some(session));
}
