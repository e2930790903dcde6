//! The admin endpoints of the daemon (docs/reference.md, "Endpoints"): `/metrics`,
//! `/healthz`, `/readyz`, `/status`, and the picture: `/` and `/portal/NAME`.
//! Hand-routed: GET (and HEAD) only, 404/405 for everything else.
//!
//! As linkerd's admin server, this knows only abstractions: the two latches it reads
//! (`latches`: ready, alive; the daemon sets them) and the [`Views`] that render
//! metrics and status. Routing is a plain
//! function of method and path, so it is tested without a socket.

use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::latches::Latches;
use crate::listener::{Body, Limits, respond, respond_chunked};

/// What the admin endpoints show, rendered on request.
pub trait Views: Send + Sync {
    /// The Prometheus text exposition, in chunks rendered as they are sent.
    fn metrics(&self) -> Box<dyn Iterator<Item = String> + Send>;
    /// `/status` as JSON text.
    fn status(&self, ready: bool) -> String;
    /// `GET /?page=N`: the HTML picture of the portals, page `page` (from 1) of the
    /// index; `None` past the last page.
    fn page(&self, page: usize) -> Option<String>;
    /// `GET /portal/NAME`, `None` for a portal not configured.
    fn portal_page(&self, portal: &str) -> Option<String>;
}

/// The admin server's state: the latches it reads (the daemon sets them) and the views.
pub struct Admin {
    latches: Arc<Latches>,
    views: Arc<dyn Views>,
}

impl Admin {
    pub fn new(latches: Arc<Latches>, views: Arc<dyn Views>) -> Self {
        Admin { latches, views }
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

const HTML: &str = "text/html; charset=utf-8";

/// A page, with the policy that keeps any script in it from running.
fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut r = respond(status, HTML, body);
    r.headers_mut().insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        hyper::header::HeaderValue::from_static(crate::picture::CONTENT_SECURITY_POLICY),
    );
    r
}

/// Answers one admin request.
pub fn route(admin: &Admin, method: &Method, path: &str, query: Option<&str>) -> Response<Body> {
    let portal = path.strip_prefix("/portal/");
    if !matches!(path, "/" | "/metrics" | "/healthz" | "/readyz" | "/status") && portal.is_none() {
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
    if let Some(name) = portal {
        return match admin.views.portal_page(name) {
            Some(page) => html(StatusCode::OK, page),
            None => respond(StatusCode::NOT_FOUND, TEXT, "no such portal\n"),
        };
    }
    match path {
        "/" => {
            let asked = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("page=")));
            let page = match asked {
                None => Some(1),
                Some(n) => n.parse::<usize>().ok().filter(|n| *n >= 1),
            };
            match page.and_then(|n| admin.views.page(n)) {
                Some(page) => html(StatusCode::OK, page),
                None => respond(StatusCode::NOT_FOUND, TEXT, "no such page\n"),
            }
        }
        "/metrics" => respond_chunked(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            admin.views.metrics(),
        ),
        "/healthz" if admin.latches.is_alive() => respond(StatusCode::OK, TEXT, "ok\n"),
        "/healthz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "scheduler not running\n"),

        "/readyz" if admin.latches.is_ready() => respond(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        _ => respond(
            StatusCode::OK,
            "application/json",
            admin.views.status(admin.latches.is_ready()),
        ),
    }
}

/// What one client may take of the admin server (docs/reference.md, "Gates"): a
/// connection that sends no headers for 10 s is dropped, and at most 256 are open at
/// once (one more is closed at once, never queued), so idle or slow clients cannot
/// starve `/healthz` and `/readyz`, nor take the descriptors passes need.
pub const LIMITS: Limits = Limits {
    header_timeout: Some(Duration::from_secs(10)),
    max_connections: Some(256),
};

/// Serves the admin endpoints on `listener` until `stop` is cancelled.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, stop: CancellationToken) {
    crate::listener::serve(
        listener,
        move |req| {
            let response = route(&admin, req.method(), req.uri().path(), req.uri().query());
            async move { Some(response) }
        },
        stop,
        Duration::from_secs(2),
        LIMITS,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Views for Fixed {
        fn metrics(&self) -> Box<dyn Iterator<Item = String> + Send> {
            Box::new(["m 1\n".to_string(), "n 2\n".to_string()].into_iter())
        }
        fn status(&self, ready: bool) -> String {
            format!("{{\"ready\":{ready}}}")
        }
        fn page(&self, page: usize) -> Option<String> {
            (page <= 3).then(|| format!("<p>page {page}</p>"))
        }
        fn portal_page(&self, portal: &str) -> Option<String> {
            (portal == "acme").then(|| "<p>acme</p>".to_string())
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
        let latches = Arc::new(Latches::new());
        let admin = Admin::new(Arc::clone(&latches), Arc::new(Fixed));
        let get = |path: &str| body(route(&admin, &Method::GET, path, None));
        assert_eq!(get("/readyz"), (503, "not ready\n".into()));
        assert_eq!(get("/healthz"), (503, "scheduler not running\n".into()));
        latches.set_ready(true);
        latches.set_alive(true);
        assert_eq!(get("/readyz"), (200, "ready\n".into()));
        assert_eq!(get("/healthz"), (200, "ok\n".into()));
        assert_eq!(get("/metrics"), (200, "m 1\nn 2\n".into()));
        assert_eq!(get("/status"), (200, "{\"ready\":true}".into()));
        assert_eq!(get("/nope").0, 404);
        assert_eq!(get("/"), (200, "<p>page 1</p>".into()));
        assert_eq!(
            body(route(&admin, &Method::GET, "/", Some("page=3"))),
            (200, "<p>page 3</p>".into())
        );
        for past in ["page=4", "page=0", "page=x"] {
            assert_eq!(body(route(&admin, &Method::GET, "/", Some(past))).0, 404, "{past}");
        }
        assert_eq!(get("/portal/acme"), (200, "<p>acme</p>".into()));
        assert_eq!(get("/portal/other").0, 404);
        let page = route(&admin, &Method::GET, "/", None);
        assert_eq!(
            page.headers()[hyper::header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        );
        // A scheduler whose heartbeat stopped is not alive.
        latches.watch_heartbeat(Duration::from_millis(50));
        assert_eq!(get("/healthz").0, 200);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(get("/healthz"), (503, "scheduler not running\n".into()));
        latches.beat();
        assert_eq!(get("/healthz").0, 200);
        let post = route(&admin, &Method::POST, "/metrics", None);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[hyper::header::ALLOW], "GET, HEAD");
    }
}
