//! The apps and users a sandbox has when the builder (or the command line) names none.
//!
//! Every value here is public test data: the secrets only work against a sandbox.

/// Official Account (公众号) app: `/connect/oauth2/authorize`, scopes `snsapi_base` and `snsapi_userinfo`.
pub const OFFICIAL_APPID: &str = "wx5a4d1e0f0a000001";
/// Secret of [`OFFICIAL_APPID`].
pub const OFFICIAL_SECRET: &str = "sandbox-official-secret";
/// Website app (网站应用): `/connect/qrconnect`, scope `snsapi_login`, codes live 10 minutes.
pub const WEBSITE_APPID: &str = "wx5a4d1e0f0a000002";
/// Secret of [`WEBSITE_APPID`].
pub const WEBSITE_SECRET: &str = "sandbox-website-secret";
/// Mini Program app: `/sns/jscode2session`, `/wxa/*` and the `/__sandbox/mp/*` device stand-ins.
pub const MINIPROGRAM_APPID: &str = "wx5a4d1e0f0a000003";
/// Secret of [`MINIPROGRAM_APPID`].
pub const MINIPROGRAM_SECRET: &str = "sandbox-miniprogram-secret";

/// The default users, in the order the consent page lists them. The first one is the user a
/// silent `snsapi_base` authorization picks when the browser carries no sandbox cookie.
pub const USERS: &[&str] = &["alice", "bob", SNAPSHOT_USER];
/// The default snapshot-mode (快照页) user: tokens carry `is_snapshotuser: 1` and virtual ids
/// (docs/protocol.md §3).
pub const SNAPSHOT_USER: &str = "guest";
