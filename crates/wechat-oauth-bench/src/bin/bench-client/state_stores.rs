//! Round trips through the storage model's other kinds of state (issue 11), beside the
//! same round trip through the backend's raw driver:
//!
//! - `mp-sessions`: `get_session` then `save_session` with a newer `created_at`;
//! - `web-sessions`: `get_web_session` then `touch_web_session` (what every authenticated
//!   request of the axum middleware does: look the session up, push its idle expiry);
//! - `credentials`: `get_credential` then `put_credential` with a newer `obtained_at`;
//! - `claim-once`: one `claim_once` of a value never seen before (a new `state` nonce or
//!   `MsgId`), which must win.
//!
//! Each caller owns its own openid / session id / credential key, so callers never
//! contend for a row.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use clap::ValueEnum;
use wechat_oauth::miniprogram::Session;
use wechat_oauth::now_millis;
use wechat_oauth::store::{Credential, Stores, WebSession};
use wechat_oauth_bench::load::keep_in_flight;
use wechat_oauth_bench::measure::ClientReport;

/// Which kind of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// Mini Program sessions.
    MpSessions,
    /// Web login sessions.
    WebSessions,
    /// App credentials.
    Credentials,
    /// Single-use values.
    ClaimOnce,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StateArgs {
    /// `memory:` (the other backends once they implement the storage model).
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    kind: Kind,
    /// `store` (through the storage model's traits) or `raw` (the driver alone).
    #[arg(long = "impl", default_value = "store")]
    implementation: String,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
}

/// A session key as long as WeChat's (24 base64 characters).
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
/// A server access token as long as WeChat's (~136 characters).
const CREDENTIAL: &str = "86_bench-server-access-token-0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789abcdefghijklmnopqrstuvw";
/// What the middleware keeps about a signed-in user: a profile as JSON.
const PROFILE: &str = r#"{"openid":"oBench","nickname":"Bench","sex":1,"province":"Guangdong","city":"Guangzhou","country":"CN","headimgurl":"https://thirdwx.qlogo.cn/mmopen/vi_32/bench/132","privilege":[],"unionid":"oUnionBench"}"#;
const HOUR_MS: i64 = 3_600_000;
const CLAIM_TTL: Duration = Duration::from_secs(600);

fn session_id(slot: usize) -> String {
    format!("bench-web-session-{slot:04}-0123456789abcdefghij")
}

/// The backend's whole storage model (only the memory backend offers it on this build).
async fn open_stores(url: &str) -> anyhow::Result<Stores> {
    match url {
        "memory" | "memory:" => Ok(Stores::memory()),
        other => anyhow::bail!(
            "{} does not implement the storage model's session, credential and claim traits on this build",
            other.split(':').next().unwrap_or(other)
        ),
    }
}

pub(crate) async fn run(args: StateArgs) -> anyhow::Result<ClientReport> {
    let duration = Duration::from_millis(args.duration_ms);
    let base = now_millis();
    // Claimed values are unique to this run, whatever earlier runs left in the backend.
    let run_id = format!("{base}-{}", std::process::id());
    let concurrency = args.concurrency;
    let kind = args.kind;
    let result = if args.implementation == "raw" {
        let raw = Raw::connect(&args.url)?;
        for slot in 0..concurrency {
            raw.seed(kind, slot, base);
        }
        let (raw, run_id) = (&raw, &run_id);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            raw.round_trip(kind, slot, base + 1 + n as i64, run_id, n)
        })
        .await
    } else {
        let stores = open_stores(&args.url).await?;
        for slot in 0..concurrency {
            seed(&stores, kind, slot, base).await?;
        }
        let (stores, run_id) = (&stores, &run_id);
        keep_in_flight(concurrency, duration, |slot, n| async move {
            round_trip(stores, kind, slot, base + 1 + n as i64, run_id, n).await
        })
        .await
    };
    Ok(result.into_report(&args.implementation, concurrency))
}

/// A clean starting row for `slot` (earlier runs may have left newer ones).
async fn seed(stores: &Stores, kind: Kind, slot: usize, at: i64) -> anyhow::Result<()> {
    let openid = format!("bench-state-{slot}");
    match kind {
        Kind::MpSessions => {
            stores.sessions.delete_session(&openid).await?;
            stores
                .sessions
                .save_session(&Session::new(openid, None, SESSION_KEY, at))
                .await?;
        }
        Kind::WebSessions => {
            stores
                .web_sessions
                .create_web_session(&WebSession::new(
                    session_id(slot),
                    openid,
                    PROFILE,
                    at,
                    at + 24 * HOUR_MS,
                ))
                .await?;
        }
        Kind::Credentials => {
            let key = format!("server_token:bench{slot}");
            stores.credentials.delete_credential(&key).await?;
            stores
                .credentials
                .put_credential(&key, &Credential::new(CREDENTIAL, at, at + 2 * HOUR_MS))
                .await?;
        }
        Kind::ClaimOnce => {}
    }
    Ok(())
}

async fn round_trip(
    stores: &Stores,
    kind: Kind,
    slot: usize,
    at: i64,
    run_id: &str,
    n: usize,
) -> anyhow::Result<()> {
    match kind {
        Kind::MpSessions => {
            let openid = format!("bench-state-{slot}");
            let mut session = stores
                .sessions
                .get_session(&openid)
                .await?
                .ok_or_else(|| anyhow::anyhow!("session vanished"))?;
            session.created_at = at;
            anyhow::ensure!(
                stores.sessions.save_session(&session).await?,
                "save refused"
            );
        }
        Kind::WebSessions => {
            let id = session_id(slot);
            anyhow::ensure!(
                stores.web_sessions.get_web_session(&id).await?.is_some(),
                "web session vanished"
            );
            anyhow::ensure!(
                stores
                    .web_sessions
                    .touch_web_session(&id, at + HOUR_MS)
                    .await?,
                "touch refused"
            );
        }
        Kind::Credentials => {
            let key = format!("server_token:bench{slot}");
            let mut credential = stores
                .credentials
                .get_credential(&key)
                .await?
                .ok_or_else(|| anyhow::anyhow!("credential vanished"))?;
            credential.obtained_at = at;
            credential.expires_at = at + 2 * HOUR_MS;
            anyhow::ensure!(
                stores.credentials.put_credential(&key, &credential).await?,
                "put refused"
            );
        }
        Kind::ClaimOnce => {
            let key = format!("bench:{run_id}:{slot}:{n}");
            anyhow::ensure!(
                stores.leases.claim_once(&key, CLAIM_TTL).await?,
                "a fresh value was refused"
            );
        }
    }
    Ok(())
}

/// A Mini Program session row as a driver would hold it.
#[derive(Clone)]
struct SessionRow {
    session_key: String,
    unionid: Option<String>,
    created_at: i64,
}

/// A web session row.
#[derive(Clone)]
struct WebSessionRow {
    openid: String,
    data: String,
    expires_at: i64,
    idle_expires_at: i64,
}

/// A credential row.
#[derive(Clone)]
struct CredentialRow {
    value: String,
    obtained_at: i64,
    expires_at: i64,
}

/// The same round trips, straight on the data structure or driver.
enum Raw {
    Memory {
        sessions: Mutex<HashMap<String, SessionRow>>,
        web_sessions: Mutex<HashMap<String, WebSessionRow>>,
        credentials: Mutex<HashMap<String, CredentialRow>>,
        claims: Mutex<HashMap<String, i64>>,
    },
}

fn poisoned<T>(_: T) -> anyhow::Error {
    anyhow::anyhow!("poisoned")
}

impl Raw {
    fn connect(url: &str) -> anyhow::Result<Self> {
        match url.split(':').next().unwrap_or_default() {
            "memory" => Ok(Raw::Memory {
                sessions: Mutex::default(),
                web_sessions: Mutex::default(),
                credentials: Mutex::default(),
                claims: Mutex::default(),
            }),
            other => anyhow::bail!("no raw driver for {other}'s storage-model state yet"),
        }
    }

    fn seed(&self, kind: Kind, slot: usize, at: i64) {
        let Raw::Memory {
            sessions,
            web_sessions,
            credentials,
            ..
        } = self;
        match kind {
            Kind::MpSessions => {
                if let Ok(mut map) = sessions.lock() {
                    map.insert(
                        format!("bench-state-{slot}"),
                        SessionRow {
                            session_key: SESSION_KEY.into(),
                            unionid: None,
                            created_at: at,
                        },
                    );
                }
            }
            Kind::WebSessions => {
                if let Ok(mut map) = web_sessions.lock() {
                    map.insert(
                        session_id(slot),
                        WebSessionRow {
                            openid: format!("bench-state-{slot}"),
                            data: PROFILE.into(),
                            expires_at: at + 24 * HOUR_MS,
                            idle_expires_at: at + 24 * HOUR_MS,
                        },
                    );
                }
            }
            Kind::Credentials => {
                if let Ok(mut map) = credentials.lock() {
                    map.insert(
                        format!("server_token:bench{slot}"),
                        CredentialRow {
                            value: CREDENTIAL.into(),
                            obtained_at: at,
                            expires_at: at + 2 * HOUR_MS,
                        },
                    );
                }
            }
            Kind::ClaimOnce => {}
        }
    }

    /// The get (a copy out, as a store returns one) and the conditional save, each under
    /// its own lock acquisition, as the memory store does.
    fn round_trip(
        &self,
        kind: Kind,
        slot: usize,
        at: i64,
        run_id: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        let Raw::Memory {
            sessions,
            web_sessions,
            credentials,
            claims,
        } = self;
        match kind {
            Kind::MpSessions => {
                let openid = format!("bench-state-{slot}");
                let mut row = sessions
                    .lock()
                    .map_err(poisoned)?
                    .get(&openid)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("session vanished"))?;
                anyhow::ensure!(
                    !row.session_key.is_empty() && row.unionid.is_none(),
                    "session garbled"
                );
                row.created_at = at;
                let mut map = sessions.lock().map_err(poisoned)?;
                if map.get(&openid).is_none_or(|c| c.created_at <= at) {
                    map.insert(openid, row);
                }
            }
            Kind::WebSessions => {
                let id = session_id(slot);
                let now = now_millis();
                let live = web_sessions
                    .lock()
                    .map_err(poisoned)?
                    .get(&id)
                    .filter(|s| now < s.expires_at && now < s.idle_expires_at)
                    .cloned();
                anyhow::ensure!(
                    live.is_some_and(|s| !s.openid.is_empty() && !s.data.is_empty()),
                    "web session vanished"
                );
                let mut map = web_sessions.lock().map_err(poisoned)?;
                let row = map
                    .get_mut(&id)
                    .ok_or_else(|| anyhow::anyhow!("web session vanished"))?;
                row.idle_expires_at = (at + HOUR_MS).min(row.expires_at);
            }
            Kind::Credentials => {
                let key = format!("server_token:bench{slot}");
                let mut row = credentials
                    .lock()
                    .map_err(poisoned)?
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("credential vanished"))?;
                anyhow::ensure!(!row.value.is_empty(), "credential garbled");
                row.obtained_at = at;
                row.expires_at = at + 2 * HOUR_MS;
                let mut map = credentials.lock().map_err(poisoned)?;
                if map.get(&key).is_none_or(|c| c.obtained_at <= at) {
                    map.insert(key, row);
                }
            }
            Kind::ClaimOnce => {
                let key = format!("bench:{run_id}:{slot}:{n}");
                let now = now_millis();
                let mut map = claims.lock().map_err(poisoned)?;
                anyhow::ensure!(
                    map.get(&key).is_none_or(|&expires| expires <= now),
                    "a fresh value was refused"
                );
                map.insert(key, now + CLAIM_TTL.as_millis() as i64);
            }
        }
        Ok(())
    }
}
