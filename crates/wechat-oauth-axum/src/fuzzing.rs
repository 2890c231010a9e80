//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`; not API, no
//! stability promise): the `state` codec, callback query parsing, `return_to` checking and
//! cookie parsing, on what a browser (or an attacker) can send. A panic here is a finding:
//! the parsers must never panic, and the assertions state what their results must satisfy.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::CookieJar;
use wechat_oauth::OAuthClient;

use crate::key::Key;
use crate::pending::PendingLogins;
use crate::routes::{CallbackParams, MAX_PARAM_LEN};
use crate::state::{
    FlowTag, MAX_STATE_LEN, NONCE_LEN, ReturnRef, StateClaims, StateContext, fits_inline,
};
use crate::{WeChatLogin, safe_return_path};

const APPID: &str = "wx5a4d1e0f0a000001";
const CALLBACK: &str = "http://127.0.0.1/auth/wechat/callback";
const FLOWS: [FlowTag; 3] = [FlowTag::Base, FlowTag::UserInfo, FlowTag::WebsiteLogin];

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::from_bytes(&[7u8; 32]).expect("32 bytes is a valid key"))
}

fn ctx() -> StateContext<'static> {
    StateContext {
        key: key(),
        appid: APPID,
        callback_url: CALLBACK,
    }
}

/// A login configuration that never reaches the network (nothing here sends a request).
fn login() -> &'static WeChatLogin {
    static LOGIN: OnceLock<WeChatLogin> = OnceLock::new();
    LOGIN.get_or_init(|| {
        let client = OAuthClient::builder(APPID, "fuzz-secret")
            .api_base("http://127.0.0.1:9")
            .open_base("http://127.0.0.1:9")
            .build()
            .expect("a loopback client builds");
        WeChatLogin::builder(client, CALLBACK, key().clone())
            .allow_http_callback(true)
            .build()
            .expect("the fuzzing login builds")
    })
}

/// Arbitrary text as a callback's `state`: refused unless it is exactly what the codec
/// would mint for the claims it verifies to.
pub fn state_text(text: &str) {
    let ctx = ctx();
    for flow in FLOWS {
        if let Ok(claims) = ctx.verify(text, flow) {
            assert_eq!(
                ctx.mint(&claims),
                text,
                "a verified state is its own minting"
            );
        }
    }
}

/// Claims built from `data`, minted, then verified: the state is WeChat-safe and gives
/// back exactly the claims, only for its own flow, and no altered character verifies.
pub fn state_round_trip(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let flow = FLOWS[usize::from(byte(0)) % 3];
    let restarted = byte(1) & 1 == 1;
    let expires_at = u64::from(u32::from_be_bytes([byte(2), byte(3), byte(4), byte(5)]));
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let nonce: String = (0..NONCE_LEN)
        .map(|i| char::from(ALPHABET[usize::from(byte(6 + i)) % ALPHABET.len()]))
        .collect();
    let rest = data.get(6 + NONCE_LEN..).unwrap_or(&[]);
    let path = String::from_utf8_lossy(rest).into_owned();
    let return_ref = match byte(6 + NONCE_LEN + 100) % 3 {
        0 => ReturnRef::Default,
        1 => ReturnRef::InCookie,
        _ if fits_inline(&path) => ReturnRef::Inline(path),
        _ => ReturnRef::InCookie,
    };
    let claims = StateClaims {
        flow,
        restarted,
        expires_at,
        nonce,
        return_ref,
    };
    let ctx = ctx();
    let state = ctx.mint(&claims);
    assert!(
        state.len() <= MAX_STATE_LEN && state.bytes().all(|b| b.is_ascii_alphanumeric()),
        "not a state WeChat passes through: {state:?}"
    );
    assert!(wechat_oauth::is_valid_state(&state), "{state:?}");
    assert_eq!(ctx.verify(&state, flow).as_ref(), Ok(&claims), "round trip");
    for other in FLOWS.into_iter().filter(|f| *f != flow) {
        assert!(
            ctx.verify(&state, other).is_err(),
            "verified for another flow"
        );
    }
    // One altered character (position and replacement chosen by the input).
    let pos = usize::from(byte(7)) % state.len();
    let mut altered = state.clone().into_bytes();
    let replacement = ALPHABET[usize::from(byte(8)) % ALPHABET.len()];
    if altered[pos] != replacement {
        altered[pos] = replacement;
        let altered = String::from_utf8(altered).expect("alphanumeric");
        assert!(
            ctx.verify(&altered, flow).is_err(),
            "altered state verified"
        );
    }
}

/// A callback's raw query: `code`/`state` parsing (duplicates and oversized values
/// refused) and the `return_to` of the login route (only same-site paths come out).
pub fn callback_query(query: &str) {
    if let Ok(params) = CallbackParams::parse(query) {
        if let Some(code) = &params.code {
            assert!(!code.is_empty() && code.len() <= MAX_PARAM_LEN);
        }
        if let Some(state) = &params.state {
            assert!(state.len() <= MAX_PARAM_LEN);
            state_text(state);
        }
    }
    let login = login();
    let target = login.requested_return_to(Some(query));
    assert!(
        target == "/" || safe_return_path(&target) == Some(target.as_str()),
        "unsafe return path {target:?} from {query:?}"
    );
    return_to(query);
}

/// `safe_return_path` only lets same-site relative paths through.
pub fn return_to(candidate: &str) {
    if let Some(path) = safe_return_path(candidate) {
        assert_eq!(path, candidate);
        let bytes = path.as_bytes();
        assert!(bytes.first() == Some(&b'/'), "{path:?}");
        assert!(!matches!(bytes.get(1), Some(b'/' | b'\\')), "{path:?}");
        assert!(
            path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
            "{path:?}"
        );
    }
}

/// A raw `Cookie` header: the session id and the pending logins are read through the
/// signed jar; forged values never open.
pub fn cookie_header(raw: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(raw) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, value);
    let cookies = &login().inner.cookies;
    assert!(
        cookies.session_id(&headers).is_none(),
        "a forged session cookie opened"
    );
    assert!(
        cookies.pending(&headers).is_empty(),
        "a forged pending cookie opened"
    );
    let _ = CookieJar::from_headers(&headers).iter().count();
}

/// The pending-login codec on arbitrary (already authentic) cookie values: decoding never
/// panics, and whatever decodes encodes back to a value that decodes to the same logins.
pub fn pending_codec(raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    if let Some(pending) = PendingLogins::decode(text) {
        let again = PendingLogins::decode(&pending.encode());
        assert_eq!(again.as_ref(), Some(&pending), "pending-login round trip");
    }
}
