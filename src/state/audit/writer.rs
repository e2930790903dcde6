//! The writer of the audit log: appends under the file's lock (waited for at most
//! [`LOCK_WAIT`]), follows a rotation, ends a line a crash cut, and chains and signs
//! every line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

/// The file at `path` now, when the log was rotated by renaming it (logrotate without
/// `copytruncate`): lines always go where readers look for them. `inode` is the open
/// file's (one `stat` of the path per group, none of the open file).
pub(super) fn follow_rename(
    file: &mut File,
    inode: &mut u64,
    path: &Path,
    give_to: Option<(u32, u32)>,
) -> std::io::Result<()> {
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
pub(super) fn open_append(path: &Path, give_to: Option<(u32, u32)>) -> std::io::Result<File> {
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
pub(super) fn end_torn_line(mut file: &File, tail: &crate::evidence::chain::Tail) -> std::io::Result<Option<String>> {
    use sha2::Digest;
    let Some(cut) = tail.unended() else {
        return Ok(None);
    };
    // A whole line that lost only its newline is a line, not a cut one.
    let whole = serde_json::from_slice::<serde_json::Value>(cut).is_ok();
    let hash = hex::encode(sha2::Sha256::digest(cut));
    file.write_all(b"\n")?;
    file.sync_data()?;
    Ok((!whole).then_some(hash))
}

/// The writer thread's state: where it writes, and what it carries from one group to
/// the next.
pub(super) struct Writer {
    pub(super) path: PathBuf,
    pub(super) give_to: Option<(u32, u32)>,
    pub(super) signer: Arc<std::sync::RwLock<Option<crate::evidence::Signer>>>,
    pub(super) head: Arc<std::sync::Mutex<Option<crate::evidence::Head>>>,
    /// The hash of a line cut short, which the next chained line names.
    pub(super) torn: Option<String>,
}

impl Writer {
    /// Blocks for one group, takes all others already waiting, chains and writes them
    /// in one go under the file's lock, `fsync`s once, answers everyone.
    pub(super) fn run(mut self, mut file: File, queue: std::sync::mpsc::Receiver<Pending>) {
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
                .map_err(|e| AuditError::Write {
                    path: self.path.clone(),
                    source: Arc::new(e),
                });
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
        // The log's end is read once, for both.
        let tail = crate::evidence::chain::Tail::read(file)?;
        if let Some(torn) = end_torn_line(file, &tail)? {
            self.torn = Some(torn);
        }
        // The chain's head: the file's (another process may have written since), the
        // rotated file's when the log is new, and never behind what this process wrote
        // itself (a log cut or removed under it shows as a gap, not as a new chain).
        let on_file = tail.head().or_else(|| match tail.len {
            0 => crate::evidence::chain::head_before(&self.path),
            _ => None,
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
pub(super) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An exclusive `flock` on the open log, released when dropped.
pub(super) struct Flocked<'a>(&'a File);

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
