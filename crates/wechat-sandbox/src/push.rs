//! WeChat's side of the message interface, on the wire: the XML it pushes, the safe and
//! compatible modes' encryption, the HTTP calls to the account's server URL (with the
//! 5-second timeout and the retries), and how it judges the server's answer.
//!
//! An implementation of its own (`docs/message-interface.md` §1–§4, WeChat's 消息加解密说明),
//! sharing nothing with the `wechat-oauth-message` crate, so that the two agreeing is
//! evidence that both read WeChat's format the same way.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng as _;
use serde::Serialize;
use sha1::{Digest, Sha1};

/// The message encryption mode an account's server URL is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerMode {
    /// 明文模式: plaintext XML.
    #[default]
    Plain,
    /// 兼容模式: the plaintext fields and `<Encrypt>` in one body; `encrypt_type=aes`.
    Compatible,
    /// 安全模式: `ToUserName` and `<Encrypt>` only; replies must be encrypted.
    Safe,
}

/// The 32-byte AES key from a 43-character EncodingAESKey: base64 of it plus `=`. The last
/// character carries 2 surplus bits WeChat ignores, so decode by hand instead of asking a
/// strict decoder to accept them.
pub(crate) fn aes_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    if encoding_aes_key.len() != 43 || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(33);
    for b in encoding_aes_key.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    <[u8; 32]>::try_from(out.as_slice()).ok()
}

/// `sha1` over the parts sorted byte-wise and concatenated, lower-case hex (`docs/message-interface.md` §1, §4).
pub(crate) fn sha1_sorted(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `base64(AES-256-CBC(key, iv = key[..16], pkcs7_32(random16 ‖ len_be32 ‖ msg ‖ appid)))`.
pub(crate) fn encrypt(key: &[u8; 32], appid: &str, msg: &str) -> String {
    // The official samples use 16 alphanumeric characters as the random prefix.
    let random: String = crate::state::random_string(16);
    let mut plain = Vec::with_capacity(20 + msg.len() + appid.len() + 32);
    plain.extend_from_slice(random.as_bytes());
    plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    plain.extend_from_slice(msg.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let cipher = cbc::Encryptor::<aes::Aes256>::new(key.into(), &iv.into());
    STANDARD.encode(cipher.encrypt_padded_vec::<NoPadding>(&plain))
}

/// The inverse of [`encrypt`]: `(msg, appid)`, or what was wrong.
pub(crate) fn decrypt(key: &[u8; 32], encrypt: &str) -> Result<(String, String), &'static str> {
    let data = STANDARD
        .decode(encrypt)
        .map_err(|_| "Encrypt is not base64")?;
    if data.is_empty() || data.len() % 32 != 0 {
        return Err("ciphertext is not a whole number of 32-byte blocks");
    }
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    let cipher = cbc::Decryptor::<aes::Aes256>::new(key.into(), &iv.into());
    let plain = cipher
        .decrypt_padded_vec::<NoPadding>(&data)
        .map_err(|_| "ciphertext length")?;
    let pad = usize::from(*plain.last().ok_or("empty")?);
    if pad == 0
        || pad > 32
        || plain[plain.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return Err("bad PKCS#7 (32-byte block) padding");
    }
    let body = &plain[..plain.len() - pad];
    if body.len() < 20 {
        return Err("decrypted buffer too short");
    }
    let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let end = 20usize
        .checked_add(len)
        .filter(|e| *e <= body.len())
        .ok_or("message length beyond the buffer")?;
    let msg = String::from_utf8(body[20..end].to_vec()).map_err(|_| "message is not UTF-8")?;
    let appid = String::from_utf8(body[end..].to_vec()).map_err(|_| "appid is not UTF-8")?;
    Ok((msg, appid))
}

/// Fields WeChat writes as bare numbers; every other value goes in CDATA (`docs/message-interface.md` §2).
fn is_numeric_field(name: &str) -> bool {
    matches!(
        name,
        "CreateTime"
            | "MsgId"
            | "MsgID"
            | "Location_X"
            | "Location_Y"
            | "Scale"
            | "Latitude"
            | "Longitude"
            | "Precision"
            | "MenuId"
            | "TotalCount"
            | "FilterCount"
            | "SentCount"
            | "ErrorCount"
            | "Idx"
            | "MsgDataId"
            | "TimeStamp"
    )
}

fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    // `]]>` cannot appear inside one section: close it and start another.
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

/// `<xml>` with one element per field, in order; `a/b` paths nest (consecutive fields with
/// the same parent share it: `ScanCodeInfo/ScanType`, `ScanCodeInfo/ScanResult`).
pub(crate) fn write_xml(fields: &[(String, String)]) -> String {
    let mut out = String::from("<xml>");
    let mut open: Vec<&str> = Vec::new();
    for (path, value) in fields {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((leaf, parents)) = parts.split_last() else {
            continue;
        };
        let common = open
            .iter()
            .zip(parents.iter())
            .take_while(|(a, b)| a == b)
            .count();
        while open.len() > common {
            if let Some(name) = open.pop() {
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
        }
        for parent in &parents[common..] {
            out.push('<');
            out.push_str(parent);
            out.push('>');
            open.push(parent);
        }
        out.push('<');
        out.push_str(leaf);
        out.push('>');
        if is_numeric_field(leaf) {
            out.push_str(value);
        } else {
            push_cdata(&mut out, value);
        }
        out.push_str("</");
        out.push_str(leaf);
        out.push('>');
    }
    while let Some(name) = open.pop() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

/// Reads a flat `<xml>` (what replies are) into `(path, value)` pairs; refuses DOCTYPE and
/// entity references other than the XML built-ins, as a careful WeChat would.
pub(crate) fn read_xml(body: &str) -> Result<Vec<(String, String)>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<(String, String, bool)> = Vec::new();
    let mut fields = Vec::new();
    let mut roots = 0;
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("malformed XML: {e}"))?
        {
            Event::Start(start) => {
                let name = start.name().into_inner().to_owned();
                if stack.is_empty() {
                    roots += 1;
                    if name != "xml" || roots > 1 {
                        return Err("the reply's root must be one <xml> element".to_owned());
                    }
                }
                if stack.len() > 8 {
                    return Err("reply nests too deep".to_owned());
                }
                if let Some(parent) = stack.last_mut() {
                    parent.2 = true;
                }
                let path = match stack.last() {
                    Some((p, _, _)) if !p.is_empty() => format!("{p}/{name}"),
                    Some(_) => name,
                    None => String::new(),
                };
                stack.push((path, String::new(), false));
            }
            Event::End(_) => {
                if let Some((path, text, has_children)) = stack.pop()
                    && !stack.is_empty()
                    && !has_children
                {
                    fields.push((path, text));
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let c = match &*r.clone().into_inner() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .ok_or("entity references are refused")?,
                };
                if let Some(top) = stack.last_mut() {
                    top.1.push(c);
                }
            }
            Event::DocType(_) => return Err("DOCTYPE in a reply".to_owned()),
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || !stack.is_empty() {
        return Err("the reply is not one complete <xml> element".to_owned());
    }
    Ok(fields)
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One HTTP request to the server URL and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PushAttempt {
    /// 1 for the first delivery, 2 and 3 for the retries.
    pub attempt: u32,
    /// Sandbox-clock time the request was sent, unix milliseconds.
    pub at_ms: i64,
    /// `GET` (URL verification) or `POST` (a push).
    pub method: String,
    /// The full URL, query string included.
    pub url: String,
    /// The query parameters sent, in order.
    pub params: Vec<(String, String)>,
    /// The body sent (empty for the verification GET).
    pub body: String,
    /// `answered`, `timeout` (no answer within the timeout; the connection was dropped, as
    /// WeChat does) or `error` (connection refused, reset…).
    pub outcome: String,
    /// HTTP status of the answer.
    pub status: Option<u16>,
    /// `Content-Type` of the answer.
    pub content_type: Option<String>,
    /// The answer's body (UTF-8, lossy).
    pub response: Option<String>,
    /// Why the request failed, for `error`.
    pub error: Option<String>,
    /// Wall-clock time the attempt took, milliseconds.
    pub elapsed_ms: u64,
}

/// How many bytes of an answer the sandbox reads; WeChat's replies are small.
const MAX_ANSWER_BYTES: usize = 1 << 20;

fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
}

/// Appends the query to `base` (keeping a query it already has).
pub(crate) fn with_query(base: &str, params: &[(String, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let query = query.finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

/// Sends one request and waits at most `timeout` for the whole answer.
pub(crate) async fn send(
    method: hyper::Method,
    url: &str,
    params: &[(String, String)],
    body: &str,
    timeout: Duration,
    attempt: u32,
    at_ms: i64,
) -> PushAttempt {
    let full = with_query(url, params);
    let mut record = PushAttempt {
        attempt,
        at_ms,
        method: method.to_string(),
        url: full.clone(),
        params: params.to_vec(),
        body: body.to_owned(),
        outcome: "error".to_owned(),
        status: None,
        content_type: None,
        response: None,
        error: None,
        elapsed_ms: 0,
    };
    let request = hyper::Request::builder()
        .method(method)
        .uri(&full)
        .header(hyper::header::CONTENT_TYPE, "text/xml")
        .header(hyper::header::USER_AGENT, "Mozilla/4.0 (wechat-sandbox)")
        .body(Full::new(Bytes::from(body.to_owned())));
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            record.error = Some(format!("bad server URL: {e}"));
            return record;
        }
    };
    let started = Instant::now();
    let exchange = async {
        let response = client().request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, content_type, bytes))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((status, content_type, bytes))) => {
            record.outcome = "answered".to_owned();
            record.status = Some(status);
            record.content_type = content_type;
            record.response = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        Ok(Err(e)) => record.error = Some(e),
        Err(_) => record.outcome = "timeout".to_owned(),
    }
    record.elapsed_ms = started.elapsed().as_millis() as u64;
    record
}

/// A fresh `nonce` (digits, as WeChat's) and the signature params for it.
pub(crate) fn nonce() -> String {
    rand::rng()
        .random_range(100_000_000u64..10_000_000_000)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_decoding_matches_the_official_sample() {
        let key = aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").map(hex::encode);
        assert_eq!(
            key.as_deref(),
            Some("69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051")
        );
        assert_eq!(aes_key(&"A".repeat(43)), Some([0; 32]));
        assert_eq!(aes_key("short"), None);
    }

    #[test]
    fn decrypts_the_official_vector_e() {
        let key = aes_key(&"A".repeat(43)).unwrap_or_default();
        let encrypt = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
        assert_eq!(
            decrypt(&key, encrypt),
            Ok((
                "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>".to_owned(),
                "wx134c8103faa5a59e".to_owned()
            ))
        );
        assert_eq!(
            sha1_sorted(&["AAAAA", "1713424427", "415670741", encrypt]),
            "03e0812039325c2712ef5f0f980fd14c70d6e307"
        );
    }

    #[test]
    fn encryption_round_trips_at_every_padding_length() {
        let key = aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap_or_default();
        for n in 0..70 {
            let msg = "x".repeat(n);
            assert_eq!(
                decrypt(&key, &encrypt(&key, "wx1", &msg)),
                Ok((msg, "wx1".to_owned()))
            );
        }
    }

    #[test]
    fn writes_and_reads_nested_fields() {
        let fields: Vec<(String, String)> = [
            ("ToUserName", "gh_1"),
            ("CreateTime", "1"),
            ("ScanCodeInfo/ScanType", "qrcode"),
            ("ScanCodeInfo/ScanResult", "a]]>b"),
            ("Event", "scancode_push"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let xml = write_xml(&fields);
        assert!(
            xml.contains("<CreateTime>1</CreateTime><ScanCodeInfo><ScanType>"),
            "{xml}"
        );
        assert_eq!(read_xml(&xml), Ok(fields));
    }
}
