//! The executor: the only code that changes a portal. Every DELETE the product sends
//! (a pass, `once`, `schedule delete`, `history clear`, `backup delete`) goes through
//! an [`Executor`], which enforces every gate itself (docs/reference.md, "Gates"), so
//! that no caller can forget one:
//!
//! - **one writer**: opening an executor takes the portal's lock, or fails;
//! - **interrupted changes first**: intents an earlier holder left without a result
//!   are settled by reading the portal before anything else happens;
//! - **dry run**: the same audit lines, marked `dry_run`, and no request;
//! - **protect**: a protected backup is never deleted unless the operator forces it,
//!   and a history holding one is never cleared.
//!
//! Changes are carried out in the order that is safe against the server's traps
//! (docs/docspace-api.md, "Traps"): one at a time, in the order given, each after a
//! flushed audit intent; the outcome of every change is settled by reading the portal
//! again, never by the server's answer alone.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::PortalConfig;
use crate::docspace::{ApiError, ApiErrorKind, DocSpaceClient};
use crate::state::StateDir;
use crate::state::audit::{AuditAction, AuditEntry, Outcome, Phase};
use crate::state::lock::{Batch, LockError, PortalLock};
use crate::wire::{BackupId, HistoryRecord};

/// The gates a portal's config sets for every change to it.
#[derive(Clone, Debug, Default)]
pub struct Gates {
    pub dry_run: bool,
    pub protect: BTreeSet<BackupId>,
    /// The daemon's current gates of the portal, which a reload replaces: read again
    /// before every change, so a reload that sets `dry_run` or adds a `protect` id
    /// binds the next DELETE of a pass already running.
    pub live: Option<Arc<LiveGates>>,
}

impl Gates {
    /// A configured portal's gates (`--dry-run` is already folded into `dry_run`).
    pub fn of(portal: &PortalConfig) -> Self {
        Gates {
            dry_run: portal.dry_run,
            protect: portal.retention.protect.clone(),
            live: None,
        }
    }

    /// These gates, bound to what `live` says at each change too.
    pub fn following(mut self, live: Arc<LiveGates>) -> Self {
        self.live = Some(live);
        self
    }

    /// The gates at this moment: the pass's own, tightened by the live ones (a reload
    /// can add a hold during a pass, never lift one).
    pub fn now(&self) -> Gates {
        let mut now = Gates {
            dry_run: self.dry_run,
            protect: self.protect.clone(),
            live: None,
        };
        if let Some(live) = &self.live {
            let current = live.get();
            now.dry_run |= current.dry_run;
            now.protect.extend(current.protect);
        }
        now
    }

    /// The ids among `ids` that `protect` names.
    pub fn protected_among(&self, ids: impl IntoIterator<Item = BackupId>) -> Vec<BackupId> {
        ids.into_iter().filter(|id| self.protect.contains(id)).collect()
    }
}

/// A portal's gates as the daemon's current config says, replaced by each reload.
#[derive(Debug, Default)]
pub struct LiveGates(std::sync::RwLock<Gates>);

impl LiveGates {
    pub fn new(gates: Gates) -> Self {
        LiveGates(std::sync::RwLock::new(gates))
    }

    pub fn set(&self, gates: Gates) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = gates;
    }

    pub fn get(&self) -> Gates {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
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

/// Why a clear was not even tried.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearRefused {
    /// The history holds protected backups.
    Protected(Vec<BackupId>),
    /// The portal protects backups the history does not list: a clear would remove
    /// them too if they are there unlisted (docs/docspace-api.md, "Clearing removes
    /// what the history does not show").
    ProtectsUnlisted(Vec<BackupId>),
    /// The history is not what the caller decided on any more.
    Changed,
    /// The history could not be read again.
    Unreadable(String),
    /// The dump of a server that may not know `Dump`.
    Dump(String),
    /// A reload set `dry_run` after the history was read.
    DryRunSinceRead,
}

impl ClearRefused {
    /// Why `gates` forbid clearing a history that lists the protected ids `listed`:
    /// any `protect` id does, listed or not.
    pub fn by_protect(gates: &Gates, listed: &[BackupId]) -> Option<ClearRefused> {
        if !listed.is_empty() {
            Some(ClearRefused::Protected(listed.to_vec()))
        } else if !gates.protect.is_empty() {
            Some(ClearRefused::ProtectsUnlisted(gates.protect.iter().copied().collect()))
        } else {
            None
        }
    }
}

impl std::fmt::Display for ClearRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClearRefused::Protected(ids) => write!(
                f,
                "refusing to clear the history: it holds protected backup{} {}",
                if ids.len() == 1 { "" } else { "s" },
                list(ids)
            ),
            ClearRefused::ProtectsUnlisted(ids) => write!(
                f,
                "refusing to clear the history: the portal protects backup{} {}, and a clear also removes \
                 records the history does not list (give --force-protected to clear anyway)",
                if ids.len() == 1 { "" } else { "s" },
                list(ids)
            ),
            ClearRefused::Changed => f.write_str("the history changed since it was read: not clearing it"),
            ClearRefused::Unreadable(e) => write!(f, "cannot re-read the history before clearing it: {e}"),
            ClearRefused::Dump(e) => f.write_str(e),
            ClearRefused::DryRunSinceRead => f.write_str("dry_run was set by a reload: not clearing the history"),
        }
    }
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
#[derive(Debug)]
pub enum OpenError {
    /// Another process (or pass) is changing this portal.
    Locked,
    /// The lock, the audit log or the settling read failed.
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked => f.write_str("locked by another process"),
            OpenError::Failed(e) => f.write_str(e),
        }
    }
}

/// A delete that was sent: the item, its audit intent, and the server's answer.
type Attempt<'a> = (&'a DeletionItem, AuditEntry, Result<Option<bool>, ApiError>);

/// Carries out changes to one portal, holding its lock for as long as it lives.
pub struct Executor<'a> {
    portal: &'a str,
    client: &'a DocSpaceClient,
    state: &'a StateDir,
    gates: Gates,
    lock: PortalLock,
    recovered: Vec<Recovered>,
}

impl<'a> Executor<'a> {
    /// Takes the portal's lock (never waiting), then settles whatever an earlier run
    /// left unfinished.
    pub async fn open(
        portal: &'a str,
        client: &'a DocSpaceClient,
        state: &'a StateDir,
        gates: Gates,
    ) -> Result<Executor<'a>, OpenError> {
        let lock = state.lock(portal).map_err(|e| match e {
            LockError::Busy => OpenError::Locked,
            LockError::Io(e) => OpenError::Failed(e),
        })?;
        let mut executor = Executor {
            portal,
            client,
            state,
            gates,
            lock,
            recovered: Vec::new(),
        };
        executor.recover().await.map_err(OpenError::Failed)?;
        Ok(executor)
    }

    pub fn dry_run(&self) -> bool {
        self.gates.now().dry_run
    }

    /// The changes an earlier run left unfinished, settled when this was opened.
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }

    /// The ids among `ids` that the portal protects now.
    pub fn protected_among(&self, ids: impl IntoIterator<Item = BackupId>) -> Vec<BackupId> {
        self.gates.now().protected_among(ids)
    }

    /// Deletes `items` one at a time, in the given order, each after a flushed audit
    /// intent; then reads the history once and settles every attempt as deleted,
    /// already gone or failed, writing the result lines. Starts no deletion after
    /// `deadline`. Refuses the whole list, sending nothing, when it names a protected
    /// backup and `force_protected` is false.
    pub async fn delete_backups(
        &self,
        items: &[DeletionItem],
        force_protected: bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Deletions {
        let portal = self.portal;
        let mut done = Deletions::default();
        let protected = self.protected_among(items.iter().map(|i| i.id));
        if !protected.is_empty() && !force_protected {
            done.error = Some(format!(
                "refusing to delete protected backup{} {}",
                if protected.len() == 1 { "" } else { "s" },
                list(&protected)
            ));
            return done;
        }
        if items.is_empty() {
            return done;
        }
        if let Err(e) = self.dump_gate().await {
            done.error = Some(e);
            return done;
        }
        if self.gates.now().dry_run {
            let mut lines = Vec::with_capacity(items.len() * 2);
            for item in items {
                let intent = item.intent(portal, true);
                let result = intent.result(Outcome::DryRun, None, None);
                lines.extend([intent, result]);
                done.results.push(item.settled(Outcome::DryRun, None, None));
            }
            if let Err(e) = self.state.audit().record_all(lines).await {
                done.results.clear();
                done.error = Some(e);
            }
            return done;
        }
        if let Err(e) = self.open_batch() {
            done.error = Some(e);
            return done;
        }
        // Gone at the next pass, these were deleted here, not vanished. Only the health
        // signal depends on it: a note that cannot be written is no reason to stop.
        let coming: Vec<BackupId> = items.iter().map(|i| i.id).collect();
        if let Err(e) = self.state.intend(portal, &coming) {
            tracing::warn!(portal, error = %e, "cannot note the coming deletions in the state database");
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
            // The gates as they are now: a reload during the pass binds this DELETE.
            let gates = self.gates.now();
            if gates.dry_run {
                tracing::warn!(
                    portal,
                    left = items.len() - i,
                    "dry_run was set by a reload during the pass: the remaining deletions are not sent"
                );
                break;
            }
            if !force_protected && gates.protect.contains(&item.id) {
                tracing::warn!(portal, backup = %item.id, "protected by a reload during the pass: not deleted");
                continue;
            }
            let intent = item.intent(portal, false);
            if let Err(e) = self.state.audit().record(intent.clone()).await {
                done.error = Some(e);
                break;
            }
            let answer = send(self.client, Change::Backup(item.id)).await;
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
            let _ = self.lock.close_batch();
            return done;
        }

        // Settle every attempt by reading the history again.
        done.present_after = match self.client.get_history().await {
            Ok(records) => Some(ids(&records)),
            Err(e) => {
                // The outcomes are not known: no result line is written and the batch
                // stays open, so the next pass or change settles them by reading.
                done.error
                    .get_or_insert_with(|| format!("cannot verify deletions: {e}"));
                for (item, _, answer) in attempted {
                    let status = match &answer {
                        Ok(_) => Some(200),
                        Err(e) => e.status(),
                    };
                    let error = "unverified: the history could not be read again; the next pass settles it";
                    done.results
                        .push(item.settled(Outcome::Failed, status, Some(error.to_string())));
                }
                return done;
            }
        };
        let mut results = Vec::with_capacity(attempted.len());
        for (item, intent, answer) in attempted {
            let status = match &answer {
                Ok(_) => Some(200),
                Err(e) => e.status(),
            };
            let gone = done.present_after.as_ref().is_some_and(|p| !p.contains(&item.id));
            let (outcome, error) = settle(gone, &answer);
            results.push(intent.result(outcome, status, error.clone()));
            done.results.push(item.settled(outcome, status, error));
        }
        // No action lies between the result lines: they go to disk together.
        match self.state.audit().record_all(results).await {
            Ok(()) => {
                let _ = self.lock.close_batch();
            }
            Err(e) => {
                done.error.get_or_insert(e);
            }
        }
        done
    }

    /// Clears the whole history with one call, when it is still exactly `expected`
    /// (the records the caller decided on) and the portal protects nothing (unless
    /// `force_protected`): reads it again, writes a flushed audit intent, clears, then
    /// counts what is left (the server answers `true` even when some files failed).
    pub async fn clear_history(
        &self,
        expected: &[HistoryRecord],
        reasons: Vec<String>,
        force_protected: bool,
    ) -> Result<ClearResult, ClearRefused> {
        let portal = self.portal;
        let records = expected.len();
        let protected = self.protected_among(expected.iter().filter_map(|r| BackupId::parse(&r.id)));
        if !force_protected && let Some(refused) = ClearRefused::by_protect(&self.gates.now(), &protected) {
            return Err(refused);
        }
        self.dump_gate().await.map_err(ClearRefused::Dump)?;
        let dry_run = self.gates.now().dry_run;
        let intent = AuditEntry::intent(portal, AuditAction::ClearHistory, dry_run).reasons(reasons);
        let failed = |error: String| ClearResult {
            outcome: Outcome::Failed,
            records,
            http_status: None,
            error: Some(error),
        };
        if dry_run {
            let result = intent.result(Outcome::DryRun, None, None);
            if let Err(e) = self.state.audit().record_all(vec![intent, result]).await {
                return Ok(failed(e));
            }
            return Ok(ClearResult {
                outcome: Outcome::DryRun,
                records,
                http_status: None,
                error: None,
            });
        }
        // Only clear what was decided on: the history must still be exactly that.
        let again = self
            .client
            .get_history()
            .await
            .map_err(|e| ClearRefused::Unreadable(e.to_string()))?;
        // The gates once more, right before the one call that takes everything.
        let gates = self.gates.now();
        let protected = gates.protected_among(ids(&again));
        if !force_protected && let Some(refused) = ClearRefused::by_protect(&gates, &protected) {
            return Err(refused);
        }
        if gates.dry_run {
            return Err(ClearRefused::DryRunSinceRead);
        }
        if ids(&again) != ids(expected) || again.len() != records {
            return Err(ClearRefused::Changed);
        }
        if let Err(e) = self.open_batch() {
            return Ok(failed(e));
        }
        let listed: Vec<BackupId> = ids(&again).into_iter().collect();
        if let Err(e) = self.state.intend(portal, &listed) {
            tracing::warn!(portal, error = %e, "cannot note the coming clear in the state database");
        }
        let intent = intent.dated_now();
        if let Err(e) = self.state.audit().record(intent.clone()).await {
            return Ok(failed(e));
        }
        let answer = send(self.client, Change::History).await;
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
        if let Err(e) = self
            .state
            .audit()
            .record(intent.result(outcome, status, error.clone()))
            .await
        {
            return Ok(failed(e));
        }
        let _ = self.lock.close_batch();
        Ok(ClearResult {
            outcome,
            records,
            http_status: status,
            error,
        })
    }

    /// Refuses a change of the on-premise dump unless the server's version is known and
    /// at least 3.1.0: older servers ignore `Dump` and act on the portal itself
    /// (docs/docspace-api.md, "`Dump` exists from 3.1.0").
    async fn dump_gate(&self) -> Result<(), String> {
        if !self.client.dump() {
            return Ok(());
        }
        self.dump_gate_at(self.client.get_version().await.ok().flatten().as_deref())
    }

    /// [`Executor::dump_gate`] with the version already read (`None`: unknown).
    fn dump_gate_at(&self, version: Option<&str>) -> Result<(), String> {
        if !self.client.dump() || version.is_some_and(at_least_3_1) {
            return Ok(());
        }
        Err(format!(
            "refusing to change the dump: the server's DocSpace version is {}; before 3.1.0 the server ignores \
             Dump and would act on the portal itself",
            match version {
                Some(v) => format!("{v}, older than 3.1.0"),
                None => "unknown".to_string(),
            }
        ))
    }

    /// Deletes the backup schedule after a flushed audit intent, then reads the
    /// schedule again to settle the outcome. Refuses (sending nothing) on a server
    /// older than 3.1.0 or of unknown version unless `force`: there the server's own
    /// cleaner then deletes every scheduled backup (docs/docspace-api.md, "The server
    /// prunes too").
    pub async fn delete_schedule(&self, reasons: Vec<String>, force: bool) -> Result<ScheduleResult, String> {
        let version = self.client.get_version().await.ok().flatten();
        self.dump_gate_at(version.as_deref())?;
        if !force && !version.as_deref().is_some_and(at_least_3_1) {
            return Err(format!(
                "refusing to delete the schedule: the server's DocSpace version is {}; before 3.1.0 its cleaner \
                 then deletes every scheduled backup of the portal (give --force if you are sure)",
                match &version {
                    Some(v) => format!("{v}, older than 3.1.0"),
                    None => "unknown".to_string(),
                }
            ));
        }
        Ok(self.delete_schedule_now(reasons).await)
    }

    async fn delete_schedule_now(&self, reasons: Vec<String>) -> ScheduleResult {
        let dry_run = self.gates.now().dry_run;
        let intent = AuditEntry::intent(self.portal, AuditAction::DeleteSchedule, dry_run).reasons(reasons);
        let failed = |error: String| ScheduleResult {
            outcome: Outcome::Failed,
            error: Some(error),
        };
        if dry_run {
            let result = intent.result(Outcome::DryRun, None, None);
            return match self.state.audit().record_all(vec![intent, result]).await {
                Ok(()) => ScheduleResult {
                    outcome: Outcome::DryRun,
                    error: None,
                },
                Err(e) => failed(e),
            };
        }
        if let Err(e) = self.open_batch() {
            return failed(e);
        }
        let intent = intent.dated_now();
        if let Err(e) = self.state.audit().record(intent.clone()).await {
            return failed(e);
        }
        let answer = send(self.client, Change::Schedule).await;
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
        if let Err(e) = self
            .state
            .audit()
            .record(intent.result(outcome, status, error.clone()))
            .await
        {
            return failed(e);
        }
        let _ = self.lock.close_batch();
        ScheduleResult { outcome, error }
    }

    /// Marks a batch of real changes open before its first intent: if the process
    /// dies before the results are written, the next holder settles the intents.
    fn open_batch(&self) -> Result<(), String> {
        let (inode, audit_offset) = self.state.audit().end()?;
        self.lock.open_batch(Batch {
            audit_inode: Some(inode),
            audit_offset,
            since: Some(Utc::now().timestamp()),
            dump: self.client.dump(),
        })
    }

    /// Settles the intents an earlier holder wrote without results: `deleted` when the
    /// backup (or schedule, or history) is gone now, `failed` "interrupted" when it is
    /// still there. The result lines carry `"recovered": true`.
    async fn recover(&mut self) -> Result<(), String> {
        let batch = match self.lock.batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => return Ok(()),
            // Only a mark torn while it was written can be unreadable, and its batch
            // had not written an intent yet: nothing to settle.
            Err(e) => {
                tracing::warn!(portal = self.portal, error = %e, "unreadable batch mark: cleared");
                return self.lock.close_batch();
            }
        };
        // The interrupted batch may have changed the other target (the dump, or the
        // portal): settle it by reading what it changed.
        let other;
        let client = if batch.dump == self.client.dump() {
            self.client
        } else {
            other = self.client.with_dump(batch.dump);
            &other
        };
        let open = open_intents(self.state.audit().lines_since(
            batch.audit_inode,
            batch.audit_offset,
            batch.since.and_then(|s| DateTime::from_timestamp(s, 0)),
            self.portal,
        )?);
        if open.is_empty() {
            return self.lock.close_batch();
        }
        let needs_history = open.iter().any(|i| i.action != AuditAction::DeleteSchedule);
        let history = match needs_history {
            true => Some(
                client
                    .get_history()
                    .await
                    .map_err(|e| format!("cannot settle interrupted changes: {e}"))?,
            ),
            false => None,
        };
        let schedule_gone = match open.iter().any(|i| i.action == AuditAction::DeleteSchedule) {
            true => Some(
                client
                    .get_schedule()
                    .await
                    .map_err(|e| format!("cannot settle interrupted changes: {e}"))?
                    .is_none(),
            ),
            false => None,
        };
        let present = history.as_deref().map(ids).unwrap_or_default();
        let mut lines = Vec::with_capacity(open.len());
        for intent in open {
            let gone = match intent.action {
                AuditAction::DeleteBackup => intent
                    .backup_id
                    .as_deref()
                    .and_then(BackupId::parse)
                    .is_some_and(|id| !present.contains(&id)),
                AuditAction::ClearHistory => history.as_ref().is_some_and(Vec::is_empty),
                AuditAction::DeleteSchedule => schedule_gone == Some(true),
            };
            let (outcome, error) = match gone {
                true => (Outcome::Deleted, None),
                false => (Outcome::Failed, Some("interrupted".to_string())),
            };
            self.recovered.push(Recovered {
                action: intent.action,
                backup_id: intent.backup_id.clone(),
                outcome,
            });
            let mut line = intent.result(outcome, None, error);
            line.recovered = true;
            lines.push(line);
        }
        self.state.audit().record_all(lines).await?;
        self.lock.close_batch()
    }
}

/// The intents among `lines` (one portal's, in order) that no result line answers.
fn open_intents(lines: Vec<AuditEntry>) -> Vec<AuditEntry> {
    let key = |e: &AuditEntry| (e.action, e.backup_id.clone());
    let mut open: Vec<AuditEntry> = Vec::new();
    let mut waiting: HashMap<(AuditAction, Option<String>), usize> = HashMap::new();
    for line in lines {
        match line.phase {
            Phase::Intent if !line.dry_run => {
                *waiting.entry(key(&line)).or_default() += 1;
                open.push(line);
            }
            Phase::Result => {
                if let Some(n) = waiting.get_mut(&key(&line)).filter(|n| **n > 0) {
                    *n -= 1;
                    let k = key(&line);
                    if let Some(i) = open.iter().position(|o| key(o) == k) {
                        open.remove(i);
                    }
                }
            }
            Phase::Intent => {}
        }
    }
    open
}

/// The outcome of one delete from its answer and whether the record is gone after.
fn settle(gone: bool, answer: &Result<Option<bool>, ApiError>) -> (Outcome, Option<String>) {
    match (gone, answer) {
        (true, Ok(Some(false))) => (Outcome::AlreadyGone, None),
        (true, Err(e)) if matches!(e.kind, ApiErrorKind::NotFound { .. }) => (Outcome::AlreadyGone, None),
        // A 500 whose record is gone: the server removed the record, then failed on
        // the file (docs/docspace-api.md, "Traps": delete order).
        (true, _) => (Outcome::Deleted, None),
        (false, Ok(_)) => (
            Outcome::Failed,
            Some("still in the history after the server answered the delete with success".to_string()),
        ),
        (false, Err(e)) => (Outcome::Failed, Some(e.to_string())),
    }
}

/// Is `version` (`3.7.2.1733`) at least 3.1.0? An unreadable one is not.
fn at_least_3_1(version: &str) -> bool {
    let parts: Option<Vec<u64>> = version.split('.').take(3).map(|p| p.parse().ok()).collect();
    match parts.as_deref() {
        Some([major, minor, ..]) => (*major, *minor) >= (3, 1),
        _ => false,
    }
}

/// The ids of a history (records without a GUID cannot be deleted and are left out).
pub fn ids(records: &[HistoryRecord]) -> HashSet<BackupId> {
    records.iter().filter_map(|r| BackupId::parse(&r.id)).collect()
}

/// Ids for a message: "a, b, c".
pub fn list(ids: &[BackupId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A change to a portal, as the executor sends it.
enum Change {
    Backup(BackupId),
    History,
    Schedule,
}

/// The one place that sends a change to a portal: clippy.toml's `disallowed-methods`
/// refuses the client's changing calls everywhere else, so "only the executor
/// deletes" is a wall, not a convention.
#[allow(clippy::disallowed_methods)]
async fn send(client: &DocSpaceClient, change: Change) -> Result<Option<bool>, ApiError> {
    match change {
        Change::Backup(id) => client.delete_backup(id).await,
        Change::History => client.delete_history().await,
        Change::Schedule => client.delete_schedule().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(phase: Phase, id: &str, dry_run: bool) -> AuditEntry {
        let intent = AuditEntry::intent("acme", AuditAction::DeleteBackup, dry_run).backup(id, None, None, Vec::new());
        match phase {
            Phase::Intent => intent,
            Phase::Result => intent.result(Outcome::Deleted, Some(200), None),
        }
    }

    #[test]
    fn schedule_deletion_needs_at_least_3_1() {
        for (v, ok) in [
            ("3.1.0", true),
            ("3.1.0.100", true),
            ("3.7.2.1733", true),
            ("4.0", true),
            ("3.0.4.512", false),
            ("2.6", false),
            ("3", false),
            ("v3.2", false),
            ("", false),
        ] {
            assert_eq!(at_least_3_1(v), ok, "{v}");
        }
    }

    #[test]
    fn open_intents_are_those_without_a_result() {
        let lines = vec![
            line(Phase::Intent, "a", false),
            line(Phase::Intent, "b", false),
            line(Phase::Intent, "c", true),
            line(Phase::Result, "c", true),
            line(Phase::Intent, "d", false),
            line(Phase::Result, "a", false),
        ];
        let open: Vec<Option<String>> = open_intents(lines).into_iter().map(|e| e.backup_id).collect();
        assert_eq!(open, [Some("b".to_string()), Some("d".to_string())]);
    }
}
