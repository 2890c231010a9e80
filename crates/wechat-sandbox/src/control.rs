//! The control plane under `/__sandbox/`: the library's operations for other processes.
//! Shapes are documented in the crate docs ("Control plane").

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::fault::Fault;

/// Largest control-plane request body (a `respond` fault's body is most of it).
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most faults one `POST /__sandbox/faults` may queue (`count`).
pub(crate) const MAX_FAULT_COUNT: usize = 1000;
/// Most faults queued at once, over every path.
pub(crate) const MAX_QUEUED_FAULTS: usize = 10_000;
/// Longest `delay` fault: a test that needs a slower WeChat is measuring something else.
pub(crate) const MAX_DELAY_MS: u64 = 10 * 60 * 1000;
/// Largest `respond` body.
pub(crate) const MAX_RESPOND_BODY_BYTES: usize = 64 * 1024;
/// Longest fault path.
const MAX_PATH_LEN: usize = 256;
use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::shape::Shapes;
use crate::state::Shared;

#[derive(Deserialize)]
struct AppUser {
    appid: String,
    user: String,
}

#[derive(Deserialize)]
struct MintCode {
    appid: String,
    user: String,
    scope: String,
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    ms: i64,
}

/// `{"path": "/sns/userinfo", "fault": "errcode" | "html502" | "empty_gbk" | "truncated_json"
/// | "delay" | "reset" | "respond", "errcode": 45011, "ms": 1500, "count": 1,
/// "status": 200, "content_type": "text/plain", "body": "…"}`
#[derive(Deserialize)]
pub(crate) struct FaultSpec {
    path: String,
    fault: String,
    errcode: Option<i64>,
    ms: Option<u64>,
    count: Option<usize>,
    status: Option<u16>,
    content_type: Option<String>,
    body: Option<String>,
}

impl FaultSpec {
    /// The fault to queue and how many times, or why the spec is refused.
    fn checked(&self) -> Result<(Fault, usize), String> {
        let path = &self.path;
        if !path.starts_with('/')
            || path.len() > MAX_PATH_LEN
            || path.contains(|c: char| c.is_control() || c == '?' || c == '#')
        {
            return Err(format!(
                "`path` must be a request path (`/sns/userinfo`): starting with `/`, at most \
                 {MAX_PATH_LEN} bytes, without a query, fragment or control characters"
            ));
        }
        let count = self.count.unwrap_or(1);
        if !(1..=MAX_FAULT_COUNT).contains(&count) {
            return Err(format!(
                "`count` must be between 1 and {MAX_FAULT_COUNT}, got {count}"
            ));
        }
        Ok((self.to_fault()?, count))
    }

    fn to_fault(&self) -> Result<Fault, String> {
        Ok(match self.fault.as_str() {
            "errcode" => Fault::ErrCode(
                self.errcode
                    .ok_or("fault `errcode` needs an `errcode` number")?,
            ),
            "html502" => Fault::Html502,
            "empty_gbk" => Fault::EmptyGbk,
            "truncated_json" => Fault::TruncatedJson,
            "delay" => {
                let ms = self.ms.ok_or("fault `delay` needs `ms`")?;
                if ms > MAX_DELAY_MS {
                    return Err(format!(
                        "fault `delay` takes at most {MAX_DELAY_MS} ms, got {ms}"
                    ));
                }
                Fault::Delay(Duration::from_millis(ms))
            }
            "reset" => Fault::Reset,
            "respond" => {
                let status = self.status.unwrap_or(200);
                if StatusCode::from_u16(status).is_err() {
                    return Err(format!(
                        "`status` must be an HTTP status (100–999), got {status}"
                    ));
                }
                let content_type = self
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "text/plain".to_owned());
                if hyper::header::HeaderValue::from_str(&content_type).is_err() {
                    return Err("`content_type` is not a valid header value".to_owned());
                }
                let body = self.body.clone().ok_or("fault `respond` needs a `body`")?;
                if body.len() > MAX_RESPOND_BODY_BYTES {
                    return Err(format!(
                        "a `respond` body is limited to {MAX_RESPOND_BODY_BYTES} bytes, got {}",
                        body.len()
                    ));
                }
                Fault::Respond {
                    status,
                    content_type,
                    body,
                }
            }
            other => {
                return Err(format!(
                    "unknown fault `{other}` (errcode, html502, empty_gbk, truncated_json, delay, reset, respond)"
                ));
            }
        })
    }
}

pub(crate) fn fault_name(fault: &Fault) -> serde_json::Value {
    match fault {
        Fault::ErrCode(code) => serde_json::json!({ "fault": "errcode", "errcode": code }),
        Fault::Html502 => serde_json::json!({ "fault": "html502" }),
        Fault::EmptyGbk => serde_json::json!({ "fault": "empty_gbk" }),
        Fault::TruncatedJson => serde_json::json!({ "fault": "truncated_json" }),
        Fault::Delay(d) => serde_json::json!({ "fault": "delay", "ms": d.as_millis() as u64 }),
        Fault::Reset => serde_json::json!({ "fault": "reset" }),
        Fault::Respond {
            status,
            content_type,
            body,
        } => serde_json::json!({
            "fault": "respond", "status": status, "content_type": content_type, "body": body,
        }),
    }
}

/// `POST /__sandbox/shapes`: the fields to change; absent ones stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapesPatch {
    /// Absent: unchanged; `null`: leave `language` out; a string: send it.
    #[serde(default, deserialize_with = "present")]
    language: Option<Option<String>>,
    unionid: Option<bool>,
    escape_slashes: Option<bool>,
    errmsg: Option<String>,
    sns_content_type: Option<String>,
    refresh_scope_trailing_comma: Option<bool>,
}

/// A field that is present, `null` included, is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl ShapesPatch {
    fn apply(self, shapes: &mut Shapes) -> Result<(), crate::Error> {
        if let Some(language) = self.language {
            shapes.language = language;
        }
        if let Some(unionid) = self.unionid {
            shapes.unionid = unionid;
        }
        if let Some(escape) = self.escape_slashes {
            shapes.escape_slashes = escape;
        }
        if let Some(errmsg) = self.errmsg {
            shapes.errmsg = errmsg.parse()?;
        }
        if let Some(content_type) = self.sns_content_type {
            shapes.sns_content_type = content_type.parse()?;
        }
        if let Some(comma) = self.refresh_scope_trailing_comma {
            shapes.refresh_scope_trailing_comma = comma;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct ConfigUser<'a> {
    id: &'a str,
    snapshot: bool,
    unionid: &'a str,
    openids: BTreeMap<&'a str, &'a str>,
}

fn json_body<T: for<'de> Deserialize<'de>>(req: &Req<'_>) -> Result<T, Reply> {
    serde_json::from_slice(req.body)
        .map_err(|e| Reply::control_error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}")))
}

fn lib_error(e: crate::Error) -> Reply {
    Reply::control_error(StatusCode::BAD_REQUEST, &e.to_string())
}

pub(crate) fn handle(shared: &Shared, route: &str, req: &Req<'_>) -> Reply {
    match run(shared, route, req) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn run(shared: &Shared, route: &str, req: &Req<'_>) -> Result<Reply, Reply> {
    let ok = |value: serde_json::Value| Ok(Reply::control(StatusCode::OK, &value));
    let method = req.method;
    match (method, route) {
        (&Method::GET, "journal" | "requests") => {
            Ok(Reply::control(StatusCode::OK, &shared.lock().journal))
        }
        (&Method::DELETE, "journal") | (&Method::POST, "journal/clear") => {
            let cleared = shared.lock().clear_journal();
            ok(serde_json::json!({ "cleared": cleared }))
        }
        (&Method::GET, "stats") => {
            let st = shared.lock();
            let requests: BTreeMap<&str, u64> =
                st.counts.iter().map(|(p, n)| (p.as_str(), *n)).collect();
            ok(serde_json::json!({
                "requests": requests,
                "journal_len": st.journal.len(),
                "journal_dropped": st.journal_dropped,
                // Issued web-auth tokens held, expired ones not yet swept included.
                "tokens": {
                    "access": st.access_tokens.len(),
                    "refresh": st.refresh_tokens.len(),
                },
            }))
        }
        (&Method::GET, "clock") => ok(serde_json::json!({ "now_ms": shared.now_ms() })),
        (&Method::POST, "clock/advance") => {
            let advance: Advance = json_body(req)?;
            if advance.seconds < 0 || advance.ms < 0 {
                return Err(Reply::control_error(
                    StatusCode::BAD_REQUEST,
                    "the sandbox clock only moves forward (use /__sandbox/reset to go back)",
                ));
            }
            let offset_ms = shared.advance_clock_ms(
                advance
                    .seconds
                    .saturating_mul(1000)
                    .saturating_add(advance.ms),
            );
            ok(serde_json::json!({ "now_ms": shared.now_ms(), "offset_ms": offset_ms }))
        }
        (&Method::GET, "faults") => {
            let st = shared.lock();
            let pending: BTreeMap<&str, Vec<serde_json::Value>> = st
                .faults
                .iter()
                .map(|(path, q)| (path.as_str(), q.iter().map(fault_name).collect()))
                .collect();
            Ok(Reply::control(StatusCode::OK, &pending))
        }
        (&Method::POST, "faults") => {
            let spec: FaultSpec = json_body(req)?;
            let (fault, count) = spec
                .checked()
                .map_err(|e| Reply::control_error(StatusCode::BAD_REQUEST, &e))?;
            let mut st = shared.lock();
            let queued: usize = st.faults.values().map(|q| q.len()).sum();
            if queued + count > MAX_QUEUED_FAULTS {
                return Err(Reply::control_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "at most {MAX_QUEUED_FAULTS} faults may be queued at once ({queued} are); \
                         DELETE /__sandbox/faults to clear them"
                    ),
                ));
            }
            let queue = st.faults.entry(spec.path.clone()).or_default();
            for _ in 0..count {
                queue.push_back(fault.clone());
            }
            ok(serde_json::json!({ "path": spec.path, "queued": queue.len() }))
        }
        (&Method::DELETE, "faults") => {
            shared.lock().faults.clear();
            ok(serde_json::json!({ "ok": true }))
        }
        (&Method::POST, "codes") => {
            let mint: MintCode = json_body(req)?;
            let now_ms = shared.now_ms();
            let mut st = shared.lock();
            let mut ctx = Ctx {
                dir: &shared.dir,
                st: &mut st,
                now_ms,
            };
            let code = crate::mint_code_in(&mut ctx, &mint.appid, &mint.user, &mint.scope)
                .map_err(lib_error)?;
            ok(serde_json::json!({ "code": code }))
        }
        (&Method::GET, "shapes") => Ok(Reply::control(
            StatusCode::OK,
            &shared.lock().shapes.to_json(),
        )),
        (&Method::POST, "shapes") => {
            let patch: ShapesPatch = json_body(req)?;
            let mut st = shared.lock();
            let mut shapes = Shapes::clone(&st.shapes);
            patch.apply(&mut shapes).map_err(lib_error)?;
            let answer = shapes.to_json();
            st.shapes = std::sync::Arc::new(shapes);
            ok(answer)
        }
        (&Method::POST, "reset") => {
            shared.reset();
            ok(serde_json::json!({ "ok": true }))
        }
        (&Method::POST, "mp/login" | "mp/phone_code" | "mp/userinfo") => {
            let AppUser { appid, user } = json_body(req)?;
            let now_ms = shared.now_ms();
            let mut st = shared.lock();
            let mut ctx = Ctx {
                dir: &shared.dir,
                st: &mut st,
                now_ms,
            };
            match route {
                "mp/login" => {
                    let js_code =
                        crate::miniprogram::login(&mut ctx, &appid, &user).map_err(lib_error)?;
                    ok(serde_json::json!({ "js_code": js_code }))
                }
                "mp/phone_code" => {
                    let code = crate::miniprogram::phone_code(&mut ctx, &appid, &user)
                        .map_err(lib_error)?;
                    ok(serde_json::json!({ "code": code }))
                }
                _ => {
                    let info =
                        crate::miniprogram::userinfo(&mut ctx, &appid, &user).map_err(lib_error)?;
                    Ok(Reply::control(StatusCode::OK, &info))
                }
            }
        }
        (&Method::GET, "config") => {
            let dir = &shared.dir;
            let users: Vec<ConfigUser<'_>> = dir
                .users
                .iter()
                .enumerate()
                .map(|(ui, u)| ConfigUser {
                    id: &u.id,
                    snapshot: u.snapshot,
                    unionid: dir.unionid(ui),
                    openids: dir
                        .apps
                        .iter()
                        .enumerate()
                        .map(|(ai, a)| (a.appid.as_str(), dir.openid(ai, ui)))
                        .collect(),
                })
                .collect();
            ok(serde_json::json!({ "apps": dir.app_infos(), "users": users }))
        }
        (&Method::GET, "check-authorize-url") => {
            let Some(url) = req.param("url") else {
                return Err(Reply::control_error(
                    StatusCode::BAD_REQUEST,
                    "query parameter `url` is required",
                ));
            };
            let now_ms = shared.now_ms();
            let mut st = shared.lock();
            let ctx = Ctx {
                dir: &shared.dir,
                st: &mut st,
                now_ms,
            };
            match crate::connect::check_url(&ctx, url) {
                Ok(()) => ok(serde_json::json!({ "ok": true })),
                Err(problem) => ok(serde_json::json!({
                    "ok": false,
                    "errcode": problem.errcode,
                    "message": problem.message,
                    "detail": problem.detail,
                })),
            }
        }
        (&Method::GET, "consent") => {
            let now_ms = shared.now_ms();
            let mut st = shared.lock();
            let mut ctx = Ctx {
                dir: &shared.dir,
                st: &mut st,
                now_ms,
            };
            Ok(crate::connect::consent(&mut ctx, req))
        }
        _ => Err(Reply::control_error(
            StatusCode::NOT_FOUND,
            &format!("no control-plane route for {method} /__sandbox/{route}"),
        )),
    }
}
