//! What commands print on stdout: pretty JSON, with token values redacted unless the user
//! asked for them.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;
use wechat_oauth::AccessToken;

use crate::failure::{Failure, Status};

/// What a redacted secret prints as.
pub const REDACTED: &str = "[redacted]";

/// Prints `value` as pretty JSON and a newline.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Failure::new(Status::Unexpected, e))?;
    print_line(&text)
}

/// Prints one line. A closed stdout (`| head`) is an error, not a panic.
pub fn print_line(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()?;
    Ok(())
}

/// A token as JSON in the seed's shape, with `access_token` and `refresh_token` replaced
/// by [`REDACTED`] unless `show_secrets`.
pub fn token_json(token: &AccessToken, show_secrets: bool) -> Result<Value, Failure> {
    let mut value = serde_json::to_value(token).map_err(|e| Failure::new(Status::Unexpected, e))?;
    if !show_secrets && let Value::Object(fields) = &mut value {
        for key in ["access_token", "refresh_token"] {
            if let Some(field) = fields.get_mut(key) {
                *field = Value::from(REDACTED);
            }
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_json_redacts_both_tokens_unless_asked() {
        let token = AccessToken::new(
            "ACCESS-VALUE",
            7200,
            "REFRESH-VALUE",
            "o1",
            "snsapi_base",
            1,
        );
        let redacted = token_json(&token, false).unwrap().to_string();
        assert!(!redacted.contains("ACCESS-VALUE") && !redacted.contains("REFRESH-VALUE"));
        assert!(redacted.contains(r#""openid":"o1""#), "{redacted}");
        let shown = token_json(&token, true).unwrap();
        assert_eq!(shown["access_token"], "ACCESS-VALUE");
        assert_eq!(shown["refresh_token"], "REFRESH-VALUE");
    }
}
