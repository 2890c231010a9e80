//! How the sandbox words and formats its JSON answers where real WeChat answers differ
//! between accounts, APIs and years (docs/protocol.md §1, §3.3, §4.1, §8): the `language`
//! field, a missing `unionid`, `\/` escapes, the errmsg suffix, the `/sns/*` Content-Type and
//! the trailing comma in a refreshed scope. A client that parses one shape only breaks on
//! the next account it meets; tests run their flows across [`Shapes::variants`].

use std::fmt;
use std::str::FromStr;

use hyper::header::HeaderValue;

use crate::reply::{Reply, Wire};

/// The suffix WeChat appends to `errmsg` (§0 "errmsg suffix"). Every shape has been seen on
/// real answers; clients must branch on `errcode` and may strip the suffix for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ErrmsgShape {
    /// `invalid code, rid: 652d44d0-1d0af18b-5b069232`: the current format (the default).
    #[default]
    Rid,
    /// `invalid code rid: 652d44d0-1d0af18b-5b069232`: the same without the comma.
    RidNoComma,
    /// `invalid code, hints: [ req_id: KfIawqLnRa-8oQBOA ]`: the format until about 2019.
    Hints,
    /// `invalid code hint: [XfmcTVNre-vGNNia]`: a hint and no request id.
    Hint,
    /// `invalid code hint: [XfmcTVNre-vGNNia] rid: 652d44d0-1d0af18b-5b069232`: as
    /// `getuserphonenumber` answers.
    HintRid,
    /// `invalid code`: no suffix at all, as WeChat's documentation samples show.
    Bare,
}

impl ErrmsgShape {
    /// Every shape, in declaration order.
    pub const ALL: [ErrmsgShape; 6] = [
        Self::Rid,
        Self::RidNoComma,
        Self::Hints,
        Self::Hint,
        Self::HintRid,
        Self::Bare,
    ];

    /// The name used on the command line and by the control plane (`rid`, `rid-no-comma`,
    /// `hints`, `hint`, `hint-rid`, `bare`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rid => "rid",
            Self::RidNoComma => "rid-no-comma",
            Self::Hints => "hints",
            Self::Hint => "hint",
            Self::HintRid => "hint-rid",
            Self::Bare => "bare",
        }
    }

    /// `text` with this shape's suffix and fresh random ids.
    pub(crate) fn render(self, text: &str) -> String {
        match self {
            Self::Rid => format!("{text}, rid: {}", crate::reply::rid()),
            Self::RidNoComma => format!("{text} rid: {}", crate::reply::rid()),
            Self::Hints => format!("{text}, hints: [ req_id: {} ]", hint_id(10, 7)),
            Self::Hint => format!("{text} hint: [{}]", hint_id(9, 6)),
            Self::HintRid => format!(
                "{text} hint: [{}] rid: {}",
                hint_id(9, 6),
                crate::reply::rid()
            ),
            Self::Bare => text.to_owned(),
        }
    }
}

impl fmt::Display for ErrmsgShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrmsgShape {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|shape| shape.as_str() == s)
            .ok_or_else(|| {
                crate::Error::Config(format!(
                    "unknown errmsg shape `{s}` (rid, rid-no-comma, hints, hint, hint-rid, bare)"
                ))
            })
    }
}

/// `KfIawqLnRa-8oQBOA`-style ids: `head` and `tail` alphanumerics around a dash.
fn hint_id(head: usize, tail: usize) -> String {
    format!(
        "{}-{}",
        crate::state::random_string(head),
        crate::state::random_string(tail)
    )
}

/// The `Content-Type` of `/sns/*` answers (§0 "Content-Type": not reliable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SnsContentType {
    /// `text/plain`, as captures over the years show (the default).
    #[default]
    TextPlain,
    /// `application/json; charset=utf-8`, as recent captures show.
    Json,
}

impl SnsContentType {
    /// The name used on the command line and by the control plane (`text-plain`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextPlain => "text-plain",
            Self::Json => "json",
        }
    }

    /// The header value.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::TextPlain => crate::reply::TEXT_PLAIN,
            Self::Json => crate::reply::JSON,
        }
    }
}

impl fmt::Display for SnsContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SnsContentType {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text-plain" | "text/plain" => Ok(Self::TextPlain),
            "json" | "application/json" => Ok(Self::Json),
            other => Err(crate::Error::Config(format!(
                "unknown /sns/* content type `{other}` (text-plain, json)"
            ))),
        }
    }
}

/// How the sandbox shapes its JSON answers. [`Shapes::default`] is what the crate docs
/// describe; each field switches one real-WeChat variation on or off. Set it with
/// [`SandboxBuilder::shapes`](crate::SandboxBuilder::shapes), change it on a running sandbox
/// with [`Sandbox::set_shapes`](crate::Sandbox::set_shapes) or `POST /__sandbox/shapes`,
/// or with the binary's flags (`--language`, `--no-language`, `--no-unionid`,
/// `--escape-slashes`, `--errmsg`, `--sns-content-type`, `--refresh-scope-trailing-comma`).
///
/// ```
/// use wechat_sandbox::{ErrmsgShape, Shapes};
///
/// let mut shapes = Shapes::default();
/// assert_eq!(shapes.language.as_deref(), Some("")); // `"language":""`, as since 2021
/// shapes.unionid = false;                           // an app bound to no Open Platform account
/// shapes.errmsg = ErrmsgShape::HintRid;
/// assert_eq!(Shapes::variants().len(), 12);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shapes {
    /// The `language` field of `sns/userinfo`: `Some("")` (the default) sends
    /// `"language":""` as WeChat has since the 2021 profile change; `Some("zh_CN")` what older
    /// bodies carry; `None` leaves the field out.
    pub language: Option<String>,
    /// Whether `sns/oauth2/access_token` (profile scopes), `sns/userinfo` and
    /// `sns/jscode2session` carry `unionid` (default `true`). `false` answers as for an app
    /// bound to no Open Platform account: no `unionid` anywhere, the decrypted Mini Program
    /// profile included.
    pub unionid: bool,
    /// Whether `/` in JSON strings is written `\/` (default `false`), as real `headimgurl`
    /// values and errmsg URLs are.
    pub escape_slashes: bool,
    /// The errmsg suffix (default [`ErrmsgShape::Rid`]).
    pub errmsg: ErrmsgShape,
    /// The `Content-Type` of `/sns/*` answers (default [`SnsContentType::TextPlain`]); other
    /// APIs always answer `application/json; charset=utf-8`.
    pub sns_content_type: SnsContentType,
    /// Whether `sns/oauth2/refresh_token` reports the scope as real refreshes do: every scope
    /// the grant implies, each followed by a comma (`snsapi_base,snsapi_userinfo,` for a
    /// `snsapi_userinfo` grant; `snsapi_base,` and `snsapi_login,` by extension). Default
    /// `false`: the scope as granted.
    pub refresh_scope_trailing_comma: bool,
}

impl Default for Shapes {
    fn default() -> Self {
        Self {
            language: Some(String::new()),
            unionid: true,
            escape_slashes: false,
            errmsg: ErrmsgShape::Rid,
            sns_content_type: SnsContentType::TextPlain,
            refresh_scope_trailing_comma: false,
        }
    }
}

impl Shapes {
    /// The default, then each variation on its own, then all of them at once: the matrix a
    /// client's tests should pass. Each entry is named for test messages.
    pub fn variants() -> Vec<(&'static str, Shapes)> {
        let base = Shapes::default;
        let mut variants = vec![
            ("default", base()),
            (
                "language zh_CN",
                Shapes {
                    language: Some("zh_CN".to_owned()),
                    ..base()
                },
            ),
            (
                "no language",
                Shapes {
                    language: None,
                    ..base()
                },
            ),
            (
                "no unionid",
                Shapes {
                    unionid: false,
                    ..base()
                },
            ),
            (
                "escaped slashes",
                Shapes {
                    escape_slashes: true,
                    ..base()
                },
            ),
            (
                "sns json content type",
                Shapes {
                    sns_content_type: SnsContentType::Json,
                    ..base()
                },
            ),
            (
                "refresh scope trailing comma",
                Shapes {
                    refresh_scope_trailing_comma: true,
                    ..base()
                },
            ),
        ];
        for (name, errmsg) in [
            ("errmsg rid without comma", ErrmsgShape::RidNoComma),
            ("errmsg hints req_id", ErrmsgShape::Hints),
            ("errmsg hint", ErrmsgShape::Hint),
            ("errmsg bare", ErrmsgShape::Bare),
        ] {
            variants.push((name, Shapes { errmsg, ..base() }));
        }
        variants.push((
            "everything at once (hint rid)",
            Shapes {
                language: None,
                unionid: false,
                escape_slashes: true,
                errmsg: ErrmsgShape::HintRid,
                sns_content_type: SnsContentType::Json,
                refresh_scope_trailing_comma: true,
            },
        ));
        variants
    }

    /// As JSON, the way `GET /__sandbox/shapes` answers.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "language": self.language,
            "unionid": self.unionid,
            "escape_slashes": self.escape_slashes,
            "errmsg": self.errmsg.as_str(),
            "sns_content_type": self.sns_content_type.as_str(),
            "refresh_scope_trailing_comma": self.refresh_scope_trailing_comma,
        })
    }

    /// Gives a handler's reply this shape: the errmsg suffix, the `/sns/*` content type,
    /// `\/` escapes. Pages, control-plane answers and canned fault bodies are left alone.
    pub(crate) fn finish(&self, path: &str, reply: &mut Reply) {
        let Some(wire) = reply.wire else {
            return;
        };
        if let Wire::Error(errcode) = wire
            && self.errmsg != ErrmsgShape::Rid
        {
            let text = crate::reply::errmsg(errcode);
            let body =
                serde_json::json!({ "errcode": errcode, "errmsg": self.errmsg.render(text) });
            reply.body = body.to_string().into();
        }
        if path.starts_with("/sns/") && self.sns_content_type != SnsContentType::TextPlain {
            reply.content_type = HeaderValue::from_static(self.sns_content_type.header_value());
        }
        if self.escape_slashes && reply.body.contains(&b'/') {
            reply.body = escape_slashes(&reply.body).into();
        }
    }
}

/// `/` → `\/` everywhere in a JSON text serde_json wrote. A `/` can only occur inside a
/// string in JSON, and `\/` is a valid escape for it there; serde_json never writes `\/`
/// itself (a backslash before a `/` is always the end of a `\\`), so the text means exactly
/// the same.
fn escape_slashes(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + json.len() / 8);
    for &b in json {
        if b == b'/' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_json_means_the_same() {
        // Bodies are serde_json's output, which never writes `\/` itself.
        let value = serde_json::json!({
            "headimgurl": "https://thirdwx.qlogo.cn/mmopen/x/132",
            "a/b": "\\/", "c": "\\", "d": ["//", "x\\//"],
        });
        let json = serde_json::to_vec(&value).unwrap();
        let escaped = escape_slashes(&json);
        assert!(!String::from_utf8_lossy(&escaped).contains("https://"));
        let after: serde_json::Value = serde_json::from_slice(&escaped).unwrap();
        assert_eq!(after, value);
    }

    #[test]
    fn names_round_trip() {
        for shape in ErrmsgShape::ALL {
            assert_eq!(shape.as_str().parse::<ErrmsgShape>().ok(), Some(shape));
        }
        for ct in [SnsContentType::TextPlain, SnsContentType::Json] {
            assert_eq!(ct.as_str().parse::<SnsContentType>().ok(), Some(ct));
        }
        assert!("rid,".parse::<ErrmsgShape>().is_err());
    }

    #[test]
    fn every_errmsg_shape_keeps_the_text_first() {
        for shape in ErrmsgShape::ALL {
            let msg = shape.render("invalid code");
            assert!(msg.starts_with("invalid code"), "{msg}");
            assert_eq!(msg == "invalid code", shape == ErrmsgShape::Bare, "{msg}");
        }
    }
}
