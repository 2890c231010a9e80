//! The axum integration (feature `axum`, on by default): one route answering WeChat's
//! verification GET and its POSTs.
//!
//! ```no_run
//! use wechat_oauth_message::{Message, MessageKind, MessageServer, Mode, Reply};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MessageServer::builder("your server token", "your appid")
//!     .mode(Mode::Safe)
//!     .encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
//!     .build()?;
//! let app = wechat_oauth_message::axum::router("/wechat", server, |message: Message| async move {
//!     match message.kind {
//!         MessageKind::Text(text) => Reply::text(format!("you said: {}", text.content)),
//!         _ => Reply::Success,
//!     }
//! });
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:80").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Plaintext, compatible and encrypted pushes are told apart by WeChat's `encrypt_type`
//! query parameter and checked against the server's [`Mode`](crate::Mode). Refusals are a
//! 4xx (see [`MessageError::status`]) with a `text/plain` body naming the problem, never
//! the request's content.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::error::MessageError;
use crate::server::{Handler, MessageServer, PushQuery, Response};

struct Endpoint<H> {
    server: MessageServer,
    handler: H,
}

/// A router serving the message interface at `path`: `GET` verifies the server URL,
/// `POST` takes pushes. Merge it into your app's router.
pub fn router<H: Handler>(path: &str, server: MessageServer, handler: H) -> Router {
    let endpoint = Arc::new(Endpoint { server, handler });
    Router::new()
        .route(path, get(verify::<H>).post(push::<H>))
        .with_state(endpoint)
}

async fn verify<H: Handler>(
    State(endpoint): State<Arc<Endpoint<H>>>,
    RawQuery(query): RawQuery,
) -> AxumResponse {
    let query = PushQuery::parse(query.as_deref().unwrap_or(""));
    match endpoint.server.verify_url_response(&query) {
        Ok(response) => answer(response),
        Err(error) => refuse(&error),
    }
}

async fn push<H: Handler>(
    State(endpoint): State<Arc<Endpoint<H>>>,
    RawQuery(query): RawQuery,
    body: Body,
) -> AxumResponse {
    let query = PushQuery::parse(query.as_deref().unwrap_or(""));
    let limit = endpoint.server.body_limit();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return refuse(&MessageError::BodyTooLarge { limit });
        }
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "wechat-oauth-message: could not read the body\n",
            )
                .into_response();
        }
    };
    match endpoint
        .server
        .handle(&query, &bytes, &endpoint.handler)
        .await
    {
        Ok(response) => answer(response),
        Err(error) => refuse(&error),
    }
}

fn answer(response: Response) -> AxumResponse {
    let mut out = response.body.into_response();
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    out
}

fn refuse(error: &MessageError) -> AxumResponse {
    tracing::info!(target: "wechat_oauth_message", %error, "push refused");
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, format!("wechat-oauth-message: {error}\n")).into_response()
}
