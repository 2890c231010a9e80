//! The stored form of a token, shared by every backend that keeps JSON or string columns.

use super::StoreError;
use crate::AccessToken;

/// Reads a stored token from its JSON form (the seed's shape: `access_token`, `expires_in`,
/// `refresh_token`, `openid`, `scope`, `create_at`, numbers as numbers or strings, plus the
/// optional `unionid` and `is_snapshotuser`).
///
/// Backends build a JSON object from a row or document and call this, so every backend
/// accepts the same values and reports a bad one the same way.
///
/// # Errors
/// [`StoreError::Malformed`] naming the field that is missing or invalid, never its value
/// (it may be a token).
///
/// ```
/// use wechat_oauth::store::decode_stored;
///
/// let row = serde_json::json!({
///     "access_token": "A", "expires_in": "7200", "refresh_token": "R",
///     "openid": "o1", "scope": "snsapi_base", "create_at": "1540000000000"
/// });
/// assert_eq!(decode_stored(row)?.create_at, 1_540_000_000_000);
///
/// let broken = serde_json::json!({ "access_token": "A", "expires_in": "soon", "openid": "o1", "create_at": 1 });
/// assert!(matches!(decode_stored(broken), Err(wechat_oauth::StoreError::Malformed(_))));
/// # Ok::<(), wechat_oauth::StoreError>(())
/// ```
pub fn decode_stored(value: serde_json::Value) -> Result<AccessToken, StoreError> {
    if !value.is_object() {
        return Err(StoreError::Malformed("not a JSON object".into()));
    }
    serde_path_to_error::deserialize::<_, AccessToken>(value).map_err(|err| malformed(&err))
}

/// Reads a stored token from JSON text (the form the seed's file example writes).
///
/// # Errors
/// [`StoreError::Malformed`] when the text is not JSON or not a token (see [`decode_stored`]).
pub fn decode_stored_str(text: &str) -> Result<AccessToken, StoreError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| StoreError::Malformed(format!("not JSON ({:?} error)", e.classify())))?;
    decode_stored(value)
}

/// The JSON text a store keeps for `token`: the seed's field names, numbers as numbers.
///
/// # Errors
/// [`StoreError::Backend`] if serialization fails (it does not for any token).
pub fn encode_for_store(token: &AccessToken) -> Result<String, StoreError> {
    serde_json::to_string(token).map_err(StoreError::backend)
}

fn malformed(err: &serde_path_to_error::Error<serde_json::Error>) -> StoreError {
    let inner = err.inner().to_string();
    // serde's "missing field `x`" names the field only; every other message may quote the
    // offending value, which can be a token, so only the path is reported.
    if inner.starts_with("missing field") {
        let field = inner.split(" at ").next().unwrap_or(&inner);
        StoreError::Malformed(field.to_owned())
    } else {
        StoreError::Malformed(format!("field `{}` has an invalid value", err.path()))
    }
}
