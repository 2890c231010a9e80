//! [`Failure`]: why a command failed, with the exit status a script can branch on
//! (documented in `--help`).

use std::process::ExitCode;

use wechat_oauth::miniprogram::DecryptError;
use wechat_oauth::{StoreError, WeChatError, WeChatErrorKind};

/// The exit status of a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Anything not covered below.
    Unexpected = 1,
    /// A bad flag or missing configuration (clap's own usage errors exit 2 as well).
    Usage = 2,
    /// WeChat answered with an errcode (other than -1, busy).
    WeChat = 3,
    /// No token (or Mini Program session) is stored for the openid.
    NoToken = 4,
    /// WeChat could not be reached, was busy (errcode -1) or answered garbage: asking again
    /// later may succeed.
    Network = 5,
    /// The store failed.
    Store = 6,
    /// Mini Program data could not be decrypted.
    Decrypt = 7,
    /// `send-message`: the server refused the push (HTTP status other than 200).
    Refused = 8,
    /// `send-message`: the server's reply is not one WeChat would accept.
    BadReply = 9,
}

/// A failed command: what to tell the user on stderr and how to exit.
#[derive(Debug)]
pub struct Failure {
    status: Status,
    error: anyhow::Error,
    hint: Option<String>,
}

impl Failure {
    /// A failure with an explicit status.
    pub fn new(status: Status, error: impl Into<anyhow::Error>) -> Self {
        Self {
            status,
            error: error.into(),
            hint: None,
        }
    }

    /// Adds a line of advice printed after the error.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Status::Usage, anyhow::Error::msg(message.into()))
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.status as u8)
    }

    /// Writes the error and its causes to stderr, with a hint when one helps.
    pub fn report(&self) {
        eprintln!("error: {:#}", self.error);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
    }
}

/// Advice for the SDK errors a command-line user can act on.
fn sdk_hint(error: &wechat_oauth::Error) -> Option<&'static str> {
    if error.is_invalid_code() || error.is_code_used() {
        Some("a code works once, for 5 minutes, and only for the appid it was issued to")
    } else if error.is_reauthorize_required() {
        Some("the refresh token is dead: the user has to authorize again")
    } else if error.is_scope_insufficient() {
        Some("the token was granted snsapi_base: authorize again with --scope snsapi_userinfo")
    } else if error.is_no_token() {
        Some("run `wechat-oauth exchange --code CODE` after the user authorizes")
    } else if error.is_no_session() {
        Some("run `wechat-oauth mp-login --js-code CODE` with the code of the user's wx.login")
    } else {
        None
    }
}

impl From<wechat_oauth::Error> for Failure {
    fn from(error: wechat_oauth::Error) -> Self {
        use wechat_oauth::Error as E;
        let status = match &error {
            // -1 is "system busy": a hiccup, not a refusal, so a script retries it
            // like a timeout instead of acting on it.
            E::WeChat(e) if e.kind() == WeChatErrorKind::Busy => Status::Network,
            E::WeChat(_) => Status::WeChat,
            E::NoToken { .. } | E::NoSession { .. } => Status::NoToken,
            E::Transport(_) | E::Response(_) => Status::Network,
            E::Store(_) => Status::Store,
            E::Decrypt(_) => Status::Decrypt,
            E::Config(_) | E::InvalidArgument(_) => Status::Usage,
            _ => Status::Unexpected,
        };
        let hint = sdk_hint(&error);
        let failure = Self::new(status, error);
        match hint {
            Some(hint) => failure.with_hint(hint),
            None => failure,
        }
    }
}

impl From<WeChatError> for Failure {
    fn from(error: WeChatError) -> Self {
        Self::from(wechat_oauth::Error::from(error))
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::new(Status::Store, error)
    }
}

impl From<DecryptError> for Failure {
    fn from(error: DecryptError) -> Self {
        Self::new(Status::Decrypt, error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::new(Status::Unexpected, error)
    }
}
