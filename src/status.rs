//! What `GET /status` shows (docs/reference.md, "Endpoints"): plain data, written only
//! by the observer and read by the admin server.

use std::collections::BTreeMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::wire::rfc3339;

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

/// One portal's line in `/status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortalStatus {
    pub last_pass: Option<PassSummary>,
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
}

/// Every portal's status, by name.
pub struct Status {
    pub started_at: DateTime<Utc>,
    portals: RwLock<BTreeMap<String, PortalStatus>>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            started_at: Utc::now(),
            portals: RwLock::new(BTreeMap::new()),
        }
    }
}

impl Status {
    /// Changes the status of `portal` (created on first use).
    pub fn update(&self, portal: &str, change: impl FnOnce(&mut PortalStatus)) {
        let mut all = self.portals.write().expect("status lock");
        match all.get_mut(portal) {
            Some(s) => change(s),
            None => change(all.entry(portal.to_string()).or_default()),
        }
    }

    pub fn remove(&self, portal: &str) {
        self.portals.write().expect("status lock").remove(portal);
    }

    pub fn portal(&self, portal: &str) -> Option<PortalStatus> {
        self.portals.read().expect("status lock").get(portal).cloned()
    }

    pub fn json(&self, ready: bool) -> serde_json::Value {
        let portals: Vec<_> = self
            .portals
            .read()
            .expect("status lock")
            .iter()
            .map(|(name, s)| {
                json!({
                    "portal": name,
                    "running": s.running,
                    "next_run": s.next_run.map(rfc3339),
                    "last_pass": s.last_pass.as_ref().map(|p| json!({
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
            "ready": ready,
            "portals": portals,
        })
    }
}
