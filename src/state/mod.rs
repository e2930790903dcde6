//! What the product keeps in `daemon.state_dir` (docs/reference.md, "State"): the
//! audit log (`audit.jsonl`), the per-portal locks (`locks/`), and the state database
//! (`state.db`, `db`) with what is remembered of each portal between passes (`memory`).

pub mod audit;
mod db;
pub mod lock;
mod memory;
mod observed;
mod owner;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state::audit::AuditLog;
use crate::state::lock::{LockError, PortalLock};
pub use db::{SCHEMA_VERSION, STATE_FILE, StateDb, StateDbError};
pub use memory::{MemoryNews, PortalMemory, RememberedSchedule};
pub use observed::{
    Gone, HealthMemory, HealthUpdate, KeyState, LEFT_DELETED, LEFT_EXPIRED, LEFT_VANISHED, Observation, observe,
};

#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    audit: Arc<AuditLog>,
    db: Option<Arc<StateDb>>,
    /// The tenants this process's portals were identified as (one portal, one
    /// definition, whatever the URL says).
    tenants: crate::identity::Tenants,
    /// Who the files made here belong to.
    owner: owner::Owner,
}

/// Whether the state database may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Passes that delete: the database is created and migrated if needed.
    Write,
    /// Dry runs only: an existing database is read, none is created or changed.
    Read,
    /// Operator commands: they change a portal, not what is remembered of it.
    None,
}

impl StateDir {
    /// Opens the state directory (creating it), its audit log and its database.
    pub fn open(path: &Path, access: Access) -> Result<Arc<StateDir>, String> {
        std::fs::create_dir_all(path).map_err(|e| {
            format!(
                "cannot create the state directory {}: {e} (set daemon.state_dir)",
                path.display()
            )
        })?;
        // Whose directory it is, before anything is made in it.
        let owner = owner::Owner::of(path)?;
        for name in [
            crate::state::audit::AUDIT_FILE,
            STATE_FILE,
            "state.db-wal",
            "state.db-shm",
            "locks",
        ] {
            owner.no_symlink(&path.join(name))?;
        }
        let audit = AuditLog::open_file(&path.join(crate::state::audit::AUDIT_FILE), owner.give_to())
            .map_err(|e| e.to_string())?;
        let file = path.join(STATE_FILE);
        let db = match access {
            Access::Write => Some(StateDb::open(&file).map_err(|e| e.to_string())?),
            Access::Read => StateDb::open_read_only(&file).map_err(|e| e.to_string())?,
            Access::None => None,
        };
        if db.is_some() {
            for suffix in ["", "-wal", "-shm"] {
                owner.adopt(&path.join(format!("{STATE_FILE}{suffix}")))?;
            }
        }
        Ok(Arc::new(StateDir {
            path: path.to_path_buf(),
            audit,
            db: db.map(Arc::new),
            tenants: crate::identity::Tenants::default(),
            owner,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// The tenants the portals of this process were identified as.
    pub fn tenants(&self) -> &crate::identity::Tenants {
        &self.tenants
    }

    /// Takes the lock of `portal` (never waits); the lock file and its directory
    /// belong to the state directory's owner.
    pub fn lock(&self, portal: &str) -> Result<PortalLock, LockError> {
        let locks = self.path.join("locks");
        self.owner
            .no_symlink(&crate::state::lock::lock_path(&locks, portal))
            .map_err(LockError::Owner)?;
        let lock = PortalLock::try_acquire(&locks, portal)?;
        self.owner.adopt(&locks).map_err(LockError::Owner)?;
        self.owner.adopt(lock.path()).map_err(LockError::Owner)?;
        Ok(lock)
    }

    /// What is remembered of `portal` (read off the async threads: another process
    /// may hold the database for a moment).
    pub async fn memory(&self, portal: &str) -> Result<PortalMemory, StateDbError> {
        let Some(db) = self.db.clone() else {
            return Ok(PortalMemory::default());
        };
        let portal = portal.to_string();
        tokio::task::spawn_blocking(move || db.load(&portal))
            .await
            .map_err(StateDbError::task("reading"))?
    }

    /// Remembers `memory` for `portal`.
    pub async fn remember(&self, portal: &str, memory: PortalMemory) -> Result<(), StateDbError> {
        let Some(db) = self.db.clone() else {
            return Err(StateDbError::ReadOnly {
                path: self.path.join(STATE_FILE),
            });
        };
        let portal = portal.to_string();
        tokio::task::spawn_blocking(move || db.save(&portal, &memory))
            .await
            .map_err(StateDbError::task("writing"))?
    }
}

impl StateDir {
    /// The health sentinel's memory of `portal` (nothing without a database).
    pub async fn health_memory(
        &self,
        portal: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<HealthMemory, StateDbError> {
        let Some(db) = self.db.clone() else {
            return Ok(HealthMemory::default());
        };
        let portal = portal.to_string();
        tokio::task::spawn_blocking(move || db.load_health(&portal, now))
            .await
            .map_err(StateDbError::task("reading"))?
    }

    /// Stores what a pass saw for the sentinel; `false` when there is no database to
    /// write (a read-only one: dry runs).
    pub async fn remember_health(
        &self,
        portal: &str,
        update: HealthUpdate,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StateDbError> {
        let Some(db) = self.db.clone().filter(|db| db.writable()) else {
            return Ok(false);
        };
        let portal = portal.to_string();
        tokio::task::spawn_blocking(move || db.save_health(&portal, &update, now))
            .await
            .map_err(StateDbError::task("writing"))?
            .map(|()| true)
    }

    /// How many backups of `portal` each pass since `since` deleted (for the page);
    /// `None` without a state database or when it cannot be read.
    pub async fn deletions_by_pass(
        &self,
        portal: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<Vec<(chrono::DateTime<chrono::Utc>, u32)>> {
        let db = self.db.clone()?;
        let portal = portal.to_string();
        tokio::task::spawn_blocking(move || db.deletions_by_pass(&portal, since))
            .await
            .ok()?
            .ok()
    }

    /// Notes the deletions a batch is about to send (see [`StateDb::intend`]); without
    /// a writable database there is nothing to note.
    pub fn intend(&self, portal: &str, ids: &[crate::wire::BackupId]) -> Result<(), StateDbError> {
        match self.db.as_ref().filter(|db| db.writable()) {
            Some(db) => db.intend(portal, ids, chrono::Utc::now()),
            None => Ok(()),
        }
    }
}

/// Reads the state database of `state_dir` without creating or changing anything
/// (for `plan`): `None` when there is none yet.
pub fn read_only(state_dir: &Path) -> Result<Option<StateDb>, String> {
    let db = StateDb::open_read_only(&state_dir.join(STATE_FILE)).map_err(|e| e.to_string())?;
    // Reading a WAL database may create its -shm and -wal files: root gives them to
    // the directory's owner (a user who is not the owner creates nothing here).
    if db.is_some()
        && let Ok(owner) = owner::Owner::of(state_dir)
    {
        for suffix in ["-wal", "-shm"] {
            owner.adopt(&state_dir.join(format!("{STATE_FILE}{suffix}")))?;
        }
    }
    Ok(db)
}
