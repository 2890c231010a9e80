//! [`SecretInput`]: a secret flag's value, given on the command line, through its
//! environment variable (clap reads it), or as `-`: read from standard input, so it never
//! appears in the process list (`ps`, `/proc/PID/cmdline`, which every local user can read).

use std::io::Read as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use wechat_oauth::Secret;

use crate::failure::Failure;

/// The most a secret read from standard input may be: codes, keys and tickets are far
/// shorter, and a runaway pipe must not fill memory.
const MAX_STDIN_SECRET: u64 = 64 * 1024;

/// Standard input can be read once; a second `-` has nothing left to read.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// A secret flag's value as parsed: the value itself, or `-` for standard input.
///
/// Parsing never fails: clap echoes a refused value in its error message, which for a
/// secret is exactly what must not happen. An unusable value is refused later, by
/// [`resolve`](Self::resolve), without echoing it.
#[derive(Clone)]
pub enum SecretInput {
    /// `-`: read standard input (surrounding whitespace and the final newline removed).
    Stdin,
    /// The value given by the flag or its variable.
    Value(Secret),
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdin => f.write_str("Stdin"),
            Self::Value(_) => f.write_str("Value([redacted])"),
        }
    }
}

impl FromStr for SecretInput {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(if value == "-" {
            Self::Stdin
        } else {
            Self::Value(Secret::new(value))
        })
    }
}

impl SecretInput {
    /// The secret, reading standard input for `-`. `flag` (`--code`) names it in errors,
    /// which never include the value.
    ///
    /// # Errors
    /// A usage failure when the value is empty, when standard input is empty, too long,
    /// not UTF-8 or already read by another `-` flag.
    pub fn resolve(&self, flag: &str) -> Result<Secret, Failure> {
        let secret = match self {
            Self::Value(secret) => secret.clone(),
            Self::Stdin => read_stdin(flag)?,
        };
        if secret.expose_secret().trim().is_empty() {
            return Err(Failure::usage(format!("{flag} is empty")));
        }
        Ok(secret)
    }
}

fn read_stdin(flag: &str) -> Result<Secret, Failure> {
    if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
        return Err(Failure::usage(format!(
            "{flag} -: standard input was already read for another flag; only one flag can be `-`"
        )));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_SECRET + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("{flag} -: cannot read standard input: {e}")))?;
    if bytes.len() as u64 > MAX_STDIN_SECRET {
        return Err(Failure::usage(format!(
            "{flag} -: standard input is longer than {MAX_STDIN_SECRET} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{flag} -: standard input is not UTF-8")))?;
    // `echo CODE |` and a here-string end in a newline that is not part of the code.
    let secret = Secret::new(text.trim());
    // The untrimmed copy is wiped too (a `Secret` zeroizes its memory on drop).
    drop(Secret::new(text));
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_means_standard_input_and_anything_else_is_the_value() {
        assert!(matches!("-".parse(), Ok(SecretInput::Stdin)));
        let Ok(SecretInput::Value(secret)) = "abc".parse() else {
            panic!("a value parses as itself");
        };
        assert_eq!(secret.expose_secret(), "abc");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let input: SecretInput = "hunter2".parse().unwrap_or(SecretInput::Stdin);
        assert_eq!(format!("{input:?}"), "Value([redacted])");
    }

    #[test]
    fn an_empty_value_is_refused_without_echoing_anything() {
        let input = SecretInput::Value(Secret::new("  "));
        assert!(input.resolve("--code").is_err());
    }
}
