//! The audit log of SPEC §8: `<state_dir>/audit.jsonl`, one JSON object per line,
//! append-only, each line on disk (`fsync`) before the next action starts.
//!
//! An intent line is written before every change and a result line after it, so a
//! crash between the two leaves a visible "we tried" in the log. If the log cannot be
//! written, the change is not made: callers stop on an error from [`AuditLog::record`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::docspace::rfc3339;

pub const AUDIT_FILE: &str = "audit.jsonl";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    DeleteBackup,
    ClearHistory,
    DeleteSchedule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Intent,
    Result,
}

/// The outcome of one change, as logged, counted and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deleted,
    AlreadyGone,
    Failed,
    DryRun,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Deleted, Outcome::AlreadyGone, Outcome::Failed, Outcome::DryRun];

    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::AlreadyGone => "already_gone",
            Outcome::Failed => "failed",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// One line of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub ts: String,
    pub portal: String,
    pub action: AuditAction,
    pub phase: Phase,
    pub backup_id: Option<String>,
    pub file_name: Option<String>,
    pub created_on: Option<String>,
    pub reasons: Vec<String>,
    pub dry_run: bool,
    pub outcome: Option<Outcome>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

impl AuditEntry {
    /// An intent line for `action` on `portal`.
    pub fn intent(portal: &str, action: AuditAction, dry_run: bool) -> Self {
        AuditEntry {
            ts: rfc3339(Utc::now()),
            portal: portal.to_string(),
            action,
            phase: Phase::Intent,
            backup_id: None,
            file_name: None,
            created_on: None,
            reasons: Vec::new(),
            dry_run,
            outcome: None,
            http_status: None,
            error: None,
        }
    }

    pub fn backup(
        mut self,
        id: &str,
        file_name: Option<&str>,
        created_on: Option<DateTime<Utc>>,
        reasons: Vec<String>,
    ) -> Self {
        self.backup_id = Some(id.to_string());
        self.file_name = file_name.map(str::to_string);
        self.created_on = created_on.map(rfc3339);
        self.reasons = reasons;
        self
    }

    pub fn reasons(mut self, reasons: Vec<String>) -> Self {
        self.reasons = reasons;
        self
    }

    /// The matching result line.
    pub fn result(&self, outcome: Outcome, http_status: Option<u16>, error: Option<String>) -> Self {
        AuditEntry {
            ts: rfc3339(Utc::now()),
            phase: Phase::Result,
            outcome: Some(outcome),
            http_status,
            error,
            ..self.clone()
        }
    }
}

#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating the directory and file if needed) `<state_dir>/audit.jsonl`.
    pub fn open(state_dir: &Path) -> Result<Arc<Self>, String> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            format!(
                "cannot create the state directory {}: {e} (set daemon.state_dir)",
                state_dir.display()
            )
        })?;
        Self::open_file(&state_dir.join(AUDIT_FILE))
    }

    /// Opens an audit log at an exact path, for appending.
    pub fn open_file(path: &Path) -> Result<Arc<Self>, String> {
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
            format!(
                "cannot open the audit log {}: {e} (set daemon.state_dir)",
                path.display()
            )
        })?;
        Ok(Arc::new(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and waits until it is on disk.
    pub async fn record(self: &Arc<Self>, entry: AuditEntry) -> Result<(), String> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || log.write_line(&entry))
            .await
            .map_err(|e| format!("audit writer stopped: {e}"))?
    }

    fn write_line(&self, entry: &AuditEntry) -> Result<(), String> {
        let mut line = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("cannot write the audit log {}: {e}", self.path.display()))
    }
}
