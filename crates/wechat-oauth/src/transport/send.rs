//! [`Transport`]: the one place requests to WeChat are sent. It builds each request, holds
//! a slot of the in-flight cap, applies the deadline, retries idempotent calls, and hands
//! the answer to [`parse_response`](crate::response::parse_response).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::Instrument;
use url::Url;

use super::form::request_path;
use super::retry::{RetryPolicy, worth_retrying};
use super::{HttpClient, HttpRequest, HyperClient};
use crate::error::{Error, ResponseError, ResponseErrorKind, TransportError};
use crate::response::parse_response;

/// Default limit on a response body: WeChat's answers are well under 4 KiB.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("wechat-oauth-rust/", env!("CARGO_PKG_VERSION"));

/// What sends the requests. The built-in client is called directly (no boxed future of
/// its own), so the default path costs what it did before the seam existed.
#[derive(Clone)]
pub(crate) enum Client {
    /// The built-in hyper client (the default).
    Builtin(Box<HyperClient>),
    /// Anything else behind the seam: a reqwest client, a closure, a caller's type.
    Custom(Arc<dyn HttpClient>),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Builtin(_) => "HyperClient",
            Self::Custom(_) => "custom HttpClient",
        })
    }
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

/// A client bound to one API base URL, with the SDK's deadline, cap and retries.
/// Cheap to clone: clones share the connection pool and the cap.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: Client,
    api_base: Url,
    max_body_bytes: usize,
    /// A deadline on the whole exchange (queueing, send, read), enforced on every client.
    total_timeout: Option<Duration>,
    retry: RetryPolicy,
    /// One permit per request in flight: bounds the connections open to WeChat (the
    /// pool opens one per concurrent request) and so the memory they hold.
    in_flight: Arc<Semaphore>,
    /// `Host` for every request to `api_base`.
    host: Option<http::HeaderValue>,
    /// `api_base`'s scheme and authority, parsed once: a request parses only its own path
    /// and query.
    origin: Option<(http::uri::Scheme, http::uri::Authority)>,
}

/// The scheme and authority of `base`, as `http` parses them.
fn origin(base: &Url) -> Option<(http::uri::Scheme, http::uri::Authority)> {
    let text = base.as_str();
    let parts = http::Uri::try_from(&text[..text.len() - base.path().len()])
        .ok()?
        .into_parts();
    Some((parts.scheme?, parts.authority?))
}

impl Transport {
    /// A transport sending through `client`, with at most `max_connections` requests in
    /// flight.
    pub(crate) fn new(
        client: Client,
        api_base: Url,
        max_connections: usize,
        max_body_bytes: usize,
        retry: RetryPolicy,
        total_timeout: Option<Duration>,
    ) -> Self {
        Self {
            client,
            host: host_header(&api_base),
            origin: origin(&api_base),
            api_base,
            max_body_bytes,
            total_timeout,
            retry,
            in_flight: Arc::new(Semaphore::new(
                max_connections.clamp(1, Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// The base URL of the JSON APIs (`https://api.weixin.qq.com` in production).
    pub(crate) fn api_base(&self) -> &Url {
        &self.api_base
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

    /// `GET path?query` (parameters sent in the given order), decoded as `T`. Not retried.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        self.exchange(http::Method::GET, path, query, None).await
    }

    /// `POST path?query` with a JSON body, decoded as `T`. Not retried.
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
        let url = request_path(self.api_base.path(), path, query);
        // Boxed once, deadline included, so that neither the large client future nor the
        // timer is copied again by every wrapper up to the caller's task (nor sizes it).
        // Without a subscriber (or log) for the span, it is not entered on every poll.
        let exchange = self.send_within_deadline(method, url, json);
        if span.is_disabled() {
            Box::pin(exchange).await
        } else {
            Box::pin(exchange.instrument(span)).await
        }
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

    /// The full URI of a request to `path_and_query` (which starts with the base's path).
    fn uri(&self, path_and_query: String) -> Result<http::Uri, Error> {
        fn invalid<E>(_: E) -> Error {
            Error::InvalidArgument("request URL is not a valid URI".into())
        }
        match &self.origin {
            Some((scheme, authority)) => {
                let mut parts = http::uri::Parts::default();
                parts.scheme = Some(scheme.clone());
                parts.authority = Some(authority.clone());
                parts.path_and_query = Some(
                    http::uri::PathAndQuery::from_maybe_shared(Bytes::from(path_and_query))
                        .map_err(invalid)?,
                );
                http::Uri::from_parts(parts).map_err(invalid)
            }
            None => {
                let text = self.api_base.as_str();
                let origin = &text[..text.len() - self.api_base.path().len()];
                http::Uri::try_from(format!("{origin}{path_and_query}")).map_err(invalid)
            }
        }
    }

    /// The request for `url`: method, `User-Agent`, `Host`, and the JSON body if any.
    /// Built in place rather than through `http::request::Builder`, which moves its parts
    /// at every step and parses each header name again (this is the `get_user` hot path).
    fn request(
        &self,
        method: http::Method,
        path_and_query: String,
        json: Option<Bytes>,
    ) -> Result<HttpRequest, Error> {
        let uri = self.uri(path_and_query)?;
        let is_json = json.is_some();
        let mut request = http::Request::new(json.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(3);
        headers.insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        );
        if let Some(host) = &self.host {
            headers.insert(http::header::HOST, host.clone());
        }
        if is_json {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        Ok(request)
    }

    /// Waits for a free slot, sends, checks the body's size and decodes.
    async fn send<T: DeserializeOwned>(
        &self,
        method: http::Method,
        url: String,
        json: Option<Bytes>,
    ) -> Result<T, Error> {
        let _permit =
            self.in_flight.acquire().await.map_err(|_| {
                TransportError::other(std::io::Error::other("HTTP transport closed"))
            })?;
        let request = self.request(method, url, json)?;
        tracing::debug!(target: "wechat_oauth::http", "request");
        let response = match &self.client {
            Client::Builtin(client) => client.send(request).await?,
            Client::Custom(client) => client.execute(request).await?,
        };
        let status = response.status().as_u16();
        let body = response.into_body();
        tracing::trace!(target: "wechat_oauth::http", status, bytes = body.len(), "response");
        if body.len() > self.max_body_bytes {
            return Err(ResponseError::new(
                Some(status).filter(|s| !(200..300).contains(s)),
                ResponseErrorKind::TooLarge,
                &body[..self.max_body_bytes.min(512)],
            )
            .into());
        }
        parse_response(status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uris_built_from_the_parsed_origin_are_those_of_the_full_url() {
        let never = |_: HttpRequest| async {
            Err::<super::super::HttpResponse, _>(TransportError::timeout())
        };
        for base in [
            "https://api.weixin.qq.com/",
            "https://api.weixin.qq.com:8443/",
            "http://127.0.0.1:8080/prefix/",
            "http://[::1]:9/a/b/",
        ] {
            let base = Url::parse(base).unwrap();
            let transport = Transport::new(
                Client::Custom(Arc::new(never)),
                base.clone(),
                1,
                DEFAULT_MAX_BODY_BYTES,
                RetryPolicy::NONE,
                None,
            );
            assert!(transport.origin.is_some(), "{base}");
            let query = [("access_token", "86_a-b"), ("openid", "o 1")];
            let path = request_path(base.path(), "sns/userinfo", &query);
            let full = super::super::form::request_url(&base, "sns/userinfo", &query);
            assert_eq!(
                transport.uri(path).unwrap(),
                http::Uri::try_from(full).unwrap()
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
}
