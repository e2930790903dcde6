//! What the product keeps in `daemon.state_dir`: the audit log (`audit.jsonl`) and
//! the per-portal locks (`locks/`). Every change to a portal is made with both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::lock::{LockError, PortalLock};

#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    audit: Arc<AuditLog>,
}

impl StateDir {
    /// Opens the state directory (creating it) and its audit log.
    pub fn open(path: &Path) -> Result<Arc<StateDir>, String> {
        let audit = AuditLog::open(path)?;
        Ok(Arc::new(StateDir {
            path: path.to_path_buf(),
            audit,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// Takes the lock of `portal` (never waits).
    pub fn lock(&self, portal: &str) -> Result<PortalLock, LockError> {
        PortalLock::try_acquire(&self.path.join("locks"), portal)
    }
}
