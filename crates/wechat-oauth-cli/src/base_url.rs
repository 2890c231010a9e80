//! Base URL flags (`--api-base`, `--open-base`), checked before they reach the SDK.
//!
//! A base URL may not carry credentials (`http://user:password@host/`). WeChat's APIs take
//! no HTTP authentication, so such a URL can only be a mistake or a relay's login, and the
//! HTTP stack logs a URL's authority (hyper-util's connection pool does at `debug` and
//! `trace`): the password would land in logs. Refusing it is the one choice that cannot
//! leak; a relay that needs a login belongs in `HTTPS_PROXY`, whose credentials the proxy
//! client sends as `Proxy-Authorization` and never logs.

use crate::failure::Failure;

/// `value` if it is an absolute URL without a user name or password. The errors name the
/// flag but never repeat the value, which may hold the password.
pub fn checked<'a>(flag: &str, value: &'a str) -> Result<&'a str, Failure> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| Failure::usage(format!("{flag} is not a valid URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Failure::usage(format!(
            "{flag} must not contain a user name or password (`user:password@`): WeChat takes \
             none, and the HTTP client would log it; remove it (a relay that needs a login \
             goes in HTTPS_PROXY)"
        )));
    }
    Ok(value)
}

/// [`checked`] for an optional flag.
pub fn checked_opt<'a>(flag: &str, value: Option<&'a str>) -> Result<Option<&'a str>, Failure> {
    value.map(|value| checked(flag, value)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_base_passes_unchanged() {
        assert!(matches!(
            checked("--api-base", "http://127.0.0.1:7000"),
            Ok("http://127.0.0.1:7000")
        ));
    }

    #[test]
    fn credentials_in_a_base_are_refused() {
        for base in [
            "http://user:pass@127.0.0.1:7000/",
            "https://user@api.example/",
            "https://:pass@api.example/",
        ] {
            assert!(checked("--api-base", base).is_err(), "{base}");
        }
    }
}
