//! The server's connections: how long a client may take to send a request's head, how long
//! a connection may sit idle, and how many may be open at once.
//!
//! `axum::serve` has none of the three: a client that sends a header line a second, or
//! opens connections and says nothing, holds a connection (and a file descriptor) for as
//! long as it likes. So connections are accepted here and served by hyper's HTTP/1
//! connection with its header-read timeout; a watch closes a connection on which no byte
//! moved for the idle timeout while no request was being handled (a client that stopped
//! reading its answer, or never sends the next request); and a semaphore caps the open
//! connections: past the cap, new ones wait in the listen backlog until one closes.
//!
//! Graceful shutdown: when `shutdown` completes, the listener is closed, every connection
//! finishes the request in flight and closes, and [`serve`] returns once all are gone.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// The three limits (flags of `serve` and `worker`, see [`ConnArgs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From the moment the server waits for a request until its whole head has arrived.
    pub header_read_timeout: Duration,
    /// No byte read or written, and no request being handled, for this long: closed.
    pub idle_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// The flags that set [`ConnLimits`] (flattened into `serve`'s and `worker`'s arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// Seconds a client may take to send a request's head (request line and headers),
    /// counted from when the server waits for it; then the connection is closed.
    #[arg(long, env = "PIXELPROOF_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may stay open with no byte moving and no request being handled.
    #[arg(long, env = "PIXELPROOF_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Connections open at once; further clients wait until one closes.
    #[arg(long, env = "PIXELPROOF_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
}

impl ConnArgs {
    pub fn limits(&self) -> anyhow::Result<ConnLimits> {
        anyhow::ensure!(self.header_read_timeout_secs >= 1, "--header-read-timeout-secs must be at least 1");
        anyhow::ensure!(self.idle_timeout_secs >= 1, "--idle-timeout-secs must be at least 1");
        anyhow::ensure!(
            (1..=u32::MAX as usize).contains(&self.max_connections),
            "--max-connections must be at least 1, not {}",
            self.max_connections
        );
        Ok(ConnLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        })
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes and every
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut at_cap_logged = false;
    loop {
        if permits.available_permits() == 0 && !at_cap_logged {
            tracing::warn!(
                max = limits.max_connections,
                "connection cap reached: new clients wait (--max-connections)"
            );
        }
        at_cap_logged = permits.available_permits() == 0;
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, stopped) = (app.clone(), stopped.clone());
        tokio::spawn(async move {
            connection(stream, app, limits, stopped).await;
            tracing::trace!(%peer, "connection closed");
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it has closed.
    let _all = permits.acquire_many(limits.max_connections as u32).await;
    Ok(())
}

/// One connection, until the client closes it, a limit ends it, or shutdown drains it.
async fn connection(stream: TcpStream, app: Router, limits: ConnLimits, mut stopped: watch::Receiver<bool>) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let busy = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let guard = busy.request();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(guard);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        let idle_at = activity.idle_deadline(limits.idle_timeout);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    // Header-read timeouts, resets, malformed requests: the client's doing.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_at) => {
                if activity.is_idle(limits.idle_timeout) {
                    tracing::debug!(timeout = ?limits.idle_timeout, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are being handled.
#[derive(Clone)]
struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: Arc<AtomicU64>,
    handling: Arc<AtomicUsize>,
}

impl Activity {
    fn new() -> Activity {
        Activity { started: Instant::now(), last: Arc::new(AtomicU64::new(0)), handling: Arc::new(AtomicUsize::new(0)) }
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// When the connection becomes idle if nothing happens before.
    /// While a request is being handled (the deadline passed but the connection is busy),
    /// the next look is a whole timeout later.
    fn idle_deadline(&self, timeout: Duration) -> tokio::time::Instant {
        let (due, now) = (self.last() + timeout, Instant::now());
        tokio::time::Instant::from_std(if due > now { due } else { now + timeout })
    }

    fn is_idle(&self, timeout: Duration) -> bool {
        self.handling.load(Ordering::SeqCst) == 0 && self.last().elapsed() >= timeout
    }

    /// Counts a request as being handled until the guard is dropped.
    fn request(&self) -> Handling {
        self.handling.fetch_add(1, Ordering::SeqCst);
        Handling(self.clone())
    }
}

struct Handling(Activity);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A TCP stream that records when it last read or wrote a byte.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client that asks for a large answer and stops reading it: nothing moves, no request
    /// is being handled, so the idle timeout closes the connection before the answer is sent.
    /// Had it stayed open, the client would get every byte when it reads on.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_at_the_idle_timeout() {
        const SIZE: usize = 64 << 20;
        let app = Router::new().route("/big", axum::routing::get(|| async { vec![7u8; SIZE] }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let limits = ConnLimits {
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(1),
            max_connections: 8,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("request");
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut received = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received += n,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the connection was still open 20 s after the client read on");
        assert!(received < SIZE, "the whole {SIZE}-byte answer arrived: the idle connection was not closed");
        let _ = stop.send(());
        let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(finished, Ok(Ok(Ok(())))), "serve did not return after shutdown: {finished:?}");
    }
}
