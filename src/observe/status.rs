//! What `GET /status` shows (docs/reference.md, "Endpoints"): plain data, written only
//! by the observer and read by the admin server.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::calendar::rfc3339;
use crate::picture::{IndexRow, Picture};

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
    /// The schedule's `backupsStored` fights the policy (in words).
    pub warning: Option<String>,
    /// What the health sentinel saw (`None` when it is off or the read failed).
    pub health: Option<HealthSummary>,
}

/// The health sentinel's part of a portal's line in `/status` (docs/reference.md,
/// "Backup health"). Fields in name order, as the page's keys are.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthSummary {
    pub api_key_expires: Option<String>,
    pub last_good: Option<String>,
    /// The slots the schedule missed in the watched window.
    pub missed_runs: Vec<String>,
    /// `healthy`, `suspect: …` or `unknown`, of the newest backup.
    pub newest: String,
    pub suspects: usize,
    pub timezone_mismatch: Option<String>,
    /// Backups that vanished at the last pass.
    pub vanished: Vec<String>,
}

/// One portal's line in `/status`, and the picture of its last pass for `GET /`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortalStatus {
    pub last_pass: Option<Box<PassSummary>>,
    pub next_run: Option<DateTime<Utc>>,
    pub running: bool,
    pub picture: Option<Arc<Picture>>,
    /// `enabled = false` in the config: shown, never run.
    pub disabled: bool,
}

/// Every portal's status, by name.
pub struct Status {
    pub started_at: DateTime<Utc>,
    portals: RwLock<BTreeMap<String, PortalStatus>>,
    /// The audit log's chain head after the last pass.
    chain_head: RwLock<Option<crate::evidence::Head>>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            started_at: Utc::now(),
            portals: RwLock::new(BTreeMap::new()),
            chain_head: RwLock::new(None),
        }
    }
}

impl Status {
    pub fn set_chain_head(&self, head: crate::evidence::Head) {
        *self.chain_head.write().expect("status lock") = Some(head);
    }

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

    /// The index of every portal (for `GET /`), failing ones first, then names in
    /// natural order; `per_page` from page `page` (from 0) on, how many there are in
    /// all, and how many failed their last pass.
    pub fn index(&self, page: usize, per_page: usize) -> (Vec<IndexRow>, usize, usize) {
        let all = self.portals.read().expect("status lock");
        let failed = |s: &PortalStatus| s.last_pass.as_ref().is_some_and(|p| p.error.is_some());
        let mut ordered: Vec<(&String, &PortalStatus)> = all.iter().collect();
        ordered.sort_by(|a, b| crate::wire::fleet_order((!failed(a.1), a.0), (!failed(b.1), b.0)));
        let failing = ordered.iter().filter(|(_, s)| failed(s)).count();
        let rows = ordered
            .into_iter()
            .skip(page.saturating_mul(per_page))
            .take(per_page)
            .map(|(name, s)| IndexRow {
                portal: name.clone(),
                outcome: s.last_pass.as_ref().map(|p| p.outcome),
                kept: s.last_pass.as_ref().map_or(0, |p| p.kept),
                deleted: s.last_pass.as_ref().map_or(0, |p| p.deleted + p.would_delete),
                blocked: s.last_pass.as_ref().map_or(0, |p| p.blocked),
                next_run: s.next_run,
                coverage: s.picture.as_ref().and_then(|p| p.coverage()),
            })
            .collect();
        (rows, all.len(), failing)
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

    /// `/status` as JSON.
    pub fn json(&self, ready: bool) -> serde_json::Value {
        self.with_view(ready, |view| {
            serde_json::to_value(view).expect("a status is plain data")
        })
    }

    /// `/status` as JSON text, written straight from the status (10,000 portals in
    /// a few milliseconds).
    pub fn text(&self, ready: bool) -> String {
        self.with_view(ready, |view| {
            serde_json::to_string(view).expect("a status is plain data")
        })
    }

    fn with_view<R>(&self, ready: bool, f: impl FnOnce(&StatusView<'_>) -> R) -> R {
        let all = self.portals.read().expect("status lock");
        let head = self.chain_head.read().expect("status lock").clone();
        f(&StatusView {
            audit_chain: head.map(|h| ChainView {
                hash: h.hash,
                seq: h.seq,
            }),
            version: env!("CARGO_PKG_VERSION"),
            started_at: rfc3339(self.started_at),
            ready,
            portals: all
                .iter()
                .map(|(name, s)| PortalView {
                    portal: name,
                    disabled: s.disabled,
                    running: s.running,
                    next_run: s.next_run.map(rfc3339),
                    last_pass: s.last_pass.as_ref().map(|p| PassView {
                        started: rfc3339(p.started),
                        finished: rfc3339(p.finished),
                        outcome: p.outcome,
                        kept: p.kept,
                        deleted: p.deleted,
                        would_delete: p.would_delete,
                        failed: p.failed,
                        blocked: p.blocked,
                        error: p.error.as_deref(),
                        warning: p.warning.as_deref(),
                        health: p.health.as_ref(),
                    }),
                })
                .collect(),
        })
    }
}

/// The shape of `/status` (docs/reference.md, "Endpoints"). Fields in name order:
/// the order the page has always had.
#[derive(Serialize)]
struct StatusView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_chain: Option<ChainView>,
    portals: Vec<PortalView<'a>>,
    ready: bool,
    started_at: String,
    version: &'static str,
}

/// The audit chain's head: what an auditor's copy must reach.
#[derive(Serialize)]
struct ChainView {
    hash: String,
    seq: u64,
}

#[derive(Serialize)]
struct PortalView<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
    last_pass: Option<PassView<'a>>,
    next_run: Option<String>,
    portal: &'a str,
    running: bool,
}

#[derive(Serialize)]
struct PassView<'a> {
    blocked: usize,
    deleted: usize,
    error: Option<&'a str>,
    failed: usize,
    finished: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<&'a HealthSummary>,
    kept: usize,
    outcome: &'static str,
    started: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
    would_delete: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is the JSON value's own serialisation (keys in name order), as the
    /// page has always been written.
    #[test]
    fn the_text_is_the_json_value_written_out() {
        let status = Status::default();
        status.update("b", |s| s.next_run = Some(Utc::now()));
        status.update("a", |s| {
            s.running = true;
            s.last_pass = Some(Box::new(PassSummary {
                started: Utc::now(),
                finished: Utc::now(),
                outcome: "failure",
                kept: 3,
                deleted: 1,
                would_delete: 0,
                failed: 2,
                blocked: 4,
                error: Some("no \"luck\"".into()),
                warning: None,
                health: Some(HealthSummary {
                    newest: "suspect: size 12% of median".into(),
                    suspects: 1,
                    ..HealthSummary::default()
                }),
            }));
        });
        assert_eq!(status.text(true), status.json(true).to_string());
        assert_eq!(status.json(false)["portals"][0]["last_pass"]["error"], "no \"luck\"");
    }
}
