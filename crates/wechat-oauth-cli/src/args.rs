//! The command line: the subcommands, each with only the flags it uses. Settings several
//! subcommands share are small [`clap::Args`] groups flattened into each subcommand that
//! needs them (so `sandbox --help` lists only the sandbox's flags), each a flag or a
//! `WECHAT_*` environment variable.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::secret_input::SecretInput;

/// Where `demo` listens by default.
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:3000";

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  unexpected failure
  2  usage or configuration error (bad flag, missing appid or secret, bad base or store URL)
  3  WeChat refused the request (its errcode is printed); for `verify`: the token is invalid
  4  no token or session is stored for the openid: the user has to log in first
  5  WeChat could not be reached, was busy (errcode -1), or answered something unusable
     (timeout, HTML, truncated); for `verify`: WeChat did not say whether the token is valid;
     for `send-message`: the server could not be reached or did not answer in time
  6  the store failed (unreachable, timed out, malformed entry)
  7  Mini Program data could not be decrypted, or its watermark names another appid
  8  send-message: the server refused the push (an HTTP status other than 200; a wrong
     token or EncodingAESKey on either side ends here, the server's explanation printed)
  9  send-message: the server's reply is unusable (not XML, a plaintext reply in safe
     mode, a bad MsgSignature, not decryptable with the key and appid, misaddressed)

Secrets never print: the app secret is never shown, and access and refresh tokens
are shown as \"[redacted]\" unless --show-secrets is given. Secret flags (--secret,
--code, --js-code, --session-key, --ticket, --server-token, --encoding-aes-key) also
read an environment variable, or standard input when given as `-`, so they need not
appear in the process list.";

/// `wechat-oauth`: WeChat OAuth from the command line, a local WeChat sandbox and a demo
/// login site.
#[derive(Debug, Parser)]
#[command(name = "wechat-oauth", version, after_long_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The app's appid, for commands that need no secret.
#[derive(Debug, Args)]
pub struct AppIdArgs {
    /// The app's appid (`wx…`).
    #[arg(long, env = "WECHAT_APPID", value_name = "APPID")]
    pub appid: Option<String>,
}

/// The app's credentials, for commands that call WeChat's JSON APIs.
#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(flatten)]
    pub id: AppIdArgs,

    /// The app secret, or `-` to read it from standard input. Never printed. Prefer the
    /// environment variable: a flag is visible to other local users in the process list.
    #[arg(
        long,
        env = "WECHAT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: Option<SecretInput>,
}

/// Where WeChat's JSON APIs are.
#[derive(Debug, Args)]
pub struct ApiBaseArgs {
    /// Base URL of WeChat's JSON APIs (default `https://api.weixin.qq.com`). Point it at a
    /// sandbox (`wechat-oauth sandbox`) to work offline. It may not carry a user name or
    /// password: WeChat takes none, and one would end up in logs.
    #[arg(long, env = "WECHAT_API_BASE", value_name = "URL")]
    pub api_base: Option<String>,
}

/// How commands that make one call to WeChat reach it.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub base: ApiBaseArgs,

    /// Time limit for each request to WeChat, in seconds (default: the SDK's).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

/// Where WeChat's authorization pages are.
#[derive(Debug, Args)]
pub struct OpenBaseArgs {
    /// Base URL of WeChat's authorization pages (default `https://open.weixin.qq.com`).
    /// It may not carry a user name or password.
    #[arg(long, env = "WECHAT_OPEN_BASE", value_name = "URL")]
    pub open_base: Option<String>,
}

/// The store set: user tokens and everything else the SDK keeps.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Where state is kept (user tokens, Mini Program sessions…), as a store URL:
    /// `sqlite://FILE`, `mysql://…`, `postgres://…`, `redis://…`, `mongodb://…`,
    /// `file://DIR` or `memory:`. The default is a SQLite file in the working directory,
    /// created on first use, so state survives between runs.
    #[arg(
        long,
        env = "WECHAT_STORE",
        hide_env_values = true,
        value_name = "URL",
        default_value = wechat_oauth_stores::DEFAULT_URL
    )]
    pub store: String,
}

/// Whether tokens print in full.
#[derive(Debug, Args)]
pub struct ShowSecretsArgs {
    /// Print access tokens and refresh tokens in full instead of `"[redacted]"`.
    /// (The app secret is never printed.)
    #[arg(long)]
    pub show_secrets: bool,
}

/// What the OAuth commands that call WeChat share: credentials, API base, timeout, store.
#[derive(Debug, Args)]
pub struct WeChatArgs {
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo login site. Without WECHAT_APPID/WECHAT_SECRET it runs its own
    /// in-process sandbox, so it needs no account and no network; with them (and no
    /// --api-base) it logs in against the real WeChat.
    Demo(DemoArgs),

    /// Run the local WeChat sandbox server (the same flags as `wechat-sandbox`).
    Sandbox(wechat_sandbox::cli::SandboxArgs),

    /// Print the URL that asks a user to authorize the app.
    AuthorizeUrl(AuthorizeUrlArgs),

    /// Exchange an authorization code for a token, save it in the store and print it.
    Exchange {
        #[command(flatten)]
        code: CodeArgs,
        #[command(flatten)]
        wechat: WeChatArgs,
        #[command(flatten)]
        show: ShowSecretsArgs,
    },

    /// Print a user's profile, using (and refreshing if needed) the stored token.
    User {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[arg(long, value_enum, default_value_t = Lang::ZhCn)]
        lang: Lang,
        #[command(flatten)]
        wechat: WeChatArgs,
    },

    /// Refresh the stored token for a user, save it and print it.
    Refresh {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[command(flatten)]
        wechat: WeChatArgs,
        #[command(flatten)]
        show: ShowSecretsArgs,
    },

    /// Ask WeChat whether the stored access token for a user is still valid (`sns/auth`).
    /// Exits 0 when it is, 3 only when WeChat says it is not, and 5 when WeChat did not
    /// say (busy, unreachable, timed out, another error).
    Verify {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[command(flatten)]
        wechat: WeChatArgs,
    },

    /// Exchange a code and print the user's profile in one step.
    UserByCode {
        #[command(flatten)]
        code: CodeArgs,
        #[arg(long, value_enum, default_value_t = Lang::ZhCn)]
        lang: Lang,
        #[command(flatten)]
        wechat: WeChatArgs,
    },

    /// Mini Program login: exchange a `wx.login` code (`jscode2session`), keep the session
    /// (and its session key) in the store, print the openid and unionid. The session key is
    /// never printed.
    MpLogin {
        /// The `code` from the Mini Program's `wx.login` (single use, valid 5 minutes), or
        /// `-` to read it from standard input. WECHAT_JS_CODE keeps it out of the process
        /// list.
        #[arg(
            long,
            env = "WECHAT_JS_CODE",
            hide_env_values = true,
            value_name = "CODE"
        )]
        js_code: SecretInput,
        #[command(flatten)]
        wechat: WeChatArgs,
    },

    /// Ask WeChat whether the stored Mini Program session key of a user is still current
    /// (`wxa/checksession`). Exits 0 when it is, 3 when WeChat says it is stale.
    CheckSession {
        /// The user's openid in the Mini Program.
        #[arg(long)]
        openid: String,
        #[command(flatten)]
        wechat: WeChatArgs,
    },

    /// Decrypt Mini Program `encryptedData` and print the JSON, with the session key given
    /// (--session-key) or stored by `mp-login` (--openid). The watermark is checked when an
    /// appid is given (--appid or WECHAT_APPID).
    Decrypt(DecryptArgs),

    /// Inspect the token store.
    #[command(subcommand)]
    Token(TokenCommand),

    /// Sign a page URL for the JS-SDK's `wx.config` with a `jsapi_ticket`; prints
    /// `nonceStr`, `timestamp` and `signature`. Offline: fetching the ticket is the server's
    /// job.
    JssdkSign(JssdkSignArgs),

    /// Play WeChat against an Official Account's server URL: send one signed push (a text
    /// message, or an event), check the reply as WeChat would and print it decrypted. The
    /// server token comes from WECHAT_SERVER_TOKEN (or `--server-token -`, standard input),
    /// the EncodingAESKey of the encrypted modes from WECHAT_ENCODING_AES_KEY. Exits 8 when
    /// the server refuses the push, 9 when its reply is unusable.
    SendMessage(SendMessageArgs),
}

/// The account's message encryption mode (消息加解密方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageMode {
    /// 明文模式: plaintext push and reply.
    Plain,
    /// 兼容模式: the plaintext fields and `<Encrypt>` in one body; the reply may be either.
    Compatible,
    /// 安全模式: `<Encrypt>` only; the reply must be encrypted and signed.
    Safe,
}

impl MessageMode {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Compatible => "compatible",
            Self::Safe => "safe",
        }
    }
}

/// An event to push instead of a text message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushEvent {
    /// `subscribe`: a follow; with --scene, through a parametric QR code
    /// (`EventKey qrscene_<scene>`, `Ticket`).
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `SCAN`: a follower scans a parametric QR code (`EventKey <scene>`, `Ticket`).
    Scan,
    /// `CLICK`: a menu button (`EventKey` the button's key).
    Click,
    /// `VIEW`: a menu link (`EventKey` the URL).
    View,
}

impl PushEvent {
    /// The `Event` value WeChat sends.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Scan => "SCAN",
            Self::Click => "CLICK",
            Self::View => "VIEW",
        }
    }

    /// The flag value.
    pub fn flag_name(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Scan => "scan",
            Self::Click => "click",
            Self::View => "view",
        }
    }
}

#[derive(Debug, Args)]
pub struct SendMessageArgs {
    /// The server URL (服务器地址), as configured at WeChat: `http://host/wechat`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The account's message encryption mode; compatible and safe need the EncodingAESKey
    /// and the appid.
    #[arg(long, value_enum, default_value_t = MessageMode::Plain)]
    pub mode: MessageMode,

    /// Push this event instead of a text message.
    #[arg(long, value_enum, value_name = "EVENT")]
    pub event: Option<PushEvent>,

    /// The text message's `Content` (without --event).
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "hello",
        conflicts_with = "event"
    )]
    pub text: String,

    /// The event's `EventKey`, exactly as sent (a menu key, a URL, `qrscene_…`).
    #[arg(long, value_name = "KEY", requires = "event")]
    pub event_key: Option<String>,

    /// A QR code's scene, for --event subscribe (`EventKey qrscene_<scene>`) and --event
    /// scan (`EventKey <scene>`).
    #[arg(long, value_name = "SCENE", requires = "event")]
    pub scene: Option<String>,

    /// The QR code's `Ticket` for a scan [default: a made-up one].
    #[arg(long, value_name = "TICKET", requires = "event")]
    pub ticket: Option<String>,

    /// The sender's openid (`FromUserName`).
    #[arg(
        long,
        value_name = "OPENID",
        default_value = "oSendMessageTestUser0000000"
    )]
    pub from: String,

    /// The account's original id (`ToUserName`, 原始ID).
    #[arg(long, value_name = "ID", default_value = "gh_000000000000")]
    pub to: String,

    /// The text message's `MsgId` [default: a random one]; repeat one to test dedupe.
    #[arg(long, value_name = "ID", conflicts_with = "event")]
    pub msg_id: Option<u64>,

    /// The push's `CreateTime`, Unix seconds [default: now]; repeat one to test the dedupe
    /// of an event.
    #[arg(long, value_name = "SECONDS")]
    pub create_time: Option<u64>,

    /// How long to wait for the answer, in seconds (WeChat waits 5).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,

    /// The appid the encrypted modes' ciphertext names.
    #[command(flatten)]
    pub app: AppIdArgs,

    #[command(flatten)]
    pub message: MessageSecretArgs,
}

#[derive(Debug, Args)]
pub struct JssdkSignArgs {
    /// The `jsapi_ticket` (from `cgi-bin/ticket/getticket?type=jsapi`), or `-` to read it
    /// from standard input.
    #[arg(
        long,
        env = "WECHAT_JSAPI_TICKET",
        hide_env_values = true,
        value_name = "TICKET"
    )]
    pub ticket: SecretInput,

    /// The page's full URL; anything from `#` on is not signed (WeChat signs without it).
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// The nonce to sign [default: a fresh random one].
    #[arg(long, value_name = "NONCE")]
    pub noncestr: Option<String>,

    /// The Unix time in seconds to sign [default: now].
    #[arg(long, value_name = "SECONDS")]
    pub timestamp: Option<u64>,
}

/// An authorization code: a flag, `WECHAT_OAUTH_CODE`, or standard input.
#[derive(Debug, Args)]
pub struct CodeArgs {
    /// The `code` WeChat appended to the redirect URI (single use, valid 5 minutes), or `-`
    /// to read it from standard input. WECHAT_OAUTH_CODE keeps it out of the process list.
    #[arg(
        long,
        env = "WECHAT_OAUTH_CODE",
        hide_env_values = true,
        value_name = "CODE"
    )]
    pub code: SecretInput,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo site (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_DEMO_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub app: AppArgs,
    #[command(flatten)]
    pub api_base: ApiBaseArgs,
    #[command(flatten)]
    pub open_base: OpenBaseArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub message: MessageSecretArgs,
}

/// The Official Account's message-interface secrets (服务器配置): the token and the
/// EncodingAESKey, each from its environment variable, standard input (`-`) or a flag.
#[derive(Debug, Args)]
pub struct MessageSecretArgs {
    /// The account's server token (令牌), or `-` to read it from standard input. Prefer
    /// WECHAT_SERVER_TOKEN: a flag is visible to other local users in the process list.
    #[arg(
        long = "server-token",
        env = "WECHAT_SERVER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<SecretInput>,

    /// The account's EncodingAESKey (43 characters), for the compatible and safe modes, or
    /// `-` to read it from standard input. Prefer WECHAT_ENCODING_AES_KEY.
    #[arg(
        long,
        env = "WECHAT_ENCODING_AES_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub encoding_aes_key: Option<SecretInput>,
}

#[derive(Debug, Args)]
pub struct AuthorizeUrlArgs {
    /// Where WeChat sends the user back with `code` and `state`.
    #[arg(long, value_name = "URL")]
    pub redirect_uri: String,

    /// What the user is asked to grant: `snsapi_base` (the default) or `snsapi_userinfo`
    /// for Official Account login, `snsapi_login` for website QR login (the default with
    /// --website; it implies --website).
    #[arg(long, value_enum)]
    pub scope: Option<Scope>,

    /// The `state` echoed back to the redirect URI [default: a fresh random state].
    #[arg(long)]
    pub state: Option<String>,

    /// Website QR login (`/connect/qrconnect`, `snsapi_login`) instead of Official Account
    /// login.
    #[arg(long)]
    pub website: bool,

    #[command(flatten)]
    pub app: AppIdArgs,
    #[command(flatten)]
    pub open_base: OpenBaseArgs,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The user's `session_key` (base64) from `code2Session`, or `-` to read it from
    /// standard input.
    #[arg(
        long,
        env = "WECHAT_SESSION_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub session_key: Option<SecretInput>,

    /// Use the session key stored for this openid (by `mp-login`) instead of --session-key.
    #[arg(long)]
    pub openid: Option<String>,

    /// The `iv` (base64) that came with the data.
    #[arg(long, value_name = "IV")]
    pub iv: String,

    /// The `encryptedData` (base64).
    #[arg(long, value_name = "DATA")]
    pub data: String,

    #[command(flatten)]
    pub app: AppIdArgs,
    /// Where `mp-login` kept the session (used with --openid).
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the token stored for an openid.
    Get {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        show: ShowSecretsArgs,
    },
    /// Delete the token stored for an openid.
    Delete {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Authorization scope, by WeChat's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// Official Account login: only the openid, without a consent page.
    #[value(name = "snsapi_base", alias = "base")]
    Base,
    /// Official Account login: the openid and the profile, after a consent page.
    #[value(name = "snsapi_userinfo", alias = "userinfo")]
    UserInfo,
    /// Website QR login (`/connect/qrconnect`).
    #[value(name = "snsapi_login", alias = "login")]
    Login,
}

/// Language of the profile's country, province and city names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Simplified Chinese.
    #[value(name = "zh_CN", alias = "zh-CN")]
    ZhCn,
    /// Traditional Chinese.
    #[value(name = "zh_TW", alias = "zh-TW")]
    ZhTw,
    /// English.
    #[value(name = "en")]
    En,
}

impl From<Lang> for wechat_oauth::Lang {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::ZhCn => Self::ZhCn,
            Lang::ZhTw => Self::ZhTw,
            Lang::En => Self::En,
        }
    }
}

impl From<Scope> for wechat_oauth::Scope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Base => Self::Base,
            Scope::UserInfo => Self::UserInfo,
            Scope::Login => Self::Login,
        }
    }
}
