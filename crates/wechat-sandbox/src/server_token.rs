//! Server access tokens: `GET /cgi-bin/token` and `POST /cgi-bin/stable_token` (§4.6).

use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::state::{ACCESS_TOKEN_TTL_S, MINUTE_MS, ServerToken, random_token};

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    expires_in: i64,
}

/// Stable tokens rotate this long before expiry; old and new overlap meanwhile (§4.6).
const STABLE_OVERLAP_MS: i64 = 5 * MINUTE_MS;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

fn new_token(now_ms: i64) -> ServerToken {
    // Real server tokens are long (keep ≥512 bytes of storage, §4.6); 136 is typical today.
    ServerToken {
        token: random_token("86_", 133),
        expires_ms: now_ms + ACCESS_TOKEN_TTL_S * 1000,
    }
}

/// `GET /cgi-bin/token?grant_type=client_credential&appid&secret`. Every call issues a new
/// token and the previous one answers 40001 from then on ("重复获取将导致上次获取的access_token失效").
pub(crate) fn token(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    crate::sns::require_get(req)?;
    if req.param("grant_type") != Some("client_credential") {
        return Err(Reply::errcode(req.path, 40002));
    }
    let app = crate::sns::authenticate_app(ctx, req)?;
    let fresh = new_token(ctx.now_ms);
    let tokens = &mut ctx.st.server_tokens[app];
    tokens.plain = Some(fresh.clone());
    Ok(Reply::api(
        req.path,
        &TokenBody {
            access_token: &fresh.token,
            expires_in: ACCESS_TOKEN_TTL_S,
        },
    ))
}

#[derive(Deserialize)]
struct StableTokenRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

/// `POST /cgi-bin/stable_token` with a JSON body (§4.6). Repeat calls return the same token
/// (`expires_in` counts down) until 5 minutes before expiry, when a new one is issued and the
/// old one stays valid until it expires. `force_refresh: true` replaces it at once, at most
/// 20 times a day and 30 s apart.
pub(crate) fn stable_token(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    if req.method != Method::POST {
        return Err(Reply::errcode(req.path, 43002));
    }
    let body: StableTokenRequest =
        serde_json::from_slice(req.body).map_err(|_| Reply::errcode(req.path, 47001))?;
    if body.grant_type.as_deref() != Some("client_credential") {
        return Err(Reply::errcode(req.path, 40002));
    }
    let appid = body
        .appid
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reply::errcode(req.path, 41002))?;
    let app = ctx
        .dir
        .app(appid)
        .ok_or_else(|| Reply::errcode(req.path, 40013))?;
    let secret = body
        .secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reply::errcode(req.path, 41004))?;
    if secret != ctx.dir.apps[app].secret {
        return Err(Reply::errcode(req.path, 40125));
    }
    let now_ms = ctx.now_ms;
    let tokens = &mut ctx.st.server_tokens[app];
    if body.force_refresh {
        tokens.forced_ms.retain(|t| now_ms - t < DAY_MS);
        if tokens.forced_ms.len() >= 20 {
            return Err(Reply::errcode(req.path, 45009));
        }
        if tokens.forced_ms.last().is_some_and(|t| now_ms - t < 30_000) {
            return Err(Reply::errcode(req.path, 45011));
        }
        tokens.forced_ms.push(now_ms);
        // force_refresh invalidates the previous token outright.
        tokens.stable_previous = None;
        tokens.stable = Some(new_token(now_ms));
    } else {
        match &tokens.stable {
            Some(current) if current.expires_ms - now_ms > STABLE_OVERLAP_MS => {}
            _ => {
                let previous = tokens.stable.replace(new_token(now_ms));
                tokens.stable_previous = previous.filter(|p| p.expires_ms > now_ms);
            }
        }
    }
    let current = tokens
        .stable
        .as_ref()
        .map(|t| (t.token.clone(), t.expires_ms))
        .unwrap_or_default();
    // Whole seconds left, rounded up: a token issued 100 s and a few ms ago says 7100, not
    // 7099 (rounding down made the answer depend on how fast the client asked).
    let expires_in = (current.1 - now_ms + 999).div_euclid(1000);
    Ok(Reply::api(
        req.path,
        &TokenBody {
            access_token: &current.0,
            expires_in,
        },
    ))
}

/// Checks a server access token on `wxa/*` routes: 41001 missing, 42001 expired, 40001 for
/// superseded or unknown tokens ("invalid credential, access_token is invalid or not latest").
/// Returns the app the token belongs to.
pub(crate) fn check_server_token(ctx: &Ctx<'_>, req: &Req<'_>) -> Result<usize, Reply> {
    let token = req
        .param("access_token")
        .ok_or_else(|| Reply::errcode(req.path, 41001))?;
    for (app, tokens) in ctx.st.server_tokens.iter().enumerate() {
        let live = [
            tokens.plain.as_ref(),
            tokens.stable.as_ref(),
            tokens.stable_previous.as_ref(),
        ];
        if let Some(found) = live.into_iter().flatten().find(|t| t.token == token) {
            if found.expires_ms <= ctx.now_ms {
                return Err(Reply::errcode(req.path, 42001));
            }
            return Ok(app);
        }
    }
    Err(Reply::errcode(req.path, 40001))
}
