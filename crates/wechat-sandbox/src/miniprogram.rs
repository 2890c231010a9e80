//! Mini Program login: `sns/jscode2session`, `wxa/checksession`, `wxa/business/getuserphonenumber`
//! (docs/protocol.md §4), and the device stand-ins behind `/__sandbox/mp/*`.

use aes::cipher::{BlockModeEncrypt as _, KeyIvInit as _, block_padding::Pkcs7};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use hyper::Method;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::Error;
use crate::model::{AppKind, Scope};
use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::state::{CODE_TTL_MS, CodeGrant, issue_code, redeem_code};

#[derive(Serialize)]
struct SessionBody<'a> {
    session_key: &'a str,
    openid: &'a str,
    /// Only for Mini Programs bound to an Open Platform account (`Shapes::unionid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
}

/// `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` (§4.1).
/// Success carries no `errcode` and no `expires_in` (§0 "Success envelope").
pub(crate) fn jscode2session(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    crate::sns::require_get(req)?;
    let app = crate::sns::authenticate_app(ctx, req)?;
    let js_code = req
        .param("js_code")
        .ok_or_else(|| Reply::errcode(req.path, 41008))?;
    if req.param("grant_type") != Some("authorization_code") {
        return Err(Reply::errcode(req.path, 40002));
    }
    let grant = redeem_code(&mut ctx.st.js_codes, js_code, app, ctx.now_ms)
        .map_err(|errcode| Reply::errcode(req.path, errcode))?;
    let session_key = ctx
        .st
        .session_keys
        .entry((app, grant.user))
        .or_insert_with(new_session_key)
        .clone();
    let body = SessionBody {
        session_key: &session_key,
        openid: ctx.dir.openid(app, grant.user),
        unionid: ctx.st.shapes.unionid.then(|| ctx.dir.unionid(grant.user)),
    };
    Ok(Reply::api(req.path, &body))
}

/// `GET /wxa/checksession?access_token&openid&signature&sig_method=hmac_sha256` (§4.4):
/// `signature = hex(hmac_sha256(key = session_key text, message = ""))`; 87009 when it does not
/// match the user's *current* session_key.
pub(crate) fn checksession(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    crate::sns::require_get(req)?;
    let app = crate::server_token::check_server_token(ctx, req)?;
    let openid = req
        .param("openid")
        .ok_or_else(|| Reply::errcode(req.path, 41009))?;
    let user = match ctx.dir.by_openid(openid) {
        Some((a, u)) if a == app => u,
        _ => return Err(Reply::errcode(req.path, 40003)),
    };
    let signature = req.param("signature").unwrap_or("");
    let expected = ctx
        .st
        .session_keys
        .get(&(app, user))
        .map(|key| checksession_signature(key));
    if req.param("sig_method") != Some("hmac_sha256") || expected.as_deref() != Some(signature) {
        return Err(Reply::errcode(req.path, 87009));
    }
    Ok(Reply::ok(req.path))
}

pub(crate) fn checksession_signature(session_key: &str) -> String {
    let mac =
        <Hmac<Sha256>>::new_from_slice(session_key.as_bytes()).expect("HMAC takes any key length");
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Deserialize)]
struct PhoneRequest {
    code: Option<String>,
    openid: Option<String>,
}

#[derive(Serialize)]
struct PhoneBody<'a> {
    errcode: i64,
    errmsg: &'a str,
    phone_info: PhoneInfo<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo<'a> {
    phone_number: &'a str,
    pure_phone_number: &'a str,
    /// A number, as in the official example (the doc table says string; §4.5).
    country_code: u32,
    watermark: Watermark<'a>,
}

#[derive(Serialize)]
struct Watermark<'a> {
    timestamp: i64,
    appid: &'a str,
}

/// `POST /wxa/business/getuserphonenumber?access_token` with JSON `{"code", "openid"?}` (§4.5).
/// A body that is not a JSON object answers 47001; a missing code 40029 (as observed when the
/// code was sent in the query string instead).
pub(crate) fn getuserphonenumber(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    if req.method != Method::POST {
        return Err(Reply::errcode(req.path, 43002));
    }
    let app = crate::server_token::check_server_token(ctx, req)?;
    let body: PhoneRequest =
        serde_json::from_slice(req.body).map_err(|_| Reply::errcode(req.path, 47001))?;
    let code = body
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Reply::errcode(req.path, 40029))?;
    // "填入后会校验openid和code的绑定关系": a mismatch fails without using up the code.
    if let Some(openid) = body.openid.as_deref().filter(|o| !o.is_empty())
        && let Some(pending) = ctx.st.phone_codes.get(code)
        && pending.app == app
        && openid != ctx.dir.openid(app, pending.user)
    {
        return Err(Reply::errcode(req.path, 40003));
    }
    let grant = redeem_code(&mut ctx.st.phone_codes, code, app, ctx.now_ms)
        .map_err(|errcode| Reply::errcode(req.path, errcode))?;
    let phone = &ctx.dir.users[grant.user].phone;
    let body = PhoneBody {
        errcode: 0,
        errmsg: "ok",
        phone_info: PhoneInfo {
            phone_number: phone,
            pure_phone_number: phone,
            country_code: 86,
            watermark: Watermark {
                timestamp: ctx.now_ms / 1000,
                appid: &ctx.dir.apps[app].appid,
            },
        },
    };
    Ok(Reply::api(req.path, &body))
}

/// A fresh session_key: base64 of 16 random bytes, 24 characters (§4.1).
fn new_session_key() -> String {
    BASE64.encode(rand::rng().random::<[u8; 16]>())
}

fn mini_program(ctx: &Ctx<'_>, appid: &str, user: &str) -> Result<(usize, usize), Error> {
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Error::UnknownApp(appid.to_owned()))?;
    if ctx.dir.apps[app].kind != AppKind::MiniProgram {
        return Err(Error::WrongAppKind {
            appid: appid.to_owned(),
            expected: AppKind::MiniProgram,
        });
    }
    let user = ctx
        .dir
        .user(user)
        .ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    Ok((app, user))
}

/// What `wx.login()` does on a device: a fresh `js_code`, and a new session_key that replaces
/// the user's previous one (§4.1 "session_key rules").
pub(crate) fn login(ctx: &mut Ctx<'_>, appid: &str, user: &str) -> Result<String, Error> {
    let (app, user) = mini_program(ctx, appid, user)?;
    ctx.st.session_keys.insert((app, user), new_session_key());
    let grant = CodeGrant {
        app,
        user,
        scope: Scope::Base,
        expires_ms: ctx.now_ms + CODE_TTL_MS,
        used: false,
    };
    Ok(issue_code(&mut ctx.st.js_codes, grant, ctx.now_ms))
}

/// What the `getPhoneNumber` button hands the Mini Program: a single-use, 5-minute code (§4.5).
pub(crate) fn phone_code(ctx: &mut Ctx<'_>, appid: &str, user: &str) -> Result<String, Error> {
    let (app, user) = mini_program(ctx, appid, user)?;
    let grant = CodeGrant {
        app,
        user,
        scope: Scope::Base,
        expires_ms: ctx.now_ms + CODE_TTL_MS,
        used: false,
    };
    Ok(issue_code(&mut ctx.st.phone_codes, grant, ctx.now_ms))
}

/// What `wx.getUserInfo` returns on a device, made with the user's current session_key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MpUserInfo {
    /// The profile JSON text the signature covers.
    #[serde(rename = "rawData")]
    pub raw_data: String,
    /// `hex(sha1(rawData + session_key))` (§4.3).
    pub signature: String,
    /// Base64 AES-128-CBC/PKCS#7 ciphertext of the full profile with `openId`, `unionId` and
    /// `watermark {appid, timestamp}`, keyed by the session_key (§4.2).
    #[serde(rename = "encryptedData")]
    pub encrypted_data: String,
    /// Base64 of the random 16-byte IV.
    pub iv: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile<'a> {
    nick_name: &'a str,
    gender: u8,
    language: &'a str,
    city: &'a str,
    province: &'a str,
    country: &'a str,
    avatar_url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullProfile<'a> {
    open_id: &'a str,
    #[serde(flatten)]
    profile: &'a RawProfile<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    union_id: Option<&'a str>,
    watermark: Watermark<'a>,
}

/// The grey default avatar `wx.getUserProfile` has handed out since 2022 (§1.7 item 4).
const DEFAULT_AVATAR: &str = "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132";

pub(crate) fn userinfo(ctx: &mut Ctx<'_>, appid: &str, user: &str) -> Result<MpUserInfo, Error> {
    let (app, user_idx) = mini_program(ctx, appid, user)?;
    let session_key = ctx
        .st
        .session_keys
        .get(&(app, user_idx))
        .cloned()
        .ok_or_else(|| Error::NoSession {
            appid: appid.to_owned(),
            user: user.to_owned(),
        })?;
    // §1.7 item 4: nickName "微信用户", gender 0, empty region.
    let profile = RawProfile {
        nick_name: "微信用户",
        gender: 0,
        language: "",
        city: "",
        province: "",
        country: "",
        avatar_url: DEFAULT_AVATAR,
    };
    let raw_data = serde_json::to_string(&profile).map_err(|e| Error::Config(e.to_string()))?;
    let signature = hex::encode(Sha1::digest(format!("{raw_data}{session_key}").as_bytes()));
    let full = FullProfile {
        open_id: ctx.dir.openid(app, user_idx),
        profile: &profile,
        union_id: ctx.st.shapes.unionid.then(|| ctx.dir.unionid(user_idx)),
        watermark: Watermark {
            timestamp: ctx.now_ms / 1000,
            appid,
        },
    };
    let plaintext = serde_json::to_vec(&full).map_err(|e| Error::Config(e.to_string()))?;
    let key = BASE64
        .decode(&session_key)
        .map_err(|e| Error::Config(e.to_string()))?;
    let iv: [u8; 16] = rand::rng().random();
    let cipher = cbc::Encryptor::<aes::Aes128>::new_from_slices(&key, &iv)
        .map_err(|e| Error::Config(e.to_string()))?;
    let ciphertext = cipher.encrypt_padded_vec::<Pkcs7>(&plaintext);
    Ok(MpUserInfo {
        raw_data,
        signature,
        encrypted_data: BASE64.encode(ciphertext),
        iv: BASE64.encode(iv),
    })
}
