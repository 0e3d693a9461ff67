//! The network edge: accepting TCP connections and bounding what an
//! unauthenticated client can hold.
//!
//! Owns: the accept loop, the cap on open connections, the header and idle
//! keep-alive deadline, the total deadline for receiving a request body, and
//! graceful shutdown. Must never: look at what a request asks for (routes and
//! their extractors do that) or answer it itself.
//!
//! Why each bound (issue 16: a few thousand sockets dripping a byte a second
//! used to exhaust file descriptors and stop `/healthz`):
//! - **connections**: at the cap the loop stops accepting, so further
//!   clients wait in the kernel's backlog and cost us no file descriptor;
//! - **headers**: hyper's header read timeout runs from the moment a
//!   connection is ready for a request, so it bounds both a slow header and
//!   an idle keep-alive connection;
//! - **bodies**: a total deadline, not one reset by every byte (tower-http's
//!   `RequestBodyTimeout` resets per frame, which a dripping client defeats).
//!
//! Only HTTP/1.1 is served: detecting HTTP/2 means reading the first bytes
//! with no deadline, and every client of the API speaks HTTP/1.1 (TLS and
//! HTTP/2 belong to the reverse proxy in front).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use pin_project_lite::pin_project;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// How much a client may hold at the edge. Defaults suit one server behind
/// a reverse proxy; every value is a setting (`config::Edge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Open connections at once; further clients wait in the backlog.
    pub max_connections: usize,
    /// Time to send a request's headers, counted from when the connection
    /// is ready for one (so also the longest idle keep-alive).
    pub header_timeout: Duration,
    /// Time to send a whole request body, from the end of its headers.
    pub body_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(60),
        }
    }
}

impl EdgeLimits {
    /// The connection cap lowered, when needed, to what the process may
    /// open: each connection is a file descriptor, and the database, the
    /// outgoing calls and the log need some too. Returns the cap and, when it
    /// was lowered, the descriptor limit that forced it.
    pub fn fit_to_descriptor_limit(mut self) -> (Self, Option<u64>) {
        // Raise the soft limit to the hard one first (what most servers do).
        let soft = rlimit::increase_nofile_limit(u64::MAX).ok();
        let Some(soft) = soft.filter(|s| *s > 0) else {
            return (self, None);
        };
        // Keep a quarter (at least 256) of the descriptors for everything else.
        let reserve = (soft / 4).max(256);
        let room = soft.saturating_sub(reserve).max(16) as usize;
        if self.max_connections > room {
            self.max_connections = room;
            return (self, Some(soft));
        }
        (self, None)
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop accepting
/// and wait for the requests in flight.
///
/// # Errors
/// Never returns an error today (accept failures such as `EMFILE` are
/// logged and retried); the `Result` keeps the shape of `axum::serve`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the slot semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept:
                    // back off a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |req: Request<Incoming>| with_peer_and_deadline(req, peer, limits));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout): not ours to log loudly.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Give handlers the peer address (`ConnectInfo`, as `axum::serve` does) and
/// put the body under its total deadline.
fn with_peer_and_deadline(
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: EdgeLimits,
) -> Request<axum::body::Body> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = if body.is_end_stream() {
        // Most requests (GET, DELETE) have none: no timer for them.
        axum::body::Body::new(body)
    } else {
        axum::body::Body::new(DeadlineBody::new(body, limits.body_timeout))
    };
    Request::from_parts(parts, body)
}

/// The request body took longer than the edge allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body did not arrive within {0:?}; send it at once, or raise `PLUGBOARD_BODY_TIMEOUT_MS`"
)]
pub struct BodyDeadlineExceeded(pub Duration);

pin_project! {
    /// A body that fails once its deadline passes, however steadily bytes
    /// trickle in.
    struct DeadlineBody<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: Sleep,
        limit: Duration,
    }
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: tokio::time::sleep_until(Instant::now() + limit),
            limit,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyDeadlineExceeded(*this.limit).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use http_body_util::StreamBody;

    /// A body that sends one byte, then never another.
    fn stalled() -> impl Body<Data = Bytes, Error = std::convert::Infallible> {
        let first = futures::stream::iter([Ok(Frame::data(Bytes::from_static(b"{")))]);
        StreamBody::new(futures::StreamExt::chain(first, futures::stream::pending()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_its_deadline() {
        let body = DeadlineBody::new(stalled(), Duration::from_secs(5));
        let err = body.collect().await.expect_err("the body must fail");
        assert!(err.is::<BodyDeadlineExceeded>(), "{err}");
        assert!(
            err.to_string().contains("PLUGBOARD_BODY_TIMEOUT_MS"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_still_fails_at_its_deadline() {
        // One byte a second for ever: a per-frame timeout of 5 s would never fire.
        let trickle = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b" "))),
                (),
            ))
        });
        let body = DeadlineBody::new(StreamBody::new(trickle), Duration::from_secs(5));
        let err = body.collect().await.expect_err("the body must fail");
        assert!(err.is::<BodyDeadlineExceeded>(), "{err}");
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_time_is_passed_through() {
        let body = DeadlineBody::new(
            http_body_util::Full::new(Bytes::from_static(b"{\"a\":1}")),
            Duration::from_secs(5),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"{\"a\":1}");
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_everything_else() {
        let (fitted, lowered) = EdgeLimits {
            max_connections: usize::MAX,
            ..EdgeLimits::default()
        }
        .fit_to_descriptor_limit();
        let soft = lowered.expect("no process may open usize::MAX descriptors");
        assert!((fitted.max_connections as u64) < soft);
        assert!(fitted.max_connections >= 16);
    }
}
