//! The admin endpoints of the daemon (docs/reference.md, "Endpoints"): `/metrics`,
//! `/healthz`, `/readyz`, `/status`. Hand-routed: four paths, GET (and HEAD) only,
//! 404/405 for everything else.
//!
//! As linkerd's admin server, this knows only abstractions: two latches (ready,
//! alive) and the [`Views`] that render metrics and status. Routing is a plain
//! function of method and path, so it is tested without a socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::listener::{Body, respond};

/// What the admin endpoints show, rendered on request.
pub trait Views: Send + Sync {
    /// The Prometheus text exposition.
    fn metrics(&self) -> String;
    /// `/status` as JSON text.
    fn status(&self, ready: bool) -> String;
}

/// The admin server's state: the readiness and liveness latches and the views.
pub struct Admin {
    /// `/readyz`: config loaded and jobs scheduled, and not shutting down.
    ready: AtomicBool,
    /// `/healthz`: the scheduler is running.
    alive: AtomicBool,
    views: Arc<dyn Views>,
}

impl Admin {
    pub fn new(views: Arc<dyn Views>) -> Self {
        Admin {
            ready: AtomicBool::new(false),
            alive: AtomicBool::new(false),
            views,
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Answers one admin request.
pub fn route(admin: &Admin, method: &Method, path: &str) -> Response<Body> {
    if !matches!(path, "/metrics" | "/healthz" | "/readyz" | "/status") {
        return respond(StatusCode::NOT_FOUND, TEXT, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match path {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            admin.views.metrics(),
        ),
        "/healthz" if admin.is_alive() => respond(StatusCode::OK, TEXT, "ok\n"),
        "/healthz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "scheduler not running\n"),
        "/readyz" if admin.is_ready() => respond(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        _ => respond(StatusCode::OK, "application/json", admin.views.status(admin.is_ready())),
    }
}

/// Serves the admin endpoints on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, stop: CancellationToken) {
    crate::listener::serve(
        listener,
        move |req| {
            let response = route(&admin, req.method(), req.uri().path());
            async move { Some(response) }
        },
        stop,
        Duration::from_secs(2),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Views for Fixed {
        fn metrics(&self) -> String {
            "m 1\n".into()
        }
        fn status(&self, ready: bool) -> String {
            format!("{{\"ready\":{ready}}}")
        }
    }

    fn body(r: Response<Body>) -> (u16, String) {
        use http_body_util::BodyExt;
        let status = r.status().as_u16();
        let bytes = futures::executor::block_on(r.into_body().collect()).unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn routes_answer_from_the_latches_and_views() {
        let admin = Admin::new(Arc::new(Fixed));
        let get = |path: &str| body(route(&admin, &Method::GET, path));
        assert_eq!(get("/readyz"), (503, "not ready\n".into()));
        assert_eq!(get("/healthz"), (503, "scheduler not running\n".into()));
        admin.set_ready(true);
        admin.set_alive(true);
        assert_eq!(get("/readyz"), (200, "ready\n".into()));
        assert_eq!(get("/healthz"), (200, "ok\n".into()));
        assert_eq!(get("/metrics"), (200, "m 1\n".into()));
        assert_eq!(get("/status"), (200, "{\"ready\":true}".into()));
        assert_eq!(get("/nope").0, 404);
        let post = route(&admin, &Method::POST, "/metrics");
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[hyper::header::ALLOW], "GET, HEAD");
    }
}
