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
//! (docs/docspace-api.md, "Traps"): one at a time, in the order given, after their
//! audit intents are flushed; the outcome of every change is settled by reading the
//! portal again, never by the server's answer alone. All three kinds of change go
//! through one step (`step`): the batch mark, the intents, the requests, the
//! verifying read, the results. `gates` holds what a portal's config forbids,
//! `outcome` what the executor is asked and answers.

mod gates;
mod outcome;
mod step;

pub use gates::{ClearRefused, Gates, LiveGates};
pub use outcome::{
    BatchError, ClearResult, DeletionItem, DeletionResult, Deletions, OpenError, Recovered, ScheduleResult, ids, list,
};

use crate::docspace::DocSpaceClient;
use crate::state::StateDir;
use crate::state::audit::{AuditAction, AuditEntry, AuditError, Outcome};
use crate::state::lock::{LockError, PortalLock};
use crate::wire::{BackupId, HistoryRecord};
use step::{Change, Done, Go};

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
            e => OpenError::Lock(e),
        })?;
        let mut executor = Executor {
            portal,
            client,
            state,
            gates,
            lock,
            recovered: Vec::new(),
        };
        executor.recover().await?;
        Ok(executor)
    }

    /// The changes an earlier run left unfinished, settled when this was opened.
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }

    /// The ids among `ids` that the portal protects now.
    pub fn protected_among(&self, ids: impl IntoIterator<Item = BackupId>) -> Vec<BackupId> {
        self.gates.now().protected_among(ids)
    }

    /// Writes a dry run's lines: each intent with its `dry_run` result, nothing sent.
    async fn dry_run_lines(&self, intents: Vec<AuditEntry>) -> Result<(), AuditError> {
        let lines = intents
            .into_iter()
            .flat_map(|intent| {
                let result = intent.result(Outcome::DryRun, None, None);
                [intent, result]
            })
            .collect();
        self.state.audit().record_all(lines).await
    }

    /// Deletes `items` one at a time, in the given order, after their audit intents
    /// are flushed; then reads the history once and settles every attempt as deleted,
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
            let intents = items.iter().map(|item| item.intent(portal, true)).collect();
            match self.dry_run_lines(intents).await {
                Ok(()) => done.results = items.iter().map(|i| i.settled(Outcome::DryRun, None, None)).collect(),
                Err(e) => done.error = Some(e.to_string()),
            }
            return done;
        }
        // Gone at the next pass, these were deleted here, not vanished. Only the health
        // signal depends on it: a note that cannot be written is no reason to stop.
        let coming: Vec<BackupId> = items.iter().map(|i| i.id).collect();
        if let Err(e) = self.state.intend(portal, &coming) {
            tracing::warn!(portal, error = %e, "cannot note the coming deletions in the state database");
        }
        let changes = items
            .iter()
            .map(|item| (Change::Backup(item.id), item.intent(portal, false)))
            .collect();
        let go = |i: usize, change: Change| {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                let left = items.len() - i;
                return Go::Stop {
                    why: format!("pass deadline exceeded: {left} deletions left for the next pass"),
                    error: true,
                };
            }
            // The gates as they are now: a reload during the pass binds this DELETE.
            let gates = self.gates.now();
            if gates.dry_run {
                tracing::warn!(
                    portal,
                    left = items.len() - i,
                    "dry_run was set by a reload during the pass: the remaining deletions are not sent"
                );
                return Go::Stop {
                    why: "dry_run was set by a reload during the pass".to_string(),
                    error: false,
                };
            }
            match change {
                Change::Backup(id) if !force_protected && gates.protect.contains(&id) => {
                    tracing::warn!(portal, backup = %id, "protected by a reload during the pass: not deleted");
                    Go::Skip("protected by a reload during the pass".to_string())
                }
                _ => Go::Send,
            }
        };
        let step = match self.step(changes, go).await {
            Ok(step) => step,
            Err(e) => {
                done.error = Some(e.to_string());
                return done;
            }
        };
        done.error = step.stopped;
        if let Some(e) = &step.unverified {
            // The outcomes are not known: the batch stays open, so the next pass or
            // change settles them by reading.
            done.error
                .get_or_insert_with(|| format!("cannot verify deletions: {e}"));
        }
        if let Some(e) = step.unrecorded {
            done.error.get_or_insert(e.to_string());
        }
        done.present_after = step.found.listed;
        for (item, did) in items.iter().zip(step.done) {
            done.results.push(match did {
                Done::Settled { outcome, status, error } => item.settled(outcome, status, error),
                Done::Unverified { answer } => item.settled(
                    Outcome::Failed,
                    step::status(&answer),
                    Some("unverified: the history could not be read again; the next pass settles it".to_string()),
                ),
                Done::NotSent => continue,
            });
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
        let expected_ids = expected.iter().filter_map(|r| BackupId::parse(&r.id));
        if let Some(refused) = ClearRefused::by_protect(&self.gates.now(), expected_ids, force_protected) {
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
            if let Err(e) = self.dry_run_lines(vec![intent]).await {
                return Ok(failed(e.to_string()));
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
        let again_ids = ids(&again);
        let refused = |gates: &Gates| ClearRefused::since_read(gates, again_ids.iter().copied(), force_protected);
        if let Some(refused) = refused(&self.gates.now()) {
            return Err(refused);
        }
        if again_ids != ids(expected) || again.len() != records {
            return Err(ClearRefused::Changed);
        }
        let listed: Vec<BackupId> = again_ids.iter().copied().collect();
        if let Err(e) = self.state.intend(portal, &listed) {
            tracing::warn!(portal, error = %e, "cannot note the coming clear in the state database");
        }
        // The live gates once more, right before the request (a reload may have come
        // while the batch was marked and its intent written).
        let go = |_, _| match refused(&self.gates.now()) {
            Some(refused) => Go::Stop {
                why: refused.to_string(),
                error: true,
            },
            None => Go::Send,
        };
        let step = match self.step(vec![(Change::History, intent)], go).await {
            Ok(step) => step,
            Err(e) => return Ok(failed(e.to_string())),
        };
        if let Some(e) = step.unrecorded {
            return Ok(failed(e.to_string()));
        }
        if let Some(why) = step.stopped.clone()
            && matches!(step.done.first(), Some(Done::NotSent))
        {
            return Ok(failed(why));
        }
        Ok(match (step.done.into_iter().next(), step.unverified) {
            (Some(Done::Settled { outcome, status, error }), _) => ClearResult {
                outcome,
                records,
                http_status: status,
                error,
            },
            (Some(Done::Unverified { answer }), Some(e)) => ClearResult {
                outcome: Outcome::Failed,
                records,
                http_status: step::status(&answer),
                error: Some(format!("cannot verify the cleared history: {e}")),
            },
            _ => failed("the clear was not sent".to_string()),
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
            return match self.dry_run_lines(vec![intent]).await {
                Ok(()) => ScheduleResult {
                    outcome: Outcome::DryRun,
                    error: None,
                },
                Err(e) => failed(e.to_string()),
            };
        }
        // A reload that set `dry_run` since binds this request too.
        let go = |_, _| match self.gates.now().dry_run {
            true => Go::Stop {
                why: "dry_run was set by a reload: not deleting the schedule".to_string(),
                error: true,
            },
            false => Go::Send,
        };
        let step = match self.step(vec![(Change::Schedule, intent)], go).await {
            Ok(step) => step,
            Err(e) => return failed(e.to_string()),
        };
        if let Some(e) = step.unrecorded {
            return failed(e.to_string());
        }
        if let Some(why) = step.stopped.clone()
            && matches!(step.done.first(), Some(Done::NotSent))
        {
            return failed(why);
        }
        match (step.done.into_iter().next(), step.unverified) {
            (Some(Done::Settled { outcome, error, .. }), _) => ScheduleResult { outcome, error },
            (Some(Done::Unverified { answer: Err(e) }), _) => failed(e.to_string()),
            (Some(Done::Unverified { answer: Ok(_) }), Some(e)) => failed(format!("cannot verify: {e}")),
            _ => failed("the schedule deletion was not sent".to_string()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
