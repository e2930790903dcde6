//! The audit log (docs/reference.md, "Audit log"): `<state_dir>/audit.jsonl`, one JSON object per line,
//! append-only, each line on disk (`fsync`) before the next action starts.
//!
//! An intent line is written before every change and a result line after it, so a
//! crash between the two leaves a visible "we tried" in the log. If the log cannot be
//! written, the change is not made: callers stop on an error from [`AuditLog::record`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::rfc3339;

mod read;
mod writer;

use read::*;
use writer::*;

pub const AUDIT_FILE: &str = "audit.jsonl";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    DeleteBackup,
    ClearHistory,
    DeleteSchedule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Intent,
    Result,
}

/// The outcome of one change, as logged, counted and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// On result lines written by recovery: the change was interrupted (a crash, a
    /// kill) and its outcome was settled later (docs/reference.md, "Interrupted changes").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

impl AuditEntry {
    /// The same line, dated now: an intent is dated when it is written, after the
    /// batch mark it belongs to (recovery finds a batch's lines by time).
    pub fn dated_now(mut self) -> Self {
        self.ts = rfc3339(Utc::now());
        self
    }

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
            recovered: false,
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

/// Lines waiting to be written (or a checkpoint to sign, at the head the chain has
/// when its turn comes), and whom to tell once they are on disk.
type Pending = (Vec<Line>, tokio::sync::oneshot::Sender<Result<(), AuditError>>);

/// Why the audit log could not be opened, read or written. Cloned to every caller
/// whose lines were in a group that failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the audit log {}: {source} (set daemon.state_dir)", path.display())]
    Open { path: PathBuf, source: Arc<std::io::Error> },
    #[error("cannot start the audit writer: {0}")]
    Start(Arc<std::io::Error>),
    #[error("cannot read the audit log {}: {source}", path.display())]
    Read { path: PathBuf, source: Arc<std::io::Error> },
    #[error("cannot write the audit log {}: {source}", path.display())]
    Write { path: PathBuf, source: Arc<std::io::Error> },
    /// A line that would not serialize (never for our own types).
    #[error("{0}")]
    Encode(Arc<serde_json::Error>),
    #[error("the audit writer has stopped")]
    Stopped,
}

impl AuditError {
    fn read(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
        move |e| AuditError::Read {
            path: path.to_path_buf(),
            source: Arc::new(e),
        }
    }
}

/// One line to chain and write.
pub enum Line {
    Entry(serde_json::Value),
    /// A signed checkpoint of the chain's head for `portal` at `ts`.
    Checkpoint {
        portal: String,
        ts: String,
    },
}

/// The audit log. One writer thread owns the file and commits in groups: it takes
/// every line that is waiting, writes them, calls `fsync` once, and only then answers
/// each caller. A caller therefore still returns only when its own line is on disk,
/// but a fleet of portals shares the cost of the `fsync`s instead of queueing for one
/// each.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    lines: std::sync::mpsc::Sender<Pending>,
    /// The key that signs checkpoints, when `evidence.signing_key_file` is set.
    signer: Arc<std::sync::RwLock<Option<crate::evidence::Signer>>>,
    /// The chain's head after this process's last write.
    head: Arc<std::sync::Mutex<Option<crate::evidence::Head>>>,
}

impl AuditLog {
    /// Opens an audit log at an exact path, for appending. `give_to`: root acting for
    /// the state directory's owner, who gets the file (the first one and any made
    /// again after a rotation), which is then never opened through a symbolic link.
    pub fn open_file(path: &Path, give_to: Option<(u32, u32)>) -> Result<Arc<Self>, AuditError> {
        let shown_err = |e: std::io::Error| AuditError::Open {
            path: path.to_path_buf(),
            source: Arc::new(e),
        };
        // A line a crash cut short is ended (and named) by the next write, under the
        // file's lock: readers pass over it meanwhile.
        let file = open_append(path, give_to).map_err(shown_err)?;
        let (lines, queue) = std::sync::mpsc::channel::<Pending>();
        let at = path.to_path_buf();
        let signer: Arc<std::sync::RwLock<Option<crate::evidence::Signer>>> = Arc::default();
        let head: Arc<std::sync::Mutex<Option<crate::evidence::Head>>> = Arc::default();
        let writer = Writer {
            path: at,
            give_to,
            signer: Arc::clone(&signer),
            head: Arc::clone(&head),
            torn: None,
        };
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(file, queue))
            .map_err(|e| AuditError::Start(Arc::new(e)))?;
        Ok(Arc::new(AuditLog {
            path: path.to_path_buf(),
            lines,
            signer,
            head,
        }))
    }

    /// The chain's head after this process's last write (`None` before one).
    pub fn head(&self) -> Option<crate::evidence::Head> {
        self.head
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Signs a checkpoint at the end of every pass from now on (`None`: none).
    pub fn set_signer(&self, signer: Option<crate::evidence::Signer>) {
        *self.signer.write().unwrap_or_else(std::sync::PoisonError::into_inner) = signer;
    }

    /// Whether checkpoints are signed.
    pub fn signs(&self) -> bool {
        self.signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next line will start: the file (its inode) and its length now.
    /// A log rotated away (logrotate's `nocreate`) and not written since is an empty
    /// file to come: the next line makes it.
    pub fn end(&self) -> Result<(u64, u64), AuditError> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok((m.ino(), m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, 0)),
            Err(e) => Err(AuditError::read(&self.path)(e)),
        }
    }

    /// `portal`'s lines of a batch begun at byte `offset` of the file `inode`, at
    /// `since`, in order. A line cut at `offset` (another process was writing) is
    /// skipped; lines that are not audit entries are ignored.
    ///
    /// The log may have been rotated since the batch began (logrotate renames it, or
    /// copies and truncates it): then the batch's first lines are in a rotated file
    /// beside it. So, when the batch's time is known, every uncompressed rotated file
    /// written since it is read too, and only lines from `since` on are kept (a line in
    /// two files counts once): interrupted changes are settled across a rotation.
    pub fn lines_since(
        &self,
        inode: Option<u64>,
        offset: u64,
        since: Option<DateTime<Utc>>,
        portal: &str,
    ) -> Result<Vec<AuditEntry>, AuditError> {
        let shown = |e: std::io::Error| AuditError::read(&self.path)(e);
        let (ino, len) = self.end()?;
        let unmoved = inode.is_none_or(|i| i == ino) && offset <= len;
        let Some(since) = since else {
            // A mark from before batches carried their time: the offset alone.
            return read_lines(&self.path, if unmoved { offset } else { 0 }, portal).map_err(shown);
        };
        // The log itself is read whole: copied, truncated and grown again past the
        // mark, its bytes below the mark are the batch's too.
        let mut files = self.rotated_since(since);
        files.push((self.path.clone(), 0));
        let mut seen = std::collections::HashSet::new();
        let mut entries = Vec::new();
        for (path, start) in files {
            for entry in read_lines(&path, start, portal).map_err(shown)? {
                let at = DateTime::parse_from_rfc3339(&entry.ts).map(|t| t.with_timezone(&Utc));
                if at.is_ok_and(|t| t >= since) && seen.insert(serde_json::to_string(&entry).unwrap_or_default()) {
                    entries.push(entry);
                }
            }
        }
        Ok(entries)
    }

    /// The uncompressed rotated files beside the log (`audit.jsonl.1`,
    /// `audit.jsonl-20261204`) written at or after `since`, oldest first, each from its
    /// start.
    fn rotated_since(&self, since: DateTime<Utc>) -> Vec<(PathBuf, u64)> {
        crate::evidence::chain::rotated_beside(&self.path)
            .into_iter()
            .filter(|(modified, _)| DateTime::<Utc>::from(*modified) >= since)
            .map(|(_, path)| (path, 0))
            .collect()
    }

    /// Appends lines (in order, together) and waits until they are on disk. For lines
    /// with no action between them, such as the results settled by one verification.
    pub async fn record_all(self: &Arc<Self>, entries: Vec<AuditEntry>) -> Result<(), AuditError> {
        let lines = entries
            .iter()
            .map(|e| {
                serde_json::to_value(e)
                    .map(Line::Entry)
                    .map_err(|e| AuditError::Encode(Arc::new(e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write(lines).await
    }

    /// Appends a pass's summary (`"phase": "pass"`), then, with a signing key, a
    /// checkpoint that signs the chain's head: the end of a pass.
    pub async fn record_pass(self: &Arc<Self>, summary: serde_json::Value) -> Result<(), AuditError> {
        let portal = summary
            .get("portal")
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string();
        let mut lines = vec![Line::Entry(summary)];
        if self.signs() {
            lines.push(Line::Checkpoint {
                portal,
                ts: rfc3339(Utc::now()),
            });
        }
        self.write(lines).await
    }

    async fn write(&self, lines: Vec<Line>) -> Result<(), AuditError> {
        if lines.is_empty() {
            return Ok(());
        }
        let (done, written) = tokio::sync::oneshot::channel();
        self.lines.send((lines, done)).map_err(|_| AuditError::Stopped)?;
        written.await.map_err(|_| AuditError::Stopped)?
    }
}

#[cfg(test)]
mod tests;
