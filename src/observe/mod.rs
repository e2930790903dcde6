//! The observer: the one place that turns what happened into metrics, `/status` and
//! logs (as vector's internal events: each event logs and counts together, so the two
//! cannot drift). Producers (the DocSpace client through its request hook, passes,
//! the daemon) hand it plain data; nothing else updates a metric or the status.

pub mod metrics;
pub mod status;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::docspace::{HookFactory, RequestEvent, RequestHook};
use crate::observe::status::{PassSummary, Status};
use crate::pass::{PassReport, PortalRead};
use crate::picture::{Picture, page};
use crate::retention::{Guard, Scope};
use crate::state::audit::Outcome;
use crate::wire::shown;
use metrics::{Metrics, PortalSeries};

pub struct Observer {
    metrics: Arc<Metrics>,
    status: Status,
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer {
    pub fn new() -> Self {
        Observer {
            metrics: Arc::new(Metrics::new()),
            status: Status::default(),
        }
    }

    /// Which portals' series `/metrics` shows from now on (`[metrics] per_portal`).
    pub fn show_portals(&self, shown: metrics::PerPortal) {
        self.metrics.set_per_portal(shown);
    }

    /// The exposition chunk by chunk, as `/metrics` sends it.
    pub fn metrics_chunks(&self) -> crate::observe::metrics::Exposition {
        self.metrics.exposition()
    }

    pub fn render_metrics(&self) -> String {
        self.metrics.render()
    }

    /// `/status` as JSON.
    pub fn status_json(&self, ready: bool) -> serde_json::Value {
        self.status.json(ready)
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// A portal joined: its series are created (the counters at zero, so that rates
    /// and alerts work from the first scrape).
    pub fn portal_added(&self, portal: &str) {
        self.metrics.portal(portal);
        self.status.update(portal, |s| s.disabled = false);
    }

    /// A portal with `enabled = false`: `/status` shows it disabled; no series.
    pub fn portal_disabled(&self, portal: &str) {
        self.metrics.remove_portal(portal);
        self.status.update(portal, |s| {
            *s = Default::default();
            s.disabled = true;
        });
    }

    /// A portal left (a reload removed it, or a one-shot pass is over): its series
    /// and status go.
    pub fn portal_removed(&self, portal: &str) {
        self.metrics.remove_portal(portal);
        self.status.remove(portal);
    }

    /// A tick that found the previous pass of the portal still running.
    pub fn pass_skipped(&self, portal: &str, why: &str) {
        tracing::warn!(portal, "{why}: tick skipped");
        self.metrics
            .portal(portal)
            .update(|v| v.runs.add(&metrics::RUN_OUTCOMES, "skipped", 1));
    }

    pub fn next_run(&self, portal: &str, at: Option<DateTime<Utc>>) {
        self.metrics.portal(portal).set_next_run(at.map(unix));
        self.status.update(portal, |s| s.next_run = at);
    }

    pub fn pass_started(&self, portal: &str) {
        self.status.update(portal, |s| s.running = true);
    }

    /// A pass found the portal's lock taken by another process: skipped.
    pub fn pass_locked(&self, portal: &str) {
        self.pass_skipped(portal, "locked by another process");
        self.status.update(portal, |s| s.running = false);
    }

    pub fn config_reload(&self, result: Result<usize, &str>) {
        match result {
            Ok(portals) => {
                tracing::info!(portals, "configuration reloaded");
                self.metrics.config_reloads_total.with_label_values(&["success"]).inc();
            }
            Err(errors) => {
                tracing::error!(errors, "configuration reload failed: keeping the running configuration");
                self.metrics.config_reloads_total.with_label_values(&["failure"]).inc();
            }
        }
    }

    /// A finished pass: logs what it did and updates every per-portal metric and the
    /// portal's status.
    pub fn pass_finished(&self, r: &PassReport) {
        let p = r.portal.as_str();
        if let Some(read) = &r.read {
            log_plan(p, read);
        }
        log_changes(r);
        log_health(r);
        match &r.error {
            None => tracing::info!(
                portal = p,
                kept = r.kept(),
                deleted = r.count(Outcome::Deleted),
                already_gone = r.count(Outcome::AlreadyGone),
                dry_run = r.count(Outcome::DryRun),
                blocked = r.blocked(),
                "retention pass finished"
            ),
            Some(e) => tracing::error!(
                portal = p,
                kind = r.failure.map_or("", |f| f.as_str()),
                error = %e,
                "retention pass failed"
            ),
        }
        self.count_pass(r);
        if let Some(head) = &r.chain_head {
            let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
            if seq > self.metrics.audit_chain_head_seq.get() {
                self.metrics.audit_chain_head_seq.set(seq);
                self.status.set_chain_head(head.clone());
            }
        }
        let summary = PassSummary {
            started: r.started,
            finished: r.finished,
            outcome: if r.succeeded() { "success" } else { "failure" },
            kept: r.kept(),
            deleted: r.count(Outcome::Deleted) + r.count(Outcome::AlreadyGone),
            would_delete: r.count(Outcome::DryRun),
            failed: r.count(Outcome::Failed),
            blocked: r.blocked(),
            error: r.error.as_deref().map(|e| crate::secret::mask_api_keys(e).into_owned()),
            warning: r.read.as_ref().and_then(crate::report::conflict_warning),
            health: r.read.as_ref().and_then(|read| health_summary(r, read)),
        };
        let picture = r.read.as_ref().map(|read| {
            let missed = read.health.view.as_ref().map_or(&[][..], |v| &v.missed[..]);
            let mut picture =
                Picture::of(p, &read.plan, read.context.now, read.context.tz).with_health(&r.vanished, missed);
            if let Some((forecast, assumes)) = &r.forecast {
                picture = picture.with_forecast(forecast);
                picture.forecast = Some(assumes.clone());
            }
            if let Some(deletions) = &r.deletions_by_pass {
                picture = picture.with_deletions(deletions.clone());
            }
            picture.warning = crate::report::conflict_warning(read);
            picture.health = crate::report::health_line(read);
            Arc::new(picture)
        });
        self.status.update(p, |s| {
            s.last_pass = Some(Box::new(summary));
            s.running = false;
            if picture.is_some() {
                s.picture = picture;
            }
        });
    }

    fn count_pass(&self, r: &PassReport) {
        let outcome = if r.succeeded() { "success" } else { "failure" };
        let took = (r.finished - r.started).to_std().unwrap_or_default();
        self.metrics.portal(&r.portal).update(|v| {
            v.runs.add(&metrics::RUN_OUTCOMES, outcome, 1);
            v.run_duration
                .get_or_insert_with(Default::default)
                .observe(took.as_secs_f64());
            v.last_run = Some(unix(r.finished));
            if r.succeeded() {
                v.last_success = Some(unix(r.finished));
            }
            for d in &r.deletions {
                v.deletions.add(&metrics::DELETION_OUTCOMES, d.outcome.as_str(), 1);
            }
            for recovered in &r.recovered {
                v.recovered
                    .add(&metrics::RECOVERED_OUTCOMES, recovered.outcome.as_str(), 1);
            }
            if let Some(clear) = &r.clear {
                v.history_clears
                    .add(&metrics::CLEAR_OUTCOMES, clear.outcome.as_str(), 1);
                if clear.outcome != Outcome::Failed {
                    v.deletions.add(
                        &metrics::DELETION_OUTCOMES,
                        clear.outcome.as_str(),
                        clear.records as u64,
                    );
                }
            }
            // The family appears with the first notification of a portal that has one.
            if r.notified {
                *v.notify_failures.get_or_insert(0) += u64::from(r.notify_error.is_some());
            }
            let Some(read) = &r.read else { return };
            let plan = &read.plan;
            v.backups = Some(plan.managed as i64);
            v.temporary_backups = Some(plan.temporary as i64);
            v.planned_deletions = Some(plan.deletion_count() as i64);
            let blocks = plan
                .guards
                .iter()
                .map(|(g, n)| (g.as_str(), n))
                .chain(plan.doubtful.iter().map(|(d, n)| (d.as_str(), n)));
            for (label, n) in blocks {
                v.guard_blocks.add(&metrics::GUARDS, label, *n as u64);
            }
            v.newest_backup = plan.newest_managed.map(unix);
            let schedule = read.schedule.as_ref();
            v.schedule_present = Some(i64::from(schedule.is_some()));
            v.schedule_last_backup = schedule.and_then(|s| s.last_backup_time.instant()).map(unix);
            v.schedule_backups_stored = Some(schedule.and_then(|s| s.backups_stored).map_or(0, i64::from));
            v.policy_conflict = i64::from(read.policy_conflict.is_some());
            let period = read.memory.period(schedule).and_then(|p| p.seconds()).unwrap_or(0);
            v.schedule_period = Some(period as i64);
            v.schedule_missing_since = Some(read.memory.schedule_missing_since.map_or(0.0, unix));
            v.server_clock_skew = read.context.clock_skew_secs;
            count_health(v, r, read);
            // One series per portal: the old version's goes.
            v.server_version = Some(read.version.as_deref().unwrap_or("unknown").to_string());
        });
    }
}

/// The health sentinel's numbers of a pass: each missed slot and each vanished
/// backup counted once, the newest backup's size and duration, the key's expiry.
fn count_health(v: &mut crate::observe::metrics::PortalValues, r: &PassReport, read: &PortalRead) {
    let health = &read.health;
    v.backups_vanished += r.vanished.len() as u64;
    v.api_key_expiry = match &health.update.key {
        crate::state::KeyState::Expires(t) => Some(unix(*t)),
        _ => None,
    };
    v.timezone_mismatch = Some(i64::from(health.timezone_mismatch.is_some()));
    let Some(view) = &health.view else {
        (v.last_good_backup, v.backup_duration, v.backup_size) = (None, None, None);
        (v.newest_backup_suspect, v.suspect_backups) = (None, None);
        return;
    };
    for slot in &health.newly_missed {
        let at = unix(*slot);
        if v.missed_counted_until.is_none_or(|c| at > c) {
            v.expected_runs_missed += 1;
            v.missed_counted_until = Some(at);
        }
    }
    v.last_good_backup = view.last_good.map(unix);
    v.backup_duration = view.newest_duration_secs;
    v.backup_size = view.newest_size.and_then(|s| i64::try_from(s).ok());
    v.newest_backup_suspect = Some(i64::from(view.newest_suspect));
    v.suspect_backups = Some(view.suspects as i64);
}

/// The sentinel's part of `/status`.
fn health_summary(r: &PassReport, read: &PortalRead) -> Option<crate::observe::status::HealthSummary> {
    let view = read.health.view.as_ref()?;
    let newest = read
        .plan
        .iter()
        .find_map(|e| view.verdict(e.id))
        .map_or_else(|| "unknown".to_string(), |v| v.text());
    Some(crate::observe::status::HealthSummary {
        newest,
        last_good: view.last_good.map(crate::calendar::rfc3339),
        suspects: view.suspects,
        missed_runs: view.missed.iter().map(|t| crate::calendar::rfc3339(*t)).collect(),
        vanished: r.vanished.iter().map(|(id, _)| id.to_string()).collect(),
        api_key_expires: match &read.health.update.key {
            crate::state::KeyState::Expires(t) => Some(crate::calendar::rfc3339(*t)),
            _ => None,
        },
        timezone_mismatch: read.health.timezone_mismatch.clone(),
    })
}

/// What the sentinel saw deserves a line: each vanished backup, each missed run, a
/// suspect newest backup, a zone that differs, a failed notification.
fn log_health(r: &PassReport) {
    let portal = r.portal.as_str();
    for (id, _) in &r.vanished {
        tracing::warn!(
            portal,
            backup = %id,
            "a backup seen before is gone, and this product did not delete it (the server drops records whose \
             file it cannot check; or someone deleted it)"
        );
    }
    if let Some(e) = &r.notify_error {
        tracing::warn!(portal, error = %e, "the notification after the pass failed");
    }
    let Some(read) = &r.read else { return };
    if let Some(zone) = &read.health.timezone_mismatch {
        tracing::warn!(
            portal,
            server = %shown(zone),
            configured = %read.context.tz.name(),
            "the configured timezone differs from the portal's own: retention buckets use the configured one"
        );
    }
    let Some(view) = &read.health.view else { return };
    for slot in &read.health.newly_missed {
        tracing::warn!(portal, slot = %crate::calendar::rfc3339(*slot), "the backup schedule missed a run: no backup was made");
    }
    if view.newest_suspect
        && let Some(newest) = read
            .plan
            .iter()
            .find(|e| view.verdict(e.id).is_some_and(|v| v.is_suspect()))
    {
        tracing::warn!(
            portal,
            backup = %shown(&newest.record.id),
            health = %view.verdict(newest.id).map(|v| v.text()).unwrap_or_default(),
            "the newest backup is suspect: it is kept, and the newest healthy ones are pinned"
        );
    }
}

/// What the plan of a pass deserves to be told: stale portals, doubtful records, and
/// a schedule that fights the policy.
fn log_plan(portal: &str, read: &PortalRead) {
    let plan = &read.plan;
    for (guard, n) in &plan.guards {
        // A stale portal is news; the limits holding back a backlog are routine.
        match guard {
            Guard::Stale => tracing::warn!(portal, guard = guard.as_str(), blocked = n, "guard kept backups"),
            _ => tracing::info!(portal, guard = guard.as_str(), blocked = n, "guard kept backups"),
        }
    }
    for (doubt, n) in &plan.doubtful {
        tracing::info!(portal, guard = doubt.as_str(), blocked = n, "guard kept backups");
    }
    for e in plan.iter().filter(|e| matches!(e.scope, Scope::Doubtful(_))) {
        tracing::warn!(
            portal,
            backup = %shown(&e.record.id),
            reason = %shown(&e.reasons.first().map(ToString::to_string).unwrap_or_default()),
            "doubtful record kept"
        );
    }
    if read.news.schedule_vanished {
        tracing::warn!(
            portal,
            "the portal's backup schedule is gone (DocSpace deletes it itself on billing or quota failures, and \
             when storage encryption starts): no new backups will be made; the stale guard keeps using the last \
             period seen"
        );
    }
    if let Some((from, to)) = &read.news.version_changed {
        tracing::warn!(portal, from = %from, to = %to, "DocSpace version changed: this pass only plans");
    }
    if let (Some(pos), Some(s)) = (read.policy_conflict, &read.schedule) {
        tracing::warn!(
            portal,
            backups_stored = s.backups_stored.unwrap_or(0),
            first_lost = pos + 1,
            "the schedule keeps fewer scheduled backups than the policy: the server's own cleaner will delete \
             backups the policy keeps; raise backupsStored in the portal's backup schedule"
        );
    }
    tracing::debug!(
        portal,
        records = plan.entries.len(),
        managed = plan.managed,
        delete = plan.deletion_count(),
        "plan"
    );
}

/// One line per change a pass made (or, in a dry run, would have made).
fn log_changes(r: &PassReport) {
    let portal = r.portal.as_str();
    for rec in &r.recovered {
        tracing::warn!(
            portal,
            action = ?rec.action,
            backup = rec.backup_id.as_deref().unwrap_or(""),
            outcome = rec.outcome.as_str(),
            "settled a change an interrupted run left unfinished"
        );
    }
    for d in &r.deletions {
        match d.outcome {
            Outcome::DryRun => tracing::info!(portal, backup = %d.id, "dry run: would delete"),
            Outcome::Failed => tracing::error!(
                portal,
                backup = %d.id,
                error = d.error.as_deref().unwrap_or(""),
                "deletion failed"
            ),
            other => tracing::info!(portal, backup = %d.id, outcome = other.as_str(), "backup deleted"),
        }
    }
    if !r.unexpectedly_missing.is_empty() {
        tracing::warn!(
            portal,
            missing = ?r.unexpectedly_missing,
            "backups vanished from the history during the pass without being deleted by it"
        );
    }
    if let Some(c) = &r.clear {
        match c.outcome {
            Outcome::DryRun => tracing::info!(portal, records = c.records, "dry run: would clear the whole history"),
            Outcome::Failed => tracing::error!(
                portal,
                error = c.error.as_deref().unwrap_or(""),
                "clearing the history failed"
            ),
            _ => tracing::info!(portal, records = c.records, "history cleared"),
        }
    }
}

/// Counts one portal's requests.
struct PortalRequests {
    metrics: Arc<Metrics>,
    series: PortalSeries,
    portal: String,
}

impl RequestHook for PortalRequests {
    fn request(&self, e: RequestEvent) {
        let endpoint = e.endpoint.as_str();
        tracing::debug!(portal = %self.portal, endpoint, status = %StatusText(e.status), elapsed_ms = e.elapsed.as_millis() as u64, attempt = e.attempt, "api request");
        self.series.update(|v| v.request(endpoint, e.status));
        self.metrics
            .api_request_duration_seconds
            .with_label_values(&[endpoint])
            .observe(e.elapsed.as_secs_f64());
    }
}

/// A status as the `status` label reads: the code, or "error" when no answer came.
struct StatusText(Option<u16>);

impl std::fmt::Display for StatusText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(code) => write!(f, "{code}"),
            None => f.write_str("error"),
        }
    }
}

impl HookFactory for Observer {
    fn hook(&self, portal: &str) -> Arc<dyn RequestHook> {
        Arc::new(PortalRequests {
            metrics: Arc::clone(&self.metrics),
            series: self.metrics.portal(portal),
            portal: portal.to_string(),
        })
    }
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Up to this many portals, `GET /` draws every one; beyond, it lists them with links.
const DRAWN_ON_INDEX: usize = 20;
/// Portals per page of the index.
const PER_PAGE: usize = 200;

impl crate::admin::Views for Observer {
    fn metrics(&self) -> Box<dyn Iterator<Item = String> + Send> {
        Box::new(self.metrics_chunks())
    }

    fn status(&self, ready: bool) -> String {
        self.status.text(ready)
    }

    fn page(&self, page_number: usize) -> Option<String> {
        let index = page_number.checked_sub(1)?;
        let (rows, total, failing) = self.status.index(index, PER_PAGE);
        let pages = total.div_ceil(PER_PAGE).max(1);
        if page_number > pages {
            return None;
        }
        let pictures = match total <= DRAWN_ON_INDEX {
            true => self.status.pictures(DRAWN_ON_INDEX),
            false => Vec::new(),
        };
        let mut title = match total {
            1 => "docspace-retention: 1 portal".to_string(),
            n => format!("docspace-retention: {n} portals"),
        };
        if failing > 0 {
            title.push_str(&format!(", {failing} failing"));
        }
        if pages > 1 {
            title.push_str(&format!(" (page {page_number} of {pages})"));
        }
        let mut html = page(&title, Utc::now(), &pictures, Some(&rows));
        let mut links = String::new();
        if page_number > 1 {
            links.push_str(&format!(
                r#"<a href="/?page={}">previous {PER_PAGE}</a> "#,
                page_number - 1
            ));
        }
        if page_number < pages {
            links.push_str(&format!(r#"<a href="/?page={}">next {PER_PAGE}</a>"#, page_number + 1));
        }
        if !links.is_empty() {
            html = html.replace("</body>", &format!("<p>{}</p></body>", links.trim_end()));
        }
        Some(html)
    }

    fn portal_page(&self, portal: &str) -> Option<String> {
        let picture = self.status.picture(portal)?;
        Some(page(
            &format!("docspace-retention: {portal}"),
            Utc::now(),
            std::slice::from_ref(&picture),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::Doubt;
    use std::collections::BTreeSet;

    /// Pages count from 1: the middle one links back and on, the last only back, and
    /// one past the last is none.
    #[test]
    fn the_index_pages_link_both_ways() {
        use crate::admin::Views;
        let observer = Observer::new();
        for n in 0..(2 * PER_PAGE + 1) {
            observer.portal_added(&format!("p{n}"));
        }
        let middle = observer.page(2).unwrap();
        assert!(middle.contains(r#"<a href="/?page=1">previous 200</a> <a href="/?page=3">next 200</a>"#));
        assert!(middle.contains("401 portals (page 2 of 3)"));
        let last = observer.page(3).unwrap();
        assert!(last.contains(r#"<a href="/?page=2">previous 200</a></p>"#) && !last.contains("next 200"));
        assert!(observer.page(4).is_none() && observer.page(0).is_none());
        // Natural order: p2 before p10 on the first page.
        let first = observer.page(1).unwrap();
        assert!(first.find("/portal/p2\"").unwrap() < first.find("/portal/p10\"").unwrap());
    }

    /// The metrics' label sets are exactly what the observer counts with.
    #[test]
    fn the_label_sets_are_the_domain_values() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(set(&Outcome::ALL.map(|o| o.as_str())), set(&metrics::DELETION_OUTCOMES));
        let guards: Vec<&str> = Guard::ALL
            .iter()
            .map(Guard::as_str)
            .chain(Doubt::ALL.iter().map(Doubt::as_str))
            .collect();
        assert_eq!(set(&guards), set(&metrics::GUARDS));
        // What a clear and a recovery can end as.
        for o in [Outcome::Deleted, Outcome::Failed, Outcome::DryRun] {
            assert!(metrics::CLEAR_OUTCOMES.contains(&o.as_str()));
        }
        for o in [Outcome::Deleted, Outcome::Failed] {
            assert!(metrics::RECOVERED_OUTCOMES.contains(&o.as_str()));
        }
        assert_eq!(StatusText(None).to_string(), "error");
        assert_eq!(StatusText(Some(503)).to_string(), "503");
    }
}
