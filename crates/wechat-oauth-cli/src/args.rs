//! The command line: configuration shared by every subcommand (a flag or a `WECHAT_*`
//! environment variable) and the subcommands themselves.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wechat_oauth::Secret;

/// Where `demo` listens by default.
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:3000";

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  unexpected failure
  2  usage or configuration error (bad flag, missing appid or secret, bad base or store URL)
  3  WeChat refused the request (its errcode is printed); for `verify`: the token is invalid
  4  no token is stored for the openid: the user has to authorize first
  5  WeChat could not be reached or answered something unusable (timeout, HTML, truncated)
  6  the token store failed (unreachable, timed out, malformed entry)
  7  Mini Program data could not be decrypted, or its watermark names another appid

Secrets never print: the app secret is never shown, and access and refresh tokens
are shown as \"[redacted]\" unless --show-secrets is given.";

/// `wechat-oauth`: WeChat OAuth from the command line, a local WeChat sandbox and a demo
/// login site.
#[derive(Debug, Parser)]
#[command(name = "wechat-oauth", version, after_long_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every subcommand shares, each a flag or an environment variable.
#[derive(Debug, Args)]
pub struct Config {
    /// The app's appid (`wx…`).
    #[arg(long, env = "WECHAT_APPID", global = true, value_name = "APPID")]
    pub appid: Option<String>,

    /// The app secret. Never printed. Prefer the environment variable: a flag is visible
    /// to other local users in the process list.
    #[arg(
        long,
        env = "WECHAT_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub secret: Option<Secret>,

    /// Base URL of WeChat's JSON APIs (default `https://api.weixin.qq.com`). Point it at a
    /// sandbox (`wechat-oauth sandbox`) to work offline.
    #[arg(long, env = "WECHAT_API_BASE", global = true, value_name = "URL")]
    pub api_base: Option<String>,

    /// Base URL of WeChat's authorization pages (default `https://open.weixin.qq.com`).
    #[arg(long, env = "WECHAT_OPEN_BASE", global = true, value_name = "URL")]
    pub open_base: Option<String>,

    /// Where tokens are kept, as a store URL: `sqlite://FILE`, `mysql://…`, `postgres://…`,
    /// `redis://…`, `mongodb://…`, `file://DIR` or `memory:`. The default is a SQLite
    /// file in the working directory, created on first use, so tokens survive between runs.
    #[arg(
        long,
        env = "WECHAT_TOKEN_STORE",
        global = true,
        hide_env_values = true,
        value_name = "URL",
        default_value = wechat_oauth_stores::DEFAULT_URL
    )]
    pub token_store: String,

    /// Time limit for each request to WeChat, in seconds (default: the SDK's).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,

    /// Print access tokens and refresh tokens in full instead of `"[redacted]"`.
    /// (The app secret is never printed.)
    #[arg(long, global = true)]
    pub show_secrets: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo login site. Without WECHAT_APPID/WECHAT_SECRET it runs its own
    /// in-process sandbox, so it needs no account and no network; with them (and no
    /// --api-base) it logs in against the real WeChat.
    Demo(DemoArgs),

    /// Run the local WeChat sandbox server (the same flags as `wechat-sandbox`).
    Sandbox(crate::sandbox::SandboxArgs),

    /// Print the URL that asks a user to authorize the app.
    AuthorizeUrl(AuthorizeUrlArgs),

    /// Exchange an authorization code for a token, save it in the store and print it.
    Exchange {
        /// The `code` WeChat appended to the redirect URI (single use, valid 5 minutes).
        #[arg(long, value_name = "CODE")]
        code: Secret,
    },

    /// Print a user's profile, using (and refreshing if needed) the stored token.
    User {
        /// The user's openid.
        #[arg(long)]
        openid: String,
        #[arg(long, value_enum, default_value_t = Lang::ZhCn)]
        lang: Lang,
    },

    /// Refresh the stored token for a user, save it and print it.
    Refresh {
        /// The user's openid.
        #[arg(long)]
        openid: String,
    },

    /// Ask WeChat whether the stored access token for a user is still valid (`sns/auth`).
    /// Exits 0 when it is, 3 when WeChat says it is not.
    Verify {
        /// The user's openid.
        #[arg(long)]
        openid: String,
    },

    /// Exchange a code and print the user's profile in one step.
    UserByCode {
        /// The `code` WeChat appended to the redirect URI.
        #[arg(long, value_name = "CODE")]
        code: Secret,
        #[arg(long, value_enum, default_value_t = Lang::ZhCn)]
        lang: Lang,
    },

    /// Decrypt Mini Program `encryptedData` and print the JSON. The watermark is checked
    /// when an appid is given (--appid or WECHAT_APPID).
    Decrypt(DecryptArgs),

    /// Inspect the token store.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo site (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_DEMO_LISTEN)]
    pub listen: SocketAddr,
}

#[derive(Debug, Args)]
pub struct AuthorizeUrlArgs {
    /// Where WeChat sends the user back with `code` and `state`.
    #[arg(long, value_name = "URL")]
    pub redirect_uri: String,

    /// What the user is asked to grant (Official Account login).
    #[arg(long, value_enum, default_value_t = Scope::SnsapiBase, conflicts_with = "website")]
    pub scope: Scope,

    /// The `state` echoed back to the redirect URI [default: a fresh random state].
    #[arg(long)]
    pub state: Option<String>,

    /// Website QR login (`/connect/qrconnect`, `snsapi_login`) instead of Official Account
    /// login.
    #[arg(long)]
    pub website: bool,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The user's `session_key` (base64) from `code2Session`.
    #[arg(
        long,
        env = "WECHAT_SESSION_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub session_key: Secret,

    /// The `iv` (base64) that came with the data.
    #[arg(long, value_name = "IV")]
    pub iv: String,

    /// The `encryptedData` (base64).
    #[arg(long, value_name = "DATA")]
    pub data: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the token stored for an openid.
    Get {
        /// The user's openid.
        #[arg(long)]
        openid: String,
    },
    /// Delete the token stored for an openid.
    Delete {
        /// The user's openid.
        #[arg(long)]
        openid: String,
    },
}

/// Authorization scope for Official Account login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// Only the openid, without a consent page.
    #[value(name = "snsapi_base", alias = "base")]
    SnsapiBase,
    /// The openid and the profile, after a consent page.
    #[value(name = "snsapi_userinfo", alias = "userinfo")]
    SnsapiUserinfo,
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
            Scope::SnsapiBase => Self::Base,
            Scope::SnsapiUserinfo => Self::UserInfo,
        }
    }
}
