//! The OAuth `state` this crate sends to WeChat, and how a callback checks it.
//!
//! WeChat only passes `state` through if it is `[A-Za-z0-9]`, at most 128 bytes
//! (docs/protocol.md §2.1). The WeChat in-app browser sometimes drops cookies between
//! the login redirect and the callback (overtrue/socialite#97), so a state must be checkable
//! from its own text: it carries its nonce, expiry, flow and return path, authenticated by
//! an HMAC under the site [`Key`]. Single use is enforced elsewhere, through the token
//! store's leases (`routes.rs`).
//!
//! Layout (every part alphanumeric):
//!
//! ```text
//! 1 F EEEEEEEE NNNNNNNNNNNNNNNNNNNNNN [P…] MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM
//! │ │ │        │                      │    └ HMAC-SHA256, first 16 bytes, hex
//! │ │ │        │                      └ return path: empty = default, `c` = in the pending
//! │ │ │        │                        cookie, `p` + escaped path = inline
//! │ │ │        └ nonce, 22 random alphanumerics (≈131 bits)
//! │ │ └ expiry, Unix seconds, 8 hex digits
//! │ └ flow (`b`ase, `u`serinfo, website `l`ogin; upper case on the one allowed restart)
//! └ format version
//! ```

use crate::key::{Key, ct_eq};

const VERSION: u8 = b'1';
const EXPIRY_LEN: usize = 8;
/// Length of the random nonce inside a state.
pub(crate) const NONCE_LEN: usize = 22;
const MAC_BYTES: usize = 16;
const MAC_LEN: usize = MAC_BYTES * 2;
const FIXED_LEN: usize = 2 + EXPIRY_LEN + NONCE_LEN + MAC_LEN;
/// WeChat's limit on `state` (docs/protocol.md §2.1).
pub(crate) const MAX_STATE_LEN: usize = 128;
/// Room left for the return-path part.
const MAX_PATH_PART: usize = MAX_STATE_LEN - FIXED_LEN;
/// Escape character for the inline return path: `Z` + two hex digits stands for any byte
/// outside `[A-Ya-z0-9]` (including `Z` itself).
const ESCAPE: u8 = b'Z';

/// Which WeChat authorization a state was minted for (RFC 9700 §2.1 mix-up defence,
/// docs/protocol.md §79).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowTag {
    Base,
    UserInfo,
    WebsiteLogin,
}

impl FlowTag {
    fn char(self, restarted: bool) -> u8 {
        let c = match self {
            Self::Base => b'b',
            Self::UserInfo => b'u',
            Self::WebsiteLogin => b'l',
        };
        if restarted { c.to_ascii_uppercase() } else { c }
    }

    fn parse(c: u8) -> Option<(Self, bool)> {
        let flow = match c.to_ascii_lowercase() {
            b'b' => Self::Base,
            b'u' => Self::UserInfo,
            b'l' => Self::WebsiteLogin,
            _ => return None,
        };
        Some((flow, c.is_ascii_uppercase()))
    }
}

/// Where the callback finds the return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReturnRef {
    /// The configured default after-login path.
    Default,
    /// Carried in the state itself.
    Inline(String),
    /// Too long for the state: kept in the signed pending-login cookie under this nonce.
    InCookie,
}

/// What a verified state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateClaims {
    pub flow: FlowTag,
    /// Minted by the one automatic restart after a failed callback (no second restart).
    pub restarted: bool,
    /// Unix seconds after which the state is refused.
    pub expires_at: u64,
    pub nonce: String,
    pub return_ref: ReturnRef,
}

impl StateClaims {
    /// Whether the state's lifetime is over at `now_secs` (Unix seconds).
    pub(crate) fn is_expired(&self, now_secs: u64) -> bool {
        now_secs >= self.expires_at
    }
}

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateError {
    /// Not something this crate minted (wrong length, characters or version).
    Malformed,
    /// Minted for another flow of this site (OA vs website login).
    WrongFlow,
    /// The MAC does not match: forged, altered, or signed with another key or app.
    BadSignature,
}

/// What the MAC binds a state to besides its own text: the app and the exact callback URL,
/// so a state minted for one app or endpoint never verifies at another.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateContext<'a> {
    pub key: &'a Key,
    pub appid: &'a str,
    pub callback_url: &'a str,
}

impl StateContext<'_> {
    fn mac(&self, signed_part: &str) -> String {
        let mac = self.key.mac(
            "wechat-oauth-axum/state/v1",
            &[
                self.appid.as_bytes(),
                self.callback_url.as_bytes(),
                signed_part.as_bytes(),
            ],
        );
        hex(&mac[..MAC_BYTES])
    }

    /// Mints the state text for `claims`. A return path that does not fit inline must be
    /// passed as [`ReturnRef::InCookie`] (see [`fits_inline`]).
    pub(crate) fn mint(&self, claims: &StateClaims) -> String {
        let mut out = String::with_capacity(MAX_STATE_LEN);
        out.push(VERSION as char);
        out.push(claims.flow.char(claims.restarted) as char);
        out.push_str(&format!(
            "{:08x}",
            claims.expires_at.min(u64::from(u32::MAX))
        ));
        out.push_str(&claims.nonce);
        match &claims.return_ref {
            ReturnRef::Default => {}
            ReturnRef::InCookie => out.push('c'),
            ReturnRef::Inline(path) => {
                out.push('p');
                out.push_str(&escape_path(path));
            }
        }
        let mac = self.mac(&out);
        out.push_str(&mac);
        out
    }

    /// Checks that `state` is authentic and minted for `expected`, and returns its claims.
    /// Expiry is left to the caller ([`StateClaims::is_expired`]): an authentic but expired
    /// state still says where the user was going, which a restarted login reuses.
    pub(crate) fn verify(&self, state: &str, expected: FlowTag) -> Result<StateClaims, StateError> {
        let bytes = state.as_bytes();
        if bytes.len() < FIXED_LEN
            || bytes.len() > MAX_STATE_LEN
            || !bytes.iter().all(u8::is_ascii_alphanumeric)
            || bytes[0] != VERSION
        {
            return Err(StateError::Malformed);
        }
        let (flow, restarted) = FlowTag::parse(bytes[1]).ok_or(StateError::Malformed)?;
        let (signed_part, mac) = state.split_at(state.len() - MAC_LEN);
        if !ct_eq(&self.mac(signed_part), mac) {
            return Err(StateError::BadSignature);
        }
        if flow != expected {
            return Err(StateError::WrongFlow);
        }
        let expires_at = u64::from_str_radix(&signed_part[2..2 + EXPIRY_LEN], 16)
            .map_err(|_| StateError::Malformed)?;
        let nonce = signed_part[2 + EXPIRY_LEN..2 + EXPIRY_LEN + NONCE_LEN].to_owned();
        let return_ref = match &signed_part[2 + EXPIRY_LEN + NONCE_LEN..] {
            "" => ReturnRef::Default,
            "c" => ReturnRef::InCookie,
            part => match part.strip_prefix('p').and_then(unescape_path) {
                Some(path) => ReturnRef::Inline(path),
                None => return Err(StateError::Malformed),
            },
        };
        Ok(StateClaims {
            flow,
            restarted,
            expires_at,
            nonce,
            return_ref,
        })
    }
}

/// Whether `path` can travel inside the state.
pub(crate) fn fits_inline(path: &str) -> bool {
    // One character for the `p` marker.
    escaped_len(path) < MAX_PATH_PART
}

fn escaped_len(path: &str) -> usize {
    path.bytes()
        .map(|b| if is_literal(b) { 1 } else { 3 })
        .sum()
}

fn is_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() && b != ESCAPE
}

fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(escaped_len(path));
    for b in path.bytes() {
        if is_literal(b) {
            out.push(b as char);
        } else {
            out.push(ESCAPE as char);
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

fn unescape_path(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == ESCAPE {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(key: &Key) -> StateContext<'_> {
        StateContext {
            key,
            appid: "wx1",
            callback_url: "https://example.com/cb",
        }
    }

    fn claims(return_ref: ReturnRef) -> StateClaims {
        StateClaims {
            flow: FlowTag::UserInfo,
            restarted: false,
            expires_at: 2_000_000_000,
            nonce: wechat_oauth::state::random_alphanumeric(NONCE_LEN),
            return_ref,
        }
    }

    #[test]
    fn minted_states_are_wechat_safe_and_round_trip() {
        let key = Key::generate();
        for return_ref in [
            ReturnRef::Default,
            ReturnRef::InCookie,
            ReturnRef::Inline("/orders?id=Zz9&x=%2F".into()),
        ] {
            let c = claims(return_ref);
            let state = ctx(&key).mint(&c);
            assert!(wechat_oauth::state::is_valid_state(&state), "{state}");
            assert!(state.len() >= 32);
            assert_eq!(ctx(&key).verify(&state, FlowTag::UserInfo), Ok(c));
        }
    }

    #[test]
    fn any_altered_character_breaks_the_signature() {
        let key = Key::generate();
        let state = ctx(&key).mint(&claims(ReturnRef::Inline("/a".into())));
        for i in 0..state.len() {
            let mut bytes = state.clone().into_bytes();
            bytes[i] = if bytes[i] == b'7' { b'8' } else { b'7' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(ctx(&key).verify(&altered, FlowTag::UserInfo).is_err());
        }
    }

    #[test]
    fn states_are_bound_to_key_app_callback_flow_and_time() {
        let key = Key::generate();
        let state = ctx(&key).mint(&claims(ReturnRef::Default));
        let other_key = Key::generate();
        assert_eq!(
            ctx(&other_key).verify(&state, FlowTag::UserInfo),
            Err(StateError::BadSignature)
        );
        let other_app = StateContext {
            appid: "wx2",
            ..ctx(&key)
        };
        assert_eq!(
            other_app.verify(&state, FlowTag::UserInfo),
            Err(StateError::BadSignature)
        );
        let other_callback = StateContext {
            callback_url: "https://example.com/other",
            ..ctx(&key)
        };
        assert_eq!(
            other_callback.verify(&state, FlowTag::UserInfo),
            Err(StateError::BadSignature)
        );
        assert_eq!(
            ctx(&key).verify(&state, FlowTag::WebsiteLogin),
            Err(StateError::WrongFlow)
        );
        let claims = ctx(&key).verify(&state, FlowTag::UserInfo).unwrap();
        assert!(!claims.is_expired(1_999_999_999));
        assert!(claims.is_expired(2_000_000_000));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let key = Key::generate();
        for junk in [
            "",
            "abc",
            &"a".repeat(64),
            &"1".repeat(129),
            "1u-not-alnum-----------------------------------------------------",
        ] {
            assert!(ctx(&key).verify(junk, FlowTag::UserInfo).is_err(), "{junk}");
        }
    }

    #[test]
    fn long_paths_do_not_fit_inline() {
        assert!(fits_inline("/profile?tab=settings"));
        assert!(!fits_inline(&format!("/{}", "x".repeat(80))));
        assert!(!fits_inline(&"/".repeat(30)));
    }
}
