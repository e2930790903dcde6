//! The admin HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/status` (SPEC §6).
//! Hand-routed: four paths, GET (and HEAD) only, 404/405 for everything else.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::audit::Outcome;
use crate::docspace::rfc3339;
use crate::http::{Body, respond};
use crate::metrics::Metrics;
use crate::pass::PassReport;

/// What `/status` shows of a portal's last pass.
#[derive(Clone, Debug, PartialEq)]
pub struct PassSummary {
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub outcome: &'static str,
    pub kept: usize,
    pub deleted: usize,
    pub would_delete: usize,
    pub failed: usize,
    pub blocked: usize,
    pub error: Option<String>,
}

impl PassSummary {
    pub fn of(r: &PassReport) -> Self {
        PassSummary {
            started: r.started,
            finished: r.finished,
            outcome: if r.succeeded() { "success" } else { "failure" },
            kept: r.kept(),
            deleted: r.count(Outcome::Deleted) + r.count(Outcome::AlreadyGone),
            would_delete: r.count(Outcome::DryRun),
            failed: r.count(Outcome::Failed),
            blocked: r.blocked(),
            error: r.error.clone(),
        }
    }
}

/// Per-portal state shown by `/status`.
#[derive(Debug, Default)]
pub struct PortalStatus {
    pub last_pass: Mutex<Option<PassSummary>>,
    pub next_run: Mutex<Option<DateTime<Utc>>>,
    pub running: AtomicBool,
}

/// State shared by the daemon and its HTTP endpoints.
pub struct DaemonState {
    pub metrics: Arc<Metrics>,
    pub started_at: DateTime<Utc>,
    /// `/readyz`: config loaded and jobs scheduled, and not shutting down.
    ready: AtomicBool,
    /// `/healthz`: the scheduler is running.
    alive: AtomicBool,
    portals: RwLock<BTreeMap<String, Arc<PortalStatus>>>,
}

impl DaemonState {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        DaemonState {
            metrics,
            started_at: Utc::now(),
            ready: AtomicBool::new(false),
            alive: AtomicBool::new(false),
            portals: RwLock::new(BTreeMap::new()),
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

    /// The status record of `portal`, created on first use.
    pub fn portal(&self, portal: &str) -> Arc<PortalStatus> {
        if let Some(s) = self.portals.read().unwrap().get(portal) {
            return Arc::clone(s);
        }
        let mut all = self.portals.write().unwrap();
        Arc::clone(all.entry(portal.to_string()).or_default())
    }

    pub fn remove_portal(&self, portal: &str) {
        self.portals.write().unwrap().remove(portal);
    }

    pub fn status_json(&self) -> serde_json::Value {
        let portals: Vec<_> = self
            .portals
            .read()
            .unwrap()
            .iter()
            .map(|(name, s)| {
                let last = s.last_pass.lock().unwrap().clone();
                json!({
                    "portal": name,
                    "running": s.running.load(Ordering::SeqCst),
                    "next_run": s.next_run.lock().unwrap().map(rfc3339),
                    "last_pass": last.map(|p| json!({
                        "started": rfc3339(p.started),
                        "finished": rfc3339(p.finished),
                        "outcome": p.outcome,
                        "kept": p.kept,
                        "deleted": p.deleted,
                        "would_delete": p.would_delete,
                        "failed": p.failed,
                        "blocked": p.blocked,
                        "error": p.error,
                    })),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": rfc3339(self.started_at),
            "ready": self.is_ready(),
            "portals": portals,
        })
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// Routes one admin request.
pub async fn route(state: Arc<DaemonState>, req: Request<Incoming>) -> Option<Response<Body>> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz" | "/status") {
        return Some(respond(StatusCode::NOT_FOUND, TEXT, "not found\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        r.headers_mut()
            .insert(hyper::header::ALLOW, "GET, HEAD".parse().unwrap());
        return Some(r);
    }
    Some(match path {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        "/healthz" if state.alive.load(Ordering::SeqCst) => respond(StatusCode::OK, TEXT, "ok\n"),
        "/healthz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "scheduler not running\n"),
        "/readyz" if state.is_ready() => respond(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        _ => respond(StatusCode::OK, "application/json", state.status_json().to_string()),
    })
}
