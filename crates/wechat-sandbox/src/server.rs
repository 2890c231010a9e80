//! The HTTP side: accept loop, one hyper HTTP/1.1 connection per socket (keep-alive), routing,
//! and the connection limits ([`ServerLimits`]): at most `max_connections` sockets, each
//! closed when its request head (or body) is slower than `header_read_timeout` or when it
//! idles longer than `idle_timeout` between requests.

use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::connect::{self, Page};
use crate::fault::Applied;
use crate::journal::JournalEntry;
use crate::limits::{Activity, ServerLimits, Verdict, Watched};
use crate::reply::Reply;
use crate::request::{Ctx, Req};
use crate::state::Shared;

/// Request bodies above this are refused; WeChat's JSON bodies are tiny.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The error a service returns to make hyper drop the connection (`Fault::Reset`).
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by wechat-sandbox fault")
    }
}

impl std::error::Error for ResetConnection {}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    limits: ServerLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // EMFILE and friends: back off briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let connection =
                    connection(stream, shared.clone(), limits.clone(), shutdown.clone());
                tokio::spawn(async move {
                    connection.await;
                    drop(slot);
                });
            }
            Err(_) => {
                tokio::spawn(refuse(stream));
            }
        }
    }
}

/// What a connection over the cap gets: a 503 and the close, rather than a socket that
/// hangs in the backlog. Bounded in time, so a flood of them cannot pile up.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "wechat-sandbox: too many open connections\n";
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(busy.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so the close is a FIN and not a reset
        // that could destroy the 503 before the client reads it.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

async fn connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    limits: Arc<ServerLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    // A second handle on the socket, so a `Fault::Reset` can set SO_LINGER=0 before hyper
    // drops the stream: the close then sends RST, which is what "connection reset" means.
    let raw = stream
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::net::TcpStream::from);
    let raw = Arc::new(std::sync::Mutex::new(raw));
    let body_timeout = limits.header_read_timeout;
    let service = {
        let raw = raw.clone();
        let activity = activity.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let raw = raw.clone();
            let in_service = activity.enter();
            async move {
                let outcome = handle(shared, req, body_timeout).await;
                drop(in_service);
                match outcome {
                    Outcome::Reply(reply) => Ok(into_response(reply)),
                    Outcome::Reset => {
                        let taken = raw.lock().unwrap_or_else(|p| p.into_inner()).take();
                        if let Some(std_stream) = taken
                            && let Ok(dup) = TcpStream::from_std(std_stream)
                        {
                            let _ = dup.set_zero_linger();
                        }
                        Err(ResetConnection)
                    }
                }
            }
        })
    };
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    // hyper's own header timeout also runs while a keep-alive connection waits for its next
    // request, so it cannot tell a slow head from an idle socket; the watchdog below does.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    loop {
        let wait = match activity.verdict(&limits) {
            Verdict::Close => return,
            Verdict::Wait(wait) => wait,
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = shutdown.changed() => return,
            // Dropping the connection closes the socket.
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

enum Outcome {
    Reply(Reply),
    Reset,
}

fn into_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, reply.content_type);
    for (name, value) in reply.headers {
        headers.append(name, value);
    }
    response
}

fn parse<'a>(parts: &'a hyper::http::request::Parts, body: &'a [u8]) -> Req<'a> {
    let query = parts.uri.query().unwrap_or("");
    Req {
        method: &parts.method,
        path: parts.uri.path(),
        query,
        params: form_urlencoded::parse(query.as_bytes()).collect(),
        headers: &parts.headers,
        body,
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>, body_timeout: Duration) -> Outcome {
    let (parts, body) = req.into_parts();
    let control = parts.uri.path().starts_with("/__sandbox/");
    let limit = if control {
        crate::control::MAX_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) if control => {
            return Outcome::Reply(Reply::control_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("control-plane bodies are limited to {limit} bytes"),
            ));
        }
        Ok(Err(_)) => {
            return Outcome::Reply(Reply::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "request body too large\n",
            ));
        }
        Err(_) => {
            let mut reply = Reply::new(
                StatusCode::REQUEST_TIMEOUT,
                "text/plain",
                "request body not received in time\n",
            );
            reply
                .headers
                .push((CONNECTION, HeaderValue::from_static("close")));
            return Outcome::Reply(reply);
        }
    };
    let delay = {
        let req = parse(&parts, &body);
        if let Some(oa) = req.path.strip_prefix("/__sandbox/oa/") {
            return Outcome::Reply(crate::official_account::control(&shared, oa, &req).await);
        }
        if let Some(control) = req.path.strip_prefix("/__sandbox/") {
            return Outcome::Reply(crate::control::handle(&shared, control, &req));
        }
        let now_ms = shared.now_ms();
        let mut st = shared.lock();
        if st.count(req.path) {
            st.record(JournalEntry {
                method: req.method.as_str().to_owned(),
                path: req.path.to_owned(),
                params: req
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.clone().into_owned()))
                    .collect(),
                body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
                content_type: req.header("content-type").map(str::to_owned),
                at_ms: now_ms,
            });
        }
        let shapes = st.shapes.clone();
        match st.next_fault(req.path).map(|fault| fault.apply(req.path)) {
            None => {
                let mut ctx = Ctx {
                    dir: &shared.dir,
                    st: &mut st,
                    now_ms,
                };
                let mut reply = route(&mut ctx, &req);
                shapes.finish(req.path, &mut reply);
                return Outcome::Reply(reply);
            }
            Some(Applied::Reply(mut reply)) => {
                shapes.finish(req.path, &mut reply);
                return Outcome::Reply(reply);
            }
            Some(Applied::Reset) => return Outcome::Reset,
            Some(Applied::Delay(delay)) => delay,
        }
    };
    // The delayed request is processed even if the client gives up meanwhile, as a slow
    // server would: a timed-out code exchange has still used the code (§8 S6).
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let req = parse(&parts, &body);
        let now_ms = shared.now_ms();
        let mut st = shared.lock();
        let shapes = st.shapes.clone();
        let mut ctx = Ctx {
            dir: &shared.dir,
            st: &mut st,
            now_ms,
        };
        let mut reply = route(&mut ctx, &req);
        shapes.finish(req.path, &mut reply);
        reply
    });
    match task.await {
        Ok(reply) => Outcome::Reply(reply),
        // Only if the delayed task panicked: answer like a busy WeChat.
        Err(_) => Outcome::Reply(Reply::errcode("/", -1)),
    }
}

fn route(ctx: &mut Ctx<'_>, req: &Req<'_>) -> Reply {
    let result = match req.path {
        "/sns/userinfo" => crate::sns::userinfo(ctx, req),
        "/sns/oauth2/access_token" => crate::sns::access_token(ctx, req),
        "/sns/oauth2/refresh_token" => crate::sns::refresh_token(ctx, req),
        "/sns/auth" => crate::sns::auth(ctx, req),
        "/sns/jscode2session" => crate::miniprogram::jscode2session(ctx, req),
        "/wxa/checksession" => crate::miniprogram::checksession(ctx, req),
        "/wxa/business/getuserphonenumber" => crate::miniprogram::getuserphonenumber(ctx, req),
        "/cgi-bin/token" => crate::server_token::token(ctx, req),
        "/cgi-bin/stable_token" => crate::server_token::stable_token(ctx, req),
        "/cgi-bin/qrcode/create" => crate::qrcode::create(ctx, req),
        "/cgi-bin/showqrcode" => crate::qrcode::show(ctx, req),
        "/cgi-bin/ticket/getticket" => crate::official_account::getticket(ctx, req),
        "/cgi-bin/user/info" => crate::official_account::user_info(ctx, req),
        "/cgi-bin/user/info/batchget" => crate::official_account::user_info_batchget(ctx, req),
        "/connect/oauth2/authorize" => Ok(connect::authorize(ctx, Page::OAuth2, req)),
        "/connect/qrconnect" => Ok(connect::authorize(ctx, Page::QrConnect, req)),
        _ => Ok(Reply::new(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("wechat-sandbox: no route for {} {}\n", req.method, req.path),
        )),
    };
    result.unwrap_or_else(|reply| reply)
}
