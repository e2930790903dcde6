//! What `GET /status` shows (docs/reference.md, "Endpoints"): plain data, written only
//! by the observer and read by the admin server.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::picture::{IndexRow, Picture};
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

/// One portal's line in `/status`, and the picture of its last pass for `GET /`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortalStatus {
    pub last_pass: Option<PassSummary>,
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
    pub picture: Option<Arc<Picture>>,
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

    /// The index of every portal (for `GET /`), `per_page` from page `page` on, and
    /// how many there are in all.
    pub fn index(&self, page: usize, per_page: usize) -> (Vec<IndexRow>, usize) {
        let all = self.portals.read().expect("status lock");
        let rows = all
            .iter()
            .skip(page * per_page)
            .take(per_page)
            .map(|(name, s)| IndexRow {
                portal: name.clone(),
                outcome: s.last_pass.as_ref().map(|p| p.outcome),
                kept: s.last_pass.as_ref().map_or(0, |p| p.kept),
                deleted: s.last_pass.as_ref().map_or(0, |p| p.deleted + p.would_delete),
                blocked: s.last_pass.as_ref().map_or(0, |p| p.blocked),
                next_run: s.next_run,
            })
            .collect();
        (rows, all.len())
    }

    /// The pictures of the first `limit` portals (with their next runs).
    pub fn pictures(&self, limit: usize) -> Vec<Picture> {
        let all = self.portals.read().expect("status lock");
        all.iter().take(limit).map(|(name, s)| picture_of(name, s)).collect()
    }

    /// One portal's picture, `None` for a portal not configured.
    pub fn picture(&self, portal: &str) -> Option<Picture> {
        let all = self.portals.read().expect("status lock");
        all.get(portal).map(|s| picture_of(portal, s))
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

fn picture_of(name: &str, s: &PortalStatus) -> Picture {
    let mut p = match &s.picture {
        Some(p) => (**p).clone(),
        None => Picture {
            portal: name.to_string(),
            ..Picture::default()
        },
    };
    p.next_run = s.next_run;
    p.error = s.last_pass.as_ref().and_then(|l| l.error.clone());
    p
}
