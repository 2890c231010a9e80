//! Where to send the browser after login: only same-site relative paths
//! (docs/protocol.md §7; RFC 9700 §4.11, no open redirectors).

use percent_encoding::percent_decode_str;

/// Longest return path kept; longer ones fall back to the default (they also would not
/// fit a cookie comfortably).
pub(crate) const MAX_RETURN_PATH: usize = 1024;

/// `candidate` if it is a same-site relative path, else `None`.
///
/// Accepted: starts with a single `/`, then visible ASCII without `\`, and the same holds
/// after percent-decoding (some servers and proxies decode once more before redirecting).
/// Rejected among others: `//evil.com`, `/\evil.com`, `https://evil.com`,
/// `%2F%2Fevil.com`, `/%2F/evil.com`, `javascript:alert(1)`, control characters.
///
/// ```
/// use wechat_oauth_axum::safe_return_path;
///
/// assert_eq!(safe_return_path("/orders?page=2"), Some("/orders?page=2"));
/// assert_eq!(safe_return_path("//evil.com"), None);
/// assert_eq!(safe_return_path("https://evil.com"), None);
/// ```
pub fn safe_return_path(candidate: &str) -> Option<&str> {
    if candidate.len() > MAX_RETURN_PATH || !is_relative_path(candidate) {
        return None;
    }
    // Decode repeatedly (bounded) so `/%252F%252Fevil.com` cannot become `//evil.com`
    // after a second decode somewhere downstream.
    let mut current = candidate.to_owned();
    for _ in 0..3 {
        let decoded = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            break;
        }
        if !is_relative_after_decoding(&decoded) {
            return None;
        }
        current = decoded;
    }
    Some(candidate)
}

fn is_relative_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\')
}

/// The checks that still matter once decoded text may hold any character: no scheme-relative
/// or backslash prefix, and no control characters (browsers drop tabs and newlines, which
/// would turn `/\t/evil.com` into `//evil.com`).
fn is_relative_after_decoding(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !path.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_redirect_attempts_are_rejected() {
        for evil in [
            "//evil.com",
            "https://evil.com",
            "/\\evil.com",
            "%2F%2Fevil.com",
            "/%2F/evil.com",
            "/%2F%2Fevil.com",
            "/%5Cevil.com",
            "/%252F%252Fevil.com",
            "javascript:alert(1)",
            "evil.com",
            "",
            " /x",
            "/x y",
            "/x\r\nSet-Cookie: a=b",
            "/\tevil",
            "/ünicode",
            "/%09/evil.com",
            "/%0A/evil.com",
        ] {
            assert_eq!(safe_return_path(evil), None, "{evil:?} must be rejected");
        }
    }

    #[test]
    fn ordinary_paths_are_kept_verbatim() {
        for good in [
            "/",
            "/profile",
            "/a/b?c=d&e=%2Ff#top",
            "/@me",
            "/search?q=%E5%BE%AE",
        ] {
            assert_eq!(safe_return_path(good), Some(good));
        }
    }

    #[test]
    fn overlong_paths_are_rejected() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_PATH));
        assert_eq!(safe_return_path(&long), None);
    }
}
