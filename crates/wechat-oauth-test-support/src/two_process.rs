//! Two (or three) OS processes share one store: state made in one process is used in
//! another, and an expiry costs one request to WeChat however many processes need it.
//!
//! A backend's test binary has one worker entry point that calls [`run_worker`] with a way
//! to open the backend's [`Stores`] from a string (a URL, a path, a table name: the test's
//! choice), plus one test per scenario:
//!
//! - [`assert_one_refresh_per_expiry`]: OAuth user tokens, `get_user` on an expired token
//!   in two processes → one `sns/oauth2/refresh_token`;
//! - [`assert_one_server_token_fetch_per_expiry`]: the app's server access token, 1,000
//!   concurrent calls in each of two processes just after it expired → one
//!   `cgi-bin/stable_token`;
//! - [`assert_mini_program_session_is_shared`]: `jscode2session` in process A, then
//!   `decrypt_for` and `check_session_key` in process B.
//!
//! ```text
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn worker_entry_point() {
//!     run_worker(|spec| async move { my_backend_stores(&spec).await }).await;
//! }
//!
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn two_processes_share_the_mini_program_session() {
//!     let sandbox = wechat_sandbox::Sandbox::builder().start().await.unwrap();
//!     let shared = Shared::new(sandbox.url(), "my-spec", "path::to::worker_entry_point");
//!     let stores = my_backend_stores("my-spec").await;
//!     assert_mini_program_session_is_shared(&shared, stores, "alice").await;
//! }
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wechat_oauth::miniprogram::{Decrypted, SessionKeyStatus};
use wechat_oauth::store::{Credential, Stores};
use wechat_oauth::{AppSecret, Error, OAuthClient, TokenStatus, WeChatApp};
use wechat_sandbox::defaults::{
    MINIPROGRAM_APPID, MINIPROGRAM_SECRET, OFFICIAL_APPID, OFFICIAL_SECRET,
};

use crate::process::{Worker, control, done, job, ready_and_wait};

const REFRESH_PATH: &str = "/sns/oauth2/refresh_token";
const USERINFO_PATH: &str = "/sns/userinfo";
const SERVER_TOKEN_PATH: &str = "/cgi-bin/stable_token";
const JSCODE2SESSION_PATH: &str = "/sns/jscode2session";
const CHECKSESSION_PATH: &str = "/wxa/checksession";

/// What every process of a scenario needs to know.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The sandbox's base URL.
    pub sandbox_url: String,
    /// How a worker opens the shared store: passed to the `open` function of
    /// [`run_worker`].
    pub store: String,
    /// The name of the test that calls [`run_worker`] (`module::test_name`).
    pub worker_test: String,
}

impl Shared {
    /// The parts of a scenario.
    pub fn new(
        sandbox_url: impl Into<String>,
        store: impl Into<String>,
        worker_test: impl Into<String>,
    ) -> Self {
        Self {
            sandbox_url: sandbox_url.into(),
            store: store.into(),
            worker_test: worker_test.into(),
        }
    }

    async fn control(
        &self,
        method: reqwest::Method,
        route: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        control(
            &reqwest::Client::new(),
            &self.sandbox_url,
            method,
            route,
            body,
        )
        .await
    }

    async fn advance_clock(&self, seconds: u64) {
        self.control(
            reqwest::Method::POST,
            "clock/advance",
            serde_json::json!({ "seconds": seconds }),
        )
        .await;
    }

    async fn clear_journal(&self) {
        self.control(reqwest::Method::DELETE, "journal", serde_json::json!({}))
            .await;
    }

    /// How many requests to `path` the sandbox saw since the journal was cleared.
    async fn requests_to(&self, path: &str) -> usize {
        let journal = self
            .control(reqwest::Method::GET, "journal", serde_json::Value::Null)
            .await;
        journal.as_array().map_or(0, |entries| {
            entries.iter().filter(|e| e["path"] == path).count()
        })
    }

    /// Delays the next request to `path`, so every process is certainly waiting on it.
    async fn slow_down(&self, path: &str, ms: u64) {
        self.control(
            reqwest::Method::POST,
            "faults",
            serde_json::json!({ "path": path, "fault": "delay", "ms": ms }),
        )
        .await;
    }

    async fn start(&self, task: Task) -> Worker {
        let job = Job {
            sandbox_url: self.sandbox_url.clone(),
            store: self.store.clone(),
            task,
        };
        Worker::start(&self.worker_test, &job).await
    }
}

/// A worker's job: where to find everything, and what to do.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    sandbox_url: String,
    store: String,
    task: Task,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
enum Task {
    /// `callers` concurrent `get_user(openid)` calls of the Official Account.
    GetUser { openid: String, callers: usize },
    /// `callers` concurrent `access_token()` calls of the Mini Program.
    ServerToken { callers: usize },
    /// `jscode2session` with `js_code`.
    MiniProgramLogin { js_code: String },
    /// `decrypt_for` and `check_session_key` with the stored session of `openid`.
    MiniProgramUse {
        openid: String,
        encrypted_data: String,
        iv: String,
    },
}

fn app(sandbox_url: &str, appid: &str, secret: &str, stores: Stores) -> WeChatApp {
    WeChatApp::builder(appid, AppSecret::from(secret))
        .api_base(sandbox_url)
        .open_base(sandbox_url)
        .stores(stores)
        .build()
        .unwrap_or_else(|e| panic!("app: {e}"))
}

fn official(sandbox_url: &str, stores: Stores) -> OAuthClient {
    app(sandbox_url, OFFICIAL_APPID, OFFICIAL_SECRET, stores).oauth()
}

fn mini_program(sandbox_url: &str, stores: Stores) -> WeChatApp {
    app(sandbox_url, MINIPROGRAM_APPID, MINIPROGRAM_SECRET, stores)
}

/// A fingerprint of a secret, so processes can compare secrets without printing them.
fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The worker's side: when this process was started by one of this module's scenarios,
/// opens the stores with `open(spec)`, does its part and reports; returns `true`. In an
/// ordinary test run it does nothing and returns `false`.
pub async fn run_worker<F, Fut>(open: F) -> bool
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Stores>,
{
    let Some(job) = job::<Job>() else {
        return false;
    };
    let stores = open(job.store.clone()).await;
    let url = job.sandbox_url.as_str();
    match job.task {
        Task::GetUser { openid, callers } => {
            let client = official(url, stores);
            ready_and_wait();
            get_user_many(&client, &openid, callers).await;
            done("ok");
        }
        Task::ServerToken { callers } => {
            let tokens = mini_program(url, stores).server_tokens();
            ready_and_wait();
            let calls = (0..callers).map(|_| tokens.access_token());
            let mut seen = std::collections::BTreeSet::new();
            for (i, result) in futures::future::join_all(calls)
                .await
                .into_iter()
                .enumerate()
            {
                match result {
                    Ok(token) => seen.insert(fingerprint(token.expose_secret())),
                    Err(e) => panic!("access_token #{i} failed: {e}"),
                };
            }
            assert_eq!(seen.len(), 1, "every caller got the same token");
            done(&seen.pop_first().unwrap_or_default());
        }
        Task::MiniProgramLogin { js_code } => {
            let client = mini_program(url, stores).mini_program();
            ready_and_wait();
            let login = client
                .login(js_code)
                .await
                .unwrap_or_else(|e| panic!("jscode2session: {e}"));
            done(&login.openid);
        }
        Task::MiniProgramUse {
            openid,
            encrypted_data,
            iv,
        } => {
            // Without the shared store this process knows nothing of the session.
            let alone = mini_program(url, Stores::memory()).mini_program();
            let unknown = alone.decrypt_for(&openid, &encrypted_data, &iv).await;
            assert!(
                matches!(unknown, Err(Error::NoSession { .. })),
                "a process without the shared store has no session: {unknown:?}"
            );
            let client = mini_program(url, stores).mini_program();
            ready_and_wait();
            let decrypted: Decrypted = client
                .decrypt_for(&openid, &encrypted_data, &iv)
                .await
                .unwrap_or_else(|e| panic!("decrypt_for: {e}"));
            assert_eq!(
                decrypted.json()["openId"].as_str(),
                Some(openid.as_str()),
                "the payload is the user's"
            );
            let status = client
                .check_session_key(&openid)
                .await
                .unwrap_or_else(|e| panic!("check_session_key: {e}"));
            assert_eq!(status, SessionKeyStatus::Valid);
            done("valid");
        }
    }
    true
}

/// `callers` concurrent `get_user(openid)` calls; panics unless all succeed.
async fn get_user_many(client: &OAuthClient, openid: &str, callers: usize) {
    let calls = (0..callers).map(|_| client.get_user(openid));
    for (i, result) in futures::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        match result {
            Ok(user) => assert_eq!(user.openid, openid),
            Err(e) => panic!("get_user #{i} failed: {e}"),
        }
    }
}

/// OAuth user tokens: logs `user` in with the sandbox's Official Account through `stores`,
/// then `rounds` times expires the token (the sandbox clock and the stored `create_at`),
/// starts a worker process and makes `callers` concurrent `get_user` calls in each of the
/// two processes. Asserts that each round reaches WeChat's refresh endpoint exactly once,
/// that every call fetched the profile, and that the store ends with the newest token, one
/// WeChat accepts.
pub async fn assert_one_refresh_per_expiry(
    shared: &Shared,
    stores: Stores,
    user: &str,
    callers: usize,
    rounds: usize,
) {
    let store = stores.tokens.clone();
    let client = official(&shared.sandbox_url, stores);
    let minted = shared
        .control(
            reqwest::Method::POST,
            "codes",
            serde_json::json!({ "appid": OFFICIAL_APPID, "user": user, "scope": "snsapi_userinfo" }),
        )
        .await;
    let code = minted["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {minted}"))
        .to_owned();
    let mut previous = client
        .get_access_token(code)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    let openid = previous.openid.clone();

    for round in 0..rounds {
        // Expired for WeChat (its clock) and for us (the stored create_at).
        shared.advance_clock(7201).await;
        let mut aged = store
            .get(&openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        aged.create_at -= 7_201_000;
        store
            .delete(&openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store
                .save(&openid, &aged)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        shared.clear_journal().await;
        shared.slow_down(REFRESH_PATH, 300).await;

        let mut worker = shared
            .start(Task::GetUser {
                openid: openid.clone(),
                callers,
            })
            .await;
        worker.go();
        get_user_many(&client, &openid, callers).await;
        assert!(
            worker.finish().await.is_some(),
            "round {round}: the worker process failed"
        );

        assert_eq!(
            shared.requests_to(USERINFO_PATH).await,
            2 * callers,
            "round {round}: both processes fetched the profile with the shared token"
        );
        assert_eq!(
            shared.requests_to(REFRESH_PATH).await,
            1,
            "round {round}: one refresh per expiry across both processes"
        );

        let stored = store
            .get(&openid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        assert!(
            stored.create_at > previous.create_at,
            "round {round}: the store holds the newest token"
        );
        assert!(stored.is_valid());
        let status = client.verify_token(&openid, &stored.access_token).await;
        assert!(
            matches!(status, Ok(TokenStatus::Valid)),
            "round {round}: WeChat accepts the stored token: {status:?}"
        );
        previous = stored;
    }
}

/// The app's server access token: through `stores`, gets the sandbox Mini Program's
/// server token once, then `rounds` times expires it (the sandbox's clock moves past its
/// `expires_in`, and the stored credential is moved back as far), starts two worker
/// processes and releases them at once, each making `callers` concurrent `access_token()`
/// calls. Asserts that each round reaches WeChat's token endpoint exactly once, that every
/// call of both processes got the token now in the store, and that WeChat accepts it (a
/// phone-number exchange with it).
pub async fn assert_one_server_token_fetch_per_expiry(
    shared: &Shared,
    stores: Stores,
    callers: usize,
    rounds: usize,
) {
    let key = format!("server_token:{MINIPROGRAM_APPID}");
    mini_program(&shared.sandbox_url, stores.clone())
        .server_tokens()
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("first token: {e}"));

    for round in 0..rounds {
        // Expired for WeChat (its clock) and for us (the stored expiry).
        shared.advance_clock(7300).await;
        let stored = stores
            .credentials
            .get_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("round {round}: no stored server token"));
        let aged = Credential::new(
            stored.value.clone(),
            stored.obtained_at - 7_300_000,
            stored.expires_at - 7_300_000,
        );
        stores
            .credentials
            .delete_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            stores
                .credentials
                .put_credential(&key, &aged)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        );
        shared.clear_journal().await;
        shared.slow_down(SERVER_TOKEN_PATH, 300).await;

        let mut workers = Vec::new();
        for _ in 0..2 {
            workers.push(shared.start(Task::ServerToken { callers }).await);
        }
        for worker in &mut workers {
            worker.go();
        }
        let mut fingerprints = Vec::new();
        for worker in workers {
            let token = worker.finish().await;
            fingerprints.push(token.unwrap_or_else(|| panic!("round {round}: a worker failed")));
        }

        assert_eq!(
            shared.requests_to(SERVER_TOKEN_PATH).await,
            1,
            "round {round}: one token request per expiry across both processes"
        );
        let now = stores
            .credentials
            .get_credential(&key)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("round {round}: no stored server token"));
        assert!(
            now.obtained_at > stored.obtained_at,
            "round {round}: a newer token is stored"
        );
        let current = fingerprint(now.value.expose_secret());
        assert_eq!(
            fingerprints,
            [current.clone(), current],
            "round {round}: both processes used the stored token"
        );
        // WeChat accepts it: a phone-number exchange with a fresh app (so the token comes
        // from the store, not from this process's memory of the old one).
        let minted = shared
            .control(
                reqwest::Method::POST,
                "mp/phone_code",
                serde_json::json!({ "appid": MINIPROGRAM_APPID, "user": "alice" }),
            )
            .await;
        let code = minted["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no phone code: {minted}"))
            .to_owned();
        let phone = mini_program(&shared.sandbox_url, stores.clone())
            .mini_program()
            .get_phone_number(code)
            .await;
        assert!(
            phone.is_ok(),
            "round {round}: WeChat accepts the stored token: {phone:?}"
        );
    }
}

/// Mini Program sessions: `user` logs in on a device (`wx.login`), process A exchanges the
/// code (`jscode2session`) and saves the session in the shared store, then process B,
/// which never saw the login, decrypts the device's `encryptedData` with the stored key
/// (`decrypt_for`) and has WeChat confirm the key (`check_session_key`). Afterwards the
/// device logs in again and this process, through `stores`, sees the stored key reported
/// stale: process B's check really asked WeChat about the stored key.
pub async fn assert_mini_program_session_is_shared(shared: &Shared, stores: Stores, user: &str) {
    let device = serde_json::json!({ "appid": MINIPROGRAM_APPID, "user": user });
    let login = shared
        .control(reqwest::Method::POST, "mp/login", device.clone())
        .await;
    let js_code = login["js_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no js_code: {login}"))
        .to_owned();
    shared.clear_journal().await;

    let mut a = shared.start(Task::MiniProgramLogin { js_code }).await;
    a.go();
    let openid = a
        .finish()
        .await
        .unwrap_or_else(|| panic!("process A (jscode2session) failed"));
    assert!(!openid.is_empty(), "process A logged a user in");
    assert_eq!(shared.requests_to(JSCODE2SESSION_PATH).await, 1);
    let session = stores
        .sessions
        .get_session(&openid)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("process A's session is in the shared store"));
    assert_eq!(session.openid, openid);

    let profile = shared
        .control(reqwest::Method::POST, "mp/userinfo", device.clone())
        .await;
    let field = |name: &str| {
        profile[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {profile}"))
            .to_owned()
    };
    let mut b = shared
        .start(Task::MiniProgramUse {
            openid: openid.clone(),
            encrypted_data: field("encryptedData"),
            iv: field("iv"),
        })
        .await;
    b.go();
    assert_eq!(
        b.finish().await.as_deref(),
        Some("valid"),
        "process B decrypted with the stored key and WeChat confirmed it"
    );
    assert_eq!(
        shared.requests_to(JSCODE2SESSION_PATH).await,
        1,
        "process B did not log in again"
    );
    assert_eq!(shared.requests_to(CHECKSESSION_PATH).await, 1);

    // The device logs in again: the key in the store is no longer the user's.
    shared
        .control(reqwest::Method::POST, "mp/login", device)
        .await;
    let status = mini_program(&shared.sandbox_url, stores)
        .mini_program()
        .check_session_key(&openid)
        .await
        .unwrap_or_else(|e| panic!("check_session_key: {e}"));
    assert_eq!(status, SessionKeyStatus::Stale);
}
