//! Reading WeChat's answers: every answer goes through [`parse_response`], which reads the
//! body whatever its Content-Type, treats a non-zero `errcode` as an error even under HTTP
//! 200, then decodes the success type leniently (docs/protocol.md §6).

use serde::de::DeserializeOwned;

use crate::error::{Error, ResponseError, ResponseErrorKind, WeChatError};
use crate::json_repair::parse_lenient_json;

/// A searcher for `errcode`, built once (building one costs more than a search of a
/// WeChat-sized body).
fn errcode_finder() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"errcode"));
    &FINDER
}

/// Decodes a WeChat answer: `errcode` ≠ 0 is [`Error::WeChat`] whatever the status; a
/// non-2xx status, an empty, non-JSON or truncated body is [`Error::Response`].
pub(crate) fn parse_response<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Error> {
    let bad_status = (!(200..300).contains(&status)).then_some(status);
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(ResponseError::new(bad_status, ResponseErrorKind::Empty, body).into());
    }
    // Fast path for the common answer: a 2xx body without any `errcode` key decodes
    // straight from the bytes. Anything else (errors, lenient fixes, decode failures with
    // their path messages) takes the `Value` path below, which decides as before.
    // The body is checked for UTF-8 once, as a whole: decoding from a `str` then skips the
    // check serde_json makes on every string of a byte slice.
    if bad_status.is_none()
        && errcode_finder().find(trimmed).is_none()
        && let Ok(text) = std::str::from_utf8(trimmed)
        && let Ok(value) = serde_json::from_str::<T>(text)
    {
        return Ok(value);
    }
    let value: serde_json::Value = match parse_lenient_json(trimmed) {
        Ok(v) => v,
        Err(e) => {
            let kind = if e.is_eof() && trimmed.first() == Some(&b'{') {
                ResponseErrorKind::Truncated
            } else {
                ResponseErrorKind::NotJson
            };
            return Err(ResponseError::new(bad_status, kind, body).into());
        }
    };
    if let Some(err) = wechat_error(&value) {
        return Err(err.into());
    }
    if bad_status.is_some() {
        return Err(ResponseError::new(bad_status, ResponseErrorKind::Status, body).into());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        // serde's messages can quote the offending value (a token, say): keep only
        // "missing field" messages, which name a field and nothing else.
        let inner = e.inner().to_string();
        let what = if inner.starts_with("missing field") {
            inner
                .split(" at line")
                .next()
                .unwrap_or("missing field")
                .to_owned()
        } else {
            "unexpected type or value".to_owned()
        };
        let path = match e.path().to_string() {
            p if p == "." => what,
            p => format!("{p}: {what}"),
        };
        ResponseError {
            status: None,
            kind: ResponseErrorKind::Decode(path),
            snippet: String::new(),
        }
        .into()
    })
}

/// The answer of a call that returns nothing but success, `{"errcode":0,"errmsg":"ok"}`
/// (`sns/auth`, `wxa/checksession`). The `errcode` is required: a 200 body without one (a
/// proxy's or captive portal's JSON) is not WeChat saying yes, and decodes as
/// [`ResponseErrorKind::Decode`] instead of passing as success.
#[derive(serde::Deserialize)]
pub(crate) struct Ack {
    #[allow(dead_code)] // Present is all that matters: non-zero values are errors already.
    errcode: serde::de::IgnoredAny,
}

/// A non-zero `errcode` (number or numeric string) as a [`WeChatError`].
fn wechat_error(value: &serde_json::Value) -> Option<WeChatError> {
    let code = value.get("errcode")?;
    let errcode = code
        .as_i64()
        .or_else(|| code.as_str().and_then(|s| s.trim().parse().ok()))?;
    if errcode == 0 {
        return None;
    }
    let errmsg = value
        .get("errmsg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(WeChatError::new(errcode, errmsg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Ok1 {
        a: i64,
    }

    fn parse(status: u16, body: &str) -> Result<Ok1, Error> {
        parse_response(status, body.as_bytes())
    }

    #[test]
    fn errcode_under_http_200_is_an_error() {
        let err = parse(
            200,
            r#"{"errcode":40029,"errmsg":"invalid code, rid: a-b-c"}"#,
        )
        .err();
        assert_eq!(err.as_ref().and_then(Error::errcode), Some(40029));
        let err = parse(200, r#"{"errcode":"40163","errmsg":"code been used"}"#).err();
        assert!(err.is_some_and(|e| e.is_code_used()));
    }

    #[test]
    fn errcode_zero_is_success() {
        assert_eq!(
            parse(200, r#"{"errcode":0,"errmsg":"ok","a":1}"#)
                .ok()
                .map(|v| v.a),
            Some(1)
        );
    }

    #[test]
    fn empty_html_truncated_and_status_are_typed() {
        let kind = |r: Result<Ok1, Error>| match r {
            Err(Error::Response(e)) => Some((e.status, e.kind)),
            _ => None,
        };
        assert_eq!(
            kind(parse(200, "  ")),
            Some((None, ResponseErrorKind::Empty))
        );
        assert_eq!(
            kind(parse(502, "<html>Bad Gateway</html>")),
            Some((Some(502), ResponseErrorKind::NotJson))
        );
        assert_eq!(
            kind(parse(200, r#"{"a":1,"b":"#)),
            Some((None, ResponseErrorKind::Truncated))
        );
        assert_eq!(
            kind(parse(500, r#"{"a":1}"#)),
            Some((Some(500), ResponseErrorKind::Status))
        );
        assert_eq!(
            kind(parse(200, r#"{"b":1}"#)),
            Some((None, ResponseErrorKind::Decode("missing field `a`".into())))
        );
    }
}
