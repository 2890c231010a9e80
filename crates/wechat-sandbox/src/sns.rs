//! The web-authorization APIs on `api.weixin.qq.com/sns/*` (docs/protocol.md §3).

use hyper::Method;
use serde::Serialize;

use crate::model::{AppKind, Scope};
use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::state::{
    ACCESS_TOKEN_TTL_S, AccessGrant, REFRESH_TOKEN_TTL_MS, RefreshGrant, random_token, redeem_code,
};

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    expires_in: i64,
    refresh_token: &'a str,
    openid: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_snapshotuser: Option<u8>,
}

#[derive(Serialize)]
struct UserInfoBody<'a> {
    openid: &'a str,
    nickname: &'a str,
    /// Always 0 since the 2021 change (§1.7 item 1).
    sex: u8,
    /// `""` since the 2021 change; absent or a language code on other bodies (`Shapes::language`).
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    province: &'a str,
    city: &'a str,
    country: &'a str,
    headimgurl: &'a str,
    privilege: [&'a str; 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
}

/// `sns/*` calls are GET with query parameters (§0 "Transport").
pub(crate) fn require_get(req: &Req<'_>) -> Result<(), Reply> {
    if req.method == Method::GET {
        Ok(())
    } else {
        Err(Reply::errcode(req.path, 43001))
    }
}

/// Checks `appid` then `secret`, in the order WeChat reports them (§1.2, §4.1).
pub(crate) fn authenticate_app(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<usize, Reply> {
    let appid = req
        .param("appid")
        .ok_or_else(|| Reply::errcode(req.path, 41002))?;
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Reply::errcode(req.path, 40013))?;
    let secret = req
        .param("secret")
        .ok_or_else(|| Reply::errcode(req.path, 41004))?;
    if secret != ctx.dir.apps[app].secret {
        return Err(Reply::errcode(req.path, 40125));
    }
    Ok(app)
}

/// `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code` (§1.2).
pub(crate) fn access_token(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    require_get(req)?;
    let app = authenticate_app(ctx, req)?;
    let code = req
        .param("code")
        .ok_or_else(|| Reply::errcode(req.path, 41008))?;
    if req.param("grant_type") != Some("authorization_code") {
        return Err(Reply::errcode(req.path, 40002));
    }
    let grant = redeem_code(&mut ctx.st.web_codes, code, app, ctx.now_ms)
        .map_err(|errcode| Reply::errcode(req.path, errcode))?;

    let access_token = random_token("86_", 107);
    let refresh_token = random_token("86_", 107);
    let now_ms = ctx.now_ms;
    ctx.st.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            app,
            user: grant.user,
            scope: grant.scope,
            expires_ms: now_ms + ACCESS_TOKEN_TTL_S * 1000,
        },
        now_ms,
    );
    ctx.st.refresh_tokens.insert(
        refresh_token.clone(),
        RefreshGrant {
            app,
            user: grant.user,
            scope: grant.scope,
            expires_ms: now_ms + REFRESH_TOKEN_TTL_MS,
            access_token: access_token.clone(),
        },
        now_ms,
    );
    // A new authorization revokes the user's previous refresh token (§1.3: refreshes
    // "around re-authorizations" answer 40030). Its access token lives on until it expires.
    if let Some(previous) = ctx
        .st
        .current_refresh
        .insert((app, grant.user), refresh_token.clone())
    {
        ctx.st.refresh_tokens.remove(&previous);
    }
    let body = TokenBody {
        access_token: &access_token,
        expires_in: ACCESS_TOKEN_TTL_S,
        refresh_token: &refresh_token,
        openid: ctx.dir.openid(app, grant.user),
        scope: grant.scope.as_str(),
        // unionid only with a profile scope (§1.2 table; §2.3 for websites), and only for
        // apps bound to an Open Platform account.
        unionid: (grant.scope.reads_profile() && ctx.st.shapes.unionid)
            .then(|| ctx.dir.unionid(grant.user)),
        is_snapshotuser: snapshot_flag(ctx, app, grant.user),
    };
    Ok(Reply::api(req.path, &body))
}

/// `is_snapshotuser: 1` is only present for snapshot-mode virtual accounts, which exist only
/// in Official Account pages (§1.2, §1.7 item 2).
fn snapshot_flag(ctx: &Ctx<'_>, app: usize, user: usize) -> Option<u8> {
    (ctx.dir.users[user].snapshot && ctx.dir.apps[app].kind == AppKind::Official).then_some(1)
}

/// `GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&refresh_token` (§1.3).
/// No secret is taken: a `secret` parameter is ignored (and visible in the journal).
pub(crate) fn refresh_token(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    require_get(req)?;
    let appid = req
        .param("appid")
        .ok_or_else(|| Reply::errcode(req.path, 41002))?;
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Reply::errcode(req.path, 40013))?;
    if req.param("grant_type") != Some("refresh_token") {
        return Err(Reply::errcode(req.path, 40002));
    }
    let refresh_token = req
        .param("refresh_token")
        .ok_or_else(|| Reply::errcode(req.path, 41003))?;
    let now_ms = ctx.now_ms;
    let grant = match ctx.st.refresh_tokens.get(refresh_token) {
        Some(g) if g.app == app => g.clone(),
        _ => return Err(Reply::errcode(req.path, 40030)),
    };
    if grant.expires_ms <= now_ms {
        return Err(Reply::errcode(req.path, 42002));
    }
    let expires_ms = now_ms + ACCESS_TOKEN_TTL_S * 1000;
    // §1.3: an unexpired access token comes back unchanged with its expiry extended;
    // an expired one is replaced. The refresh token itself is never extended.
    let access_token = match ctx.st.access_tokens.get_mut(&grant.access_token) {
        Some(current) if current.expires_ms > now_ms => {
            current.expires_ms = expires_ms;
            grant.access_token.clone()
        }
        _ => {
            ctx.st.access_tokens.remove(&grant.access_token);
            let fresh = random_token("86_", 107);
            ctx.st.access_tokens.insert(
                fresh.clone(),
                AccessGrant {
                    app,
                    user: grant.user,
                    scope: grant.scope,
                    expires_ms,
                },
                now_ms,
            );
            if let Some(g) = ctx.st.refresh_tokens.get_mut(refresh_token) {
                g.access_token = fresh.clone();
            }
            fresh
        }
    };
    let body = TokenBody {
        access_token: &access_token,
        expires_in: ACCESS_TOKEN_TTL_S,
        refresh_token,
        openid: ctx.dir.openid(app, grant.user),
        scope: if ctx.st.shapes.refresh_scope_trailing_comma {
            refreshed_scope(grant.scope)
        } else {
            grant.scope.as_str()
        },
        // The refresh response lists no unionid (§1.3, OA-RT).
        unionid: None,
        is_snapshotuser: snapshot_flag(ctx, app, grant.user),
    };
    Ok(Reply::api(req.path, &body))
}

/// The scope as real refreshes report it: every scope the grant implies, each followed by a
/// comma (`snsapi_base,snsapi_userinfo,` is observed; the other two follow the pattern).
fn refreshed_scope(scope: Scope) -> &'static str {
    match scope {
        Scope::Base => "snsapi_base,",
        Scope::UserInfo => "snsapi_base,snsapi_userinfo,",
        Scope::Login => "snsapi_login,",
    }
}

/// Looks up a web-auth access token and checks it belongs to `openid`:
/// 41001 missing token, 41009 missing openid, 40014 unknown token, 42001 expired, 40003 foreign openid.
fn check_access_token(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<AccessGrant, Reply> {
    let token = req
        .param("access_token")
        .ok_or_else(|| Reply::errcode(req.path, 41001))?;
    let openid = req
        .param("openid")
        .ok_or_else(|| Reply::errcode(req.path, 41009))?;
    let grant = ctx
        .st
        .access_tokens
        .get(token)
        .ok_or_else(|| Reply::errcode(req.path, 40014))?;
    if grant.expires_ms <= ctx.now_ms {
        return Err(Reply::errcode(req.path, 42001));
    }
    if ctx.dir.openid(grant.app, grant.user) != openid {
        return Err(Reply::errcode(req.path, 40003));
    }
    Ok(grant.clone())
}

/// `GET /sns/userinfo?access_token&openid&lang` (§1.4). Post-2021 values: sex 0, empty region.
pub(crate) fn userinfo(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    require_get(req)?;
    let grant = check_access_token(ctx, req)?;
    if !grant.scope.reads_profile() {
        return Err(Reply::errcode(req.path, 48001));
    }
    match req.param("lang") {
        None | Some("zh_CN" | "zh_TW" | "en") => {}
        Some(_) => return Err(Reply::errcode(req.path, 40035)),
    }
    let user = &ctx.dir.users[grant.user];
    let shapes = &ctx.st.shapes;
    let body = UserInfoBody {
        openid: ctx.dir.openid(grant.app, grant.user),
        nickname: &user.nickname,
        sex: 0,
        language: shapes.language.as_deref(),
        province: "",
        city: "",
        country: "",
        headimgurl: &user.headimgurl,
        privilege: [],
        unionid: shapes.unionid.then(|| ctx.dir.unionid(grant.user)),
    };
    Ok(Reply::api(req.path, &body))
}

/// `GET /sns/auth?access_token&openid` (§1.5): `{"errcode":0,"errmsg":"ok"}` when valid.
pub(crate) fn auth(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    require_get(req)?;
    check_access_token(ctx, req)?;
    Ok(Reply::ok(req.path))
}

/// Mints a code as if `user` approved `scope` for `app` (also used by `mint_code`).
pub(crate) fn mint_web_code(ctx: &mut Ctx<'_>, app: usize, user: usize, scope: Scope) -> String {
    let ttl = if ctx.dir.apps[app].kind == AppKind::Website {
        crate::state::WEBSITE_CODE_TTL_MS
    } else {
        crate::state::CODE_TTL_MS
    };
    let grant = crate::state::CodeGrant {
        app,
        user,
        scope,
        expires_ms: ctx.now_ms + ttl,
        used: false,
    };
    crate::state::issue_code(&mut ctx.st.web_codes, grant, ctx.now_ms)
}
