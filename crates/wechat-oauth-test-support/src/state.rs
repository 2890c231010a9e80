//! The checks of every kind of state beside user tokens: Mini Program sessions, web
//! sessions, app credentials and single-use claims.

use std::time::Duration;

use futures::future::join_all;

use wechat_oauth::miniprogram::{Session, SessionStore};
use wechat_oauth::store::{
    Credential, CredentialStore, Guard, LeaseStore, Record, RecordKind, RecordStore, StoreError,
    WebSession, WebSessionStore,
};
use wechat_oauth::{Secret, now_millis};

use crate::{ok, unique_namespace};

/// Everything a full backend keeps.
pub trait StateStore: SessionStore + WebSessionStore + CredentialStore + LeaseStore {}
impl<T: SessionStore + WebSessionStore + CredentialStore + LeaseStore + ?Sized> StateStore for T {}

/// Runs every check of this module against `store`.
pub async fn run_state<S: StateStore + ?Sized>(store: &S) {
    let ns = unique_namespace("state");
    sessions_newer_wins(store, &ns).await;
    web_sessions_round_trip_and_delete(store, &ns).await;
    web_sessions_expire_idle_and_absolute(store, &ns).await;
    web_sessions_sign_out_everywhere(store, &ns).await;
    credentials_newer_wins(store, &ns).await;
    claims_are_single_use_across_concurrent_callers(store, &ns).await;
    claims_expire(store, &ns).await;
}

/// A random session id of the middleware's shape (32 characters).
pub fn session_id() -> String {
    wechat_oauth::state::random_alphanumeric(32)
}

/// A web session for `openid` with absolute lifetime `ttl` from now.
pub fn sample_web_session(openid: &str, data: &str, ttl: Duration) -> WebSession {
    let now = now_millis();
    WebSession::new(
        session_id(),
        openid,
        data,
        now,
        now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
    )
}

/// Mini Program sessions: round trip with every field, an older login never replaces a
/// newer one, an equally new one does, delete, invalid values rejected.
pub async fn sessions_newer_wins<S: SessionStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-mp");
    assert_eq!(ok(store.get_session(&openid).await, "get missing"), None);
    let first = Session::new(
        &openid,
        Some("u-1".into()),
        "tiihtNczf5v6AKRyjwEUhQ==",
        2_000,
    );
    assert!(ok(store.save_session(&first).await, "save"));
    assert_eq!(
        ok(store.get_session(&openid).await, "get"),
        Some(first.clone())
    );
    let older = Session::new(&openid, None, "b2xkZXIta2V5LWtleS1rZXk=", 1_000);
    assert!(
        !ok(store.save_session(&older).await, "save older"),
        "an older login never replaces a newer one"
    );
    assert_eq!(ok(store.get_session(&openid).await, "get"), Some(first));
    let same = Session::new(&openid, None, "c2FtZS10aW1lLWtleS1rZXk=", 2_000);
    assert!(ok(store.save_session(&same).await, "save equally new"));
    assert_eq!(ok(store.get_session(&openid).await, "get"), Some(same));
    ok(store.delete_session(&openid).await, "delete");
    assert_eq!(ok(store.get_session(&openid).await, "get deleted"), None);
    ok(store.delete_session(&openid).await, "delete twice");
    assert!(matches!(
        store.save_session(&Session::new("", None, "k", 1)).await,
        Err(StoreError::Rejected(_))
    ));
}

/// A web session of any size (a 6,000-character nickname) round-trips; delete revokes it.
pub async fn web_sessions_round_trip_and_delete<S: WebSessionStore + ?Sized>(store: &S, ns: &str) {
    let openid = format!("{ns}-web");
    let nickname = "微".repeat(6_000);
    let data = serde_json::json!({ "nickname": nickname, "openid": openid }).to_string();
    let session = sample_web_session(&openid, &data, Duration::from_secs(3600));
    let id = session.id.expose_secret().to_owned();
    assert_eq!(ok(store.get_web_session(&id).await, "get missing"), None);
    ok(store.create_web_session(&session).await, "create");
    assert_eq!(
        ok(store.get_web_session(&id).await, "get"),
        Some(session.clone()),
        "every field round-trips"
    );
    ok(store.delete_web_session(&id).await, "delete");
    assert_eq!(
        ok(store.get_web_session(&id).await, "get deleted"),
        None,
        "a deleted session is gone for every copy of its cookie"
    );
    ok(store.delete_web_session(&id).await, "delete twice");
    assert!(
        !ok(
            store.touch_web_session(&id, now_millis() + 1000).await,
            "touch deleted"
        ),
        "touching a deleted session does not bring it back"
    );
    let mut short_id = session.clone();
    short_id.id = Secret::from("short");
    assert!(matches!(
        store.create_web_session(&short_id).await,
        Err(StoreError::Rejected(_))
    ));
}

/// The idle expiry ends a session unless touched; a touch never reaches past the absolute
/// expiry; an expired session is not returned.
pub async fn web_sessions_expire_idle_and_absolute<S: WebSessionStore + ?Sized>(
    store: &S,
    ns: &str,
) {
    let openid = format!("{ns}-idle");
    let now = now_millis();
    let mut idle = WebSession::new(session_id(), &openid, "{}", now, now + 60_000);
    idle.idle_expires_at = now + 600;
    let id = idle.id.expose_secret().to_owned();
    ok(store.create_web_session(&idle).await, "create");
    assert!(ok(store.get_web_session(&id).await, "get").is_some());
    assert!(ok(store.touch_web_session(&id, now + 1_500).await, "touch"));
    let touched = ok(store.get_web_session(&id).await, "get touched");
    assert_eq!(touched.map(|s| s.idle_expires_at), Some(now + 1_500));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        ok(
            store.get_web_session(&id).await,
            "get after first idle expiry"
        )
        .is_some(),
        "a touched session outlives its first idle expiry"
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        ok(store.get_web_session(&id).await, "get idle-expired"),
        None,
        "an idle session expires"
    );
    assert!(!ok(
        store.touch_web_session(&id, now_millis() + 60_000).await,
        "touch expired"
    ));

    let start = now_millis();
    let absolute = WebSession::new(session_id(), &openid, "{}", start, start + 700);
    let id = absolute.id.expose_secret().to_owned();
    ok(store.create_web_session(&absolute).await, "create");
    assert!(ok(
        store.touch_web_session(&id, start + 60_000).await,
        "touch"
    ));
    let capped = ok(store.get_web_session(&id).await, "get");
    assert_eq!(
        capped.map(|s| s.idle_expires_at),
        Some(start + 700),
        "a touch is capped at the absolute expiry"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        ok(store.get_web_session(&id).await, "get past absolute expiry"),
        None,
        "the absolute lifetime ends a session however recently it was used"
    );
}

/// "Sign out everywhere" deletes every session of one openid and no other.
pub async fn web_sessions_sign_out_everywhere<S: WebSessionStore + ?Sized>(store: &S, ns: &str) {
    let alice = format!("{ns}-alice");
    let bob = format!("{ns}-bob");
    let hour = Duration::from_secs(3600);
    let alices: Vec<WebSession> = (0..3)
        .map(|_| sample_web_session(&alice, "{}", hour))
        .collect();
    let bobs = sample_web_session(&bob, "{}", hour);
    for s in alices.iter().chain([&bobs]) {
        ok(store.create_web_session(s).await, "create");
    }
    assert_eq!(
        ok(
            store.delete_web_sessions_for(&alice).await,
            "sign out everywhere"
        ),
        3
    );
    for s in &alices {
        assert_eq!(
            ok(store.get_web_session(s.id.expose_secret()).await, "get"),
            None
        );
    }
    assert!(
        ok(
            store.get_web_session(bobs.id.expose_secret()).await,
            "get other user's"
        )
        .is_some(),
        "another user's session stays"
    );
    assert_eq!(ok(store.delete_web_sessions_for(&alice).await, "again"), 0);
    ok(
        store.delete_web_session(bobs.id.expose_secret()).await,
        "delete",
    );
}

/// Credentials: newer `obtained_at` wins, equal replaces, an expired one is still read
/// back (the caller refetches), delete.
pub async fn credentials_newer_wins<S: CredentialStore + ?Sized>(store: &S, ns: &str) {
    let key = format!("server_token:{ns}");
    assert_eq!(ok(store.get_credential(&key).await, "get missing"), None);
    let now = now_millis();
    let current = Credential::new("ACCESS_TOKEN_NEW", now, now + 7_200_000);
    assert!(ok(store.put_credential(&key, &current).await, "put"));
    let older = Credential::new("ACCESS_TOKEN_OLD", now - 1_000, now + 7_199_000);
    assert!(!ok(store.put_credential(&key, &older).await, "put older"));
    assert_eq!(ok(store.get_credential(&key).await, "get"), Some(current));
    let expired = Credential::new("ACCESS_TOKEN_EXPIRED", now + 1, now - 1);
    assert!(ok(store.put_credential(&key, &expired).await, "put newer"));
    assert_eq!(ok(store.get_credential(&key).await, "get"), Some(expired));
    ok(store.delete_credential(&key).await, "delete");
    assert_eq!(ok(store.get_credential(&key).await, "get deleted"), None);
    assert!(matches!(
        store.put_credential("", &Credential::new("x", 1, 2)).await,
        Err(StoreError::Rejected(_))
    ));
}

/// 20 concurrent claims of one value: exactly one wins; later claims lose too.
pub async fn claims_are_single_use_across_concurrent_callers<S: LeaseStore + ?Sized>(
    store: &S,
    ns: &str,
) {
    let key = format!("state:{ns}-nonce");
    let ttl = Duration::from_secs(60);
    let claims = join_all((0..20).map(|_| store.claim_once(&key, ttl))).await;
    let won = claims
        .into_iter()
        .map(|c| ok(c, "claim"))
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1, "exactly one of 20 concurrent claims wins");
    assert!(!ok(store.claim_once(&key, ttl).await, "claim again"));
    let other = format!("state:{ns}-other");
    assert!(ok(store.claim_once(&other, ttl).await, "another value"));
}

/// A claim lasts its time-to-live, then the value may be claimed again.
pub async fn claims_expire<S: LeaseStore + ?Sized>(store: &S, ns: &str) {
    let key = format!("msg:{ns}-retry");
    assert!(ok(
        store.claim_once(&key, Duration::from_millis(300)).await,
        "claim"
    ));
    assert!(!ok(
        store.claim_once(&key, Duration::from_secs(60)).await,
        "claim held"
    ));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(ok(
        store.claim_once(&key, Duration::from_secs(60)).await,
        "claim expired"
    ));
}

/// A stored Mini Program session, web session or credential the backend cannot decode
/// reads back as [`StoreError::Malformed`], not a panic, and can be deleted (the user logs
/// in again); a broken single-use claim is never claimed over (it reads as taken, or as
/// `Malformed`). `corrupt(kind, key)` writes a broken record the backend's own way (`kind`
/// is a [`RecordKind::as_str`](wechat_oauth::store::RecordKind::as_str)).
pub async fn malformed_records_read_as_malformed<S, F, Fut>(store: &S, corrupt: F)
where
    S: SessionStore + WebSessionStore + CredentialStore + LeaseStore + ?Sized,
    F: Fn(&'static str, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ns = unique_namespace("malformed-state");
    let openid = format!("{ns}-mp");
    corrupt("mp_session", openid.clone()).await;
    assert_malformed(store.get_session(&openid).await, "Mini Program session");
    ok(
        store.delete_session(&openid).await,
        "delete malformed session",
    );
    assert_eq!(ok(store.get_session(&openid).await, "get deleted"), None);

    let id = session_id();
    corrupt("web_session", id.clone()).await;
    assert_malformed(store.get_web_session(&id).await, "web session");
    ok(
        store.delete_web_session(&id).await,
        "delete malformed web session",
    );
    assert_eq!(ok(store.get_web_session(&id).await, "get deleted"), None);

    let key = format!("server_token:{ns}");
    corrupt("credential", key.clone()).await;
    assert_malformed(store.get_credential(&key).await, "credential");
    ok(
        store.delete_credential(&key).await,
        "delete malformed credential",
    );
    assert_eq!(ok(store.get_credential(&key).await, "get deleted"), None);

    let claim = format!("state:{ns}-nonce");
    corrupt("claim", claim.clone()).await;
    match store.claim_once(&claim, Duration::from_secs(60)).await {
        Ok(false) | Err(StoreError::Malformed(_)) => {}
        other => panic!("a broken claim must read as taken or Malformed, got {other:?}"),
    }
}

#[track_caller]
fn assert_malformed<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Malformed(why)) => assert!(!why.is_empty()),
        other => panic!("a malformed {what} must read as StoreError::Malformed, got {other:?}"),
    }
}

/// How a backend's records leave once expired, for [`expired_records_are_purged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Expired records stay stored until [`RecordStore::purge_expired`] deletes them.
    Purged,
    /// The server deletes them by itself (Redis `PEXPIREAT`); purging has nothing to do.
    Native,
}

/// [`RecordStore::purge_expired`] deletes the records of every kind that expired at or
/// before its `now`, and keeps live records and records without an expiry.
pub async fn expired_records_are_purged<S: RecordStore + ?Sized>(store: &S, expiry: Expiry) {
    let ns = unique_namespace("purge");
    // Expired in 1970, so no other test's purge at the real time can tell them apart.
    let expired: Vec<(RecordKind, String)> = RecordKind::ALL
        .iter()
        .map(|kind| (*kind, format!("{ns}-old-{}", kind.as_str())))
        .collect();
    let live = (RecordKind::Claim, format!("{ns}-live"));
    let forever = (RecordKind::Credential, format!("{ns}-forever"));
    let put = |kind, key: String, expires_at| async move {
        let record = Record::new("{}", 1, expires_at, None, None);
        assert!(ok(
            store.put_record(kind, &key, &record, Guard::Always).await,
            "put record"
        ));
    };
    for (kind, key) in &expired {
        put(*kind, key.clone(), Some(1_000)).await;
    }
    put(live.0, live.1.clone(), Some(i64::MAX / 2)).await;
    put(forever.0, forever.1.clone(), None).await;
    if expiry == Expiry::Purged {
        // Read as of t=0, the expired records are still stored.
        for (kind, key) in &expired {
            let stored = ok(store.get_record(*kind, key, 0).await, "get before purge");
            assert!(stored.is_some(), "{key} is stored until purged");
        }
    }

    let purged = ok(store.purge_expired(2_000).await, "purge");
    match expiry {
        Expiry::Purged => assert!(
            purged >= expired.len() as u64,
            "purged {purged}, expected at least {}",
            expired.len()
        ),
        Expiry::Native => assert_eq!(purged, 0),
    }
    for (kind, key) in &expired {
        let stored = ok(store.get_record(*kind, key, 0).await, "get after purge");
        assert!(stored.is_none(), "{key} was purged");
    }
    for (kind, key) in [&live, &forever] {
        let stored = ok(store.get_record(*kind, key, 0).await, "get live");
        assert!(stored.is_some(), "{key} is live and stays");
    }
}
