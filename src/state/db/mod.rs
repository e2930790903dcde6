//! The state database, `<state_dir>/state.db`: SQLite (bundled, so a fresh machine
//! needs nothing installed), WAL mode so that several processes (the daemon, `once`,
//! operator commands) share it, a busy timeout so that they wait for each other
//! instead of failing, and the schema version in `PRAGMA user_version`, migrated
//! forward at open. It is never recreated: a file that cannot be opened, is not a
//! database, or was written by a newer version is an error naming the file.
//!
//! The schema (docs/reference.md, "State"):
//!
//! - `portal`: one row per portal: the last schedule seen (`schedule_period`,
//!   `schedule_hour`, `schedule_day`, `schedule_backups_stored`, `schedule_seen_at`),
//!   `schedule_missing_since`, and the DocSpace `version` with `version_since`;
//! - `planned_deletion`: `(portal, backup_id, first_planned)` for every backup planned
//!   for deletion, for `delete_grace`;
//! - `observation`: `(portal, backup_id, first_seen, last_seen, created_on, started,
//!   expires_on, left_as, left_at)`: what passes saw of each backup and how it left
//!   (`intended`, `deleted`, `expired`, `vanished`); `last_seen` is written when it
//!   leaves (while it is there, `portal.health_seen_at`, the last pass that stored what
//!   it saw, says it was seen then: a pass changes only rows that change); and in `portal`, the health
//!   sentinel's `health_checked_until`, `health_slots` (the schedule's period, hour,
//!   day and zone) with `health_slots_since`, and the API key's `key_checked_at`,
//!   `key_expires_at`, `key_state`. Rows of backups that left more than
//!   `FORGET_AFTER` ago are dropped.
//!
//! Times are RFC 3339 text in UTC, so `sqlite3 state.db` shows them as they are.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::memory::{PortalMemory, RememberedSchedule};
use super::observed::{HealthMemory, HealthUpdate, KeyState, LEFT_DELETED, LEFT_INTENDED, Observation, RECALL};
use crate::calendar::rfc3339;
use crate::wire::{BackupId, Period, parse_time};

pub const STATE_FILE: &str = "state.db";

/// The forward migrations; schema version N is the first N of them.
const MIGRATIONS: &[&str] = &[
    // 1: what a portal's schedule was.
    "CREATE TABLE portal (
        name TEXT PRIMARY KEY,
        schedule_period TEXT,
        schedule_hour INTEGER,
        schedule_day INTEGER,
        schedule_backups_stored INTEGER,
        schedule_seen_at TEXT,
        schedule_missing_since TEXT
    ) STRICT;",
    // 2: the server's version, and when each backup was first planned for deletion.
    "ALTER TABLE portal ADD COLUMN version TEXT;
     ALTER TABLE portal ADD COLUMN version_since TEXT;
     CREATE TABLE planned_deletion (
        portal TEXT NOT NULL,
        backup_id TEXT NOT NULL,
        first_planned TEXT NOT NULL,
        PRIMARY KEY (portal, backup_id)
     ) STRICT, WITHOUT ROWID;",
    // 3: what passes saw of each backup (the health sentinel), and the API key's expiry.
    "CREATE TABLE observation (
        portal TEXT NOT NULL,
        backup_id TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        created_on TEXT,
        started TEXT,
        expires_on TEXT,
        left_as TEXT,
        left_at TEXT,
        PRIMARY KEY (portal, backup_id)
     ) STRICT, WITHOUT ROWID;
     ALTER TABLE portal ADD COLUMN health_checked_until TEXT;
     ALTER TABLE portal ADD COLUMN key_checked_at TEXT;
     ALTER TABLE portal ADD COLUMN key_expires_at TEXT;
     ALTER TABLE portal ADD COLUMN key_state TEXT;
     ALTER TABLE portal ADD COLUMN health_slots TEXT;
     ALTER TABLE portal ADD COLUMN health_slots_since TEXT;
     ALTER TABLE portal ADD COLUMN health_seen_at TEXT;",
];

/// How long what is known of a backup that left is kept.
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(400);

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// How long a process waits for another one's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct StateDb {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Opened for writing (not [`StateDb::open_read_only`]).
    writable: bool,
}

impl std::fmt::Debug for StateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateDb({})", self.path.display())
    }
}

/// Why the state database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("cannot open the state database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot read the state database {}: {source}", path.display())]
    Read { path: PathBuf, source: rusqlite::Error },
    #[error("cannot write the state database {}: {source}", path.display())]
    Write { path: PathBuf, source: rusqlite::Error },
    /// It is not a database this build can use (not WAL, another schema version, a
    /// migration that failed).
    #[error("{message}")]
    Unusable { path: PathBuf, message: String },
    /// Its schema version could not be read.
    #[error("the state database {}: {source}", path.display())]
    Schema { path: PathBuf, source: rusqlite::Error },
    /// A newer build wrote it: this one must not touch it.
    #[error(
        "the state database {}: schema version {version} was written by a newer build (this one knows \
         {SCHEMA_VERSION}); upgrade docspace-retention",
        path.display()
    )]
    Newer { path: PathBuf, version: usize },
    #[error("the state database {}: cannot migrate to schema version {to}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        to: usize,
        source: rusqlite::Error,
    },
    /// The blocking task that used it did not finish (a panic, a runtime going away).
    #[error("{what} the state database failed: {source}")]
    Task {
        what: &'static str,
        source: tokio::task::JoinError,
    },
    /// It was opened for reading only (`plan`, dry runs) and a write was asked for.
    #[error("the state database {} is open for reading only", path.display())]
    ReadOnly { path: PathBuf },
}

impl StateDbError {
    /// Damage no restart repairs: not a database, a corrupt file, a schema from a
    /// newer build (a busy or unreadable file may be fixed while systemd waits).
    /// Decided by SQLite's error code, never by words of the message (which names
    /// the path, and a path may hold any word).
    pub fn is_damage(&self) -> bool {
        match self {
            StateDbError::Open { source, .. }
            | StateDbError::Read { source, .. }
            | StateDbError::Write { source, .. }
            | StateDbError::Schema { source, .. }
            | StateDbError::Migrate { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ),
            StateDbError::Newer { .. } => true,
            StateDbError::Unusable { .. } | StateDbError::Task { .. } | StateDbError::ReadOnly { .. } => false,
        }
    }

    /// A failed blocking task that was `what` ("reading", "writing") the database.
    pub fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> StateDbError {
        move |source| StateDbError::Task { what, source }
    }
}

/// What a statement was doing when it failed.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

impl StateDb {
    /// Opens (creating it if missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb, StateDbError> {
        let err = |source| StateDbError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateDbError::Unusable {
                path: path.to_path_buf(),
                message: format!(
                    "cannot open the state database {}: it will not switch to WAL mode ({mode})",
                    path.display()
                ),
            });
        }
        // WAL with NORMAL sync: a power cut may lose the last commits, never the
        // database; losing a grace time or a version only makes the next pass wait.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        migrate(&conn, path)?;
        Ok(StateDb {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            writable: true,
        })
    }

    /// The error of a read or a write of this database.
    fn failed(&self, op: Op, source: rusqlite::Error) -> StateDbError {
        let path = self.path.clone();
        match op {
            Op::Read => StateDbError::Read { path, source },
            Op::Write => StateDbError::Write { path, source },
        }
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Opens an existing database for reading only (`plan`, dry runs): `None` when
    /// there is none yet.
    pub fn open_read_only(path: &Path) -> Result<Option<StateDb>, StateDbError> {
        if !path.exists() {
            return Ok(None);
        }
        let err = |source| StateDbError::Read {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        if version as usize != SCHEMA_VERSION {
            return Err(StateDbError::Unusable {
                path: path.to_path_buf(),
                message: format!(
                    "the state database {} has schema version {version}, this build reads {SCHEMA_VERSION}: \
                     let `run` or `once` migrate it first",
                    path.display()
                ),
            });
        }
        Ok(Some(StateDb {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            writable: false,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is remembered of `portal` (nothing, for a portal never seen).
    pub fn load(&self, portal: &str) -> Result<PortalMemory, StateDbError> {
        let err = |source| self.failed(Op::Read, source);
        let conn = self.conn.lock().expect("state database lock");
        let mut select = conn
            .prepare_cached(
                "SELECT schedule_period, schedule_hour, schedule_day, schedule_backups_stored, schedule_seen_at,
                        schedule_missing_since, version, version_since
                 FROM portal WHERE name = ?1",
            )
            .map_err(err)?;
        let mut memory = select
            .query_row([portal], |r| {
                let period: Option<String> = r.get(0)?;
                let seen_at: Option<String> = r.get(4)?;
                let schedule = match (period, seen_at.as_deref().and_then(time)) {
                    (Some(period), Some(seen_at)) => Some(RememberedSchedule {
                        period: Period::from_name(&period),
                        hour: r.get(1)?,
                        day: r.get(2)?,
                        backups_stored: r.get::<_, Option<i64>>(3)?.and_then(|n| u32::try_from(n).ok()),
                        seen_at,
                    }),
                    _ => None,
                };
                Ok(PortalMemory {
                    schedule,
                    schedule_missing_since: r.get::<_, Option<String>>(5)?.as_deref().and_then(time),
                    version: r.get(6)?,
                    version_since: r.get::<_, Option<String>>(7)?.as_deref().and_then(time),
                    planned: Default::default(),
                })
            })
            .optional()
            .map_err(err)?
            .unwrap_or_default();
        let mut planned = conn
            .prepare_cached("SELECT backup_id, first_planned FROM planned_deletion WHERE portal = ?1")
            .map_err(err)?;
        let rows = planned
            .query_map([portal], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(err)?;
        for row in rows {
            let (id, first) = row.map_err(err)?;
            if let (Some(id), Some(first)) = (BackupId::parse(&id), time(&first)) {
                memory.planned.insert(id, first);
            }
        }
        Ok(memory)
    }

    /// Stores `memory` as `portal`'s, replacing what was there, in one transaction.
    pub fn save(&self, portal: &str, memory: &PortalMemory) -> Result<(), StateDbError> {
        let err = |source| self.failed(Op::Write, source);
        let mut conn = self.conn.lock().expect("state database lock");
        let tx = conn.transaction().map_err(err)?;
        let s = memory.schedule.as_ref();
        tx.prepare_cached(
            "INSERT INTO portal (name, schedule_period, schedule_hour, schedule_day, schedule_backups_stored,
                                 schedule_seen_at, schedule_missing_since, version, version_since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET
                schedule_period = excluded.schedule_period, schedule_hour = excluded.schedule_hour,
                schedule_day = excluded.schedule_day, schedule_backups_stored = excluded.schedule_backups_stored,
                schedule_seen_at = excluded.schedule_seen_at, schedule_missing_since = excluded.schedule_missing_since,
                version = excluded.version, version_since = excluded.version_since",
        )
        .map_err(err)?
        .execute(params![
            portal,
            s.map(|s| s.period.name().to_string()),
            s.and_then(|s| s.hour),
            s.and_then(|s| s.day),
            s.and_then(|s| s.backups_stored).map(i64::from),
            s.map(|s| rfc3339(s.seen_at)),
            memory.schedule_missing_since.map(rfc3339),
            memory.version,
            memory.version_since.map(rfc3339),
        ])
        .map_err(err)?;
        tx.prepare_cached("DELETE FROM planned_deletion WHERE portal = ?1")
            .map_err(err)?
            .execute([portal])
            .map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO planned_deletion (portal, backup_id, first_planned) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for (id, first) in &memory.planned {
                insert
                    .execute(params![portal, id.to_string(), rfc3339(*first)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

impl StateDb {
    /// The health sentinel's memory of `portal` at `now`.
    pub fn load_health(&self, portal: &str, now: DateTime<Utc>) -> Result<HealthMemory, StateDbError> {
        let err = |source| self.failed(Op::Read, source);
        let conn = self.conn.lock().expect("state database lock");
        let mut memory = conn
            .prepare_cached(
                "SELECT health_checked_until, key_checked_at, key_expires_at, key_state, health_slots, health_slots_since,
                        health_seen_at
                 FROM portal WHERE name = ?1",
            )
            .map_err(err)?
            .query_row([portal], |r| {
                let at = |i: usize| r.get::<_, Option<String>>(i).map(|t| t.as_deref().and_then(time));
                let key = match r.get::<_, Option<String>>(3)?.as_deref() {
                    Some("never") => KeyState::Never,
                    Some("expires") => at(2)?.map_or(KeyState::Unknown, KeyState::Expires),
                    _ => KeyState::Unknown,
                };
                Ok(HealthMemory {
                    observations: Vec::new(),
                    checked_until: at(0)?,
                    key_checked_at: at(1)?,
                    key,
                    slots: r.get::<_, Option<String>>(4)?.map(|k| (k, None)),
                    seen_at: at(6)?,
                })
                .and_then(|mut m| {
                    if let Some((_, since)) = m.slots.as_mut() {
                        *since = at(5)?;
                    }
                    Ok(m)
                })
            })
            .optional()
            .map_err(err)?
            .unwrap_or_default();
        let recall = rfc3339(now - RECALL);
        let mut select = conn
            .prepare_cached(&format!(
                "SELECT {OBSERVATION} FROM observation
                 WHERE portal = ?1 AND (left_as IS NULL OR left_as = ?2 OR last_seen >= ?3)"
            ))
            .map_err(err)?;
        let rows = select
            .query_map(params![portal, LEFT_INTENDED, recall], observation)
            .map_err(err)?;
        for row in rows {
            memory.observations.extend(row.map_err(err)?);
        }
        Ok(memory)
    }

    /// Everything remembered of `portal`'s backups, still there or gone (`attest`).
    pub fn observations(&self, portal: &str) -> Result<Vec<Observation>, StateDbError> {
        let err = |source| self.failed(Op::Read, source);
        let conn = self.conn.lock().expect("state database lock");
        let mut select = conn
            .prepare_cached(&format!(
                "SELECT {OBSERVATION} FROM observation WHERE portal = ?1 ORDER BY backup_id"
            ))
            .map_err(err)?;
        let rows = select.query_map([portal], observation).map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row.map_err(err)?);
        }
        Ok(out)
    }

    /// Adds what one pass saw to `portal`'s health memory, in one transaction: a
    /// backup seen again has not left, whatever an earlier pass thought.
    pub fn save_health(&self, portal: &str, update: &HealthUpdate, now: DateTime<Utc>) -> Result<(), StateDbError> {
        let err = |source| self.failed(Op::Write, source);
        let mut conn = self.conn.lock().expect("state database lock");
        let tx = conn.transaction().map_err(err)?;
        let (key_state, key_expires) = match &update.key {
            KeyState::Unknown => (None, None),
            KeyState::Never => (Some("never"), None),
            KeyState::Expires(t) => (Some("expires"), Some(rfc3339(*t))),
        };
        tx.prepare_cached(
            "INSERT INTO portal (name, health_checked_until, key_checked_at, key_expires_at, key_state,
                                 health_slots, health_slots_since, health_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO UPDATE SET
                health_checked_until = excluded.health_checked_until, key_checked_at = excluded.key_checked_at,
                key_expires_at = excluded.key_expires_at, key_state = excluded.key_state,
                health_slots = excluded.health_slots, health_slots_since = excluded.health_slots_since,
                health_seen_at = excluded.health_seen_at",
        )
        .map_err(err)?
        .execute(params![
            portal,
            update.checked_until.map(rfc3339),
            update.key_checked_at.map(rfc3339),
            key_expires,
            key_state,
            update.slots.as_ref().map(|(k, _)| k.as_str()),
            update.slots.as_ref().and_then(|(_, since)| since.map(rfc3339)),
            rfc3339(now),
        ])
        .map_err(err)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO observation (portal, backup_id, first_seen, last_seen, created_on, started, expires_on)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
                     ON CONFLICT (portal, backup_id) DO UPDATE SET left_as = NULL, left_at = NULL
                     WHERE observation.left_as IS NOT NULL",
                )
                .map_err(err)?;
            for o in &update.seen {
                upsert
                    .execute(params![
                        portal,
                        o.id.to_string(),
                        rfc3339(o.last_seen),
                        o.created_on.map(rfc3339),
                        o.started.map(rfc3339),
                        o.expires_on.map(rfc3339),
                    ])
                    .map_err(err)?;
            }
            let mut left = tx
                .prepare_cached(
                    // A deletion this product intended keeps the time of its pass.
                    "UPDATE observation SET left_at = CASE WHEN left_as = ?6 AND ?3 = ?7 THEN left_at ELSE ?4 END,
                        left_as = ?3, last_seen = ?5 WHERE portal = ?1 AND backup_id = ?2",
                )
                .map_err(err)?;
            for (id, how, last_seen) in &update.left {
                left.execute(params![
                    portal,
                    id.to_string(),
                    how,
                    rfc3339(now),
                    rfc3339(*last_seen),
                    LEFT_INTENDED,
                    LEFT_DELETED
                ])
                .map_err(err)?;
            }
        }
        tx.prepare_cached(
            "DELETE FROM observation WHERE portal = ?1 AND left_as IS NOT NULL AND left_as != ?2 AND left_at < ?3",
        )
        .map_err(err)?
        .execute(params![portal, LEFT_INTENDED, rfc3339(now - FORGET_AFTER)])
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// How many backups of `portal` each pass since `since` deleted (or was about to:
    /// a pass's own deletions are settled by the next one), oldest first, by when the
    /// pass noted them.
    pub fn deletions_by_pass(
        &self,
        portal: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u32)>, StateDbError> {
        let err = |source| self.failed(Op::Read, source);
        let conn = self.conn.lock().expect("state database lock");
        let mut query = conn
            .prepare_cached(
                "SELECT left_at, count(*) FROM observation
                 WHERE portal = ?1 AND left_as IN (?2, ?3) AND left_at >= ?4
                 GROUP BY left_at ORDER BY left_at",
            )
            .map_err(err)?;
        let rows = query
            .query_map(params![portal, LEFT_INTENDED, LEFT_DELETED, rfc3339(since)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, n) = row.map_err(err)?;
            if let Some(at) = time(&at) {
                out.push((at, n));
            }
        }
        Ok(out)
    }

    /// Notes that this product is about to delete `ids` of `portal`: when they are
    /// gone at the next pass, they were deleted, not vanished.
    pub fn intend(&self, portal: &str, ids: &[BackupId], now: DateTime<Utc>) -> Result<(), StateDbError> {
        let err = |source| self.failed(Op::Write, source);
        let mut conn = self.conn.lock().expect("state database lock");
        let tx = conn.transaction().map_err(err)?;
        {
            let mut mark = tx
                .prepare_cached(
                    "INSERT INTO observation (portal, backup_id, first_seen, last_seen, left_as, left_at)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?3)
                     ON CONFLICT (portal, backup_id) DO UPDATE SET left_as = excluded.left_as, left_at = excluded.left_at",
                )
                .map_err(err)?;
            for id in ids {
                mark.execute(params![portal, id.to_string(), rfc3339(now), LEFT_INTENDED])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

/// The columns [`observation`] reads.
const OBSERVATION: &str = "backup_id, first_seen, last_seen, created_on, started, expires_on, left_as, left_at";

/// One `observation` row (`None` for one that cannot be read: a bad id or date).
fn observation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Observation>> {
    let at = |i: usize| r.get::<_, Option<String>>(i).map(|t| t.as_deref().and_then(time));
    let id = r.get::<_, String>(0)?;
    Ok(match (BackupId::parse(&id), at(1)?, at(2)?) {
        (Some(id), Some(first_seen), Some(last_seen)) => Some(Observation {
            id,
            first_seen,
            last_seen,
            created_on: at(3)?,
            started: at(4)?,
            expires_on: at(5)?,
            left_as: r.get(6)?,
            left_at: at(7)?,
        }),
        _ => None,
    })
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    parse_time(text).instant()
}

/// Runs the migrations the database lacks; refuses a database from a newer build.
fn migrate(conn: &Connection, path: &Path) -> Result<(), StateDbError> {
    let path = || path.to_path_buf();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| StateDbError::Schema { path: path(), source })?;
    let version = usize::try_from(version).map_err(|_| StateDbError::Unusable {
        path: path(),
        message: format!(
            "the state database {}: schema version {version} is not one",
            path().display()
        ),
    })?;
    if version > SCHEMA_VERSION {
        return Err(StateDbError::Newer { path: path(), version });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let to = i + 1;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql} PRAGMA user_version = {to}; COMMIT;"))
            .map_err(|source| {
                let _ = conn.execute_batch("ROLLBACK");
                StateDbError::Migrate {
                    path: path(),
                    to,
                    source,
                }
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
