//! The transport seam: how requests reach WeChat.
//!
//! Everything the SDK sends goes through one small trait, [`HttpClient`]: a whole
//! [`http::Request`] in (query string and body included), a whole [`http::Response`] out.
//! The SDK keeps everything else on its side of the seam: the deadline on each exchange,
//! the cap on requests in flight, retries with backoff, the size limit on answers, and
//! reading WeChat's `errcode`. An implementation only moves bytes.
//!
//! Three implementations come with the crate:
//!
//! - [`HyperClient`], the default: hyper's pooled keep-alive HTTP/1.1 client over rustls,
//!   trusting the platform's certificates;
//! - `reqwest::Client` (feature `reqwest`), for a proxy, custom TLS roots or a pool you
//!   already have. With the feature on, a client built without an explicit HTTP client
//!   uses a reqwest client when the environment sets a proxy for the API host
//!   (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, lower case too, minus `NO_PROXY`). With the
//!   feature off, those variables are not followed: requests go straight to WeChat and the
//!   build logs a warning naming the feature;
//! - any async closure `Fn(HttpRequest) -> impl Future<Output = Result<HttpResponse,
//!   TransportError>>`, which is how a unit test stands in for WeChat without a socket:
//!
//! ```
//! # async fn run() -> Result<(), wechat_oauth::Error> {
//! use wechat_oauth::transport::{HttpRequest, HttpResponse};
//! use wechat_oauth::OAuthClient;
//! use wechat_oauth::transport::TransportError;
//!
//! let wechat = |request: HttpRequest| async move {
//!     assert_eq!(request.uri().path(), "/sns/oauth2/access_token");
//!     let body = r#"{"access_token":"AT","expires_in":7200,"refresh_token":"RT",
//!                    "openid":"o1","scope":"snsapi_base"}"#;
//!     Ok::<_, TransportError>(HttpResponse::new(body.into()))
//! };
//! let client = OAuthClient::builder("wx5a4d1e0f0a000001", "app-secret")
//!     .http_client(wechat)
//!     .build()?;
//! let token = client.get_access_token("CODE").await?;
//! assert_eq!(token.openid, "o1");
//! # Ok(()) }
//! ```

mod form;
mod hyper_client;
#[cfg(feature = "reqwest")]
mod reqwest_client;
mod retry;
mod send;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use hyper_client::HyperClient;

pub(crate) use retry::RetryPolicy;
#[cfg(feature = "reqwest")]
pub(crate) use send::USER_AGENT;
pub(crate) use send::{Client, DEFAULT_MAX_BODY_BYTES, Transport};

pub use crate::error::TransportError;

/// A request to WeChat: method, full URL (the query holds the app secret, codes and
/// tokens: never log it), headers and body.
pub type HttpRequest = http::Request<Bytes>;

/// WeChat's answer: status, headers and the whole body.
pub type HttpResponse = http::Response<Bytes>;

/// The future an [`HttpClient`] returns.
pub type ResponseFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Sends one request and reads the whole answer: the seam between the SDK and the network.
///
/// Implemented by [`HyperClient`] (the default), by `reqwest::Client` (feature `reqwest`)
/// and by every `Fn(HttpRequest) -> Fut` closure whose future answers
/// `Result<HttpResponse, TransportError>`.
///
/// An implementation must not follow redirects (WeChat never sends one to an API call, and
/// following one would carry the query's secrets elsewhere), must not log the request's
/// URL, and should stop reading a body once it is larger than it will ever need to be (the
/// SDK refuses bodies over its limit after the fact). Timeouts, retries and the cap on
/// requests in flight are the SDK's; an implementation may add its own.
pub trait HttpClient: Send + Sync {
    /// Sends `request` and returns the answer, or a [`TransportError`] when there is none
    /// (connect failure, timeout, reset).
    fn execute(&self, request: HttpRequest) -> ResponseFuture<'_>;
}

impl<F, Fut> HttpClient for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    fn execute(&self, request: HttpRequest) -> ResponseFuture<'_> {
        Box::pin(self(request))
    }
}
