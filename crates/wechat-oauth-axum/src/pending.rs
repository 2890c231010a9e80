//! The pending-login cookie: which logins this browser started, so that a callback is
//! accepted only in the browser that began it (see the crate docs, "Browser binding").
//!
//! Its size is bounded whatever the input: at most [`MAX_PENDING`] logins (the most recent;
//! a login that drops out simply restarts if its callback ever comes), each a 16-byte hash
//! of its state's nonce and an expiry, plus the return paths too long to travel inside the
//! state, within [`RETURN_PATH_BUDGET`] bytes for all of them together (newest first; an
//! older login that loses its path lands on the after-login page). With the signature and
//! base64 the cookie stays under 1 KiB, far from the 4 KiB browsers allow.
//!
//! Nothing about a pending login is kept on the server: anyone can start a login, and the
//! login route must not let them fill the store.
//!
//! Wire format (before base64url): per login, `hash[16] expiry:u32be path_len:u16be path`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Logins a browser may have in flight at once (one per tab, roughly); older ones drop out.
pub(crate) const MAX_PENDING: usize = 3;
/// Room for return paths in the cookie, all pending logins together.
pub(crate) const RETURN_PATH_BUDGET: usize = 400;
/// Longest encoded cookie value accepted on input.
const MAX_ENCODED: usize = 2048;
const HASH_LEN: usize = 16;
const HEADER_LEN: usize = HASH_LEN + 4 + 2;

/// One login this browser started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingLogin {
    /// Hash of the state's nonce (the nonce travels in URLs; the cookie need not repeat it).
    pub nonce_hash: [u8; HASH_LEN],
    /// Unix seconds.
    pub expires_at: u32,
    /// The return path, when it was too long for the state.
    pub return_to: Option<String>,
}

impl PendingLogin {
    pub(crate) fn new(nonce: &str, expires_at: u64, return_to: Option<String>) -> Self {
        Self {
            nonce_hash: nonce_hash(nonce),
            expires_at: u32::try_from(expires_at).unwrap_or(u32::MAX),
            return_to,
        }
    }
}

/// The logins in the cookie, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PendingLogins {
    pub logins: Vec<PendingLogin>,
}

fn nonce_hash(nonce: &str) -> [u8; HASH_LEN] {
    let digest = Sha256::digest(nonce.as_bytes());
    let mut hash = [0u8; HASH_LEN];
    hash.copy_from_slice(&digest[..HASH_LEN]);
    hash
}

impl PendingLogins {
    pub(crate) fn find(&self, nonce: &str) -> Option<&PendingLogin> {
        let hash = nonce_hash(nonce);
        self.logins
            .iter()
            .find(|p| bool::from(subtle::ConstantTimeEq::ct_eq(&p.nonce_hash[..], &hash[..])))
    }

    pub(crate) fn remove(&mut self, nonce: &str) {
        let hash = nonce_hash(nonce);
        self.logins.retain(|p| p.nonce_hash != hash);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.logins.is_empty()
    }

    /// Adds the newest login, dropping expired and excess old ones and the old return paths
    /// that no longer fit the budget. The newest login always keeps its path (at most the
    /// budget: the login route checks it).
    pub(crate) fn push(&mut self, login: PendingLogin, now_secs: u64) {
        self.logins.retain(|p| u64::from(p.expires_at) > now_secs);
        self.logins.push(login);
        let excess = self.logins.len().saturating_sub(MAX_PENDING);
        self.logins.drain(..excess);
        let mut budget = RETURN_PATH_BUDGET;
        for login in self.logins.iter_mut().rev() {
            let len = login.return_to.as_ref().map_or(0, String::len);
            if len > budget {
                login.return_to = None;
            } else {
                budget -= len;
            }
        }
    }

    /// The cookie value (before signing).
    pub(crate) fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(self.logins.len() * HEADER_LEN + RETURN_PATH_BUDGET);
        for login in &self.logins {
            let path = login.return_to.as_deref().unwrap_or("");
            let path = path.as_bytes();
            let len = u16::try_from(path.len()).unwrap_or(0);
            bytes.extend_from_slice(&login.nonce_hash);
            bytes.extend_from_slice(&login.expires_at.to_be_bytes());
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&path[..usize::from(len)]);
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cookie value; `None` when it is not one [`encode`](Self::encode) wrote.
    pub(crate) fn decode(value: &str) -> Option<Self> {
        if value.len() > MAX_ENCODED {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        let mut rest = bytes.as_slice();
        let mut logins = Vec::new();
        while !rest.is_empty() {
            if logins.len() == MAX_PENDING || rest.len() < HEADER_LEN {
                return None;
            }
            let (header, tail) = rest.split_at(HEADER_LEN);
            let mut nonce_hash = [0u8; HASH_LEN];
            nonce_hash.copy_from_slice(&header[..HASH_LEN]);
            let expires_at = u32::from_be_bytes(header[HASH_LEN..HASH_LEN + 4].try_into().ok()?);
            let len = usize::from(u16::from_be_bytes(
                header[HASH_LEN + 4..HEADER_LEN].try_into().ok()?,
            ));
            if tail.len() < len {
                return None;
            }
            let (path, tail) = tail.split_at(len);
            let return_to = match path {
                [] => None,
                path => Some(String::from_utf8(path.to_vec()).ok()?),
            };
            logins.push(PendingLogin {
                nonce_hash,
                expires_at,
                return_to,
            });
            rest = tail;
        }
        Some(Self { logins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(nonce: &str, path: Option<&str>) -> PendingLogin {
        PendingLogin::new(nonce, 2_000_000_000, path.map(str::to_owned))
    }

    #[test]
    fn round_trips_and_finds_by_nonce() {
        let mut pending = PendingLogins::default();
        pending.push(login("n1", None), 0);
        pending.push(login("n2", Some("/a?b=c")), 0);
        let decoded = PendingLogins::decode(&pending.encode()).unwrap();
        assert_eq!(decoded, pending);
        assert_eq!(
            decoded.find("n2").and_then(|p| p.return_to.as_deref()),
            Some("/a?b=c")
        );
        assert!(decoded.find("n3").is_none());
    }

    #[test]
    fn size_is_bounded_whatever_the_input() {
        let mut pending = PendingLogins::default();
        let long = format!("/{}", "x".repeat(RETURN_PATH_BUDGET - 1));
        for i in 0..20 {
            pending.push(login(&format!("nonce{i}"), Some(&long)), 0);
        }
        assert_eq!(pending.logins.len(), MAX_PENDING);
        // The newest keeps its path; older ones gave theirs up.
        assert_eq!(pending.logins[2].return_to.as_deref(), Some(long.as_str()));
        assert!(pending.logins[..2].iter().all(|p| p.return_to.is_none()));
        assert!(pending.encode().len() < 700, "{}", pending.encode().len());
        assert!(pending.find("nonce19").is_some() && pending.find("nonce16").is_none());
    }

    #[test]
    fn expired_logins_drop_out() {
        let mut pending = PendingLogins::default();
        pending.push(PendingLogin::new("old", 100, None), 0);
        pending.push(login("new", None), 200);
        assert!(pending.find("old").is_none() && pending.find("new").is_some());
    }

    #[test]
    fn garbage_does_not_decode_and_does_not_panic() {
        for junk in [
            "",
            "!!!",
            "AAAA",
            &"A".repeat(3000),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA__8",
        ] {
            if let Some(p) = PendingLogins::decode(junk) {
                assert!(p.logins.is_empty(), "{junk}");
            }
        }
        assert!(PendingLogins::decode(&"A".repeat(3000)).is_none());
    }
}
