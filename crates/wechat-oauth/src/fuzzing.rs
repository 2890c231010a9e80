//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`; not API, no
//! stability promise). Each runs one of the SDK's decoders on bytes as WeChat (or whatever
//! sits at the API base) might send them, exactly as a call would, and checks the
//! properties the decoder promises. A panic here is a finding: the decoders themselves
//! must never panic, and the assertions below state what their results must satisfy.

use serde::de::IgnoredAny;

use crate::error::{Error, ResponseErrorKind, WeChatError, redacted_snippet};
use crate::json_repair::parse_lenient_json;
use crate::response::parse_response;
use crate::{AccessToken, UserInfo, miniprogram};

/// The hand-written [`UserInfo`] decoder, through the response path and on its own.
/// Whatever it accepts serializes and decodes back to the same value.
pub fn user_info(body: &[u8]) {
    check_response::<UserInfo>(body);
    if let Ok(user) = serde_json::from_slice::<UserInfo>(body) {
        assert_round_trip(&user, "UserInfo");
    }
}

/// The code-exchange / refresh answer, the server-token answer and a stored token.
pub fn token_responses(body: &[u8]) {
    check_response::<crate::client::TokenResponse>(body);
    check_response::<crate::server_token::TokenResponse>(body);
    if let Ok(text) = std::str::from_utf8(body)
        && let Ok(token) = crate::store::decode_stored_str(text)
    {
        let json = serde_json::to_string(&token).expect("a stored token serializes");
        let again = crate::store::decode_stored_str(&json).expect("and decodes again");
        assert_eq!(again, token, "AccessToken round trip");
        let _ = (
            token.is_valid(),
            token.expires_at(),
            token.has_scope("snsapi_base"),
        );
    }
    let _ = serde_json::from_slice::<AccessToken>(body);
}

/// Error bodies: any status with any body, the `errcode` path, `errmsg` splitting, the
/// lenient JSON fallback and the redacted snippet an error carries.
pub fn error_body(data: &[u8]) {
    // The first two bytes pick the status, so non-2xx answers are reached too.
    let (status, body) = match data {
        [hi, lo, rest @ ..] => (100 + u16::from_be_bytes([*hi, *lo]) % 500, rest),
        _ => (200, data),
    };
    let result = parse_response::<IgnoredAny>(status, body);
    let trimmed = body.trim_ascii();
    match &result {
        Ok(_) => assert!((200..300).contains(&status) && !trimmed.is_empty()),
        Err(Error::WeChat(e)) => assert_ne!(e.errcode, 0, "errcode 0 is success"),
        Err(Error::Response(r)) => {
            if trimmed.is_empty() {
                assert_eq!(r.kind, ResponseErrorKind::Empty);
            }
            check_snippet(&r.snippet);
        }
        Err(other) => panic!("parse_response gave {other:?}"),
    }

    let text = String::from_utf8_lossy(body);
    check_errmsg(&text);
    check_snippet(&redacted_snippet(body));

    // The lenient parser agrees with serde_json wherever serde_json succeeds.
    if let Ok(strict) = serde_json::from_slice::<serde_json::Value>(body) {
        let lenient = parse_lenient_json(body).expect("lenient accepts what strict does");
        assert_eq!(lenient, strict, "lenient JSON changes a valid document");
    }
}

/// Mini Program bodies: `jscode2session`, `getuserphonenumber`, and the decrypted
/// `encryptedData` payloads (profile, phone number).
pub fn miniprogram_bodies(body: &[u8]) {
    check_response::<miniprogram::Code2Session>(body);
    check_response::<miniprogram::PhoneResponse>(body);
    if let Ok(user) = serde_json::from_slice::<miniprogram::UserInfo>(body) {
        assert_round_trip(&user, "Mini Program UserInfo");
    }
    if let Ok(phone) = serde_json::from_slice::<miniprogram::PhoneInfo>(body) {
        assert_round_trip(&phone, "PhoneInfo");
    }
}

/// `value` serializes, and what it serializes to decodes to the same value again.
pub fn assert_round_trip<T>(value: &T, what: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let json = serde_json::to_value(value).expect("a decoded value serializes");
    let text = serde_json::to_vec(&json).expect("and prints");
    let again: T = serde_json::from_slice(&text).expect("and decodes again");
    let again = serde_json::to_value(&again).expect("and serializes again");
    assert!(
        same_json(&again, &json),
        "{what} round trip: {json} became {again}"
    );
}

/// JSON equality, except that floats only need to agree to 1e-12 relative: serde_json's
/// default float parser may miss the nearest double by an ulp on long inputs (its
/// `float_roundtrip` feature is off), which no WeChat value depends on.
pub fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Decodes `body` as a `T` answer the way a call does; only the error's shape is checked.
fn check_response<T: serde::de::DeserializeOwned>(body: &[u8]) {
    if let Err(Error::Response(r)) = parse_response::<T>(200, body) {
        check_snippet(&r.snippet);
    }
}

/// `WeChatError::new` keeps the message a prefix of the raw text and the id a part of it.
fn check_errmsg(raw: &str) {
    let e = WeChatError::new(40029, raw);
    assert!(
        raw.starts_with(&e.errmsg),
        "errmsg {:?} from {raw:?}",
        e.errmsg
    );
    if let Some(rid) = &e.rid {
        assert!(
            !rid.is_empty() && raw.contains(rid.as_str()),
            "rid {rid:?} from {raw:?}"
        );
    }
    let _ = e.to_string();
}

/// A snippet is short and holds no run of 12 token-like characters.
fn check_snippet(snippet: &str) {
    assert!(
        snippet.chars().count() <= 81,
        "snippet too long: {snippet:?}"
    );
    let mut run = 0;
    for c in snippet.chars() {
        if c.is_ascii_alphanumeric() || "-_+/=.".contains(c) {
            run += 1;
            assert!(run < 12, "token-like run survived in {snippet:?}");
        } else {
            run = 0;
        }
    }
}
