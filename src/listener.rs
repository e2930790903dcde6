//! The one accept loop: a tiny HTTP/1 server on hyper 1.x, used by the admin
//! endpoints (`admin.rs`) and the built-in simulator. Accept errors (EMFILE,
//! ECONNABORTED…) are logged and survived; on shutdown, accepting stops and open
//! connections get a bounded drain.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A response body: whole, or streamed in chunks (`/metrics` at fleet size).
pub type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A response with a body and a content type.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()).boxed_unsync())
        .expect("static response parts are valid")
}

/// A response whose body is `chunks`, each rendered when the connection can take it.
pub fn respond_chunked(
    status: StatusCode,
    content_type: &str,
    chunks: impl Iterator<Item = String> + Send + 'static,
) -> Response<Body> {
    let frames = futures::stream::iter(chunks.map(|chunk| Ok(Frame::data(Bytes::from(chunk)))));
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(StreamBody::new(frames).boxed_unsync())
        .expect("static response parts are valid")
}

/// The handler chose to drop the connection without an answer.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// How much a server lets its clients take.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// A connection that has not sent a request's headers within this is dropped.
    pub header_timeout: Option<Duration>,
    /// At most this many connections are open at once; one more is closed as soon as
    /// it is accepted. The accept loop never waits for a free place, so connections
    /// that send nothing can never keep a probe waiting in the kernel's backlog.
    pub max_connections: Option<usize>,
}

/// Serves `handler` on `listener` until `stop` is cancelled, then drains open
/// connections for at most `drain`. A handler answering `None` makes the connection
/// close without a response (the simulator's "connection reset").
pub async fn serve<H, F>(listener: TcpListener, handler: H, stop: CancellationToken, drain: Duration, limits: Limits)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Option<Response<Body>>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let graceful = GracefulShutdown::new();
    let slots = limits.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; continuing");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match &slots {
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    tracing::debug!("too many open connections: closing a new one");
                    drop(stream);
                    continue;
                }
            },
            None => None,
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let service = service_fn(move |req| {
            let handler = Arc::clone(&handler);
            async move { handler(req).await.ok_or(DropConnection) }
        });
        let mut builder = http1::Builder::new();
        builder.keep_alive(true);
        if let Some(timeout) = limits.header_timeout {
            builder.timer(TokioTimer::new()).header_read_timeout(timeout);
        }
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::debug!("http connections did not drain in time");
    }
}
