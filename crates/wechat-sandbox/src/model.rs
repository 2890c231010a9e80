//! Apps, users and the identifiers WeChat derives for them.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What kind of WeChat app an appid belongs to; it decides which pages and scopes it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppKind {
    /// Official Account (公众号): `/connect/oauth2/authorize` with `snsapi_base` / `snsapi_userinfo`.
    Official,
    /// Website app (网站应用, Open Platform): `/connect/qrconnect` with `snsapi_login`.
    Website,
    /// Mini Program (小程序): `/sns/jscode2session`, `/wxa/*`.
    MiniProgram,
}

impl AppKind {
    /// The lower-case name used on the command line (`official`, `website`, `miniprogram`).
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Official => "official",
            AppKind::Website => "website",
            AppKind::MiniProgram => "miniprogram",
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppKind {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "official" | "oa" => Ok(AppKind::Official),
            "website" | "web" => Ok(AppKind::Website),
            "miniprogram" | "mp" => Ok(AppKind::MiniProgram),
            other => Err(crate::Error::Config(format!(
                "unknown app kind `{other}` (expected official, website or miniprogram)"
            ))),
        }
    }
}

/// An OAuth scope as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Base,
    UserInfo,
    Login,
}

impl Scope {
    pub(crate) fn parse(s: &str) -> Option<Scope> {
        match s {
            "snsapi_base" => Some(Scope::Base),
            "snsapi_userinfo" => Some(Scope::UserInfo),
            "snsapi_login" => Some(Scope::Login),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "snsapi_base",
            Scope::UserInfo => "snsapi_userinfo",
            Scope::Login => "snsapi_login",
        }
    }

    /// Whether `kind` may ask for this scope (docs/protocol.md §2).
    pub(crate) fn allowed_for(self, kind: AppKind) -> bool {
        matches!(
            (kind, self),
            (AppKind::Official, Scope::Base | Scope::UserInfo) | (AppKind::Website, Scope::Login)
        )
    }

    /// Scopes that may read the profile: `sns/userinfo` answers 48001 for the others (§1.4),
    /// and only these exchanges return a `unionid` (§1.2, §2.3).
    pub(crate) fn reads_profile(self) -> bool {
        matches!(self, Scope::UserInfo | Scope::Login)
    }
}

/// One configured app. The secret stays inside the crate: nothing prints it.
#[derive(Clone)]
pub(crate) struct App {
    pub appid: String,
    pub secret: String,
    pub kind: AppKind,
    /// Authorized callback host (`host` or `host:port`); `None` accepts loopback hosts on any port.
    pub domain: Option<String>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("appid", &self.appid)
            .field("secret", &"[redacted]")
            .field("kind", &self.kind)
            .field("domain", &self.domain)
            .finish()
    }
}

/// One sandbox user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub snapshot: bool,
    pub nickname: String,
    pub headimgurl: String,
    /// Mobile number for `getuserphonenumber` (mainland, no prefix).
    pub phone: String,
}

/// A public description of one app (no secret), as printed at start-up and listed by
/// `GET /__sandbox/config`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AppInfo {
    /// The appid.
    pub appid: String,
    /// The app's kind.
    #[serde(serialize_with = "serialize_kind")]
    pub kind: AppKind,
    /// The authorized callback host, or `None` for "any loopback host and port".
    pub domain: Option<String>,
}

fn serialize_kind<S: serde::Serializer>(kind: &AppKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// A public description of one user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The sandbox user id (`alice`), used in `X-Sandbox-User` and the library calls.
    pub id: String,
    /// Whether this is a snapshot-mode virtual account (`is_snapshotuser: 1`).
    pub snapshot: bool,
}

/// Key of the deterministic id derivation: ids are stable across runs and machines.
const ID_KEY: &[u8] = b"wechat-sandbox identity v1";

/// `"o" + base64url(HMAC(key, parts))[..27]`: 28 characters, the shape of real openids
/// (`oGZUI0egBJY1zhBYw2KhdUfwVJJE`). Snapshot users get ids from a separate namespace: their
/// ids are virtual-account ids, never the ones a real authorization would give (§1.7).
pub(crate) fn derive_id(namespace: &str, parts: &[&str]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(ID_KEY).expect("HMAC takes any key length");
    mac.update(namespace.as_bytes());
    for part in parts {
        mac.update(&[0]);
        mac.update(part.as_bytes());
    }
    let digest = mac.finalize().into_bytes();
    let mut id = String::with_capacity(28);
    id.push('o');
    id.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)[..27]);
    id
}

pub(crate) fn openid_for(appid: &str, user: &str, snapshot: bool) -> String {
    derive_id(
        if snapshot { "virtual-openid" } else { "openid" },
        &[appid, user],
    )
}

pub(crate) fn unionid_for(user: &str, snapshot: bool) -> String {
    derive_id(
        if snapshot {
            "virtual-unionid"
        } else {
            "unionid"
        },
        &[user],
    )
}

/// The immutable part of a running sandbox: apps, users and the lookups built from them.
#[derive(Debug)]
pub(crate) struct Directory {
    pub apps: Vec<App>,
    pub users: Vec<User>,
    app_index: HashMap<String, usize>,
    user_index: HashMap<String, usize>,
    /// openid → (app, user); openids embed the appid so they are unique across apps.
    openid_index: HashMap<String, (usize, usize)>,
    /// openids[app][user]
    openids: Vec<Vec<String>>,
    unionids: Vec<String>,
}

impl Directory {
    pub(crate) fn new(apps: Vec<App>, users: Vec<User>) -> Self {
        let app_index = apps
            .iter()
            .enumerate()
            .map(|(i, a)| (a.appid.clone(), i))
            .collect();
        let user_index = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let openids: Vec<Vec<String>> = apps
            .iter()
            .map(|a| {
                users
                    .iter()
                    .map(|u| openid_for(&a.appid, &u.id, u.snapshot))
                    .collect()
            })
            .collect();
        let mut openid_index = HashMap::new();
        for (ai, row) in openids.iter().enumerate() {
            for (ui, openid) in row.iter().enumerate() {
                openid_index.insert(openid.clone(), (ai, ui));
            }
        }
        let unionids = users
            .iter()
            .map(|u| unionid_for(&u.id, u.snapshot))
            .collect();
        Directory {
            apps,
            users,
            app_index,
            user_index,
            openid_index,
            openids,
            unionids,
        }
    }

    pub(crate) fn app(&self, appid: &str) -> Option<usize> {
        self.app_index.get(appid).copied()
    }

    pub(crate) fn user(&self, id: &str) -> Option<usize> {
        self.user_index.get(id).copied()
    }

    pub(crate) fn by_openid(&self, openid: &str) -> Option<(usize, usize)> {
        self.openid_index.get(openid).copied()
    }

    pub(crate) fn openid(&self, app: usize, user: usize) -> &str {
        &self.openids[app][user]
    }

    pub(crate) fn unionid(&self, user: usize) -> &str {
        &self.unionids[user]
    }

    pub(crate) fn app_infos(&self) -> Vec<AppInfo> {
        self.apps
            .iter()
            .map(|a| AppInfo {
                appid: a.appid.clone(),
                kind: a.kind,
                domain: a.domain.clone(),
            })
            .collect()
    }

    pub(crate) fn user_infos(&self) -> Vec<UserInfo> {
        self.users
            .iter()
            .map(|u| UserInfo {
                id: u.id.clone(),
                snapshot: u.snapshot,
            })
            .collect()
    }
}

/// A user with the profile the sandbox gives by default. Snapshot users look like WeChat's
/// virtual accounts: nickname "微信用户" and the grey default avatar (§1.7).
pub(crate) fn new_user(id: &str, snapshot: bool) -> User {
    let nickname = if snapshot {
        "微信用户".to_owned()
    } else {
        let mut chars = id.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    };
    // The last path segment selects the size (§1.4); 132 is what WeChat hands out.
    let headimgurl = format!(
        "https://thirdwx.qlogo.cn/mmopen/vi_32/{}/132",
        &derive_id("avatar", &[id])[1..]
    );
    let digits: u64 = derive_id("phone", &[id]).bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(131).wrapping_add(u64::from(b))
    }) % 100_000_000;
    User {
        id: id.to_owned(),
        snapshot,
        nickname,
        headimgurl,
        phone: format!("138{digits:08}"),
    }
}
