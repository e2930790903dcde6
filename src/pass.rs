//! One retention pass over one portal: read, plan, change, verify, audit.
//!
//! The planner decides; this module only carries decisions out, in the order that is
//! safe against the server's traps (DOCSPACE_API.md): deletions go one at a time,
//! oldest first, each preceded by a flushed audit intent; the outcome of every delete
//! is settled by reading the history again, never by the delete's answer alone.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEntry, AuditLog, Outcome};
use crate::config::PortalConfig;
use crate::docspace::{ApiError, ApiErrorKind, BackupSchedule, DocSpaceClient, HistoryRecord};
use crate::retention::{Plan, PlanContext, plan_retention, schedule_conflict};

/// What a pass reads and decides before changing anything (also all that `plan` does).
#[derive(Debug, Clone)]
pub struct PortalRead {
    pub schedule: Option<BackupSchedule>,
    pub plan: Plan,
    /// Set when the schedule's `backupsStored` makes the server's cleaner delete
    /// scheduled backups the policy keeps: the position of the first such backup.
    pub policy_conflict: Option<usize>,
}

/// Reads the schedule and history and plans, as of `now`.
pub async fn read_and_plan(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    now: DateTime<Utc>,
) -> Result<PortalRead, ApiError> {
    let schedule = client.get_schedule().await?;
    let history = client.get_history().await?;
    let ctx = PlanContext {
        now,
        tz: portal.timezone,
        schedule_period: schedule.as_ref().map(|s| s.period.clone()),
    };
    let plan = plan_retention(history, &portal.retention, &ctx);
    let policy_conflict = schedule.as_ref().and_then(|s| {
        let stored = s.backups_stored?;
        schedule_conflict(
            &portal.retention,
            &s.period,
            s.hour,
            s.day,
            stored,
            now,
            portal.timezone,
        )
    });
    Ok(PortalRead {
        schedule,
        plan,
        policy_conflict,
    })
}

/// The settled outcome of one planned deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionResult {
    pub id: String,
    pub file_name: Option<String>,
    pub created_on: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// The outcome of a whole-history clear.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearResult {
    pub outcome: Outcome,
    /// Records the plan wanted gone.
    pub records: usize,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// Everything a pass did, for logs, metrics, `/status` and the `once` summary.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub portal: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub dry_run: bool,
    /// `None` when reading the portal failed.
    pub read: Option<PortalRead>,
    pub deletions: Vec<DeletionResult>,
    pub clear: Option<ClearResult>,
    /// Records that vanished between the first read and the verification although
    /// nobody here deleted them (the server's cleaner, another admin): reported only.
    pub unexpectedly_missing: Vec<String>,
    /// `Some` means the pass failed.
    pub error: Option<String>,
}

impl PassReport {
    /// A pass that could not even start (e.g. no HTTP client for the portal).
    pub fn failed(portal: &str, dry_run: bool, error: String) -> Self {
        let now = Utc::now();
        PassReport {
            portal: portal.to_string(),
            started: now,
            finished: now,
            dry_run,
            read: None,
            deletions: Vec::new(),
            clear: None,
            unexpectedly_missing: Vec::new(),
            error: Some(error),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.deletions.iter().filter(|d| d.outcome == outcome).count()
    }

    pub fn kept(&self) -> usize {
        self.read.as_ref().map_or(0, |r| r.plan.kept_count())
    }

    pub fn blocked(&self) -> usize {
        self.read.as_ref().map_or(0, |r| r.plan.blocked_deletions())
    }
}

/// Runs one pass. Never panics on portal behaviour: every failure ends in the report.
/// How long one pass may take before it stops starting deletions (reads are cut off,
/// deletions already sent are still verified): ten times the worst case of one call
/// with all its retries, and at least a minute. One stuck portal therefore cannot hold
/// a concurrency slot for ever.
pub fn pass_deadline(portal: &PortalConfig) -> std::time::Duration {
    (portal.request_timeout * 10 * (portal.max_retries + 1)).max(std::time::Duration::from_secs(60))
}

pub async fn run_pass(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    now: DateTime<Utc>,
) -> PassReport {
    run_pass_within(portal, client, audit, now, pass_deadline(portal)).await
}

/// [`run_pass`] with an explicit time limit.
pub async fn run_pass_within(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    now: DateTime<Utc>,
    limit: std::time::Duration,
) -> PassReport {
    let mut report = PassReport {
        portal: portal.name.clone(),
        started: now,
        finished: now,
        dry_run: portal.dry_run,
        read: None,
        deletions: Vec::new(),
        clear: None,
        unexpectedly_missing: Vec::new(),
        error: None,
    };
    let deadline = tokio::time::Instant::now() + limit;
    let read = match tokio::time::timeout_at(deadline, read_and_plan(portal, client, now)).await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            report.error = Some(e.to_string());
            report.finished = Utc::now();
            return report;
        }
        Err(_) => {
            report.error = Some(format!(
                "pass deadline of {}s exceeded while reading the portal",
                limit.as_secs()
            ));
            report.finished = Utc::now();
            return report;
        }
    };
    log_plan(portal, &read);
    if read.plan.clear_history {
        clear_history(portal, client, audit, &read.plan, &mut report).await;
    } else {
        delete_backups(portal, client, audit, &read.plan, deadline, &mut report).await;
    }
    report.read = Some(read);
    report.finished = Utc::now();
    report
}

fn log_plan(portal: &PortalConfig, read: &PortalRead) {
    let plan = &read.plan;
    for (guard, n) in &plan.guards {
        // A stale portal is news; the limits holding back a backlog are routine.
        match guard {
            crate::retention::Guard::Stale => {
                tracing::warn!(portal = %portal.name, guard = guard.as_str(), blocked = n, "guard kept backups")
            }
            _ => tracing::info!(portal = %portal.name, guard = guard.as_str(), blocked = n, "guard kept backups"),
        }
    }
    for e in plan
        .entries
        .iter()
        .filter(|e| matches!(e.scope, crate::retention::Scope::Doubtful(_)))
    {
        tracing::warn!(
            portal = %portal.name,
            backup = %e.record.id,
            reason = %e.reasons.first().map(ToString::to_string).unwrap_or_default(),
            "doubtful record kept"
        );
    }
    if let (Some(pos), Some(s)) = (read.policy_conflict, &read.schedule) {
        tracing::warn!(
            portal = %portal.name,
            backups_stored = s.backups_stored.unwrap_or(0),
            first_lost = pos + 1,
            "the schedule keeps fewer scheduled backups than the policy: the server's own cleaner will delete \
             backups the policy keeps; raise backupsStored in the portal's backup schedule"
        );
    }
    tracing::debug!(
        portal = %portal.name,
        records = plan.entries.len(),
        managed = plan.managed,
        delete = plan.deletion_count(),
        "plan"
    );
}

/// One backup to delete, with what the audit log says about it.
#[derive(Debug, Clone)]
pub struct DeletionItem {
    pub id: String,
    pub file_name: Option<String>,
    pub created_on: Option<DateTime<Utc>>,
    pub reasons: Vec<String>,
}

impl DeletionItem {
    pub fn from_record(record: &HistoryRecord, reasons: Vec<String>) -> Self {
        DeletionItem {
            id: record.id.clone(),
            file_name: record.file_name.clone(),
            created_on: record.created_on.instant(),
            reasons,
        }
    }

    fn intent(&self, portal: &str, dry_run: bool) -> AuditEntry {
        AuditEntry::intent(portal, AuditAction::DeleteBackup, dry_run).backup(
            &self.id,
            self.file_name.as_deref(),
            self.created_on,
            self.reasons.clone(),
        )
    }

    fn settled(&self, outcome: Outcome, http_status: Option<u16>, error: Option<String>) -> DeletionResult {
        DeletionResult {
            id: self.id.clone(),
            file_name: self.file_name.clone(),
            created_on: self.created_on,
            outcome,
            http_status,
            error,
        }
    }
}

/// A delete that was sent: the item, its audit intent, and the server's answer.
type Attempt<'a> = (&'a DeletionItem, AuditEntry, Result<Option<bool>, ApiError>);

/// What [`execute_deletions`] did.
#[derive(Debug, Default)]
pub struct Deletions {
    pub results: Vec<DeletionResult>,
    /// Ids in the history after the deletions (lowercase); `None` if it could not be read.
    pub present_after: Option<HashSet<String>>,
    /// Why the run stopped early or could not be verified.
    pub error: Option<String>,
}

/// Deletes `items` one at a time, in the given order, each after a flushed audit
/// intent; then reads the history once and settles every attempt as deleted,
/// already gone or failed, writing the result lines. With `dry_run` nothing is sent.
pub async fn execute_deletions(
    portal: &str,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    items: &[DeletionItem],
    dry_run: bool,
    deadline: Option<tokio::time::Instant>,
) -> Deletions {
    let mut done = Deletions::default();
    if dry_run {
        for item in items {
            let intent = item.intent(portal, true);
            let result = intent.result(Outcome::DryRun, None, None);
            if let Err(e) = audit_both(audit, intent, result).await {
                done.error = Some(e);
                return done;
            }
            tracing::info!(portal, backup = %item.id, "dry run: would delete");
            done.results.push(item.settled(Outcome::DryRun, None, None));
        }
        return done;
    }

    let mut attempted: Vec<Attempt<'_>> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            let left = items.len() - i;
            tracing::warn!(
                portal,
                left,
                "pass deadline reached: leaving the rest for the next pass"
            );
            done.error = Some(format!(
                "pass deadline exceeded: {left} deletions left for the next pass"
            ));
            break;
        }
        let intent = item.intent(portal, false);
        if let Err(e) = audit.record(intent.clone()).await {
            tracing::error!(portal, error = %e, "audit log not writable: no more deletions");
            done.error = Some(e);
            break;
        }
        let answer = client.delete_backup(&item.id).await;
        let stop = answer
            .as_ref()
            .err()
            .filter(|e| e.is_access_problem())
            .map(ToString::to_string);
        attempted.push((item, intent, answer));
        if let Some(e) = stop {
            tracing::error!(portal, error = %e, "portal refuses deletions: stopping");
            done.error = Some(e);
            break;
        }
    }
    if attempted.is_empty() {
        return done;
    }

    // Settle every attempt by reading the history again.
    done.present_after = match client.get_history().await {
        Ok(records) => Some(ids(&records)),
        Err(e) => {
            tracing::error!(portal, error = %e, "cannot verify deletions");
            done.error
                .get_or_insert_with(|| format!("cannot verify deletions: {e}"));
            None
        }
    };
    let mut results = Vec::with_capacity(attempted.len());
    for (item, intent, answer) in attempted {
        let status = match &answer {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        };
        let gone = done
            .present_after
            .as_ref()
            .map(|p| !p.contains(&item.id.to_ascii_lowercase()));
        let (outcome, error) = settle(gone, &answer);
        match outcome {
            Outcome::Failed => {
                tracing::error!(portal, backup = %item.id, error = error.as_deref().unwrap_or(""), "deletion failed")
            }
            _ => {
                tracing::info!(portal, backup = %item.id, outcome = outcome.as_str(), "backup deleted")
            }
        }
        results.push(intent.result(outcome, status, error.clone()));
        done.results.push(item.settled(outcome, status, error));
    }
    // No action lies between the result lines: they go to disk together.
    if let Err(e) = audit.record_all(results).await {
        done.error.get_or_insert(e);
    }
    done
}

/// The outcome of one delete from its answer and whether the record is gone after.
fn settle(gone: Option<bool>, answer: &Result<Option<bool>, ApiError>) -> (Outcome, Option<String>) {
    match (gone, answer) {
        (Some(true), Ok(Some(false))) => (Outcome::AlreadyGone, None),
        (Some(true), Err(e)) if matches!(e.kind, ApiErrorKind::NotFound { .. }) => (Outcome::AlreadyGone, None),
        // A 500 whose record is gone: the server removed the record, then failed on
        // the file (DOCSPACE_API.md "Delete order").
        (Some(true), _) => (Outcome::Deleted, None),
        (Some(false), Ok(_)) => (
            Outcome::Failed,
            Some("still in the history after the server answered the delete with success".to_string()),
        ),
        (Some(false), Err(e)) => (Outcome::Failed, Some(e.to_string())),
        // Unverifiable: only an explicit success counts.
        (None, Ok(Some(true))) => (Outcome::Deleted, None),
        (None, Ok(_)) => (
            Outcome::Failed,
            Some("unverified: the history could not be read again".to_string()),
        ),
        (None, Err(e)) => (Outcome::Failed, Some(e.to_string())),
    }
}

async fn delete_backups(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    plan: &Plan,
    deadline: tokio::time::Instant,
    report: &mut PassReport,
) {
    // Oldest first; one call per id even if the server listed an id twice.
    let mut seen = HashSet::new();
    let items: Vec<DeletionItem> = plan
        .entries
        .iter()
        .rev()
        .filter(|e| e.action == crate::retention::Action::Delete)
        .filter(|e| seen.insert(e.record.id.to_ascii_lowercase()))
        .map(|e| DeletionItem::from_record(&e.record, e.reasons.iter().map(ToString::to_string).collect()))
        .collect();
    if items.is_empty() {
        return;
    }
    let done = execute_deletions(&portal.name, client, audit, &items, portal.dry_run, Some(deadline)).await;
    report.deletions = done.results;
    report.error = done.error;

    if let Some(present) = &done.present_after {
        let touched: HashSet<String> = report.deletions.iter().map(|d| d.id.to_ascii_lowercase()).collect();
        report.unexpectedly_missing = plan
            .entries
            .iter()
            .map(|e| e.record.id.to_ascii_lowercase())
            .filter(|id| !id.is_empty() && !touched.contains(id) && !present.contains(id))
            .collect();
        if !report.unexpectedly_missing.is_empty() {
            tracing::warn!(
                portal = %portal.name,
                missing = ?report.unexpectedly_missing,
                "backups vanished from the history during the pass without being deleted by it"
            );
        }
    }
    let failed = report.count(Outcome::Failed);
    if failed > 0 && report.error.is_none() {
        report.error = Some(format!("{failed} of {} deletions failed", report.deletions.len()));
    }
}

async fn clear_history(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    plan: &Plan,
    report: &mut PassReport,
) {
    let records = plan.entries.len();
    let reasons = vec![format!("all {records} records planned for deletion")];
    if !portal.dry_run {
        // Only clear what was planned: the history must be exactly what we decided on.
        let planned: HashSet<String> = plan.entries.iter().map(|e| e.record.id.to_ascii_lowercase()).collect();
        match client.get_history().await {
            Ok(again) if ids(&again) == planned && again.len() == records => {}
            Ok(_) => {
                tracing::warn!(portal = %portal.name, "the history changed since it was read: not clearing it this pass");
                return;
            }
            Err(e) => {
                report.error = Some(format!("cannot re-read the history before clearing it: {e}"));
                return;
            }
        }
    }
    let clear = execute_clear(&portal.name, client, audit, records, reasons, portal.dry_run).await;
    if clear.outcome == Outcome::Failed {
        report.error = Some(
            clear
                .error
                .clone()
                .unwrap_or_else(|| "clearing the history failed".into()),
        );
    }
    report.clear = Some(clear);
}

/// Clears the whole history with one call after a flushed audit intent, then counts
/// what is left (the server answers `true` even when some files failed).
pub async fn execute_clear(
    portal: &str,
    client: &DocSpaceClient,
    audit: &Arc<AuditLog>,
    records: usize,
    reasons: Vec<String>,
    dry_run: bool,
) -> ClearResult {
    let intent = AuditEntry::intent(portal, AuditAction::ClearHistory, dry_run).reasons(reasons);
    let failed = |error: String| ClearResult {
        outcome: Outcome::Failed,
        records,
        http_status: None,
        error: Some(error),
    };
    if dry_run {
        let result = intent.result(Outcome::DryRun, None, None);
        if let Err(e) = audit_both(audit, intent, result).await {
            return failed(e);
        }
        tracing::info!(portal, records, "dry run: would clear the whole history");
        return ClearResult {
            outcome: Outcome::DryRun,
            records,
            http_status: None,
            error: None,
        };
    }
    if let Err(e) = audit.record(intent.clone()).await {
        return failed(e);
    }
    let answer = client.delete_history().await;
    let status = match &answer {
        Ok(_) => Some(200),
        Err(e) => e.status(),
    };
    let left = client.get_history().await;
    let (outcome, error) = match (&answer, left) {
        (_, Ok(left)) if left.is_empty() => (Outcome::Deleted, None),
        (Ok(_), Ok(left)) => (
            Outcome::Failed,
            Some(format!("{} records remain after clearing the history", left.len())),
        ),
        (Err(e), Ok(left)) => (Outcome::Failed, Some(format!("{e}; {} records remain", left.len()))),
        (_, Err(e)) => (Outcome::Failed, Some(format!("cannot verify the cleared history: {e}"))),
    };
    if let Err(e) = audit.record(intent.result(outcome, status, error.clone())).await {
        return failed(e);
    }
    match outcome {
        Outcome::Failed => tracing::error!(
            portal,
            error = error.as_deref().unwrap_or(""),
            "clearing the history failed"
        ),
        _ => tracing::info!(portal, records, "history cleared"),
    }
    ClearResult {
        outcome,
        records,
        http_status: status,
        error,
    }
}

/// A dry run's intent and result: nothing happens between them.
async fn audit_both(audit: &Arc<AuditLog>, intent: AuditEntry, result: AuditEntry) -> Result<(), String> {
    audit.record_all(vec![intent, result]).await
}

fn ids(records: &[HistoryRecord]) -> HashSet<String> {
    records.iter().map(|r| r.id.to_ascii_lowercase()).collect()
}
