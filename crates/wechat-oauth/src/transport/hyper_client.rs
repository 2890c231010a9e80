//! [`HyperClient`]: the built-in HTTP client, hyper's pooled keep-alive HTTP/1.1 client
//! over rustls.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{HttpClient, HttpRequest, HttpResponse, ResponseFuture};
use crate::Error;
use crate::error::TransportError;

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The default [`HttpClient`]: hyper's pooled keep-alive HTTP/1.1 client over rustls with
/// the platform's certificate verifier. Requests go straight to hyper, without a
/// general-purpose client's redirect and middleware layers (the `get_user` hot path is
/// this client's; see `BENCHMARKS.md`).
///
/// Plain `http://` is allowed by the connector; the app builder refuses it off loopback
/// unless told otherwise. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct HyperClient {
    client: Https,
    /// Reading stops one byte past this, so an oversized body costs at most this much.
    max_body_bytes: usize,
}

impl HyperClient {
    /// A client that connects within `connect_timeout`, keeps up to `max_idle` idle
    /// connections (60 s each) and reads at most `max_body_bytes` + 1 bytes of a body.
    ///
    /// # Errors
    /// [`Error::Config`] if TLS cannot be set up (no usable platform verifier).
    pub fn new(
        connect_timeout: Duration,
        max_idle: usize,
        max_body_bytes: usize,
    ) -> Result<Self, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        // The aws-lc-rs provider, named explicitly so no process-wide default is needed.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Error::Config(format!("cannot set up TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(max_idle.max(1))
            .build(https);
        Ok(Self {
            client,
            max_body_bytes,
        })
    }

    /// Sends `request` and reads its body (at most `max_body_bytes` + 1 bytes).
    pub(crate) async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let response = self
            .client
            .request(http::Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(TransportError::from)?;
        let (parts, mut body) = response.into_parts();
        // WeChat's answers nearly always arrive as one frame: keep it as it is (no copy);
        // only a body in several frames is gathered into a buffer.
        let mut first: Option<Bytes> = None;
        let mut gathered: Vec<u8> = Vec::new();
        let cap = self.max_body_bytes.saturating_add(1);
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(TransportError::from)?.into_data() else {
                continue; // trailers
            };
            match first.take() {
                None if gathered.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        gathered.extend_from_slice(&earlier);
                    }
                    let room = cap.saturating_sub(gathered.len());
                    gathered.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
            }
            let read = first.as_ref().map_or(gathered.len(), Bytes::len);
            if read > self.max_body_bytes {
                // Too large already: the caller reports it; the rest is not read.
                break;
            }
        }
        let body = first.unwrap_or_else(|| Bytes::from(gathered));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

impl HttpClient for HyperClient {
    fn execute(&self, request: HttpRequest) -> ResponseFuture<'_> {
        Box::pin(self.send(request))
    }
}
