//! Parametric QR codes (生成带参数的二维码): `POST /cgi-bin/qrcode/create` and the image at
//! `GET /cgi-bin/showqrcode?ticket=` (on WeChat the image is served by `mp.weixin.qq.com`;
//! the sandbox serves both hosts on one listener).

use base64::Engine as _;
use hyper::{Method, StatusCode};
use rand::Rng as _;
use serde::Deserialize;

use crate::reply::Reply;
use crate::request::{Ctx, Req};

/// Temporary codes live 60 s when `expire_seconds` is omitted, 30 days at most (`docs/message-interface.md` §5).
const DEFAULT_EXPIRE_S: i64 = 60;
const MAX_EXPIRE_S: i64 = 2_592_000;

/// One created QR code.
#[derive(Debug, Clone)]
pub(crate) struct QrTicket {
    pub app: usize,
    /// `scene_id` as decimal digits, or `scene_str`.
    pub scene: String,
    /// `None` for permanent codes.
    pub expires_ms: Option<i64>,
    /// The content the code encodes (`http://weixin.qq.com/q/…`).
    pub url: String,
}

#[derive(Deserialize)]
struct Create {
    expire_seconds: Option<i64>,
    action_name: Option<String>,
    action_info: Option<ActionInfo>,
}

#[derive(Deserialize)]
struct ActionInfo {
    scene: Option<Scene>,
}

#[derive(Deserialize)]
struct Scene {
    scene_id: Option<i64>,
    scene_str: Option<String>,
}

/// `POST /cgi-bin/qrcode/create?access_token=`: `{ticket, expire_seconds, url}` (temporary)
/// or `{ticket, url}` (permanent). 40053 for a bad `action_name` or scene.
pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    if req.method != Method::POST {
        return Err(Reply::errcode(req.path, 43002));
    }
    let app = crate::official_account::official_app(ctx, req)?;
    let body: Create =
        serde_json::from_slice(req.body).map_err(|_| Reply::errcode(req.path, 47001))?;
    let invalid = || Reply::errcode_with(req.path, 40053, "invalid action info");
    let action = body.action_name.as_deref().ok_or_else(invalid)?;
    let scene = body
        .action_info
        .and_then(|info| info.scene)
        .ok_or_else(invalid)?;
    let (temporary, by_str) = match action {
        "QR_SCENE" => (true, false),
        "QR_STR_SCENE" => (true, true),
        "QR_LIMIT_SCENE" => (false, false),
        "QR_LIMIT_STR_SCENE" => (false, true),
        _ => return Err(invalid()),
    };
    let scene = if by_str {
        let s = scene.scene_str.ok_or_else(invalid)?;
        if s.is_empty() || s.chars().count() > 64 {
            return Err(invalid());
        }
        s
    } else {
        let id = scene.scene_id.ok_or_else(invalid)?;
        let ok = if temporary {
            id != 0 && i32::try_from(id).is_ok()
        } else {
            (1..=100_000).contains(&id)
        };
        if !ok {
            return Err(invalid());
        }
        id.to_string()
    };
    let expire_s = temporary.then(|| {
        body.expire_seconds
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_EXPIRE_S)
            .min(MAX_EXPIRE_S)
    });
    // Real tickets are base64 (`gQH47joAAAAAAAAAASxodHRw…==`): `+`, `/` and `=` included,
    // which is why showqrcode's parameter must be URL-encoded.
    let mut raw = [0u8; 48];
    rand::rng().fill(&mut raw[..]);
    let ticket = base64::engine::general_purpose::STANDARD.encode(raw);
    let url = format!("http://weixin.qq.com/q/{}", crate::state::random_string(22));
    ctx.st.oa.qrcodes.insert(
        ticket.clone(),
        QrTicket {
            app,
            scene,
            expires_ms: expire_s.map(|s| ctx.now_ms + s * 1000),
            url: url.clone(),
        },
    );
    let body = match expire_s {
        Some(expire_seconds) => serde_json::json!({
            "ticket": ticket, "expire_seconds": expire_seconds, "url": url,
        }),
        None => serde_json::json!({ "ticket": ticket, "url": url }),
    };
    Ok(Reply::api(req.path, &body))
}

/// `GET /cgi-bin/showqrcode?ticket=`: the code as a PNG. An unknown or expired ticket is
/// a 404 (a sandbox choice: WeChat's answer for those is not documented).
pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Result<Reply, Reply> {
    let not_found = |why: &str| {
        Reply::new(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("wechat-sandbox: {why}\n"),
        )
    };
    let ticket = req
        .param("ticket")
        .ok_or_else(|| not_found("showqrcode needs ?ticket="))?;
    let qr = ctx
        .st
        .oa
        .qrcodes
        .get(ticket)
        .ok_or_else(|| not_found("unknown ticket (was it URL-encoded?)"))?;
    if qr.expires_ms.is_some_and(|e| e <= ctx.now_ms) {
        return Err(not_found("this QR code has expired"));
    }
    let png = render_png(&qr.url).ok_or_else(|| Reply::errcode(req.path, -1))?;
    Ok(Reply::new(StatusCode::OK, "image/png", png))
}

/// A black-on-white PNG of `content`: 8 pixels per module, a 4-module quiet zone.
pub(crate) fn render_png(content: &str) -> Option<Vec<u8>> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = ::qrcode::QrCode::new(content.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == ::qrcode::Color::Dark {
                for dy in 0..SCALE {
                    let row = ((y + QUIET) * SCALE + dy) * side;
                    let start = row + (x + QUIET) * SCALE;
                    pixels[start..start + SCALE].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let side = u32::try_from(side).ok()?;
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&pixels).ok()?;
        writer.finish().ok()?;
    }
    Some(out)
}
