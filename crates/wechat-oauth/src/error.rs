//! [`Error`]: everything that can go wrong, as data you branch on.
//!
//! WeChat answers errors as HTTP 200 with `{"errcode":…,"errmsg":"…, rid: …"}`
//! (docs/protocol.md §1). Those become [`Error::WeChat`] carrying a [`WeChatError`]
//! whose `errcode` is the number and whose [`WeChatErrorKind`] names the codes of
//! docs/protocol.md §6.1.
//! Branch with the predicates ([`Error::is_invalid_code`], [`Error::is_retryable`], …)
//! rather than on messages: WeChat's `errmsg` wording changes over time.
//!
//! No error ever carries a request URL (WeChat puts the app secret in query strings), a
//! token, a code or a session key.
//!
//! Errors are `Clone` (sources are shared behind an `Arc`), so one failure can be handed to
//! every caller that waited on the same operation.

use std::fmt;
use std::sync::Arc;

use crate::store::StoreError;

/// The SDK's error type.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WeChat answered with a non-zero `errcode`.
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    /// No token is stored for this openid: the user has to authorize first
    /// (the seed's `NoOAuthTokenError`).
    #[error("No token for {openid}, please authorize first.")]
    NoToken {
        /// The openid that has no token.
        openid: String,
    },
    /// No Mini Program session is stored for this openid: the Mini Program must log in
    /// (`wx.login`, then [`code_to_session`](crate::miniprogram::MiniProgramClient::code_to_session))
    /// first.
    #[error("No Mini Program session for {openid}: log in with wx.login first.")]
    NoSession {
        /// The openid that has no session.
        openid: String,
    },
    /// The request never got an answer: connect failure, timeout, connection reset.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// WeChat (or whatever sits at the configured base URL) answered something that is not
    /// a usable WeChat response: an empty or HTML body, truncated JSON, a non-2xx status,
    /// an oversized body, or JSON missing a required field.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// A store failed (shared, so the error stays `Clone`).
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// Mini Program `encryptedData` could not be decrypted or failed its checks.
    #[error(transparent)]
    Decrypt(#[from] crate::miniprogram::DecryptError),
    /// The app or client was configured with invalid values (a blank appid, a bad base
    /// URL, plain http off loopback, TLS that cannot be set up).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A call was made with an invalid argument (an empty code or openid, an unknown
    /// value); nothing was sent to WeChat.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Self::Store(Arc::new(err))
    }
}

impl Error {
    /// The WeChat error, if WeChat answered with one.
    pub fn wechat(&self) -> Option<&WeChatError> {
        match self {
            Self::WeChat(e) => Some(e),
            _ => None,
        }
    }

    /// WeChat's `errcode`, if WeChat answered with an error.
    pub fn errcode(&self) -> Option<i64> {
        self.wechat().map(|e| e.errcode)
    }

    fn kind_is(&self, kind: WeChatErrorKind) -> bool {
        self.wechat().is_some_and(|e| e.kind() == kind)
    }

    /// The code is unknown or expired (40029, 42003): start the login again.
    pub fn is_invalid_code(&self) -> bool {
        self.kind_is(WeChatErrorKind::InvalidCode)
    }

    /// The code was already exchanged (40163), often a duplicate callback.
    pub fn is_code_used(&self) -> bool {
        self.kind_is(WeChatErrorKind::CodeUsed)
    }

    /// The refresh token is dead (40030, 42002, 42007): the user must authorize again.
    pub fn is_reauthorize_required(&self) -> bool {
        self.kind_is(WeChatErrorKind::ReauthorizeRequired)
    }

    /// The access token was rejected (40001, 40014, 42001).
    pub fn is_token_invalid(&self) -> bool {
        self.kind_is(WeChatErrorKind::InvalidToken)
    }

    /// The token's scope does not allow this call (48001: a `snsapi_base` token asked for user info).
    pub fn is_scope_insufficient(&self) -> bool {
        self.kind_is(WeChatErrorKind::ScopeInsufficient)
    }

    /// No token is stored for the openid.
    pub fn is_no_token(&self) -> bool {
        matches!(self, Self::NoToken { .. })
    }

    /// The request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport(t) if t.is_timeout())
    }

    /// No Mini Program session is stored for the openid.
    pub fn is_no_session(&self) -> bool {
        matches!(self, Self::NoSession { .. })
    }

    /// The call was refused before anything was sent: an invalid argument.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Self::InvalidArgument(_))
    }

    /// The store's error, if a store failed.
    pub fn store(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }

    /// Trying the same idempotent call again later may succeed: WeChat was busy (-1),
    /// rate-limited (45011), unreachable, timed out, or answered a 5xx or garbage.
    ///
    /// Never retry a code exchange on this basis: the code may have been consumed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::WeChat(e) => matches!(
                e.kind(),
                WeChatErrorKind::Busy | WeChatErrorKind::RateLimited
            ),
            Self::Transport(_) => true,
            Self::Response(r) => r.status.is_none_or(|s| s >= 500),
            Self::Store(s) => s.is_transient(),
            _ => false,
        }
    }
}

/// An error WeChat answered with: a non-zero `errcode` and its `errmsg`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WeChatError {
    /// WeChat's error code, e.g. 40029.
    pub errcode: i64,
    /// WeChat's message without the request id and hint it may carry.
    pub errmsg: String,
    /// The request id WeChat appended (`rid: 652d44d0-1d0af18b-5b069232`, or the older
    /// `req_id`, or a lone `hint: [X]`), for support tickets.
    pub rid: Option<String>,
    /// The `hint: [X]` WeChat put before a `rid` (phone-number calls), if any.
    pub hint: Option<String>,
}

impl WeChatError {
    /// Builds the error from WeChat's `errcode` and raw `errmsg`, splitting off the request
    /// id in every shape WeChat uses (docs/protocol.md §6.2): `", rid: …"`, `" rid: …"`,
    /// `"rid:…"`, `", hints: [ req_id: … ]"`, `" hint: [X]"` and `" hint: [X] rid: …"`.
    pub fn new(errcode: i64, raw_errmsg: &str) -> Self {
        let Suffix { message, rid, hint } = split_suffix(raw_errmsg);
        Self {
            errcode,
            errmsg: message,
            rid,
            hint,
        }
    }

    /// The named meaning of `errcode`.
    pub fn kind(&self) -> WeChatErrorKind {
        WeChatErrorKind::from_errcode(self.errcode)
    }
}

impl fmt::Debug for WeChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeChatError")
            .field("errcode", &self.errcode)
            .field("kind", &self.kind())
            .field("errmsg", &self.errmsg)
            .field("rid", &self.rid)
            .finish()
    }
}

impl fmt::Display for WeChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeChat error {}: {}", self.errcode, self.errmsg)?;
        if self.kind() == WeChatErrorKind::ScopeInsufficient {
            // The classic snsapi_base + getUser mistake (node-webot/wechat-oauth#27).
            f.write_str(
                " (user info needs a token authorized with snsapi_userinfo or snsapi_login; \
                 this one is snsapi_base)",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for WeChatError {}

/// An `errmsg` taken apart: the message, the request id and the hint.
struct Suffix {
    message: String,
    rid: Option<String>,
    hint: Option<String>,
}

/// Splits WeChat's request-id suffix off an errmsg (docs/protocol.md §6.2): `…, rid: X`,
/// `… rid: X`, `…rid:X`, `…, hints: [ req_id: X ]`, `… hint: [X]` and `… hint: [H] rid: X`.
/// The id is the `rid` when there is one (the hint is then kept apart), else the hint's; a
/// `rid:` followed by more than one word is text, not a suffix.
fn split_suffix(raw: &str) -> Suffix {
    let mut msg = raw.trim_end();
    let mut rid = None;
    let mut hint = None;
    if let Some(pos) = msg.rfind("rid:")
        && at_word_start(msg, pos)
    {
        let value = msg[pos + "rid:".len()..].trim();
        if !value.contains(char::is_whitespace) {
            rid = (!value.is_empty()).then(|| value.to_owned());
            msg = trim_separator(&msg[..pos]);
        }
    }
    if let Some(body) = msg.strip_suffix(']') {
        for marker in ["hints: [", "hint: ["] {
            if let Some(pos) = body.rfind(marker)
                && at_word_start(body, pos)
            {
                let value = body[pos + marker.len()..].trim();
                let value = value.strip_prefix("req_id:").map_or(value, str::trim);
                if !value.is_empty() {
                    if rid.is_none() {
                        rid = Some(value.to_owned());
                    } else {
                        hint = Some(value.to_owned());
                    }
                }
                msg = trim_separator(&body[..pos]);
                break;
            }
        }
    }
    Suffix {
        message: msg.to_owned(),
        rid,
        hint,
    }
}

/// Whether `pos` starts a word in `text`: at the start, or after a space or a comma.
fn at_word_start(text: &str, pos: usize) -> bool {
    text[..pos].ends_with([' ', ',']) || pos == 0
}

/// `text` without the `, ` or ` ` that separated it from a suffix.
fn trim_separator(text: &str) -> &str {
    text.trim_end().trim_end_matches(',').trim_end()
}

/// What a WeChat `errcode` means, for the codes an OAuth or login flow meets
/// (docs/protocol.md §6.1). New codes appear over time: anything else is [`Other`](Self::Other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WeChatErrorKind {
    /// -1: WeChat is busy; retry later (never for a code exchange).
    Busy,
    /// 40029, 42003: the code is invalid or expired.
    InvalidCode,
    /// 40163: the code was already used.
    CodeUsed,
    /// 40001, 40014, 42001: the access token is invalid, superseded or expired.
    InvalidToken,
    /// 40030, 42002, 42007: the refresh token is dead; the user must authorize again.
    ReauthorizeRequired,
    /// 40003: the openid does not belong to this app or token.
    InvalidOpenid,
    /// 48001: not authorized for this API (for `sns/userinfo`: the token's scope is `snsapi_base`).
    ScopeInsufficient,
    /// 45009, 45011: a rate limit was hit.
    RateLimited,
    /// 40226: a high-risk user's Mini Program login is blocked.
    LoginBlocked,
    /// 87009: the session-key signature is invalid (the session_key is stale).
    InvalidSignature,
    /// 40013, 40125, 40164, 40243, 41002, 41004: the app's appid, secret or IP allow-list is wrong.
    Config,
    /// 40002, 41001, 41003, 41008, 41009, 43001–43003, 47001: a malformed request.
    BadRequest,
    /// Any other code.
    Other,
}

impl WeChatErrorKind {
    /// The kind of an `errcode`.
    pub fn from_errcode(errcode: i64) -> Self {
        match errcode {
            -1 => Self::Busy,
            40029 | 42003 => Self::InvalidCode,
            40163 => Self::CodeUsed,
            40001 | 40014 | 42001 => Self::InvalidToken,
            40030 | 42002 | 42007 => Self::ReauthorizeRequired,
            40003 => Self::InvalidOpenid,
            48001 => Self::ScopeInsufficient,
            45009 | 45011 => Self::RateLimited,
            40226 => Self::LoginBlocked,
            87009 => Self::InvalidSignature,
            40013 | 40125 | 40164 | 40243 | 41002 | 41004 => Self::Config,
            40002 | 41001 | 41003 | 41008 | 41009 | 43001..=43003 | 47001 => Self::BadRequest,
            _ => Self::Other,
        }
    }
}

/// A request that got no answer. Never carries the URL (it holds the app secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct TransportError {
    kind: TransportErrorKind,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportErrorKind {
    Timeout,
    Connect,
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "request to WeChat timed out",
            Self::Connect => "could not connect to WeChat",
            Self::Other => "request to WeChat failed",
        })
    }
}

impl TransportError {
    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        self.kind == TransportErrorKind::Timeout
    }

    /// Whether the connection could not be made.
    pub fn is_connect(&self) -> bool {
        self.kind == TransportErrorKind::Connect
    }

    /// The request timed out (for an [`HttpClient`](crate::transport::HttpClient)
    /// implementation: no answer came in time). Retried on idempotent calls.
    pub fn timeout() -> Self {
        Self {
            kind: TransportErrorKind::Timeout,
            source: None,
        }
    }

    /// The connection could not be made (refused, DNS, TLS handshake). Retried on
    /// idempotent calls.
    pub fn connect(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::classified(false, true, source)
    }

    /// Any other failure to get an answer (reset, protocol error). Retried on idempotent
    /// calls. `source` must not hold the request URL: it carries the app secret.
    pub fn other(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::classified(false, false, source)
    }
}

impl TransportError {
    fn classified(
        timeout: bool,
        connect: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let kind = if timeout {
            TransportErrorKind::Timeout
        } else if connect {
            TransportErrorKind::Connect
        } else {
            TransportErrorKind::Other
        };
        Self {
            kind,
            source: Some(Arc::new(source)),
        }
    }
}

#[cfg(feature = "reqwest")]
impl From<reqwest::Error> for TransportError {
    fn from(err: reqwest::Error) -> Self {
        Self::classified(err.is_timeout(), err.is_connect(), err.without_url())
    }
}

/// The built-in client's errors name no URL (at most the connector's host, never the query).
impl From<hyper_util::client::legacy::Error> for TransportError {
    fn from(err: hyper_util::client::legacy::Error) -> Self {
        Self::classified(timed_out(&err), err.is_connect(), err)
    }
}

impl From<hyper::Error> for TransportError {
    fn from(err: hyper::Error) -> Self {
        Self::classified(err.is_timeout() || timed_out(&err), false, err)
    }
}

/// Whether an I/O timeout (a connect timeout, say) is somewhere in `err`'s source chain.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// An answer that is not a usable WeChat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseError {
    /// The HTTP status, when it was not 2xx.
    pub status: Option<u16>,
    /// What was wrong with the body.
    pub kind: ResponseErrorKind,
    /// The start of the body, shortened and with anything token-like masked.
    pub snippet: String,
}

/// What was wrong with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseErrorKind {
    /// The body was empty.
    Empty,
    /// The body was not JSON (an HTML error page, for instance).
    NotJson,
    /// The body was cut off mid-JSON.
    Truncated,
    /// The body exceeded the configured size limit.
    TooLarge,
    /// The HTTP status was not 2xx (and the body held no WeChat error).
    Status,
    /// The JSON lacked a field or had one of the wrong type (the path names it).
    Decode(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected response from WeChat")?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        match &self.kind {
            ResponseErrorKind::Empty => f.write_str(": empty body")?,
            ResponseErrorKind::NotJson => f.write_str(": not JSON")?,
            ResponseErrorKind::Truncated => f.write_str(": truncated JSON")?,
            ResponseErrorKind::TooLarge => f.write_str(": body too large")?,
            ResponseErrorKind::Status => f.write_str(": error status")?,
            ResponseErrorKind::Decode(path) => write!(f, ": bad or missing field {path}")?,
        }
        if !self.snippet.is_empty() {
            write!(f, ": {:?}", self.snippet)?;
        }
        Ok(())
    }
}

impl std::error::Error for ResponseError {}

impl ResponseError {
    /// Builds the error with a redacted snippet of `body`.
    pub(crate) fn new(status: Option<u16>, kind: ResponseErrorKind, body: &[u8]) -> Self {
        Self {
            status,
            kind,
            snippet: redacted_snippet(body),
        }
    }
}

/// The first 80 characters of a body, with every run of 12 or more token-like characters
/// (letters, digits, `-_+/=.`) masked, so no token, code or key survives into an error.
pub(crate) fn redacted_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 12 {
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "-_+/=.".contains(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut run, &mut out);
    let trimmed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = trimmed.chars().take(80).collect();
    if trimmed.chars().count() > 80 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_is_split_from_errmsg() {
        let e = WeChatError::new(40029, "invalid code, rid: 652d44d0-1d0af18b-5b069232");
        assert_eq!(e.errmsg, "invalid code");
        assert_eq!(e.rid.as_deref(), Some("652d44d0-1d0af18b-5b069232"));
        let e = WeChatError::new(
            40001,
            "invalid credential, access_token is invalid or not latest rid: 1-2-3",
        );
        assert_eq!(
            e.errmsg,
            "invalid credential, access_token is invalid or not latest"
        );
        assert_eq!(e.rid.as_deref(), Some("1-2-3"));
        let e = WeChatError::new(40029, "invalid code, hints: [ req_id: KfIawqLnRa-8oQBOA ]");
        assert_eq!(e.errmsg, "invalid code");
        assert_eq!(e.rid.as_deref(), Some("KfIawqLnRa-8oQBOA"));
        let e = WeChatError::new(-1, "system error");
        assert_eq!((e.errmsg.as_str(), e.rid), ("system error", None));
    }

    #[test]
    fn every_errmsg_shape_gives_a_clean_message_and_the_request_id() {
        let cases: [(&str, &str, Option<&str>, Option<&str>); 9] = [
            (
                "invalid code, rid: 652d-1d0a-5b06",
                "invalid code",
                Some("652d-1d0a-5b06"),
                None,
            ),
            ("not latest rid: 1-2-3", "not latest", Some("1-2-3"), None),
            ("not latest rid:1-2-3", "not latest", Some("1-2-3"), None),
            ("invalid code,rid: 9", "invalid code", Some("9"), None),
            (
                "invalid code, hints: [ req_id: KfIa-8oQ ]",
                "invalid code",
                Some("KfIa-8oQ"),
                None,
            ),
            (
                "data format error hint: [XfmcTVNre-vGNNia]",
                "data format error",
                Some("XfmcTVNre-vGNNia"),
                None,
            ),
            (
                "invalid code hint: [XfmcTVNre-vGNNia] rid: 652d-1",
                "invalid code",
                Some("652d-1"),
                Some("XfmcTVNre-vGNNia"),
            ),
            // "rid:" inside a word is not a request id.
            ("invalid grid:3", "invalid grid:3", None, None),
            ("", "", None, None),
        ];
        for (raw, message, rid, hint) in cases {
            let e = WeChatError::new(40029, raw);
            assert_eq!(
                (e.errmsg.as_str(), e.rid.as_deref(), e.hint.as_deref()),
                (message, rid, hint),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn hint_suffixes_are_split_from_errmsg() {
        let cases = [
            (
                "invalid code hint: [XfmcTVNre-vGNNia]",
                "invalid code",
                Some("XfmcTVNre-vGNNia"),
            ),
            (
                "data format error hint: [XfmcTVNre-vGNNia] rid: 61a0c9d5-5a4b8e2f-1c3d5e7f",
                "data format error",
                Some("61a0c9d5-5a4b8e2f-1c3d5e7f"),
            ),
            (
                "invalid code, hints: [ req_id: KfIawqLnRa-8oQBOA ] rid: 1-2-3",
                "invalid code",
                Some("1-2-3"),
            ),
            ("invalid code hint: []", "invalid code", None),
            ("invalid code rid:", "invalid code", None),
            ("invalid code,rid:1-2-3", "invalid code", Some("1-2-3")),
            // Text that merely mentions the words stays text.
            ("grid: [a]", "grid: [a]", None),
            (
                "invalid rid: not a suffix here",
                "invalid rid: not a suffix here",
                None,
            ),
            (
                "the valid hint: [x] is gone",
                "the valid hint: [x] is gone",
                None,
            ),
            ("", "", None),
        ];
        for (raw, errmsg, rid) in cases {
            let e = WeChatError::new(40029, raw);
            assert_eq!(
                (e.errmsg.as_str(), e.rid.as_deref()),
                (errmsg, rid),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn kinds_follow_the_protocol_table() {
        assert_eq!(
            WeChatErrorKind::from_errcode(40163),
            WeChatErrorKind::CodeUsed
        );
        assert_eq!(
            WeChatErrorKind::from_errcode(42007),
            WeChatErrorKind::ReauthorizeRequired
        );
        assert_eq!(
            WeChatErrorKind::from_errcode(40014),
            WeChatErrorKind::InvalidToken
        );
        assert_eq!(WeChatErrorKind::from_errcode(99999), WeChatErrorKind::Other);
    }

    #[test]
    fn snippets_mask_token_like_runs() {
        let s =
            redacted_snippet(br#"{"access_token":"ACCESS_TOKEN_abcdef123456","expires_in":7200}"#);
        assert!(!s.contains("abcdef123456"), "{s}");
        assert!(s.contains("expires_in"), "{s}");
        let s = redacted_snippet(b"<html><body>502 Bad Gateway</body></html>");
        assert!(s.contains("502 Bad Gateway"), "{s}");
    }

    #[test]
    fn clones_keep_kind_and_message() {
        let errors = [
            Error::from(WeChatError::new(40030, "invalid refresh_token, rid: 1-2-3")),
            Error::NoToken {
                openid: "o1".into(),
            },
            Error::Transport(TransportError::timeout()),
            Error::Response(ResponseError::new(
                Some(502),
                ResponseErrorKind::NotJson,
                b"<html>",
            )),
            Error::from(StoreError::Timeout),
            Error::from(StoreError::backend("db down")),
            Error::Config("bad".into()),
            Error::InvalidArgument("empty js_code".into()),
            Error::NoSession {
                openid: "o1".into(),
            },
        ];
        for err in &errors {
            let copy = err.clone();
            assert_eq!(copy.to_string(), err.to_string());
            assert_eq!(copy.is_timeout(), err.is_timeout());
            assert_eq!(copy.is_retryable(), err.is_retryable());
            assert_eq!(copy.errcode(), err.errcode());
        }
    }

    #[test]
    fn scope_errors_explain_themselves() {
        let e = Error::from(WeChatError::new(48001, "api unauthorized, rid: 1-2-3"));
        assert!(e.is_scope_insufficient());
        assert!(e.to_string().contains("snsapi_userinfo"), "{e}");
    }

    #[test]
    fn predicates_branch_on_errcode() {
        let e = Error::from(WeChatError::new(40030, "invalid refresh_token"));
        assert!(e.is_reauthorize_required() && !e.is_retryable());
        let e = Error::from(WeChatError::new(-1, "system error"));
        assert!(e.is_retryable());
        assert_eq!(e.errcode(), Some(-1));
    }
}
