//! Remembers, for a minute, how each callback ended, so that WeChat's duplicate callback
//! (the same `code` and `state` twice, docs/protocol.md §2.1) completes the same
//! login in the same browser without a second code exchange (§8.2 S6).
//!
//! This is per process. Across processes the state's lease in the token store still stops
//! the second exchange; the duplicate then restarts the login once instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

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
    inner: Mutex<Outcomes>,
}

/// The remembered outcomes, and their nonces oldest first: expiry pops from the front, so
/// a callback costs O(1) on average however many outcomes are held.
#[derive(Default)]
struct Outcomes {
    entries: HashMap<String, Entry>,
    order: VecDeque<(Instant, String)>,
}

impl Outcomes {
    fn expire(&mut self, now: Instant) {
        while let Some((created, _)) = self.order.front() {
            if now.duration_since(*created) < OUTCOME_TTL {
                break;
            }
            if let Some((_, nonce)) = self.order.pop_front() {
                self.entries.remove(&nonce);
            }
        }
        // Keep the tables' allocations in step with what is held after a burst.
        if self.entries.capacity() > 64 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            self.order.shrink_to(self.order.len() * 2);
        }
    }
}

impl OutcomeCache {
    pub(crate) fn claim(&self, nonce: &str, code_hash: [u8; 32]) -> Claim {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.expire(now);
        if let Some(entry) = inner.entries.get(nonce) {
            return Claim::Duplicate {
                outcome: entry.outcome.clone(),
                same_code: bool::from(subtle::ConstantTimeEq::ct_eq(
                    &entry.code_hash[..],
                    &code_hash[..],
                )),
            };
        }
        let (tx, rx) = watch::channel(None);
        if inner.entries.len() < MAX_OUTCOMES {
            inner.entries.insert(
                nonce.to_owned(),
                Entry {
                    code_hash,
                    outcome: rx,
                },
            );
            inner.order.push_back((now, nonce.to_owned()));
        }
        Claim::First(tx)
    }

    /// How many outcomes are held (expired ones are dropped on the next claim).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }
}

/// Waits for the outcome a first callback sends; `None` if it never will (its task died).
pub(crate) async fn wait(mut outcome: watch::Receiver<Option<Outcome>>) -> Option<Outcome> {
    let ready = outcome.wait_for(Option::is_some).await.ok()?;
    ready.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn outcomes_expire_after_a_minute_and_duplicates_are_seen_until_then() {
        let cache = OutcomeCache::default();
        for i in 0..100 {
            assert!(matches!(
                cache.claim(&format!("n{i}"), [0; 32]),
                Claim::First(_)
            ));
        }
        assert!(matches!(
            cache.claim("n7", [0; 32]),
            Claim::Duplicate {
                same_code: true,
                ..
            }
        ));
        assert!(matches!(
            cache.claim("n8", [1; 32]),
            Claim::Duplicate {
                same_code: false,
                ..
            }
        ));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(matches!(cache.claim("late", [0; 32]), Claim::First(_)));
        tokio::time::advance(Duration::from_secs(31)).await;
        // The first hundred have expired; the one from 31 s ago is kept.
        assert!(matches!(cache.claim("n7", [0; 32]), Claim::First(_)));
        assert_eq!(cache.len(), 2);
        assert!(matches!(
            cache.claim("late", [0; 32]),
            Claim::Duplicate { .. }
        ));
    }
}
