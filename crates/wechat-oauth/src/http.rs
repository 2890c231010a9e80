//! The one place requests to WeChat are sent and answers are read.
//!
//! Every answer goes through [`parse_response`]: read the body whatever its
//! Content-Type, treat a non-zero `errcode` as an error even under HTTP 200, then decode
//! the success type leniently (`wechat-protocol.md` §0, §6).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::Rng;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::Instrument;
use url::Url;

use crate::error::{
    Error, ResponseError, ResponseErrorKind, TransportError, WeChatError, WeChatErrorKind,
};

/// Default limit on a response body: WeChat's answers are well under 4 KiB.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("wechat-oauth-rust/", env!("CARGO_PKG_VERSION"));

/// The built-in client: hyper's pooled keep-alive HTTP/1.1 client over rustls.
type Https = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What sends the requests.
#[derive(Debug, Clone)]
enum Backend {
    /// The built-in hyper client (the default): requests go straight to hyper, without a
    /// general-purpose client's redirect and middleware layers.
    Hyper(Box<Https>),
    /// A caller-supplied `reqwest::Client` (proxy, custom TLS, a shared pool).
    Reqwest(reqwest::Client),
}

/// The `Host` header for `base`, computed once (hyper would format it on every request).
fn host_header(base: &Url) -> Option<http::HeaderValue> {
    let host = base.host_str()?;
    let value = match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    http::HeaderValue::from_str(&value).ok()
}

/// A pooled keep-alive HTTP client bound to one API base URL.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    backend: Backend,
    api_base: Url,
    max_body_bytes: usize,
    /// A deadline on the whole exchange (queueing, send, read), enforced even on a caller's
    /// client.
    total_timeout: Option<Duration>,
    retry: RetryPolicy,
    /// One permit per request in flight: bounds the connections open to WeChat (the
    /// pool opens one per concurrent request) and so the memory they hold.
    in_flight: Arc<Semaphore>,
    /// `Host` for every request to `api_base`.
    host: Option<http::HeaderValue>,
}

/// How idempotent calls are retried: on a transport error or WeChat's -1 ("system
/// busy"), up to `max_retries` more times, sleeping `backoff · 2ⁿ` with jitter between
/// attempts (`wechat-protocol.md` §5, §8 S17). Code exchanges never use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Duration,
}

impl RetryPolicy {
    /// No retries at all.
    pub(crate) const NONE: Self = Self {
        max_retries: 0,
        backoff: Duration::ZERO,
    };

    /// The delay before retry number `attempt` (0-based): `backoff · 2^attempt`, scaled by a
    /// random factor in [0.5, 1) so that many clients retrying at once spread out.
    fn delay(&self, attempt: u32) -> Duration {
        let full = self.backoff.saturating_mul(1u32 << attempt.min(16));
        full.mul_f64(rand::rng().random_range(0.5..1.0))
    }
}

/// Whether an idempotent call may be sent again after `err`.
fn worth_retrying(err: &Error) -> bool {
    match err {
        Error::Transport(_) => true,
        Error::WeChat(e) => e.kind() == WeChatErrorKind::Busy,
        _ => false,
    }
}

/// Builds the built-in client: rustls with the platform's certificate verifier (the
/// aws-lc-rs provider, named explicitly so no process-wide default is needed), plain
/// http allowed for loopback test servers (the clients check the scheme first).
fn hyper_client(connect_timeout: Duration, max_idle: usize) -> Result<Https, Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| Error::Config(format!("cannot set up TLS: {e}")))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(HyperClient::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(max_idle)
        .build(https))
}

impl Transport {
    /// A transport on the built-in client, with at most `max_connections` requests (and so
    /// connections) in flight.
    pub(crate) fn new(
        api_base: Url,
        connect_timeout: Duration,
        max_connections: usize,
        max_body_bytes: usize,
    ) -> Result<Self, Error> {
        Ok(Self::with_backend(
            Backend::Hyper(Box::new(hyper_client(
                connect_timeout,
                max_connections.max(1),
            )?)),
            api_base,
            max_connections,
            max_body_bytes,
        ))
    }

    /// A transport on a caller-supplied `reqwest::Client`.
    pub(crate) fn with_reqwest(
        client: reqwest::Client,
        api_base: Url,
        max_connections: usize,
        max_body_bytes: usize,
    ) -> Self {
        Self::with_backend(
            Backend::Reqwest(client),
            api_base,
            max_connections,
            max_body_bytes,
        )
    }

    fn with_backend(
        backend: Backend,
        api_base: Url,
        max_connections: usize,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            backend,
            host: host_header(&api_base),
            api_base,
            max_body_bytes,
            total_timeout: None,
            retry: RetryPolicy::NONE,
            in_flight: Arc::new(Semaphore::new(
                max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// Sets a deadline on each whole request, answer included.
    pub(crate) fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = Some(timeout);
        self
    }

    /// Sets how [`get_idempotent`](Self::get_idempotent) retries.
    pub(crate) fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// `GET path?query` for a call that is safe to repeat (userinfo, auth, refresh):
    /// retried on transport errors and WeChat's -1 with backoff and jitter.
    pub(crate) async fn get_idempotent<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let mut attempt = 0;
        loop {
            match self.get(path, query).await {
                Err(err) if attempt < self.retry.max_retries && worth_retrying(&err) => {
                    let delay = self.retry.delay(attempt);
                    attempt += 1;
                    tracing::debug!(
                        target: "wechat_oauth::http",
                        path,
                        attempt,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %err,
                        "retrying"
                    );
                    // Boxed: a timer is large, and this is the rare path.
                    Box::pin(tokio::time::sleep(delay)).await;
                }
                result => return result,
            }
        }
    }

    /// The base URL of the JSON APIs (`https://api.weixin.qq.com` in production).
    pub(crate) fn api_base(&self) -> &Url {
        &self.api_base
    }

    /// `base + path + ?query`, the query form-encoded in the given order exactly as
    /// `Url::query_pairs_mut` would, without parsing the base again on every call.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let base = self.api_base.as_str();
        let path = path.trim_start_matches('/');
        let wanted = query
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
        let mut url = String::with_capacity(base.len() + path.len() + wanted);
        url.push_str(base);
        url.push_str(path);
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            push_form_encoded(&mut url, key);
            url.push('=');
            push_form_encoded(&mut url, value);
        }
        url
    }

    /// `GET path?query` (parameters sent in the given order), decoded as `T`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        self.exchange(http::Method::GET, path, query, None).await
    }

    /// `POST path?query` with a JSON body, decoded as `T`.
    #[allow(dead_code)] // used by the Mini Program client (phone number)
    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<T, Error> {
        let body = Bytes::from(body.to_string());
        self.exchange(http::Method::POST, path, query, Some(body))
            .await
    }

    /// Runs one exchange under the total deadline, in a span that records only the path
    /// (query strings hold the app secret, codes and tokens).
    async fn exchange<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        query: &[(&str, &str)],
        json: Option<Bytes>,
    ) -> Result<T, Error> {
        let span = tracing::debug_span!(
            target: "wechat_oauth::http",
            "wechat_request",
            method = method.as_str(),
            path
        );
        let url = self.url(path, query);
        // Boxed once, deadline included, so that neither the large client future nor the
        // timer is copied again by every wrapper up to the caller's task (nor sizes it).
        Box::pin(
            self.send_within_deadline(method, url, json)
                .instrument(span),
        )
        .await
    }

    async fn send_within_deadline<T: DeserializeOwned>(
        &self,
        method: http::Method,
        url: String,
        json: Option<Bytes>,
    ) -> Result<T, Error> {
        match self.total_timeout {
            Some(limit) => tokio::time::timeout(limit, self.send(method, url, json))
                .await
                .unwrap_or_else(|_| Err(TransportError::timeout().into())),
            None => self.send(method, url, json).await,
        }
    }

    /// Waits for a free connection slot, sends, reads and decodes.
    async fn send<T: DeserializeOwned>(
        &self,
        method: http::Method,
        url: String,
        json: Option<Bytes>,
    ) -> Result<T, Error> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Error::Config("HTTP transport closed".into()))?;
        tracing::debug!(target: "wechat_oauth::http", "request");
        let (status, body) = match &self.backend {
            Backend::Hyper(client) => self.send_hyper(client, method, url, json).await?,
            Backend::Reqwest(client) => self.send_reqwest(client, method, url, json).await?,
        };
        tracing::trace!(target: "wechat_oauth::http", status, bytes = body.len(), "response");
        parse_response(status, &body)
    }

    async fn send_hyper(
        &self,
        client: &Https,
        method: http::Method,
        url: String,
        json: Option<Bytes>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let uri =
            http::Uri::try_from(url).map_err(|_| Error::Config("invalid request URL".into()))?;
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(host) = &self.host {
            request = request.header(http::header::HOST, host.clone());
        }
        if json.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(json.unwrap_or_default()))
            .map_err(|_| Error::Config("invalid request".into()))?;
        let response = client
            .request(request)
            .await
            .map_err(TransportError::from)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(TransportError::from)?;
            if let Some(chunk) = frame.data_ref() {
                self.append(&mut bytes, chunk, status)?;
            }
        }
        Ok((status, bytes))
    }

    async fn send_reqwest(
        &self,
        client: &reqwest::Client,
        method: http::Method,
        url: String,
        json: Option<Bytes>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let mut request = client.request(method, url);
        if let Some(json) = json {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let mut response = request.send().await.map_err(TransportError::from)?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(TransportError::from)? {
            self.append(&mut bytes, &chunk, status)?;
        }
        Ok((status, bytes))
    }

    /// Appends a body chunk, refusing a body over the size limit.
    fn append(&self, body: &mut Vec<u8>, chunk: &[u8], status: u16) -> Result<(), Error> {
        if body.len() + chunk.len() > self.max_body_bytes {
            return Err(ResponseError::new(
                Some(status).filter(|s| !(200..300).contains(s)),
                ResponseErrorKind::TooLarge,
                body,
            )
            .into());
        }
        body.extend_from_slice(chunk);
        Ok(())
    }
}

/// Appends `text` `application/x-www-form-urlencoded`. Tokens, openids and codes are
/// nearly always made of bytes that encode as themselves, so those are copied as they are.
fn push_form_encoded(out: &mut String, text: &str) {
    /// The bytes `application/x-www-form-urlencoded` leaves as they are.
    const UNCHANGED: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_');
            b += 1;
        }
        table
    };
    if text.bytes().all(|b| UNCHANGED[usize::from(b)]) {
        out.push_str(text);
    } else {
        out.extend(form_urlencoded::byte_serialize(text.as_bytes()));
    }
}

/// Decodes a WeChat answer: `errcode` ≠ 0 is [`Error::WeChat`] whatever the status; a
/// non-2xx status, an empty, non-JSON or truncated body is [`Error::Response`].
pub(crate) fn parse_response<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Error> {
    let bad_status = (!(200..300).contains(&status)).then_some(status);
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(ResponseError::new(bad_status, ResponseErrorKind::Empty, body).into());
    }
    // Fast path for the common answer: a 2xx body without any `errcode` key decodes
    // straight from the bytes. Anything else (errors, lenient fixes, decode failures with
    // their path messages) takes the `Value` path below, which decides as before.
    if bad_status.is_none()
        && memchr::memmem::find(trimmed, b"errcode").is_none()
        && let Ok(value) = serde_json::from_slice::<T>(trimmed)
    {
        return Ok(value);
    }
    let value: serde_json::Value = match parse_lenient_json(trimmed) {
        Ok(v) => v,
        Err(e) => {
            let kind = if e.is_eof() && trimmed.first() == Some(&b'{') {
                ResponseErrorKind::Truncated
            } else {
                ResponseErrorKind::NotJson
            };
            return Err(ResponseError::new(bad_status, kind, body).into());
        }
    };
    if let Some(err) = wechat_error(&value) {
        return Err(err.into());
    }
    if bad_status.is_some() {
        return Err(ResponseError::new(bad_status, ResponseErrorKind::Status, body).into());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        // serde's messages can quote the offending value (a token, say): keep only
        // "missing field" messages, which name a field and nothing else.
        let inner = e.inner().to_string();
        let what = if inner.starts_with("missing field") {
            inner
                .split(" at line")
                .next()
                .unwrap_or("missing field")
                .to_owned()
        } else {
            "unexpected type or value".to_owned()
        };
        let path = match e.path().to_string() {
            p if p == "." => what,
            p => format!("{p}: {what}"),
        };
        ResponseError {
            status: None,
            kind: ResponseErrorKind::Decode(path),
            snippet: String::new(),
        }
        .into()
    })
}

/// A non-zero `errcode` (number or numeric string) as a [`WeChatError`].
fn wechat_error(value: &serde_json::Value) -> Option<WeChatError> {
    let code = value.get("errcode")?;
    let errcode = code
        .as_i64()
        .or_else(|| code.as_str().and_then(|s| s.trim().parse().ok()))?;
    if errcode == 0 {
        return None;
    }
    let errmsg = value
        .get("errmsg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(WeChatError::new(errcode, errmsg))
}

/// Parses JSON, tolerating what WeChat is known to send in nicknames: invalid UTF-8
/// (replaced with U+FFFD) and raw control characters inside strings (escaped), the way
/// wechatpy's `json.loads(strict=False)` after a lossy decode does (`wechat-protocol.md` §0).
pub(crate) fn parse_lenient_json(body: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(first) if first.is_syntax() || first.is_data() => {
            let text = String::from_utf8_lossy(body);
            let mut cleaned = String::with_capacity(text.len());
            let (mut in_string, mut escaped) = (false, false);
            for c in text.chars() {
                if in_string && !escaped && c.is_control() {
                    cleaned.push_str(&format!("\\u{:04x}", u32::from(c)));
                    continue;
                }
                match c {
                    '\\' if in_string => escaped = !escaped,
                    '"' if !escaped => {
                        in_string = !in_string;
                    }
                    _ => escaped = false,
                }
                if c != '\\' {
                    escaped = false;
                }
                cleaned.push(c);
            }
            serde_json::from_str(&cleaned).map_err(|_| first)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Ok1 {
        a: i64,
    }

    fn parse(status: u16, body: &str) -> Result<Ok1, Error> {
        parse_response(status, body.as_bytes())
    }

    /// What the transport used to send: `Url::join` + `query_pairs_mut`.
    fn url_crate_reference(base: &str, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = Url::parse(base).unwrap().join(path).unwrap();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.to_string()
    }

    fn transport(base: &str) -> Transport {
        Transport::new(Url::parse(base).unwrap(), Duration::from_secs(1), 4, 1024).unwrap()
    }

    #[test]
    fn request_urls_are_encoded_as_the_url_crate_encodes_them() {
        let t = transport("http://127.0.0.1:9/prefix/");
        for query in [
            &[][..],
            &[
                ("access_token", "86_AbC-x.y_z*"),
                ("openid", "oABC"),
                ("lang", "zh_CN"),
            ][..],
            &[
                ("state", "a b+c&d=e/f?g#h%"),
                ("名", "微信 ✓"),
                ("", "~'!()"),
            ][..],
        ] {
            assert_eq!(
                t.url("sns/userinfo", query),
                url_crate_reference("http://127.0.0.1:9/prefix/", "sns/userinfo", query)
            );
        }
    }

    #[test]
    fn the_host_header_is_the_base_authority_without_a_default_port() {
        let host = |base: &str| host_header(&Url::parse(base).unwrap()).unwrap();
        assert_eq!(host("https://api.weixin.qq.com/"), "api.weixin.qq.com");
        assert_eq!(host("https://api.weixin.qq.com:443/"), "api.weixin.qq.com");
        assert_eq!(host("http://127.0.0.1:8080/prefix/"), "127.0.0.1:8080");
        assert_eq!(host("http://[::1]:9/"), "[::1]:9");
    }

    proptest::proptest! {
        #[test]
        fn any_query_is_encoded_as_the_url_crate_encodes_it(
            key in ".{0,12}", value in ".{0,40}", token in "[A-Za-z0-9_*.-]{0,40}"
        ) {
            let t = transport("https://api.weixin.qq.com/");
            let query = [("access_token", token.as_str()), (key.as_str(), value.as_str())];
            proptest::prop_assert_eq!(
                t.url("/sns/auth", &query),
                url_crate_reference("https://api.weixin.qq.com/", "sns/auth", &query)
            );
        }
    }

    #[test]
    fn retry_delays_double_with_jitter_below_the_full_delay() {
        let policy = RetryPolicy {
            max_retries: 3,
            backoff: Duration::from_millis(100),
        };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400)] {
            for _ in 0..50 {
                let d = policy.delay(attempt).as_millis();
                assert!((full / 2..full).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
        assert_eq!(RetryPolicy::NONE.delay(5), Duration::ZERO);
    }

    #[test]
    fn only_transport_errors_and_busy_are_retried() {
        assert!(worth_retrying(&Error::Transport(TransportError::timeout())));
        assert!(worth_retrying(&WeChatError::new(-1, "system error").into()));
        assert!(!worth_retrying(&WeChatError::new(45011, "quota").into()));
        assert!(!worth_retrying(&WeChatError::new(40001, "invalid").into()));
        let empty = ResponseError::new(None, ResponseErrorKind::Empty, b"");
        assert!(!worth_retrying(&empty.into()));
    }

    #[test]
    fn errcode_under_http_200_is_an_error() {
        let err = parse(
            200,
            r#"{"errcode":40029,"errmsg":"invalid code, rid: a-b-c"}"#,
        )
        .err();
        assert_eq!(err.as_ref().and_then(Error::errcode), Some(40029));
        let err = parse(200, r#"{"errcode":"40163","errmsg":"code been used"}"#).err();
        assert!(err.is_some_and(|e| e.is_code_used()));
    }

    #[test]
    fn errcode_zero_is_success() {
        assert_eq!(
            parse(200, r#"{"errcode":0,"errmsg":"ok","a":1}"#)
                .ok()
                .map(|v| v.a),
            Some(1)
        );
    }

    #[test]
    fn empty_html_truncated_and_status_are_typed() {
        let kind = |r: Result<Ok1, Error>| match r {
            Err(Error::Response(e)) => Some((e.status, e.kind)),
            _ => None,
        };
        assert_eq!(
            kind(parse(200, "  ")),
            Some((None, ResponseErrorKind::Empty))
        );
        assert_eq!(
            kind(parse(502, "<html>Bad Gateway</html>")),
            Some((Some(502), ResponseErrorKind::NotJson))
        );
        assert_eq!(
            kind(parse(200, r#"{"a":1,"b":"#)),
            Some((None, ResponseErrorKind::Truncated))
        );
        assert_eq!(
            kind(parse(500, r#"{"a":1}"#)),
            Some((Some(500), ResponseErrorKind::Status))
        );
        assert_eq!(
            kind(parse(200, r#"{"b":1}"#)),
            Some((None, ResponseErrorKind::Decode("missing field `a`".into())))
        );
    }

    #[test]
    fn raw_control_characters_in_strings_are_tolerated() {
        let v = parse_lenient_json(b"{\"nickname\":\"a\x01b\tc\",\"x\":1}").ok();
        assert_eq!(
            v.and_then(|v| v["nickname"].as_str().map(str::to_owned))
                .as_deref(),
            Some("a\u{1}b\tc")
        );
        let v = parse_lenient_json(b"{\"nickname\":\"\xff\\\"q\"}").ok();
        assert_eq!(
            v.and_then(|v| v["nickname"].as_str().map(str::to_owned))
                .as_deref(),
            Some("\u{fffd}\"q")
        );
    }
}
