//! The executor: the only code that changes a portal. Every DELETE the product sends
//! (a pass, `once`, `schedule delete`, `history clear`, `backup delete`) goes through
//! an [`Executor`], which carries decisions out in the order that is safe against the
//! server's traps (docs/docspace-api.md): deletions go one at a time, in the order
//! given, each preceded by a flushed audit intent; the outcome of every change is
//! settled by reading the portal again, never by the server's answer alone; a dry run
//! writes the same audit lines and sends nothing.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{AuditAction, AuditEntry, AuditLog, Outcome};
use crate::docspace::{ApiError, ApiErrorKind, DocSpaceClient};
use crate::wire::{BackupId, HistoryRecord};

/// One backup to delete, with what the audit log says about it.
#[derive(Debug, Clone)]
pub struct DeletionItem {
    pub id: BackupId,
    pub file_name: Option<String>,
    pub created_on: Option<DateTime<Utc>>,
    pub reasons: Vec<String>,
}

impl DeletionItem {
    pub fn new(id: BackupId, record: &HistoryRecord, reasons: Vec<String>) -> Self {
        DeletionItem {
            id,
            file_name: record.file_name.clone(),
            created_on: record.created_on.instant(),
            reasons,
        }
    }

    fn intent(&self, portal: &str, dry_run: bool) -> AuditEntry {
        AuditEntry::intent(portal, AuditAction::DeleteBackup, dry_run).backup(
            &self.id.to_string(),
            self.file_name.as_deref(),
            self.created_on,
            self.reasons.clone(),
        )
    }

    fn settled(&self, outcome: Outcome, http_status: Option<u16>, error: Option<String>) -> DeletionResult {
        DeletionResult {
            id: self.id,
            file_name: self.file_name.clone(),
            created_on: self.created_on,
            outcome,
            http_status,
            error,
        }
    }
}

/// The settled outcome of one deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionResult {
    pub id: BackupId,
    pub file_name: Option<String>,
    pub created_on: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// What [`Executor::delete_backups`] did.
#[derive(Debug, Default)]
pub struct Deletions {
    pub results: Vec<DeletionResult>,
    /// Ids in the history after the deletions; `None` if it was not read again.
    pub present_after: Option<HashSet<BackupId>>,
    /// Why the run stopped early or could not be verified.
    pub error: Option<String>,
}

/// The outcome of a whole-history clear.
#[derive(Debug, Clone, PartialEq)]
pub struct ClearResult {
    pub outcome: Outcome,
    /// Records that were to go.
    pub records: usize,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// The outcome of a schedule deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleResult {
    pub outcome: Outcome,
    pub error: Option<String>,
}

/// A delete that was sent: the item, its audit intent, and the server's answer.
type Attempt<'a> = (&'a DeletionItem, AuditEntry, Result<Option<bool>, ApiError>);

/// Carries out changes to one portal.
pub struct Executor<'a> {
    portal: &'a str,
    client: &'a DocSpaceClient,
    audit: &'a Arc<AuditLog>,
    dry_run: bool,
}

impl<'a> Executor<'a> {
    pub fn new(portal: &'a str, client: &'a DocSpaceClient, audit: &'a Arc<AuditLog>, dry_run: bool) -> Self {
        Executor {
            portal,
            client,
            audit,
            dry_run,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Deletes `items` one at a time, in the given order, each after a flushed audit
    /// intent; then reads the history once and settles every attempt as deleted,
    /// already gone or failed, writing the result lines. Starts no deletion after
    /// `deadline`.
    pub async fn delete_backups(&self, items: &[DeletionItem], deadline: Option<tokio::time::Instant>) -> Deletions {
        let portal = self.portal;
        let mut done = Deletions::default();
        if self.dry_run {
            for item in items {
                let intent = item.intent(portal, true);
                let result = intent.result(Outcome::DryRun, None, None);
                if let Err(e) = self.audit_both(intent, result).await {
                    done.error = Some(e);
                    return done;
                }
                done.results.push(item.settled(Outcome::DryRun, None, None));
            }
            return done;
        }

        let mut attempted: Vec<Attempt<'_>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                let left = items.len() - i;
                done.error = Some(format!(
                    "pass deadline exceeded: {left} deletions left for the next pass"
                ));
                break;
            }
            let intent = item.intent(portal, false);
            if let Err(e) = self.audit.record(intent.clone()).await {
                done.error = Some(e);
                break;
            }
            let answer = self.client.delete_backup(item.id).await;
            let stop = answer
                .as_ref()
                .err()
                .filter(|e| e.is_access_problem())
                .map(ToString::to_string);
            attempted.push((item, intent, answer));
            if let Some(e) = stop {
                done.error = Some(e);
                break;
            }
        }
        if attempted.is_empty() {
            return done;
        }

        // Settle every attempt by reading the history again.
        done.present_after = match self.client.get_history().await {
            Ok(records) => Some(ids(&records)),
            Err(e) => {
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
            let gone = done.present_after.as_ref().map(|p| !p.contains(&item.id));
            let (outcome, error) = settle(gone, &answer);
            results.push(intent.result(outcome, status, error.clone()));
            done.results.push(item.settled(outcome, status, error));
        }
        // No action lies between the result lines: they go to disk together.
        if let Err(e) = self.audit.record_all(results).await {
            done.error.get_or_insert(e);
        }
        done
    }

    /// Clears the whole history with one call after a flushed audit intent, then counts
    /// what is left (the server answers `true` even when some files failed).
    pub async fn clear_history(&self, records: usize, reasons: Vec<String>) -> ClearResult {
        let portal = self.portal;
        let intent = AuditEntry::intent(portal, AuditAction::ClearHistory, self.dry_run).reasons(reasons);
        let failed = |error: String| ClearResult {
            outcome: Outcome::Failed,
            records,
            http_status: None,
            error: Some(error),
        };
        if self.dry_run {
            let result = intent.result(Outcome::DryRun, None, None);
            if let Err(e) = self.audit_both(intent, result).await {
                return failed(e);
            }
            return ClearResult {
                outcome: Outcome::DryRun,
                records,
                http_status: None,
                error: None,
            };
        }
        if let Err(e) = self.audit.record(intent.clone()).await {
            return failed(e);
        }
        let answer = self.client.delete_history().await;
        let status = match &answer {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        };
        let left = self.client.get_history().await;
        let (outcome, error) = match (&answer, left) {
            (_, Ok(left)) if left.is_empty() => (Outcome::Deleted, None),
            (Ok(_), Ok(left)) => (
                Outcome::Failed,
                Some(format!("{} records remain after clearing the history", left.len())),
            ),
            (Err(e), Ok(left)) => (Outcome::Failed, Some(format!("{e}; {} records remain", left.len()))),
            (_, Err(e)) => (Outcome::Failed, Some(format!("cannot verify the cleared history: {e}"))),
        };
        if let Err(e) = self.audit.record(intent.result(outcome, status, error.clone())).await {
            return failed(e);
        }
        ClearResult {
            outcome,
            records,
            http_status: status,
            error,
        }
    }

    /// Deletes the backup schedule after a flushed audit intent, then reads the
    /// schedule again to settle the outcome.
    pub async fn delete_schedule(&self, reasons: Vec<String>) -> ScheduleResult {
        let intent = AuditEntry::intent(self.portal, AuditAction::DeleteSchedule, false).reasons(reasons);
        if let Err(e) = self.audit.record(intent.clone()).await {
            return ScheduleResult {
                outcome: Outcome::Failed,
                error: Some(e),
            };
        }
        let answer = self.client.delete_schedule().await;
        let status = match &answer {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        };
        let (outcome, error) = match (&answer, self.client.get_schedule().await) {
            (_, Ok(None)) => (Outcome::Deleted, None),
            (Err(e), _) => (Outcome::Failed, Some(e.to_string())),
            (Ok(_), Ok(Some(_))) => (
                Outcome::Failed,
                Some("the schedule is still there after the delete".to_string()),
            ),
            (Ok(_), Err(e)) => (Outcome::Failed, Some(format!("cannot verify: {e}"))),
        };
        if let Err(e) = self.audit.record(intent.result(outcome, status, error.clone())).await {
            return ScheduleResult {
                outcome: Outcome::Failed,
                error: Some(e),
            };
        }
        ScheduleResult { outcome, error }
    }

    /// A dry run's intent and result: nothing happens between them.
    async fn audit_both(&self, intent: AuditEntry, result: AuditEntry) -> Result<(), String> {
        self.audit.record_all(vec![intent, result]).await
    }
}

/// The outcome of one delete from its answer and whether the record is gone after.
fn settle(gone: Option<bool>, answer: &Result<Option<bool>, ApiError>) -> (Outcome, Option<String>) {
    match (gone, answer) {
        (Some(true), Ok(Some(false))) => (Outcome::AlreadyGone, None),
        (Some(true), Err(e)) if matches!(e.kind, ApiErrorKind::NotFound { .. }) => (Outcome::AlreadyGone, None),
        // A 500 whose record is gone: the server removed the record, then failed on
        // the file (docs/docspace-api.md, "Delete order").
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

/// The ids of a history (records without a GUID cannot be deleted and are left out).
pub fn ids(records: &[HistoryRecord]) -> HashSet<BackupId> {
    records.iter().filter_map(|r| BackupId::parse(&r.id)).collect()
}
