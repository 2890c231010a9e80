//! Why a callback did not log the user in, and the built-in pages that say so.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Why a WeChat callback did not start a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The user declined on WeChat's consent page (callback without `code`).
    Denied,
    /// The callback had no `state`, a repeated parameter, or an oversized value.
    BadRequest,
    /// The `state` was not minted by this site, was altered, or belongs to another flow or
    /// app (login CSRF, forgery, mix-up: docs/protocol.md §7).
    InvalidState,
    /// The login took longer than the state's lifetime, and the one automatic restart was used.
    Expired,
    /// The browser brought no proof that it started this login (the pending-login cookie
    /// bound to the state), even after one fresh restart: it blocks or drops cookies, or
    /// the link was opened in another browser. The page says what to do.
    CookieMissing,
    /// The state was already used, and this browser cannot be shown to be the one that used it.
    Replayed,
    /// WeChat refused the code (40029 invalid, 40163 already used) after the one automatic restart.
    CodeRejected,
    /// WeChat answered with a snapshot-mode virtual user ([`SnapshotUsers::Refuse`]).
    ///
    /// [`SnapshotUsers::Refuse`]: crate::SnapshotUsers::Refuse
    SnapshotUser,
    /// WeChat could not be reached or answered with an error.
    WeChatUnavailable,
    /// The token store (which remembers used states) could not be reached.
    StoreUnavailable,
}

impl LoginFailure {
    /// The HTTP status of the failure page.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Denied => StatusCode::FORBIDDEN,
            Self::SnapshotUser => StatusCode::OK,
            Self::WeChatUnavailable => StatusCode::BAD_GATEWAY,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest
            | Self::InvalidState
            | Self::Expired
            | Self::CookieMissing
            | Self::Replayed
            | Self::CodeRejected => StatusCode::BAD_REQUEST,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Denied => "You declined to sign in with WeChat",
            Self::SnapshotUser => "Tap “使用完整服务” to sign in",
            Self::WeChatUnavailable => "WeChat did not answer",
            Self::StoreUnavailable => "Sign-in is unavailable right now",
            Self::Expired => "This sign-in link has expired",
            Self::Replayed => "This sign-in link was already used",
            Self::CookieMissing => "Your browser did not keep the sign-in cookie",
            Self::CodeRejected => "WeChat did not accept the sign-in",
            Self::BadRequest | Self::InvalidState => "This sign-in link is not valid",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Self::Denied => {
                "Nothing was shared with this site. You can try again whenever you like."
            }
            Self::SnapshotUser => {
                "You are looking at a preview of this page. Tap “使用完整服务” (use the full service) at the bottom of the screen, then sign in."
            }
            Self::WeChatUnavailable | Self::StoreUnavailable => "Please try again in a moment.",
            Self::CookieMissing => {
                "Signing in needs a cookie that proves this browser started the sign-in, and it did not come back. Allow cookies for this site, or open this page in your phone's browser (in WeChat: tap ··· at the top right, then “在浏览器打开” / Open in Browser), and sign in again."
            }
            Self::Expired
            | Self::Replayed
            | Self::CodeRejected
            | Self::BadRequest
            | Self::InvalidState => "For your safety it was not used. Start a new sign-in below.",
        }
    }
}

impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// The built-in failure page: plain HTML, no scripts, no third-party resources.
pub(crate) fn default_failure_page(failure: &LoginFailure, retry_url: &str) -> Response {
    let link = if *failure == LoginFailure::SnapshotUser {
        String::new()
    } else {
        format!(
            r#"<p><a href="{}">Sign in with WeChat</a></p>"#,
            escape_html(retry_url)
        )
    };
    page(
        failure.status(),
        failure.title(),
        failure.explanation(),
        &link,
    )
}

/// A small page: a title, a sentence, and optional trusted HTML (already escaped).
pub(crate) fn page(status: StatusCode, title: &str, text: &str, extra_html: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}a{{color:#07c160}}</style></head><body><h1>{title}</h1><p>{text}</p>{extra_html}</body></html>"#,
        title = escape_html(title),
        text = escape_html(text),
    );
    let mut response = (status, Html(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
