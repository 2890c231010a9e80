//! What the server allows a connection: how long it may take to send a request, how long it
//! may sit idle between requests, and how many connections may be open at once. Without
//! these, half-sent requests (slowloris) and silent sockets stay open forever.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Default [`ServerLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerLimits::idle_timeout`]: longer than the SDK's 60 s pool idle timeout,
/// so the server never closes a connection a client is about to reuse (nginx's default
/// `keepalive_timeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default [`ServerLimits::max_connections`]: well above the benchmarks' 1,000 concurrent
/// clients.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Connection limits of a sandbox's server. [`Default`] gives the documented defaults; set
/// them with [`SandboxBuilder::limits`](crate::SandboxBuilder::limits) or the binary's
/// `--header-read-timeout-ms`, `--idle-timeout-ms` and `--max-connections`.
///
/// ```
/// use std::time::Duration;
/// use wechat_sandbox::ServerLimits;
///
/// let mut limits = ServerLimits::default();
/// assert_eq!(limits.header_read_timeout, Duration::from_secs(10));
/// limits.max_connections = 64;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// How long a client may take to send a request's head (request line and headers),
    /// counted from the connection's start or from the first byte of a later request, and
    /// then again to send its body. A connection that overruns it is closed (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request, counted from the
    /// last answer (default [`DEFAULT_IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// Connections open at once; one more is answered `503 Service Unavailable` and closed
    /// (default [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
}

impl Default for ServerLimits {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerLimits {
    /// The problems with these limits, for the builder's configuration error.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.header_read_timeout.is_zero() {
            problems.push("the header read timeout must be positive".to_owned());
        }
        if self.idle_timeout.is_zero() {
            problems.push("the idle timeout must be positive".to_owned());
        }
        if self.max_connections == 0 {
            problems.push("max_connections must be at least 1".to_owned());
        }
        problems
    }
}

/// No time recorded.
const NONE: u64 = u64::MAX;

/// What a connection has been doing, shared by its socket wrapper, its service and its
/// watchdog. Times are milliseconds since the connection started.
#[derive(Debug)]
pub(crate) struct Activity {
    started: Instant,
    /// The last read, write or finished request.
    last_ms: AtomicU64,
    /// When the head now being read began (the connection's start for the first request),
    /// or [`NONE`] between requests.
    head_since_ms: AtomicU64,
    /// Requests being handled (their body being read, or a delay running).
    in_service: AtomicUsize,
}

/// What the watchdog should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing is overdue; look again after this long.
    Wait(Duration),
    /// A limit ran out: close the connection.
    Close,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            // A fresh connection owes its first request head at once: a silent socket is a
            // slow head, not an idle keep-alive connection.
            head_since_ms: AtomicU64::new(0),
            in_service: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn on_read(&self) {
        let now = self.now_ms();
        self.last_ms.store(now, Ordering::Relaxed);
        if self.in_service.load(Ordering::Acquire) == 0 {
            // The first byte of a new request head starts its clock; later bytes do not.
            let _ =
                self.head_since_ms
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request head was read completely and its handling begins; the guard ends it.
    pub(crate) fn enter(self: &Arc<Self>) -> InService {
        self.in_service.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(NONE, Ordering::Release);
        InService(self.clone())
    }

    /// Whether the connection has overrun `limits` now.
    pub(crate) fn verdict(&self, limits: &ServerLimits) -> Verdict {
        if self.in_service.load(Ordering::Acquire) > 0 {
            // The handler bounds its own body read; a delay fault may legitimately run long.
            return Verdict::Wait(limits.header_read_timeout);
        }
        let now = self.now_ms();
        let (since, allowed) = match self.head_since_ms.load(Ordering::Acquire) {
            NONE => (self.last_ms.load(Ordering::Relaxed), limits.idle_timeout),
            head => (head, limits.header_read_timeout),
        };
        let allowed_ms = u64::try_from(allowed.as_millis()).unwrap_or(NONE - 1);
        let deadline = since.saturating_add(allowed_ms);
        if now >= deadline {
            Verdict::Close
        } else {
            Verdict::Wait(Duration::from_millis(deadline - now))
        }
    }
}

/// Marks a request as being handled while it lives.
#[derive(Debug)]
pub(crate) struct InService(Arc<Activity>);

impl Drop for InService {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_service.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A socket that reports its reads and writes to an [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(head_ms: u64, idle_ms: u64) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_millis(head_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            max_connections: 1,
        }
    }

    #[test]
    fn a_fresh_connection_owes_its_head_within_the_header_timeout() {
        let activity = Activity::new();
        assert!(
            matches!(activity.verdict(&limits(10_000, 60_000)), Verdict::Wait(d) if d <= Duration::from_secs(10))
        );
        assert_eq!(activity.verdict(&limits(0, 60_000)), Verdict::Close);
    }

    #[test]
    fn between_requests_the_idle_timeout_applies_and_in_service_never_times_out() {
        let activity = Activity::new();
        let guard = activity.enter();
        assert!(matches!(activity.verdict(&limits(0, 0)), Verdict::Wait(_)));
        drop(guard);
        // Idle now: a zero header timeout no longer matters, the idle one does.
        assert!(
            matches!(activity.verdict(&limits(0, 60_000)), Verdict::Wait(d) if d > Duration::from_secs(50))
        );
        assert_eq!(activity.verdict(&limits(60_000, 0)), Verdict::Close);
        // A byte of the next request starts the header clock.
        activity.on_read();
        assert_eq!(activity.verdict(&limits(0, 60_000)), Verdict::Close);
    }

    #[test]
    fn zero_limits_are_configuration_problems() {
        assert!(ServerLimits::default().problems().is_empty());
        assert_eq!(
            ServerLimits {
                max_connections: 0,
                ..limits(0, 0)
            }
            .problems()
            .len(),
            3
        );
    }
}
