//! The mutable side of the sandbox: codes, tokens, session keys, faults, the journal.
//! One `Mutex<State>` guards all of it; handlers hold it only for synchronous work.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use rand::distr::Alphanumeric;

use crate::fault::Fault;
use crate::journal::JournalEntry;
use crate::model::{Directory, Scope};
use crate::shape::Shapes;

pub(crate) const MINUTE_MS: i64 = 60_000;
/// Official Account code and Mini Program `js_code` / phone code lifetime (§1.6).
pub(crate) const CODE_TTL_MS: i64 = 5 * MINUTE_MS;
/// Website (`qrconnect`) code lifetime (§1.6, WEB-CODE).
pub(crate) const WEBSITE_CODE_TTL_MS: i64 = 10 * MINUTE_MS;
/// Web-auth access token and server token lifetime, seconds (§1.6).
pub(crate) const ACCESS_TOKEN_TTL_S: i64 = 7200;
/// Refresh token lifetime from the original authorization, never extended (§1.3).
pub(crate) const REFRESH_TOKEN_TTL_MS: i64 = 30 * 24 * 60 * MINUTE_MS;
/// Distinct paths counted one by one in the request counts (`/__sandbox/stats`).
pub(crate) const MAX_COUNTED_PATHS: usize = 1024;
/// The count every further path goes to.
pub(crate) const OTHER_PATHS: &str = "(other paths)";
/// How many codes of one kind may pile up before expired ones are swept.
const SWEEP_THRESHOLD: usize = 4096;

/// A code waiting to be exchanged: OAuth `code`, Mini Program `js_code` or phone code.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub app: usize,
    pub user: usize,
    pub scope: Scope,
    pub expires_ms: i64,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub app: usize,
    pub user: usize,
    pub scope: Scope,
    pub expires_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub app: usize,
    pub user: usize,
    pub scope: Scope,
    pub expires_ms: i64,
    /// The access token this refresh token currently stands behind (§1.3 semantics 1 and 2).
    pub access_token: String,
}

/// A server access token (`cgi-bin/token` or `stable_token`).
#[derive(Debug, Clone)]
pub(crate) struct ServerToken {
    pub token: String,
    pub expires_ms: i64,
}

/// Server tokens of one app. `cgi-bin/token` and `stable_token` are isolated (§4.6).
#[derive(Debug, Default)]
pub(crate) struct ServerTokens {
    pub plain: Option<ServerToken>,
    pub stable: Option<ServerToken>,
    /// The stable token before an automatic rotation; valid until it expires (5-min overlap).
    pub stable_previous: Option<ServerToken>,
    /// Sandbox-clock times of `force_refresh=true` calls, for the 20/day, 30 s apart limits.
    pub forced_ms: Vec<i64>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub journal: VecDeque<JournalEntry>,
    pub journal_capacity: usize,
    /// Journal entries dropped to stay within capacity since the last clear.
    pub journal_dropped: u64,
    /// Requests per path since the last clear, whatever the journal capacity.
    pub counts: HashMap<String, u64>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub web_codes: HashMap<String, CodeGrant>,
    pub js_codes: HashMap<String, CodeGrant>,
    pub phone_codes: HashMap<String, CodeGrant>,
    pub access_tokens: Grants<AccessGrant>,
    pub refresh_tokens: Grants<RefreshGrant>,
    /// The refresh token of each (app, user)'s latest authorization: a new authorization
    /// revokes the one before (docs/protocol.md §1.3), so one user holds one refresh token.
    pub current_refresh: HashMap<(usize, usize), String>,
    /// Current session_key per (app, user); `mp_login` rotates it (§4.1).
    pub session_keys: HashMap<(usize, usize), String>,
    pub server_tokens: Vec<ServerTokens>,
    /// The answer shapes in force; shared so a request clones a pointer, not the struct.
    pub shapes: Arc<Shapes>,
    /// Official Account server URLs, followers, QR codes, tickets and pushes.
    pub oa: crate::official_account::OaState,
}

impl State {
    pub(crate) fn new(apps: usize, journal_capacity: usize, shapes: Arc<Shapes>) -> State {
        State {
            journal: VecDeque::new(),
            journal_capacity,
            journal_dropped: 0,
            counts: HashMap::new(),
            faults: HashMap::new(),
            web_codes: HashMap::new(),
            js_codes: HashMap::new(),
            phone_codes: HashMap::new(),
            access_tokens: Grants::default(),
            refresh_tokens: Grants::default(),
            current_refresh: HashMap::new(),
            session_keys: HashMap::new(),
            server_tokens: (0..apps).map(|_| ServerTokens::default()).collect(),
            shapes,
            oa: Default::default(),
        }
    }

    /// Counts a request to `path`; true if the journal wants an entry for it. Beyond
    /// [`MAX_COUNTED_PATHS`] distinct paths, new ones are counted under [`OTHER_PATHS`], so
    /// a client inventing paths cannot grow the table without bound.
    pub(crate) fn count(&mut self, path: &str) -> bool {
        if let Some(n) = self.counts.get_mut(path) {
            *n += 1;
        } else if self.counts.len() < MAX_COUNTED_PATHS {
            self.counts.insert(path.to_owned(), 1);
        } else {
            *self.counts.entry(OTHER_PATHS.to_owned()).or_default() += 1;
        }
        self.journal_capacity > 0
    }

    pub(crate) fn record(&mut self, entry: JournalEntry) {
        if self.journal.len() >= self.journal_capacity {
            self.journal.pop_front();
            self.journal_dropped += 1;
        }
        self.journal.push_back(entry);
    }

    /// Forgets the journal and the request counts.
    pub(crate) fn clear_journal(&mut self) -> usize {
        let cleared = self.journal.len();
        self.journal.clear();
        self.journal_dropped = 0;
        self.counts.clear();
        cleared
    }

    pub(crate) fn next_fault(&mut self, path: &str) -> Option<Fault> {
        if self.faults.is_empty() {
            return None;
        }
        let queue = self.faults.get_mut(path)?;
        let fault = queue.pop_front();
        if queue.is_empty() {
            self.faults.remove(path);
        }
        fault
    }
}

/// Something issued with an expiry, swept from its table once expired.
pub(crate) trait Expiring {
    fn expires_ms(&self) -> i64;
}

impl Expiring for AccessGrant {
    fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
}

impl Expiring for RefreshGrant {
    fn expires_ms(&self) -> i64 {
        self.expires_ms
    }
}

/// Issued tokens by their string. Expired ones are swept whenever the table has doubled
/// since the last sweep (and holds at least [`SWEEP_THRESHOLD`]), so a sandbox that runs for
/// days keeps what is live, and a sweep costs O(1) per insert on average however many live
/// tokens there are.
#[derive(Debug)]
pub(crate) struct Grants<G> {
    map: HashMap<String, G>,
    sweep_at: usize,
}

impl<G> Default for Grants<G> {
    fn default() -> Self {
        Grants {
            map: HashMap::new(),
            sweep_at: SWEEP_THRESHOLD,
        }
    }
}

impl<G: Expiring> Grants<G> {
    pub(crate) fn insert(&mut self, token: String, grant: G, now_ms: i64) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, g| g.expires_ms() > now_ms);
            self.sweep_at = (self.map.len() * 2).max(SWEEP_THRESHOLD);
        }
        self.map.insert(token, grant);
    }

    pub(crate) fn get(&self, token: &str) -> Option<&G> {
        self.map.get(token)
    }

    pub(crate) fn get_mut(&mut self, token: &str) -> Option<&mut G> {
        self.map.get_mut(token)
    }

    pub(crate) fn remove(&mut self, token: &str) -> Option<G> {
        self.map.remove(token)
    }

    /// How many tokens the table holds, expired ones not yet swept included.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Inserts a fresh random code into `codes`, sweeping expired ones now and then so a
/// benchmark that mints millions of codes does not grow without bound.
pub(crate) fn issue_code(
    codes: &mut HashMap<String, CodeGrant>,
    grant: CodeGrant,
    now_ms: i64,
) -> String {
    if codes.len() >= SWEEP_THRESHOLD {
        codes.retain(|_, g| g.expires_ms > now_ms);
    }
    // Real codes are 32 characters of [0-9A-Za-z] (`061Ab0ml2h…`).
    let code = random_string(32);
    codes.insert(code.clone(), grant);
    code
}

/// Redeems a code: `Err(40029)` unknown, expired or for another app; `Err(40163)` used (§1.2).
pub(crate) fn redeem_code(
    codes: &mut HashMap<String, CodeGrant>,
    code: &str,
    app: usize,
    now_ms: i64,
) -> Result<CodeGrant, i64> {
    let grant = codes.get_mut(code).ok_or(40029)?;
    if grant.app != app || grant.expires_ms <= now_ms {
        return Err(40029);
    }
    if grant.used {
        return Err(40163);
    }
    grant.used = true;
    Ok(grant.clone())
}

pub(crate) fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A token shaped like WeChat's: a numeric prefix, `_`, then opaque characters.
pub(crate) fn random_token(prefix: &str, len: usize) -> String {
    let mut token = String::with_capacity(prefix.len() + len);
    token.push_str(prefix);
    token.push_str(&random_string(len));
    token
}

/// Everything a running sandbox shares between its handle and its connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: Directory,
    state: Mutex<State>,
    clock_offset_ms: AtomicI64,
    /// The shapes the sandbox was built with, restored by `reset`.
    initial_shapes: Arc<Shapes>,
}

impl Shared {
    pub(crate) fn new(dir: Directory, journal_capacity: usize, shapes: Shapes) -> Shared {
        let apps = dir.apps.len();
        let shapes = Arc::new(shapes);
        Shared {
            dir,
            state: Mutex::new(State::new(apps, journal_capacity, shapes.clone())),
            clock_offset_ms: AtomicI64::new(0),
            initial_shapes: shapes,
        }
    }

    /// The state lock. A panic elsewhere must not wedge the sandbox, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sandbox time: wall clock plus every `advance_clock`, unix milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        wall.saturating_add(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `ms` (negative values count as 0) and returns the new
    /// offset. The offset is capped at about 35,000 years so that "now + 30 days" can never
    /// overflow, whatever a test asks for.
    pub(crate) fn advance_clock_ms(&self, ms: i64) -> i64 {
        const MAX_OFFSET_MS: i64 = 1 << 50;
        let step = ms.clamp(0, MAX_OFFSET_MS);
        let previous = self
            .clock_offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                Some(offset.saturating_add(step).min(MAX_OFFSET_MS))
            })
            .unwrap_or_else(|current| current);
        previous.saturating_add(step).min(MAX_OFFSET_MS)
    }

    pub(crate) fn reset(&self) {
        let mut st = self.lock();
        let capacity = st.journal_capacity;
        *st = State::new(self.dir.apps.len(), capacity, self.initial_shapes.clone());
        self.clock_offset_ms.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(expires_ms: i64) -> AccessGrant {
        AccessGrant {
            app: 0,
            user: 0,
            scope: Scope::Base,
            expires_ms,
        }
    }

    #[test]
    fn expired_grants_are_swept_once_the_table_doubles_and_live_ones_stay() {
        let mut grants = Grants::default();
        // 4,000 tokens that expire at t=1,000 and 96 that live until t=10,000.
        for i in 0..SWEEP_THRESHOLD {
            let expires_ms = if i % 42 == 0 { 10_000 } else { 1_000 };
            grants.insert(format!("t{i}"), access(expires_ms), 0);
        }
        assert_eq!(grants.len(), SWEEP_THRESHOLD);
        let live = (0..SWEEP_THRESHOLD).filter(|i| i % 42 == 0).count();

        grants.insert("fresh".into(), access(20_000), 5_000);
        assert_eq!(grants.len(), live + 1, "expired tokens are gone");
        assert!(grants.get("t0").is_some() && grants.get("fresh").is_some());
        assert!(grants.get("t1").is_none());

        // The next sweep waits until the table reaches the threshold again.
        for i in 0..100 {
            grants.insert(format!("u{i}"), access(1), 5_000);
        }
        assert_eq!(grants.len(), live + 101);
    }

    #[test]
    fn a_table_of_live_tokens_is_not_swept_on_every_insert() {
        let mut grants = Grants::default();
        for i in 0..3 * SWEEP_THRESHOLD {
            grants.insert(format!("t{i}"), access(i64::MAX), 0);
        }
        assert_eq!(grants.len(), 3 * SWEEP_THRESHOLD);
        // Swept at 4,096 and 8,192 entries (nothing expired), next at 16,384.
        assert_eq!(grants.sweep_at, 4 * SWEEP_THRESHOLD);
    }
}
