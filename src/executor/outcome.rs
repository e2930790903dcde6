//! What the executor is asked to change, and what it reports back.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::docspace::ApiError;
use crate::state::audit::{AuditAction, AuditEntry, AuditError, Outcome};
use crate::state::lock::LockError;
use crate::wire::{BackupId, HistoryRecord};

/// Why a batch of changes could not begin: nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The batch mark could not be written.
    #[error(transparent)]
    Mark(#[from] LockError),
    /// The intents could not be written (or the log's end read for the mark).
    #[error(transparent)]
    Audit(#[from] AuditError),
}

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

    pub(super) fn intent(&self, portal: &str, dry_run: bool) -> AuditEntry {
        AuditEntry::intent(portal, AuditAction::DeleteBackup, dry_run).backup(
            &self.id.to_string(),
            self.file_name.as_deref(),
            self.created_on,
            self.reasons.clone(),
        )
    }

    pub(super) fn settled(&self, outcome: Outcome, http_status: Option<u16>, error: Option<String>) -> DeletionResult {
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
    /// Why the run stopped early, was refused, or could not be verified.
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

/// A change an earlier run began and never settled, as settled now.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub action: AuditAction,
    pub backup_id: Option<String>,
    pub outcome: Outcome,
}

/// Why an executor could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or pass) is changing this portal.
    #[error("locked by another process")]
    Locked,
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The audit log could not be read or written while settling an earlier batch.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The portal could not be read to settle an earlier batch.
    #[error("cannot settle interrupted changes: {0}")]
    Settle(ApiError),
}

/// The ids of a history (records without a GUID cannot be deleted and are left out).
pub fn ids(records: &[HistoryRecord]) -> HashSet<BackupId> {
    records.iter().filter_map(|r| BackupId::parse(&r.id)).collect()
}

/// Ids for a message: "a, b, c".
pub fn list(ids: &[BackupId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
