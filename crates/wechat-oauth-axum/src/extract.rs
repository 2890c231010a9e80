//! The [`WeChatUser`] extractor and its rejection.
//!
//! The extractor finds the [`WeChatLogin`] in the router's state through [`FromRef`], so a
//! router whose state cannot provide one does not compile (there is no run-time lookup to
//! forget).

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{WeChatLogin, WeChatUser};

/// Why the [`WeChatUser`] extractor did not produce a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeChatUserRejection {
    /// Nobody is logged in: answers `303 See Other` to this login URL, which comes back to
    /// the page that was asked for.
    LoginRequired {
        /// The local login URL, with `return_to` set.
        login_url: String,
    },
    /// The web-session store could not be read: answers 503 (not a redirect to login,
    /// which would loop while the store is down).
    StoreUnavailable,
}

impl IntoResponse for WeChatUserRejection {
    fn into_response(self) -> Response {
        match self {
            Self::LoginRequired { login_url } => match HeaderValue::from_str(&login_url) {
                Ok(location) => {
                    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
                }
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            },
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
}

async fn current_user(
    login: &WeChatLogin,
    parts: &Parts,
) -> Result<Option<WeChatUser>, WeChatUserRejection> {
    login.current_user(&parts.headers).await.map_err(|error| {
        tracing::warn!(%error, "web-session store unavailable");
        WeChatUserRejection::StoreUnavailable
    })
}

impl<S> FromRequestParts<S> for WeChatUser
where
    WeChatLogin: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WeChatUserRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let login = WeChatLogin::from_ref(state);
        if let Some(user) = current_user(&login, parts).await? {
            return Ok(user);
        }
        // Inside `Router::nest` the URI is stripped of the prefix; the original is the path
        // the browser must come back to.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        let here = uri.path_and_query().map_or("/", |pq| pq.as_str());
        Err(WeChatUserRejection::LoginRequired {
            login_url: login.login_url(here),
        })
    }
}

impl<S> OptionalFromRequestParts<S> for WeChatUser
where
    WeChatLogin: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WeChatUserRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        current_user(&WeChatLogin::from_ref(state), parts).await
    }
}
