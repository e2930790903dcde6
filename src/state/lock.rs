//! One writer per portal (docs/reference.md, "Gates"): every pass and every operator
//! change holds an exclusive `flock` on `<state_dir>/locks/<portal>.lock`, across
//! processes (the daemon, `once`, operator commands, a second daemon by mistake).
//! The lock is never waited for: whoever finds it taken stops.
//!
//! The lock file also carries the one piece of state that must survive a crash
//! between a DELETE and the read that settles it: where in the audit log the
//! unfinished batch of changes begins (the [`Batch`] mark). Only the holder of the
//! lock reads or writes it.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An open batch of changes: its intents start at `audit_offset` in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The audit log's inode when the batch began (a rotated log is another file).
    #[serde(default)]
    pub audit_inode: Option<u64>,
    pub audit_offset: u64,
    /// When the batch began, in Unix seconds (before its first intent): its lines
    /// are found by time in a rotated log too.
    #[serde(default)]
    pub since: Option<i64>,
    /// The batch changed the on-premise dump, not the portal.
    pub dump: bool,
}

/// Why a lock could not be taken, or its batch mark read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or pass) holds it.
    #[error("locked by another process")]
    Busy,
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the lock file {} is damaged ({source}): remove it once no process runs", path.display())]
    Damaged { path: PathBuf, source: serde_json::Error },
    /// A root command could not hand the lock file to the state directory's owner,
    /// or found a symbolic link where it goes (`state::owner`).
    #[error("{0}")]
    Owner(String),
}

/// The exclusive lock of one portal, released when dropped.
#[derive(Debug)]
pub struct PortalLock {
    file: File,
    path: PathBuf,
}

/// The lock file's name for a portal: config names are `[a-z0-9_-]+`; an ad-hoc
/// target's host keeps only such characters.
pub fn lock_path(dir: &Path, portal: &str) -> PathBuf {
    let name: String = portal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.lock"))
}

impl PortalLock {
    /// Takes the lock of `portal` in `dir`, or answers [`LockError::Busy`] at once.
    pub fn try_acquire(dir: &Path, portal: &str) -> Result<PortalLock, LockError> {
        let io = |source: std::io::Error, what: &'static str, path: &Path| LockError::Io {
            what,
            path: path.to_path_buf(),
            source,
        };
        let path = lock_path(dir, portal);
        // Neither the directory nor the file through a symbolic link: a root command in
        // a state directory someone else owns must not be led to one of root's files.
        let open = || -> std::io::Result<File> {
            use rustix::fs::{Mode, OFlags};
            let locks = rustix::fs::open(
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let name = path.file_name().unwrap_or_default();
            let fd = rustix::fs::openat(
                &locks,
                name,
                OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )?;
            Ok(File::from(fd))
        };
        // The directory is made by the first lock taken (and again if it was removed).
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| io(e, "cannot create the lock directory", dir))?;
                open()
            }
            other => other,
        }
        .map_err(|e| io(e, "cannot open the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(PortalLock { file, path }),
            Err(TryLockError::WouldBlock) => Err(LockError::Busy),
            Err(TryLockError::Error(e)) => Err(io(e, "cannot lock", &path)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open batch an earlier holder left behind, if any.
    pub fn batch(&self) -> Result<Option<Batch>, LockError> {
        let mut text = String::new();
        (&self.file)
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).read_to_string(&mut text))
            .map_err(|e| self.io("cannot read the lock file", e))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| LockError::Damaged {
                path: self.path.clone(),
                source,
            })
    }

    /// Marks a batch open, on disk before the first of its changes is sent.
    pub fn open_batch(&self, batch: Batch) -> Result<(), LockError> {
        let text = serde_json::to_vec(&batch).expect("a plain struct serializes");
        self.rewrite(&text)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.io("cannot write the lock file", e))
    }

    /// Marks the batch settled (every result line is on disk).
    pub fn close_batch(&self) -> Result<(), LockError> {
        self.file
            .set_len(0)
            .map_err(|e| self.io("cannot write the lock file", e))
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> LockError {
        LockError::Io {
            what,
            path: self.path.clone(),
            source,
        }
    }

    fn rewrite(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.set_len(0)?;
        (&self.file).seek(SeekFrom::Start(0))?;
        (&self.file).write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = PortalLock::try_acquire(dir.path(), "acme").unwrap();
        assert!(matches!(
            PortalLock::try_acquire(dir.path(), "acme"),
            Err(LockError::Busy)
        ));
        assert!(PortalLock::try_acquire(dir.path(), "beta").is_ok());
        drop(first);
        assert!(PortalLock::try_acquire(dir.path(), "acme").is_ok());
    }

    #[test]
    fn the_batch_mark_survives_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = PortalLock::try_acquire(dir.path(), "acme").unwrap();
        assert_eq!(lock.batch().unwrap(), None);
        let batch = Batch {
            audit_inode: Some(7),
            audit_offset: 1234,
            since: None,
            dump: false,
        };
        lock.open_batch(batch).unwrap();
        drop(lock);
        let lock = PortalLock::try_acquire(dir.path(), "acme").unwrap();
        assert_eq!(lock.batch().unwrap(), Some(batch));
        lock.close_batch().unwrap();
        assert_eq!(lock.batch().unwrap(), None);
        assert_eq!(lock_path(dir.path(), "[::1]").file_name().unwrap(), "___1_.lock");
    }

    #[test]
    fn the_lock_directory_is_made_when_missing_and_again_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("state").join("locks");
        drop(PortalLock::try_acquire(&locks, "acme").unwrap());
        assert!(locks.join("acme.lock").exists());
        std::fs::remove_dir_all(&locks).unwrap();
        let lock = PortalLock::try_acquire(&locks, "acme").unwrap();
        assert!(matches!(PortalLock::try_acquire(&locks, "acme"), Err(LockError::Busy)));
        drop(lock);
    }
}
