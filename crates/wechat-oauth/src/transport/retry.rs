//! Retrying idempotent calls: which failures are worth another try, and how long to wait.

use std::time::Duration;

use rand::Rng;

use crate::error::{Error, WeChatErrorKind};

/// How idempotent calls are retried: on a transport error or WeChat's -1 ("system
/// busy"), up to `max_retries` more times, sleeping `backoff · 2ⁿ` with jitter between
/// attempts (docs/protocol.md §6). Code exchanges never use it: a code is single-use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Duration,
}

impl RetryPolicy {
    /// No retries at all.
    #[cfg(test)]
    pub(crate) const NONE: Self = Self {
        max_retries: 0,
        backoff: Duration::ZERO,
    };

    /// The delay before retry number `attempt` (0-based): `backoff · 2^attempt`, scaled by a
    /// random factor in [0.5, 1) so that many clients retrying at once spread out.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let full = self.backoff.saturating_mul(1u32 << attempt.min(16));
        full.mul_f64(rand::rng().random_range(0.5..1.0))
    }
}

/// Whether an idempotent call may be sent again after `err`.
pub(crate) fn worth_retrying(err: &Error) -> bool {
    match err {
        Error::Transport(_) => true,
        Error::WeChat(e) => e.kind() == WeChatErrorKind::Busy,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ResponseError, ResponseErrorKind, TransportError, WeChatError};

    #[test]
    fn retry_delays_double_with_jitter_below_the_full_delay() {
        let policy = RetryPolicy {
            max_retries: 3,
            backoff: Duration::from_millis(100),
        };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400)] {
            for _ in 0..50 {
                let d = policy.delay(attempt).as_millis();
                assert!((full / 2..full).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
        assert_eq!(RetryPolicy::NONE.delay(5), Duration::ZERO);
    }

    #[test]
    fn only_transport_errors_and_busy_are_retried() {
        assert!(worth_retrying(&Error::Transport(TransportError::timeout())));
        assert!(worth_retrying(&WeChatError::new(-1, "system error").into()));
        assert!(!worth_retrying(&WeChatError::new(45011, "quota").into()));
        assert!(!worth_retrying(&WeChatError::new(40001, "invalid").into()));
        let empty = ResponseError::new(None, ResponseErrorKind::Empty, b"");
        assert!(!worth_retrying(&empty.into()));
    }
}
