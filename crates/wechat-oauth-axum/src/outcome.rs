//! Remembers, for a minute, how each callback ended, so that WeChat's duplicate callback
//! (the same `code` and `state` twice, docs/protocol.md §2.1) completes the same
//! login in the same browser without a second code exchange (§8.2 S6).
//!
//! This is per process. Across processes the state's lease in the token store still stops
//! the second exchange; the duplicate then restarts the login once instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::pages::LoginFailure;
use crate::session::Session;

/// How long an outcome is kept for duplicates.
const OUTCOME_TTL: Duration = Duration::from_secs(60);
/// Bound on remembered outcomes; past it, new callbacks are simply not remembered.
const MAX_OUTCOMES: usize = 10_000;

/// How a callback ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A session was created.
    LoggedIn(Arc<Session>),
    /// The state had been used before (its lease was taken), so no exchange was made.
    AlreadyUsed,
    /// WeChat said 40029 / 40163 for the code.
    CodeRejected,
    /// Any other failure.
    Failed(LoginFailure),
}

struct Entry {
    code_hash: [u8; 32],
    outcome: watch::Receiver<Option<Outcome>>,
    created: Instant,
}

/// What [`OutcomeCache::claim`] found.
pub(crate) enum Claim {
    /// First callback for this state in this process: run it, then send the outcome.
    First(watch::Sender<Option<Outcome>>),
    /// A callback for this state already ran or is running here.
    Duplicate {
        outcome: watch::Receiver<Option<Outcome>>,
        same_code: bool,
    },
}

#[derive(Default)]
pub(crate) struct OutcomeCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl OutcomeCache {
    pub(crate) fn claim(&self, nonce: &str, code_hash: [u8; 32]) -> Claim {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, e| e.created.elapsed() < OUTCOME_TTL);
        if let Some(entry) = entries.get(nonce) {
            return Claim::Duplicate {
                outcome: entry.outcome.clone(),
                same_code: bool::from(subtle::ConstantTimeEq::ct_eq(
                    &entry.code_hash[..],
                    &code_hash[..],
                )),
            };
        }
        let (tx, rx) = watch::channel(None);
        if entries.len() < MAX_OUTCOMES {
            entries.insert(
                nonce.to_owned(),
                Entry {
                    code_hash,
                    outcome: rx,
                    created: Instant::now(),
                },
            );
        }
        Claim::First(tx)
    }
}

/// Waits for the outcome a first callback sends; `None` if it never will (its task died).
pub(crate) async fn wait(mut outcome: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    let ready = outcome.wait_for(Option::is_some).await.ok()?;
    ready.clone()
}
