//! OAuth `state`: generation and constant-time comparison.
//!
//! WeChat accepts `state` made of `[A-Za-z0-9]`, at most 128 bytes (docs/protocol.md
//! §2.1). RFC 6749 §10.10 asks for at most 2⁻¹²⁸ guessing odds: 32 alphanumeric characters
//! from a CSPRNG carry about 190 bits.

use rand::Rng;
use rand::distr::Alphanumeric;
use subtle::ConstantTimeEq;

/// Length of a [`new_state`] value: 32 characters of `[A-Za-z0-9]`, about 190 bits.
pub const STATE_LEN: usize = 32;

/// A fresh random `state` that WeChat accepts (`[A-Za-z0-9]{32}`, ≥128 bits, from the OS CSPRNG).
///
/// ```
/// let state = wechat_oauth::new_state();
/// assert_eq!(state.len(), 32);
/// assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()));
/// ```
pub fn new_state() -> String {
    random_alphanumeric(STATE_LEN)
}

/// `len` random characters of `[A-Za-z0-9]` from a cryptographically secure generator.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Compares two states in constant time (for equal lengths), so a callback cannot probe
/// a stored state byte by byte.
///
/// ```
/// assert!(wechat_oauth::states_match("abc123", "abc123"));
/// assert!(!wechat_oauth::states_match("abc123", "abc124"));
/// ```
pub fn states_match(expected: &str, received: &str) -> bool {
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}

/// Whether WeChat accepts `state` on its authorize page: `[A-Za-z0-9]`, at most 128 bytes.
pub fn is_valid_state(state: &str) -> bool {
    state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric())
}
