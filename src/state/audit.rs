//! The audit log (docs/reference.md, "Audit log"): `<state_dir>/audit.jsonl`, one JSON object per line,
//! append-only, each line on disk (`fsync`) before the next action starts.
//!
//! An intent line is written before every change and a result line after it, so a
//! crash between the two leaves a visible "we tried" in the log. If the log cannot be
//! written, the change is not made: callers stop on an error from [`AuditLog::record`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::rfc3339;

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
type Pending = (Vec<Line>, tokio::sync::oneshot::Sender<Result<(), String>>);

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
    /// Opens (creating the directory and file if needed) `<state_dir>/audit.jsonl`.
    pub fn open(state_dir: &Path) -> Result<Arc<Self>, String> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            format!(
                "cannot create the state directory {}: {e} (set daemon.state_dir)",
                state_dir.display()
            )
        })?;
        Self::open_file(&state_dir.join(AUDIT_FILE), None)
    }

    /// Opens an audit log at an exact path, for appending. `give_to`: root acting for
    /// the state directory's owner, who gets the file (the first one and any made
    /// again after a rotation), which is then never opened through a symbolic link.
    pub fn open_file(path: &Path, give_to: Option<(u32, u32)>) -> Result<Arc<Self>, String> {
        let shown_err = |e: std::io::Error| {
            format!(
                "cannot open the audit log {}: {e} (set daemon.state_dir)",
                path.display()
            )
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
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
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
    pub fn end(&self) -> Result<(u64, u64), String> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok((m.ino(), m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, 0)),
            Err(e) => Err(format!("cannot read the audit log {}: {e}", self.path.display())),
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
    ) -> Result<Vec<AuditEntry>, String> {
        let shown = |e: std::io::Error| format!("cannot read the audit log {}: {e}", self.path.display());
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

    /// Appends one line and waits until it is on disk.
    pub async fn record(self: &Arc<Self>, entry: AuditEntry) -> Result<(), String> {
        self.record_all(vec![entry]).await
    }

    /// Appends lines (in order, together) and waits until they are on disk. For lines
    /// with no action between them, such as the results settled by one verification.
    pub async fn record_all(self: &Arc<Self>, entries: Vec<AuditEntry>) -> Result<(), String> {
        let lines = entries
            .iter()
            .map(|e| serde_json::to_value(e).map(Line::Entry).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(lines).await
    }

    /// Appends a pass's summary (`"phase": "pass"`), then, with a signing key, a
    /// checkpoint that signs the chain's head: the end of a pass.
    pub async fn record_pass(self: &Arc<Self>, summary: serde_json::Value) -> Result<(), String> {
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

    async fn write(&self, lines: Vec<Line>) -> Result<(), String> {
        if lines.is_empty() {
            return Ok(());
        }
        let (done, written) = tokio::sync::oneshot::channel();
        self.lines
            .send((lines, done))
            .map_err(|_| "the audit writer has stopped".to_string())?;
        written.await.map_err(|_| "the audit writer has stopped".to_string())?
    }
}

/// The file at `path` now, when the log was rotated by renaming it (logrotate without
/// `copytruncate`): lines always go where readers look for them. `inode` is the open
/// file's (one `stat` of the path per group, none of the open file).
fn follow_rename(file: &mut File, inode: &mut u64, path: &Path, give_to: Option<(u32, u32)>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) if m.ino() == *inode => Ok(()),
        _ => {
            *file = open_append(path, give_to)?;
            *inode = file.metadata()?.ino();
            Ok(())
        }
    }
}

/// The log opened for appending (made if missing). For root acting in a directory it
/// does not own (`give_to`), never through a symbolic link, and given to that owner.
fn open_append(path: &Path, give_to: Option<(u32, u32)>) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let no_follow = match give_to {
        Some(_) => rustix::fs::OFlags::NOFOLLOW.bits() as i32,
        None => 0,
    };
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .custom_flags(no_follow)
        .open(path)?;
    if let Some((uid, gid)) = give_to {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    Ok(file)
}

/// Ends a last line that has no newline (a write cut short); returns the SHA-256 of
/// the cut line's bytes, which the next chained line names (`torn`): the chain goes on
/// across it, and a line inserted later could not pass for one.
fn end_torn_line(mut file: &File) -> std::io::Result<Option<String>> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let window = len.min(1 << 20);
    file.seek(SeekFrom::Start(len - window))?;
    let mut tail = Vec::with_capacity(window as usize);
    file.take(window).read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(None);
    }
    let cut = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => &tail[i + 1..],
        None => &tail[..],
    };
    // A whole line that lost only its newline is a line, not a cut one.
    let whole = serde_json::from_slice::<serde_json::Value>(cut).is_ok();
    let hash = hex::encode(sha2::Sha256::digest(cut));
    file.write_all(b"\n")?;
    file.sync_data()?;
    Ok((!whole).then_some(hash))
}

/// `portal`'s entries in the file at `path` from byte `offset` on; a line cut at
/// `offset` (another process was writing) is skipped, lines that are not audit entries
/// are ignored.
fn read_lines(path: &Path, offset: u64, portal: &str) -> std::io::Result<Vec<AuditEntry>> {
    use std::io::{BufRead, Read, Seek, SeekFrom};
    // A log rotated away and not written since holds nothing yet.
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let start = offset.min(file.metadata()?.len());
    let mut cut = false;
    if start > 0 {
        file.seek(SeekFrom::Start(start - 1))?;
        let mut before = [0u8];
        file.read_exact(&mut before)?;
        cut = before[0] != b'\n';
    }
    let mut reader = std::io::BufReader::new(file);
    let mut entries = Vec::new();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if std::mem::take(&mut first) && cut {
            continue;
        }
        if let Ok(entry) = serde_json::from_slice::<AuditEntry>(&line)
            && entry.portal == portal
        {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// The writer thread's state: where it writes, and what it carries from one group to
/// the next.
struct Writer {
    path: PathBuf,
    give_to: Option<(u32, u32)>,
    signer: Arc<std::sync::RwLock<Option<crate::evidence::Signer>>>,
    head: Arc<std::sync::Mutex<Option<crate::evidence::Head>>>,
    /// The hash of a line cut short, which the next chained line names.
    torn: Option<String>,
}

impl Writer {
    /// Blocks for one group, takes all others already waiting, chains and writes them
    /// in one go under the file's lock, `fsync`s once, answers everyone.
    fn run(mut self, mut file: File, queue: std::sync::mpsc::Receiver<Pending>) {
        use std::os::unix::fs::MetadataExt;
        let mut buffer = Vec::new();
        let mut waiting = Vec::new();
        // 0 is no inode: a failed stat makes the first group reopen the path.
        let mut inode = file.metadata().map_or(0, |m| m.ino());
        while let Ok(first) = queue.recv() {
            buffer.clear();
            waiting.clear();
            let mut groups = Vec::new();
            for (lines, done) in std::iter::once(first).chain(queue.try_iter()) {
                groups.push(lines);
                waiting.push(done);
            }
            let result = self
                .write_group(&mut file, &mut inode, &groups, &mut buffer)
                .map_err(|e| format!("cannot write the audit log {}: {e}", self.path.display()));
            for done in waiting.drain(..) {
                let _ = done.send(result.clone());
            }
        }
    }

    fn write_group(
        &mut self,
        file: &mut File,
        inode: &mut u64,
        groups: &[Vec<Line>],
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        // Lock the file the path names now: a rename between the two is followed.
        let mut tries = 0;
        let _locked = loop {
            follow_rename(file, inode, &self.path, self.give_to)?;
            let locked = Flocked::exclusive(file)?;
            use std::os::unix::fs::MetadataExt;
            let same = std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == *inode);
            tries += 1;
            if same || tries >= 3 {
                break locked;
            }
        };
        let mut file: &File = file;
        // A line cut short (a crash, a group that failed on a full disk) is ended under
        // the lock, by whoever writes next, so it never glues onto the next line, and
        // the next line names it.
        if let Some(torn) = end_torn_line(file)? {
            self.torn = Some(torn);
        }
        // The chain's head: the file's (another process may have written since), the
        // rotated file's when the log is new, and never behind what this process wrote
        // itself (a log cut or removed under it shows as a gap, not as a new chain).
        let on_file = crate::evidence::chain::head_of(file)?.or_else(|| {
            let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(false);
            if empty {
                crate::evidence::chain::head_before(&self.path)
            } else {
                None
            }
        });
        let mine = self
            .head
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut head = match (on_file, mine) {
            (Some(f), Some(m)) if m.seq > f.seq => {
                tracing::error!(
                    log = %self.path.display(),
                    file_seq = f.seq,
                    written_seq = m.seq,
                    "the audit log ends before lines this process wrote: it was cut or replaced; the chain goes on \
                     from the last line written, so the gap shows"
                );
                m
            }
            (None, Some(m)) => m,
            (f, _) => f.unwrap_or_default(),
        };
        let signer = self
            .signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for line in groups.iter().flatten() {
            let mut value = match line {
                Line::Entry(v) => v.clone(),
                Line::Checkpoint { portal, ts } => match &signer {
                    Some(signer) => signer.checkpoint(&head, ts, portal),
                    None => continue,
                },
            };
            if let Some(torn) = self.torn.take()
                && let Some(map) = value.as_object_mut()
            {
                map.insert("torn".into(), serde_json::Value::from(torn));
            }
            buffer.extend_from_slice(&crate::evidence::chain::link(value, &mut head));
            buffer.push(b'\n');
        }
        file.write_all(buffer)?;
        file.sync_data()?;
        *self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(head);
        Ok(())
    }
}

/// How long a write waits for another process's lock on the log.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An exclusive `flock` on the open log, released when dropped.
struct Flocked<'a>(&'a File);

impl<'a> Flocked<'a> {
    /// Waits at most `LOCK_WAIT` for the lock: a process that holds it and hangs makes
    /// this write fail (and so stops the changes waiting on it), never hang.
    fn exclusive(file: &'a File) -> std::io::Result<Self> {
        let until = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Flocked(file)),
                Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(std::io::Error::other(format!(
                        "another process has held the audit log's lock for {}s",
                        LOCK_WAIT.as_secs()
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Flocked<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(portal: &str, id: &str) -> AuditEntry {
        AuditEntry::intent(portal, AuditAction::DeleteBackup, false).backup(id, None, None, Vec::new())
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ended_before_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        std::fs::write(&path, b"{\"ts\":\"2026-11-22T10:00:00Z\",\"portal\":\"ac").unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let (inode, end) = log.end().unwrap();
        log.record(intent("acme", "b1")).await.unwrap();
        let lines = log.lines_since(Some(inode), end, None, "acme").unwrap();
        assert_eq!(lines.len(), 1, "the intent after a torn line is found");
        assert_eq!(lines[0].backup_id.as_deref(), Some("b1"));
    }

    #[tokio::test]
    async fn the_writer_follows_a_rotation_and_readers_read_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(dir.path()).unwrap();
        log.record(intent("acme", "old")).await.unwrap();
        let (inode, end) = log.end().unwrap();
        std::fs::rename(&path, dir.path().join("audit.jsonl.1")).unwrap();
        log.record(intent("acme", "new")).await.unwrap();
        // The line went to the file at the path, and a mark from before the rotation
        // makes readers read the whole new file.
        let lines = log.lines_since(Some(inode), end, None, "acme").unwrap();
        let ids: Vec<_> = lines.iter().filter_map(|l| l.backup_id.as_deref()).collect();
        assert_eq!(ids, ["new"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("audit.jsonl.1"))
                .unwrap()
                .lines()
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn a_batch_begun_before_a_rotation_is_read_across_it() {
        let ids = |lines: Vec<AuditEntry>| -> Vec<String> { lines.into_iter().filter_map(|l| l.backup_id).collect() };
        let at = |ts: &str| DateTime::parse_from_rfc3339(ts).unwrap().with_timezone(&Utc);
        let stamped = |id: &str, ts: &str| {
            let mut e = intent("acme", id);
            e.ts = ts.to_string();
            e
        };
        for copytruncate in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(AUDIT_FILE);
            let log = AuditLog::open(dir.path()).unwrap();
            log.record(stamped("before", "2026-12-04T10:00:00Z")).await.unwrap();
            let (inode, end) = log.end().unwrap();
            log.record(stamped("b1", "2026-12-04T10:00:05Z")).await.unwrap();
            let rotated = dir.path().join("audit.jsonl-20261204");
            if copytruncate {
                std::fs::copy(&path, &rotated).unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            } else {
                std::fs::rename(&path, &rotated).unwrap();
            }
            log.record(stamped("b2", "2026-12-04T10:00:06Z")).await.unwrap();
            let since = Some(at("2026-12-04T10:00:05Z"));
            assert_eq!(
                ids(log.lines_since(Some(inode), end, since, "acme").unwrap()),
                ["b1", "b2"],
                "copytruncate {copytruncate}"
            );
            // Not yet truncated: the copy and the log hold the same lines, read once.
            if copytruncate {
                std::fs::copy(&path, dir.path().join("audit.jsonl.1")).unwrap();
                assert_eq!(
                    ids(log.lines_since(Some(inode), end, since, "acme").unwrap()),
                    ["b1", "b2"]
                );
            }
        }
    }

    /// logrotate's `nocreate`: the log is gone until the next line makes it again. A
    /// batch begun then still has an end to mark and lines to find.
    #[tokio::test]
    async fn a_log_rotated_away_is_an_empty_log_to_come() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(dir.path()).unwrap();
        log.record(intent("acme", "old")).await.unwrap();
        std::fs::rename(&path, dir.path().join("audit.jsonl-20261201")).unwrap();
        assert_eq!(log.end().unwrap(), (0, 0));
        let since = Utc::now() - chrono::TimeDelta::seconds(1);
        log.record(intent("acme", "new")).await.unwrap();
        assert!(path.exists(), "the next line made it again");
        let ids: Vec<String> = log
            .lines_since(Some(0), 0, Some(since), "acme")
            .unwrap()
            .into_iter()
            .filter_map(|l| l.backup_id)
            .collect();
        assert_eq!(ids, ["old", "new"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_all_land_whole_and_in_order_per_writer() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for portal in 0..8 {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let entry = AuditEntry::intent(&format!("p{portal}"), AuditAction::DeleteBackup, false)
                        .reasons(vec![i.to_string()]);
                    log.record(entry).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 400);
        for portal in 0..8 {
            let seq: Vec<String> = lines
                .iter()
                .filter(|l| l["portal"] == format!("p{portal}"))
                .map(|l| l["reasons"][0].as_str().unwrap().to_string())
                .collect();
            assert_eq!(seq, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
        }
    }

    /// Two writers on one log (the daemon and `once`), a line cut by a crash between
    /// them, and a rotation: one chain, which verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_a_cut_line_and_a_rotation_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let (a, b) = (AuditLog::open(dir.path()).unwrap(), AuditLog::open(dir.path()).unwrap());
        for i in 0..20 {
            let log = if i % 3 == 0 { &a } else { &b };
            log.record(intent("acme", &format!("id-{i}"))).await.unwrap();
        }
        // A crash mid-line, then the other writer goes on.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"ts":"2026-12-04T10:00:00Z","portal":"ac"#)
            .unwrap();
        a.record(intent("acme", "after-the-cut")).await.unwrap();
        // logrotate renames the log (nocreate); the next line starts the new file.
        std::fs::rename(&path, dir.path().join("audit.jsonl-20261204")).unwrap();
        b.record(intent("acme", "after-the-rotation")).await.unwrap();
        let files = crate::evidence::chain_files(&path);
        assert_eq!(files.len(), 2);
        let v = crate::evidence::verify(&files, &[]).unwrap();
        assert_eq!((v.lines, v.torn), (22, 1), "{v:?}");
        assert_eq!(v.last.unwrap().seq, 22);
    }
}
