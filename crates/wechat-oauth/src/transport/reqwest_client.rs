//! `reqwest::Client` as an [`HttpClient`] (feature `reqwest`): a proxy, custom TLS roots,
//! a pool the application already has.

use super::{DEFAULT_MAX_BODY_BYTES, HttpClient, HttpRequest, ResponseFuture};
use crate::error::TransportError;

/// Reading stops past this many bytes; the SDK's own limit
/// ([`HttpOptions::max_body_bytes`](crate::HttpOptions::max_body_bytes)) is checked after.
const READ_CAP: usize = 16 * DEFAULT_MAX_BODY_BYTES;

/// The caller's client keeps its own settings (timeouts, proxy, redirects: turn redirects
/// off, as the SDK does for the client it builds from a proxy variable).
impl HttpClient for reqwest::Client {
    fn execute(&self, request: HttpRequest) -> ResponseFuture<'_> {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(TransportError::from)?;
            let mut response = reqwest::Client::execute(self, request)
                .await
                .map_err(TransportError::from)?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(response.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(TransportError::from)? {
                body.extend_from_slice(&chunk);
                if body.len() > READ_CAP {
                    break;
                }
            }
            answer.body(body.into()).map_err(TransportError::other)
        })
    }
}
