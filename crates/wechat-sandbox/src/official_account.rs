//! The Official Account's server side, as WeChat plays it: the account's server URL
//! (registered and verified with `echostr`), pushes of messages and events to it, QR-code
//! scans that follow or re-scan, followers (`cgi-bin/user/info`, `…/batchget`) and the
//! JS-SDK ticket (`cgi-bin/ticket/getticket`).
//!
//! Wire formats live in [`crate::push`]; this file keeps the state and the flows.

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::push::{self, PushAttempt, ServerMode};
use crate::qrcode::QrTicket;
use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::state::{ACCESS_TOKEN_TTL_S, Shared, random_token};
use crate::{AppKind, Error, Result, Sandbox};

/// WeChat's timeout for an answer to a push (`docs/message-interface.md` §3).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries of one push when the answer is slow: the first and two retries (a sandbox
/// reading of "重试三次"; configurable per push).
pub const DEFAULT_PUSH_TRIES: u32 = 3;
/// How many push records the sandbox keeps (oldest dropped first).
const MAX_PUSH_RECORDS: usize = 1000;

/// Where and how an Official Account's server URL is configured (服务器配置).
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The server URL (`http://…`; the sandbox does not speak TLS to servers).
    pub url: String,
    /// The token (令牌) both sides sign with.
    pub token: String,
    /// The 43-character EncodingAESKey, needed for the compatible and safe modes.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The message encryption mode.
    #[serde(default)]
    pub mode: ServerMode,
}

impl ServerConfig {
    /// A plaintext-mode server.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            encoding_aes_key: None,
            mode: ServerMode::Plain,
        }
    }

    /// Sets the EncodingAESKey and the mode.
    pub fn encrypted(mut self, encoding_aes_key: impl Into<String>, mode: ServerMode) -> Self {
        self.encoding_aes_key = Some(encoding_aes_key.into());
        self.mode = mode;
        self
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A registered server: the config with the key decoded.
#[derive(Clone)]
pub(crate) struct OaServer {
    url: String,
    token: String,
    key: Option<[u8; 32]>,
    mode: ServerMode,
}

impl std::fmt::Debug for OaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OaServer")
            .field("url", &self.url)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// How a push is delivered.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct PushOptions {
    /// Wait this long for each answer; default [`DEFAULT_PUSH_TIMEOUT`].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Deliveries at most; default [`DEFAULT_PUSH_TRIES`].
    #[serde(default)]
    pub tries: Option<u32>,
    /// Override the server's mode for this push (say, a compatible-mode account's
    /// plaintext push).
    #[serde(default)]
    pub mode: Option<ServerMode>,
}

impl PushOptions {
    /// Sets the per-delivery timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Sets the number of deliveries.
    pub fn tries(mut self, tries: u32) -> Self {
        self.tries = Some(tries);
        self
    }

    /// Sets the mode of this push.
    pub fn mode(mut self, mode: ServerMode) -> Self {
        self.mode = Some(mode);
        self
    }
}

/// How the sandbox judged the server's answer, as WeChat would before showing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReplyCheck {
    /// `success` (body `success`), `empty` (zero-length body), `message` (a valid passive
    /// reply), `invalid` (WeChat would show "该公众号暂时无法提供服务") or `none` (no answer
    /// at all: every delivery timed out or failed).
    pub verdict: String,
    /// Whether the reply came encrypted (and decrypted and verified).
    pub encrypted: bool,
    /// The reply's `MsgType`.
    pub msg_type: Option<String>,
    /// The reply's fields (decrypted), in order, nested ones as `Image/MediaId`.
    pub fields: Vec<(String, String)>,
    /// What was wrong, for `invalid`.
    pub problem: Option<String>,
}

impl ReplyCheck {
    /// The first value of a reply field.
    pub fn field(&self, name: &str) -> Option<&str> {
        push::field(&self.fields, name)
    }

    fn invalid(problem: impl Into<String>) -> Self {
        Self {
            verdict: "invalid".to_owned(),
            encrypted: false,
            msg_type: None,
            fields: Vec::new(),
            problem: Some(problem.into()),
        }
    }
}

/// One push and everything that came of it: each delivery and the judged reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushRecord {
    /// Sequence number since start (or reset).
    pub id: u64,
    /// The account.
    pub appid: String,
    /// The sandbox user who sent it.
    pub user: String,
    /// `MsgType` pushed.
    pub msg_type: String,
    /// `Event` pushed, for events.
    pub event: Option<String>,
    /// `plain`, `compatible` or `safe`.
    pub mode: ServerMode,
    /// The message's plaintext XML (before any encryption).
    pub message: String,
    /// Every delivery, in order.
    pub attempts: Vec<PushAttempt>,
    /// The answer of the last delivery that got one, judged.
    pub reply: ReplyCheck,
}

/// One follower of one account.
#[derive(Debug, Clone)]
pub(crate) struct Follower {
    subscribe_time: i64,
    /// The QR scene the user followed through, if any.
    qr_scene: Option<String>,
}

/// The Official Account state inside [`crate::state::State`].
#[derive(Debug, Default)]
pub(crate) struct OaState {
    servers: HashMap<usize, OaServer>,
    followers: HashMap<(usize, usize), Follower>,
    pub qrcodes: HashMap<String, QrTicket>,
    /// (app, ticket type) → (ticket, expiry ms).
    tickets: HashMap<(usize, String), (String, i64)>,
    pushes: Vec<PushRecord>,
    next_push: u64,
}

/// The original id (原始ID, `gh_` + 12 hex) pushes carry as `ToUserName`: derived from
/// the appid, stable across runs.
pub fn original_id(appid: &str) -> String {
    let digest = push::sha1_sorted(&["wechat-sandbox original id", appid]);
    format!("gh_{}", &digest[..12])
}

/// The app behind a server access token, which must be an Official Account's (48001 if
/// not: these APIs belong to Official Accounts).
pub(crate) fn official_app(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<usize, Reply> {
    let app = crate::server_token::check_server_token(ctx, req)?;
    if ctx.dir.apps[app].kind != AppKind::Official {
        return Err(Reply::errcode(req.path, 48001));
    }
    Ok(app)
}

/// `GET /cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card`: `{errcode 0, errmsg ok,
/// ticket, expires_in}`. The same ticket until it expires (7200 s), as WeChat's advice to
/// cache it globally implies.
pub(crate) fn getticket(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    crate::sns::require_get(req)?;
    let app = official_app(ctx, req)?;
    let kind = req.param("type").unwrap_or("jsapi");
    if kind != "jsapi" && kind != "wx_card" {
        return Err(Reply::errcode_with(req.path, 40097, "invalid args"));
    }
    let now_ms = ctx.now_ms;
    let entry = ctx
        .st
        .oa
        .tickets
        .entry((app, kind.to_owned()))
        .or_insert_with(|| (String::new(), 0));
    if entry.1 <= now_ms {
        *entry = (random_token("", 86), now_ms + ACCESS_TOKEN_TTL_S * 1000);
    }
    let (ticket, expires_ms) = entry.clone();
    Ok(Reply::api(
        req.path,
        &serde_json::json!({
            "errcode": 0, "errmsg": "ok", "ticket": ticket,
            "expires_in": (expires_ms - now_ms) / 1000,
        }),
    ))
}

fn lang_ok(lang: Option<&str>) -> bool {
    matches!(lang, None | Some("zh_CN" | "zh_TW" | "en"))
}

/// The follower record `user/info` returns. Since 2021-12-27 no nickname or avatar, and
/// since 2021-10 no gender or region (`docs/message-interface.md` §5): those keys are absent.
fn follower_json(ctx: &Ctx<'_>, app: usize, user: usize) -> serde_json::Value {
    let openid = ctx.dir.openid(app, user);
    let unionid = ctx.dir.unionid(user);
    match ctx.st.oa.followers.get(&(app, user)) {
        None => serde_json::json!({ "subscribe": 0, "openid": openid, "unionid": unionid }),
        Some(f) => {
            let (scene, qr_scene, qr_scene_str) = match &f.qr_scene {
                Some(s) => match s.parse::<i64>() {
                    Ok(id) => ("ADD_SCENE_QR_CODE", id, String::new()),
                    Err(_) => ("ADD_SCENE_QR_CODE", 0, s.clone()),
                },
                None => ("ADD_SCENE_SEARCH", 0, String::new()),
            };
            serde_json::json!({
                "subscribe": 1, "openid": openid, "language": "zh_CN",
                "subscribe_time": f.subscribe_time, "unionid": unionid, "remark": "",
                "groupid": 0, "tagid_list": [], "subscribe_scene": scene,
                "qr_scene": qr_scene, "qr_scene_str": qr_scene_str,
            })
        }
    }
}

fn user_of(ctx: &Ctx<'_>, app: usize, openid: &str) -> Option<usize> {
    ctx.dir
        .by_openid(openid)
        .filter(|(a, _)| *a == app)
        .map(|(_, u)| u)
}

/// `GET /cgi-bin/user/info?access_token=&openid=&lang=`: 41009 without openid, 40003 for an
/// openid of another app or nobody, 40035 for a bad `lang`.
pub(crate) fn user_info(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    crate::sns::require_get(req)?;
    let app = official_app(ctx, req)?;
    let openid = req
        .param("openid")
        .ok_or_else(|| Reply::errcode(req.path, 41009))?;
    if !lang_ok(req.param("lang")) {
        return Err(Reply::errcode(req.path, 40035));
    }
    let user = user_of(ctx, app, openid).ok_or_else(|| Reply::errcode(req.path, 40003))?;
    Ok(Reply::api(req.path, &follower_json(ctx, app, user)))
}

#[derive(Deserialize)]
struct BatchGet {
    user_list: Vec<BatchUser>,
}

#[derive(Deserialize)]
struct BatchUser {
    openid: String,
    lang: Option<String>,
}

/// `POST /cgi-bin/user/info/batchget?access_token=` with `{"user_list": [{openid, lang}]}`:
/// `{"user_info_list": […]}`. 47001 for a body that is not that JSON, 40035 for an empty list
/// or more than 100 entries (a sandbox choice of code), 40003 for a bad openid.
pub(crate) fn user_info_batchget(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    if req.method != Method::POST {
        return Err(Reply::errcode(req.path, 43002));
    }
    let app = official_app(ctx, req)?;
    let body: BatchGet =
        serde_json::from_slice(req.body).map_err(|_| Reply::errcode(req.path, 47001))?;
    if body.user_list.is_empty() || body.user_list.len() > 100 {
        return Err(Reply::errcode(req.path, 40035));
    }
    let mut list = Vec::with_capacity(body.user_list.len());
    for entry in &body.user_list {
        if !lang_ok(entry.lang.as_deref()) {
            return Err(Reply::errcode(req.path, 40035));
        }
        let user =
            user_of(ctx, app, &entry.openid).ok_or_else(|| Reply::errcode(req.path, 40003))?;
        list.push(follower_json(ctx, app, user));
    }
    Ok(Reply::api(
        req.path,
        &serde_json::json!({ "user_info_list": list }),
    ))
}

fn oa_error(message: impl Into<String>) -> Error {
    Error::OfficialAccount(message.into())
}

fn official_app_index(shared: &Shared, appid: &str) -> Result<usize> {
    let app = shared
        .dir
        .app(appid)
        .ok_or_else(|| Error::UnknownApp(appid.to_owned()))?;
    if shared.dir.apps[app].kind != AppKind::Official {
        return Err(Error::WrongAppKind {
            appid: appid.to_owned(),
            expected: AppKind::Official,
        });
    }
    Ok(app)
}

fn user_index(shared: &Shared, user: &str) -> Result<usize> {
    shared
        .dir
        .user(user)
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))
}

fn signature_params(token: &str, timestamp: &str, nonce: &str) -> Vec<(String, String)> {
    vec![
        (
            "signature".to_owned(),
            push::sha1_sorted(&[token, timestamp, nonce]),
        ),
        ("timestamp".to_owned(), timestamp.to_owned()),
        ("nonce".to_owned(), nonce.to_owned()),
    ]
}

/// Registers the account's server URL the way the admin console's 提交 does: WeChat sends
/// `GET url?signature&timestamp&nonce&echostr` and saves the configuration only if the
/// answer is HTTP 200 with exactly the `echostr` as body.
pub(crate) async fn register_server(
    shared: &Shared,
    appid: &str,
    config: ServerConfig,
) -> Result<PushAttempt> {
    let app = official_app_index(shared, appid)?;
    if !config.url.starts_with("http://") {
        return Err(oa_error("the sandbox delivers to http:// server URLs only"));
    }
    if config.token.is_empty() {
        return Err(oa_error("the server token must not be empty"));
    }
    let key = match (&config.encoding_aes_key, config.mode) {
        (None, ServerMode::Plain) => None,
        (None, _) => {
            return Err(oa_error(
                "the compatible and safe modes need an EncodingAESKey",
            ));
        }
        (Some(k), _) => Some(
            push::aes_key(k)
                .ok_or_else(|| oa_error("EncodingAESKey must be 43 characters of [A-Za-z0-9]"))?,
        ),
    };
    let now_ms = shared.now_ms();
    let timestamp = (now_ms / 1000).to_string();
    let nonce = push::nonce();
    let echostr = format!("{}", rand::random::<u64>() >> 1);
    let mut params = signature_params(&config.token, &timestamp, &nonce);
    params.push(("echostr".to_owned(), echostr.clone()));
    let attempt = push::send(
        Method::GET,
        &config.url,
        &params,
        "",
        DEFAULT_PUSH_TIMEOUT,
        1,
        now_ms,
    )
    .await;
    let verified = attempt.status == Some(200) && attempt.response.as_deref() == Some(&echostr);
    if !verified {
        let got = match (&attempt.status, &attempt.response, &attempt.error) {
            (Some(status), Some(body), _) => format!("HTTP {status} with body {body:?}"),
            (_, _, Some(e)) => format!("no answer ({e})"),
            _ => format!("no answer ({})", attempt.outcome),
        };
        return Err(oa_error(format!(
            "server URL verification failed (token验证失败): expected HTTP 200 with the echostr as the whole body, got {got}"
        )));
    }
    shared.lock().oa.servers.insert(
        app,
        OaServer {
            url: config.url,
            token: config.token,
            key,
            mode: config.mode,
        },
    );
    Ok(attempt)
}

/// Pushes one message or event from `user` to the account's server, retrying like WeChat,
/// and records it.
pub(crate) async fn push_message(
    shared: &Shared,
    appid: &str,
    user: &str,
    msg_type: &str,
    extra: Vec<(String, String)>,
    options: &PushOptions,
) -> Result<PushRecord> {
    let app = official_app_index(shared, appid)?;
    let user_idx = user_index(shared, user)?;
    if msg_type.is_empty() {
        return Err(oa_error("msg_type must not be empty"));
    }
    let now_ms = shared.now_ms();
    let (server, id) = {
        let mut st = shared.lock();
        let server = st.oa.servers.get(&app).cloned().ok_or_else(|| {
            oa_error(format!(
                "no server URL is registered for `{appid}`: register (and verify) one first"
            ))
        })?;
        st.oa.next_push += 1;
        (server, st.oa.next_push)
    };
    let mode = options.mode.unwrap_or(server.mode);
    let openid = shared.dir.openid(app, user_idx).to_owned();
    let account = original_id(appid);
    let create_time = (now_ms / 1000).to_string();
    let mut fields = vec![
        ("ToUserName".to_owned(), account.clone()),
        ("FromUserName".to_owned(), openid.clone()),
        ("CreateTime".to_owned(), create_time.clone()),
        ("MsgType".to_owned(), msg_type.to_owned()),
    ];
    let has_msg_id = extra.iter().any(|(k, _)| k == "MsgId");
    let event = extra
        .iter()
        .find(|(k, _)| k == "Event")
        .map(|(_, v)| v.clone());
    fields.extend(extra);
    if msg_type != "event" && !has_msg_id {
        // 64-bit ids below 2^63, like `7250021412600020992`.
        fields.push(("MsgId".to_owned(), (rand::random::<u64>() >> 1).to_string()));
    }
    let message = push::write_xml(&fields);
    let nonce = push::nonce();
    let mut params = signature_params(&server.token, &create_time, &nonce);
    params.push(("openid".to_owned(), openid.clone()));
    let body = match (mode, server.key) {
        (ServerMode::Plain, _) => message.clone(),
        (_, None) => {
            return Err(oa_error(
                "this push needs an EncodingAESKey, and the server has none",
            ));
        }
        (ServerMode::Compatible | ServerMode::Safe, Some(key)) => {
            let encrypt = push::encrypt(&key, appid, &message);
            params.push(("encrypt_type".to_owned(), "aes".to_owned()));
            params.push((
                "msg_signature".to_owned(),
                push::sha1_sorted(&[&server.token, &create_time, &nonce, &encrypt]),
            ));
            let mut envelope = if mode == ServerMode::Compatible {
                fields.clone()
            } else {
                vec![("ToUserName".to_owned(), account.clone())]
            };
            envelope.push(("Encrypt".to_owned(), encrypt));
            push::write_xml(&envelope)
        }
    };
    let timeout = options
        .timeout_ms
        .map_or(DEFAULT_PUSH_TIMEOUT, Duration::from_millis);
    let tries = options.tries.unwrap_or(DEFAULT_PUSH_TRIES).max(1);
    let mut attempts = Vec::new();
    for n in 1..=tries {
        let attempt = push::send(
            Method::POST,
            &server.url,
            &params,
            &body,
            timeout,
            n,
            shared.now_ms(),
        )
        .await;
        let answered = attempt.outcome == "answered";
        attempts.push(attempt);
        if answered {
            break;
        }
    }
    let reply = match attempts.iter().rev().find(|a| a.outcome == "answered") {
        Some(answer) => judge(&server, appid, &openid, &account, mode, answer),
        None => ReplyCheck {
            verdict: "none".to_owned(),
            ..ReplyCheck::invalid("no delivery got an answer")
        },
    };
    let record = PushRecord {
        id,
        appid: appid.to_owned(),
        user: user.to_owned(),
        msg_type: msg_type.to_owned(),
        event,
        mode,
        message,
        attempts,
        reply,
    };
    let mut st = shared.lock();
    if st.oa.pushes.len() >= MAX_PUSH_RECORDS {
        st.oa.pushes.remove(0);
    }
    st.oa.pushes.push(record.clone());
    Ok(record)
}

const REPLY_TYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "transfer_customer_service",
];

/// Judges a server's answer as WeChat does before it shows anything to the user
/// (`docs/message-interface.md` §3, §4).
fn judge(
    server: &OaServer,
    appid: &str,
    openid: &str,
    account: &str,
    mode: ServerMode,
    answer: &PushAttempt,
) -> ReplyCheck {
    if answer.status != Some(200) {
        return ReplyCheck::invalid(format!("HTTP status {:?}", answer.status));
    }
    let body = answer.response.as_deref().unwrap_or("");
    if body == "success" || body.is_empty() {
        return ReplyCheck {
            verdict: if body.is_empty() { "empty" } else { "success" }.to_owned(),
            encrypted: false,
            msg_type: None,
            fields: Vec::new(),
            problem: None,
        };
    }
    let outer = match push::read_xml(body) {
        Ok(f) => f,
        Err(e) => return ReplyCheck::invalid(e),
    };
    let (fields, encrypted) = match push::field(&outer, "Encrypt") {
        Some(encrypt) => {
            let Some(key) = server.key else {
                return ReplyCheck::invalid("an encrypted reply, but the account has no key");
            };
            let timestamp = push::field(&outer, "TimeStamp").unwrap_or("");
            let nonce = push::field(&outer, "Nonce").unwrap_or("");
            let given = push::field(&outer, "MsgSignature").unwrap_or("");
            if timestamp.is_empty()
                || timestamp.len() > 10
                || !timestamp.bytes().all(|b| b.is_ascii_digit())
            {
                return ReplyCheck::invalid("TimeStamp must be unix seconds");
            }
            if given != push::sha1_sorted(&[&server.token, timestamp, nonce, encrypt]) {
                return ReplyCheck::invalid("MsgSignature does not match");
            }
            let (inner, reply_appid) = match push::decrypt(&key, encrypt) {
                Ok(pair) => pair,
                Err(e) => return ReplyCheck::invalid(e),
            };
            if reply_appid != appid {
                return ReplyCheck::invalid("the reply was encrypted for another appid");
            }
            match push::read_xml(&inner) {
                Ok(f) => (f, true),
                Err(e) => return ReplyCheck::invalid(e),
            }
        }
        None if mode == ServerMode::Safe => {
            return ReplyCheck::invalid("safe mode: the reply must be encrypted");
        }
        None => (outer, false),
    };
    let check = |problem: &str| ReplyCheck {
        encrypted,
        ..ReplyCheck::invalid(problem)
    };
    if push::field(&fields, "ToUserName") != Some(openid) {
        return check("ToUserName must be the user's openid (the push's FromUserName)");
    }
    if push::field(&fields, "FromUserName") != Some(account) {
        return check("FromUserName must be the account's id (the push's ToUserName)");
    }
    if !push::field(&fields, "CreateTime")
        .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
    {
        return check("CreateTime must be unix seconds");
    }
    let msg_type = push::field(&fields, "MsgType").unwrap_or("");
    if !REPLY_TYPES.contains(&msg_type) {
        return check("MsgType is not a passive reply type");
    }
    let required: &[&str] = match msg_type {
        "text" => &["Content"],
        "image" => &["Image/MediaId"],
        "voice" => &["Voice/MediaId"],
        "video" => &["Video/MediaId"],
        "music" => &["Music/ThumbMediaId"],
        "news" => &["ArticleCount"],
        _ => &[],
    };
    for name in required {
        if push::field(&fields, name).is_none_or(str::is_empty) {
            return check(&format!("{name} is missing or empty"));
        }
    }
    if msg_type == "news" {
        let items = fields
            .iter()
            .filter(|(k, _)| k == "Articles/item/Title")
            .count();
        let count = push::field(&fields, "ArticleCount").and_then(|c| c.parse::<usize>().ok());
        if count != Some(items) || !(1..=8).contains(&items) {
            return check("ArticleCount must match 1..=8 Articles/item entries");
        }
    }
    ReplyCheck {
        verdict: "message".to_owned(),
        encrypted,
        msg_type: Some(msg_type.to_owned()),
        fields,
        problem: None,
    }
}

/// What a user scans: a ticket, or the newest live QR code of a scene.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub enum ScanTarget {
    /// The ticket `qrcode/create` returned.
    #[serde(rename = "ticket")]
    Ticket(String),
    /// A scene (`scene_id` digits or `scene_str`).
    #[serde(rename = "scene")]
    Scene(String),
}

/// `user` scans a parametric QR code: a `subscribe` with `EventKey = qrscene_<scene>` if
/// they do not follow yet (they follow from then on), a `SCAN` with `EventKey = <scene>` if
/// they do. Scanning an expired code is refused (a sandbox choice: WeChat's behaviour
/// there is undocumented).
pub(crate) async fn scan(
    shared: &Shared,
    appid: &str,
    user: &str,
    target: &ScanTarget,
    options: &PushOptions,
) -> Result<PushRecord> {
    let app = official_app_index(shared, appid)?;
    let user_idx = user_index(shared, user)?;
    let now_ms = shared.now_ms();
    let fields = {
        let mut st = shared.lock();
        let found = match target {
            ScanTarget::Ticket(ticket) => st
                .oa
                .qrcodes
                .get(ticket)
                .filter(|q| q.app == app)
                .map(|q| (ticket.clone(), q.clone())),
            ScanTarget::Scene(scene) => st
                .oa
                .qrcodes
                .iter()
                .filter(|(_, q)| q.app == app && &q.scene == scene)
                .filter(|(_, q)| q.expires_ms.is_none_or(|e| e > now_ms))
                .max_by_key(|(_, q)| q.expires_ms.unwrap_or(i64::MAX))
                .map(|(t, q)| (t.clone(), q.clone())),
        };
        let (ticket, qr) = found.ok_or_else(|| oa_error("no such QR code for this account"))?;
        if qr.expires_ms.is_some_and(|e| e <= now_ms) {
            return Err(oa_error("this QR code has expired"));
        }
        let follows = st.oa.followers.contains_key(&(app, user_idx));
        if follows {
            vec![
                ("Event".to_owned(), "SCAN".to_owned()),
                ("EventKey".to_owned(), qr.scene.clone()),
                ("Ticket".to_owned(), ticket),
            ]
        } else {
            st.oa.followers.insert(
                (app, user_idx),
                Follower {
                    subscribe_time: now_ms / 1000,
                    qr_scene: Some(qr.scene.clone()),
                },
            );
            vec![
                ("Event".to_owned(), "subscribe".to_owned()),
                ("EventKey".to_owned(), format!("qrscene_{}", qr.scene)),
                ("Ticket".to_owned(), ticket),
            ]
        }
    };
    push_message(shared, appid, user, "event", fields, options).await
}

/// `user` follows (searching the account) or unfollows, and the account's server hears
/// of it when one is registered.
pub(crate) async fn set_following(
    shared: &Shared,
    appid: &str,
    user: &str,
    follow: bool,
    options: &PushOptions,
) -> Result<Option<PushRecord>> {
    let app = official_app_index(shared, appid)?;
    let user_idx = user_index(shared, user)?;
    let registered = {
        let mut st = shared.lock();
        if follow {
            st.oa.followers.insert(
                (app, user_idx),
                Follower {
                    subscribe_time: shared.now_ms() / 1000,
                    qr_scene: None,
                },
            );
        } else {
            st.oa.followers.remove(&(app, user_idx));
        }
        st.oa.servers.contains_key(&app)
    };
    if !registered {
        return Ok(None);
    }
    let event = if follow { "subscribe" } else { "unsubscribe" };
    let fields = vec![("Event".to_owned(), event.to_owned())];
    push_message(shared, appid, user, "event", fields, options)
        .await
        .map(Some)
}

#[derive(Deserialize)]
struct RegisterBody {
    appid: String,
    #[serde(flatten)]
    config: ServerConfig,
}

#[derive(Deserialize)]
struct PushBody {
    appid: String,
    user: String,
    msg_type: String,
    /// `[["Content", "hi"], …]` in order, or `{"Content": "hi"}`.
    #[serde(default)]
    fields: Fields,
    #[serde(flatten)]
    options: PushOptions,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Fields {
    #[default]
    None,
    Pairs(Vec<(String, String)>),
    Map(serde_json::Map<String, serde_json::Value>),
}

impl Fields {
    fn into_pairs(self) -> Vec<(String, String)> {
        match self {
            Fields::None => Vec::new(),
            Fields::Pairs(pairs) => pairs,
            Fields::Map(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct ScanBody {
    appid: String,
    user: String,
    ticket: Option<String>,
    scene: Option<String>,
    #[serde(flatten)]
    options: PushOptions,
}

#[derive(Deserialize)]
struct FollowBody {
    appid: String,
    user: String,
    #[serde(flatten)]
    options: PushOptions,
}

fn bad_request(message: &str) -> Reply {
    Reply::control_error(StatusCode::BAD_REQUEST, message)
}

fn json<T: for<'de> Deserialize<'de>>(req: &Req<'_>) -> Result<T, Reply> {
    serde_json::from_slice(req.body).map_err(|e| bad_request(&format!("bad JSON body: {e}")))
}

/// The Official Account's control-plane routes, `/__sandbox/oa/*` (see the crate docs).
pub(crate) async fn control(shared: &Shared, route: &str, req: &Req<'_>) -> Reply {
    let result: Result<Reply, Reply> = async {
        let lib = |e: Error| bad_request(&e.to_string());
        let ok = |value: &dyn erased::Json| Ok(value.reply());
        match (req.method, route) {
            (&Method::POST, "server") => {
                let body: RegisterBody = json(req)?;
                let attempt = register_server(shared, &body.appid, body.config)
                    .await
                    .map_err(lib)?;
                ok(&serde_json::json!({ "verified": true, "attempt": attempt }))
            }
            (&Method::POST, "push") => {
                let body: PushBody = json(req)?;
                let record = push_message(
                    shared,
                    &body.appid,
                    &body.user,
                    &body.msg_type,
                    body.fields.into_pairs(),
                    &body.options,
                )
                .await
                .map_err(lib)?;
                ok(&record)
            }
            (&Method::POST, "scan") => {
                let body: ScanBody = json(req)?;
                let target = match (body.ticket, body.scene) {
                    (Some(t), None) => ScanTarget::Ticket(t),
                    (None, Some(s)) => ScanTarget::Scene(s),
                    _ => return Err(bad_request("give exactly one of `ticket` and `scene`")),
                };
                let record = scan(shared, &body.appid, &body.user, &target, &body.options)
                    .await
                    .map_err(lib)?;
                ok(&record)
            }
            (&Method::POST, "follow" | "unfollow") => {
                let body: FollowBody = json(req)?;
                let record = set_following(
                    shared,
                    &body.appid,
                    &body.user,
                    route == "follow",
                    &body.options,
                )
                .await
                .map_err(lib)?;
                ok(&serde_json::json!({ "push": record }))
            }
            (&Method::GET, "pushes") => ok(&shared.lock().oa.pushes),
            (&Method::DELETE, "pushes") => {
                let mut st = shared.lock();
                let cleared = st.oa.pushes.len();
                st.oa.pushes.clear();
                ok(&serde_json::json!({ "cleared": cleared }))
            }
            _ => Err(Reply::control_error(
                StatusCode::NOT_FOUND,
                &format!(
                    "no control-plane route for {} /__sandbox/oa/{route}",
                    req.method
                ),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|reply| reply)
}

/// Serializing through a trait object keeps `control`'s arms short.
mod erased {
    pub(super) trait Json {
        fn reply(&self) -> crate::reply::Reply;
    }

    impl<T: serde::Serialize> Json for T {
        fn reply(&self) -> crate::reply::Reply {
            crate::reply::Reply::control(hyper::StatusCode::OK, self)
        }
    }
}

/// The Official Account's server side, for tests in this process.
impl Sandbox {
    /// Registers `appid`'s server URL and verifies it as WeChat does: a `GET` with
    /// `signature`, `timestamp`, `nonce` and `echostr`, which must be answered with
    /// exactly the `echostr`. Returns that request and its answer.
    ///
    /// # Errors
    /// [`Error::OfficialAccount`] when the configuration is unusable or the server does not
    /// answer the `echostr` (then nothing is registered).
    pub async fn register_server(&self, appid: &str, config: ServerConfig) -> Result<PushAttempt> {
        register_server(&self.shared, appid, config).await
    }

    /// `user` sends a message (`msg_type` `text`, `image`, …, or any other) or triggers an
    /// event (`msg_type` `event` with an `Event` field) to `appid`'s registered server.
    /// `fields` come after the header (`ToUserName`, `FromUserName`, `CreateTime`,
    /// `MsgType`); `a/b` paths nest; a `MsgId` is added to messages that lack one.
    ///
    /// # Errors
    /// Unknown app or user, or no registered server. A server that fails to answer is not
    /// an error: see [`PushRecord::reply`].
    pub async fn push(
        &self,
        appid: &str,
        user: &str,
        msg_type: &str,
        fields: &[(&str, &str)],
        options: PushOptions,
    ) -> Result<PushRecord> {
        let fields = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        push_message(&self.shared, appid, user, msg_type, fields, &options).await
    }

    /// `user` scans a parametric QR code of `appid` (see [`ScanTarget`]): `subscribe` with
    /// `EventKey = qrscene_<scene>` when they do not follow yet, `SCAN` otherwise.
    ///
    /// # Errors
    /// Unknown app, user or QR code, an expired code, or no registered server (the follow
    /// still counts).
    pub async fn scan(
        &self,
        appid: &str,
        user: &str,
        target: ScanTarget,
        options: PushOptions,
    ) -> Result<PushRecord> {
        scan(&self.shared, appid, user, &target, &options).await
    }

    /// `user` follows (`true`) or unfollows `appid`; the registered server, if any, gets
    /// the `subscribe` / `unsubscribe` event.
    ///
    /// # Errors
    /// Unknown app or user.
    pub async fn set_following(
        &self,
        appid: &str,
        user: &str,
        follow: bool,
        options: PushOptions,
    ) -> Result<Option<PushRecord>> {
        set_following(&self.shared, appid, user, follow, &options).await
    }

    /// Every push since start (or reset), oldest first.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.lock().oa.pushes.clone()
    }

    /// The account id (`gh_…`) pushes from `appid` carry as `ToUserName`.
    pub fn original_id(&self, appid: &str) -> String {
        original_id(appid)
    }
}
