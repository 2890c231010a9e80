//! Faults a test queues for a route: the next request to that path gets the fault instead of
//! (or, for [`Fault::Delay`], before) its normal answer.

use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;

use crate::reply::Reply;

/// One injected fault (the sandbox's fault injection, see the crate docs). Faults are queued FIFO per
/// path with [`Sandbox::inject_fault`](crate::Sandbox::inject_fault) or
/// `POST /__sandbox/faults`; each one is used by exactly one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `{"errcode":N,"errmsg":"…, rid: …"}` with HTTP 200 without processing the request
    /// (for example -1 busy, 45011 rate limit, 40226 blocked, 42001 expired).
    ErrCode(i64),
    /// HTTP 502 with an nginx-style HTML page, as a failing gateway answers.
    Html502,
    /// HTTP 200, empty body, `Content-Type: text/html; charset=gbk` (§0, Eric-Guo/wechat#184).
    EmptyGbk,
    /// HTTP 200 with a JSON body cut off in the middle. The request is not processed.
    TruncatedJson,
    /// Wait this long, then process the request normally.
    Delay(Duration),
    /// Close the connection with a TCP reset instead of answering. The request is not processed.
    Reset,
    /// Answer exactly this, without processing the request: for quirks the other faults do
    /// not cover, such as `"sex":"1"` as a string, `"countryCode":"86"`, unknown extra
    /// fields or raw control characters in a nickname (§0, §8 S15).
    Respond {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// The body, sent as is.
        body: String,
    },
}

/// What the server does with a fault.
pub(crate) enum Applied {
    Reply(Reply),
    Delay(Duration),
    Reset,
}

impl Fault {
    pub(crate) fn apply(&self, path: &str) -> Applied {
        match self {
            Fault::ErrCode(code) => Applied::Reply(Reply::errcode(path, *code)),
            Fault::Html502 => Applied::Reply(Reply::new(
                StatusCode::BAD_GATEWAY,
                "text/html",
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                 <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                 </body>\r\n</html>\r\n",
            )),
            Fault::EmptyGbk => Applied::Reply(Reply::new(
                StatusCode::OK,
                "text/html; charset=gbk",
                Bytes::new(),
            )),
            Fault::TruncatedJson => {
                let mut reply = Reply::new(
                    StatusCode::OK,
                    crate::reply::api_content_type(path),
                    r#"{"access_token":"86_TRUNCATED","expires_in":72"#,
                );
                reply.wire = Some(crate::reply::Wire::Json);
                Applied::Reply(reply)
            }
            Fault::Delay(d) => Applied::Delay(*d),
            Fault::Reset => Applied::Reset,
            Fault::Respond {
                status,
                content_type,
                body,
            } => {
                let mut reply = Reply::new(
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    "text/plain",
                    body.clone(),
                );
                if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
                    reply.content_type = value;
                }
                Applied::Reply(reply)
            }
        }
    }
}
