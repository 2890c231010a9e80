//! What a handler answers, before it becomes a hyper response: WeChat's JSON envelopes,
//! its HTML error pages and redirects.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue, LOCATION};
use rand::Rng as _;

/// `/sns/*` JSON is served as `text/plain` (docs/protocol.md §1).
pub(crate) const TEXT_PLAIN: &str = "text/plain";
pub(crate) const JSON: &str = "application/json; charset=utf-8";
pub(crate) const HTML: &str = "text/html; charset=utf-8";

#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: HeaderValue,
    pub body: Bytes,
    /// Rare extra headers (`Location`, `Set-Cookie`); kept out of line so replies stay small.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Set when the body is WeChat wire JSON, which [`Shapes`](crate::Shapes) may reshape.
    pub wire: Option<Wire>,
}

/// What kind of WeChat JSON a reply holds, for [`Shapes::finish`](crate::Shapes).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire {
    /// A success body (or a truncated one).
    Json,
    /// The error envelope for this errcode, with [`errmsg`]'s text: kept as the number so
    /// the errmsg suffix can be rewritten in any shape.
    Error(i64),
}

impl Reply {
    pub(crate) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Reply {
        Reply {
            status,
            content_type: HeaderValue::from_static(content_type),
            body: body.into(),
            headers: Vec::new(),
            wire: None,
        }
    }

    fn wire(mut self, wire: Wire) -> Reply {
        self.wire = Some(wire);
        self
    }

    /// A success body on an API route, with the route's content type.
    pub(crate) fn api<T: serde::Serialize>(path: &str, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::new(StatusCode::OK, api_content_type(path), body).wire(Wire::Json),
            // Our own response structs always serialize; answer like a busy WeChat if not.
            Err(_) => Reply::errcode(path, -1),
        }
    }

    /// WeChat's error envelope: HTTP 200, `{"errcode":N,"errmsg":"…, rid: …"}` (§0), in the
    /// default errmsg shape; the server reshapes it if another is set.
    pub(crate) fn errcode(path: &str, errcode: i64) -> Reply {
        Reply::errcode_with(path, errcode, errmsg(errcode))
    }

    /// The error envelope with a message of the endpoint's own (e.g. `invalid args`).
    pub(crate) fn errcode_with(path: &str, errcode: i64, text: &str) -> Reply {
        let body =
            serde_json::json!({ "errcode": errcode, "errmsg": format!("{text}, rid: {}", rid()) });
        Reply::new(StatusCode::OK, api_content_type(path), body.to_string())
            .wire(Wire::Error(errcode))
    }

    /// `{"errcode":0,"errmsg":"ok"}` as `sns/auth` and `wxa/checksession` answer.
    pub(crate) fn ok(path: &str) -> Reply {
        Reply::new(
            StatusCode::OK,
            api_content_type(path),
            r#"{"errcode":0,"errmsg":"ok"}"#,
        )
        .wire(Wire::Json)
    }

    pub(crate) fn redirect(location: String) -> Reply {
        let mut reply = Reply::new(StatusCode::FOUND, HTML, Bytes::new());
        // The redirect_uri parsed as a URL, so only odd characters (spaces, non-ASCII) can make
        // it an invalid header; send WeChat-style percent-encoding for those.
        let value = HeaderValue::from_str(&location).or_else(|_| {
            let encoded = url::Url::parse(&location)
                .map(|u| u.to_string())
                .unwrap_or_default();
            HeaderValue::from_str(&encoded)
        });
        if let Ok(value) = value {
            reply.headers.push((LOCATION, value));
        }
        reply
    }

    /// Control-plane JSON (not part of WeChat's wire format).
    pub(crate) fn control<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::new(status, JSON, body),
            Err(e) => Reply::control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    }

    pub(crate) fn control_error(status: StatusCode, message: &str) -> Reply {
        Reply::new(
            status,
            JSON,
            serde_json::json!({ "error": message }).to_string(),
        )
    }

    /// The authorize pages' failure mode: an HTML page with WeChat's message and code,
    /// status 200, no redirect (§1.1 "Errors on the authorize page").
    pub(crate) fn authorize_error(code: u32, message: &str, detail: &str) -> Reply {
        let body = format!(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>微信网页授权</title></head>\n\
             <body><div class=\"weui-msg\" id=\"error\" data-errcode=\"{code}\">\n\
             <h2 class=\"weui-msg__title\">{message}</h2>\n\
             <p class=\"weui-msg__desc\">{message}，错误码：{code}</p>\n\
             <p class=\"sandbox-detail\">wechat-sandbox: {detail}</p>\n\
             </div></body></html>\n",
            message = escape_html(message),
            detail = escape_html(detail),
        );
        Reply::new(StatusCode::OK, HTML, body)
    }
}

pub(crate) fn api_content_type(path: &str) -> &'static str {
    if path.starts_with("/sns/") {
        TEXT_PLAIN
    } else {
        JSON
    }
}

/// `xxxxxxxx-xxxxxxxx-xxxxxxxx`, the current `rid` format (§0 "errmsg suffix").
pub(crate) fn rid() -> String {
    let mut rng = rand::rng();
    format!(
        "{:08x}-{:08x}-{:08x}",
        rng.random::<u32>(),
        rng.random::<u32>(),
        rng.random::<u32>()
    )
}

/// The errmsg text for each errcode the sandbox emits. Verbatim where docs/protocol.md §6
/// records an observed string; otherwise a sandbox choice. Clients must branch on errcode only.
pub(crate) fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        0 => "ok",
        // As observed in 2023-24, URL included (§4.5 "Observed errors").
        40001 => {
            "invalid credential, access_token is invalid or not latest, could get access_token \
             by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
        }
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40030 => "invalid refresh_token",
        40035 => "invalid args",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40226 => "code blocked",
        41001 => "access_token missing",
        41002 => "appid missing",
        41003 => "refresh_token missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        41009 => "missing openid",
        42001 => "access_token expired",
        42002 => "refresh_token expired",
        42007 => "access_token and refresh_token exception",
        43001 => "require GET method",
        43002 => "require POST method",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit, must slower, retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        50001 => "user unauthorized",
        87009 => "invalid signature",
        _ => "sandbox injected error",
    }
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
