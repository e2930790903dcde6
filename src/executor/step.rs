//! The one step every change to a portal goes through, and the recovery of a step an
//! earlier holder left unfinished.
//!
//! A step is a batch of changes: it marks the batch open, writes every intent with
//! one flush before the first request, sends the changes one at a time in order (each
//! only as the caller's gates allow at that moment), reads the portal once to settle
//! them all, writes the result lines together and closes the batch. A crash anywhere
//! in between leaves the batch open, and the next holder settles its intents by
//! reading the portal ([`Executor::recover`]). An intent therefore says "this batch is
//! about to send this change": one the step then did not send gets a result line
//! `failed` "not sent: …". Recovery cannot tell which changes of an interrupted step
//! were sent: it settles each by what the portal shows now, `failed` "interrupted"
//! when the record is still there and `deleted` when it is gone (by this batch, or by
//! anything else in the meantime: a recovered `deleted` means "gone").

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{BatchError, Executor, OpenError, Recovered, ids};
use crate::docspace::{ApiError, ApiErrorKind, DocSpaceClient};
use crate::state::audit::{AuditAction, AuditEntry, AuditError, Outcome, Phase};
use crate::state::lock::Batch;
use crate::wire::BackupId;

/// A change to a portal, as the executor sends it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Change {
    Backup(BackupId),
    History,
    Schedule,
}

impl Change {
    /// The change an intent line announced (`None`: a backup id that is no GUID, which
    /// no DELETE could have named).
    fn of(intent: &AuditEntry) -> Option<Change> {
        match intent.action {
            AuditAction::DeleteBackup => intent
                .backup_id
                .as_deref()
                .and_then(BackupId::parse)
                .map(Change::Backup),
            AuditAction::ClearHistory => Some(Change::History),
            AuditAction::DeleteSchedule => Some(Change::Schedule),
        }
    }
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

/// The HTTP status of a change's answer (a success is 200).
pub(super) fn status(answer: &Result<Option<bool>, ApiError>) -> Option<u16> {
    match answer {
        Ok(_) => Some(200),
        Err(e) => e.status(),
    }
}

/// What the caller's gates say before the next change of a step.
pub(super) enum Go {
    Send,
    /// Not this one; the step goes on with the next.
    Skip(String),
    /// Not this one nor any after it; `error` makes it the step's error.
    Stop {
        why: String,
        error: bool,
    },
}

/// The portal as read after a step's changes: what settles them.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The ids the history lists, when a backup deletion or a clear is to be settled.
    pub listed: Option<HashSet<BackupId>>,
    /// How many records it lists (those without a GUID too).
    records: usize,
    /// Whether the schedule is gone, when a schedule deletion is to be settled.
    pub schedule_gone: Option<bool>,
}

impl Found {
    /// Reads what `changes` may have changed: the history for deletions and clears,
    /// the schedule for a schedule deletion.
    async fn read(client: &DocSpaceClient, changes: &[Change]) -> Result<Found, ApiError> {
        let mut found = Found::default();
        if changes.iter().any(|c| *c != Change::Schedule) {
            let history = client.get_history().await?;
            found.listed = Some(ids(&history));
            found.records = history.len();
        }
        if changes.contains(&Change::Schedule) {
            found.schedule_gone = Some(client.get_schedule().await?.is_none());
        }
        Ok(found)
    }

    /// Is what `change` removes gone?
    fn gone(&self, change: Change) -> bool {
        match change {
            Change::Backup(id) => self.listed.as_ref().is_some_and(|l| !l.contains(&id)),
            Change::History => self.listed.is_some() && self.records == 0,
            Change::Schedule => self.schedule_gone == Some(true),
        }
    }

    /// The outcome of a sent `change` from its answer and this read.
    fn settle(&self, change: Change, answer: &Result<Option<bool>, ApiError>) -> (Outcome, Option<String>) {
        let gone = self.gone(change);
        match change {
            Change::Backup(_) => match (gone, answer) {
                (true, Ok(Some(false))) => (Outcome::AlreadyGone, None),
                (true, Err(e)) if matches!(e.kind, ApiErrorKind::NotFound { .. }) => (Outcome::AlreadyGone, None),
                // A 500 whose record is gone: the server removed the record, then failed
                // on the file (docs/docspace-api.md, "Traps": delete order).
                (true, _) => (Outcome::Deleted, None),
                (false, Ok(_)) => (
                    Outcome::Failed,
                    Some("still in the history after the server answered the delete with success".to_string()),
                ),
                (false, Err(e)) => (Outcome::Failed, Some(e.to_string())),
            },
            Change::History => {
                let left = self.records;
                match (gone, answer) {
                    (true, _) => (Outcome::Deleted, None),
                    (false, Ok(_)) => (
                        Outcome::Failed,
                        Some(format!("{left} records remain after clearing the history")),
                    ),
                    (false, Err(e)) => (Outcome::Failed, Some(format!("{e}; {left} records remain"))),
                }
            }
            Change::Schedule => match (gone, answer) {
                (true, _) => (Outcome::Deleted, None),
                (false, Err(e)) => (Outcome::Failed, Some(e.to_string())),
                (false, Ok(_)) => (
                    Outcome::Failed,
                    Some("the schedule is still there after the delete".to_string()),
                ),
            },
        }
    }
}

/// What a step did with one of its changes.
#[derive(Debug)]
pub(super) enum Done {
    /// Sent, and settled by the read after the step.
    Settled {
        outcome: Outcome,
        status: Option<u16>,
        error: Option<String>,
    },
    /// Sent, but the read after the step failed: no result line is written and the
    /// batch stays open, so the next holder settles it by reading.
    Unverified { answer: Result<Option<bool>, ApiError> },
    /// Not sent, and why (its intent has a `failed` result line saying so).
    NotSent,
}

/// What a step did, change by change, in the order given.
#[derive(Debug, Default)]
pub(super) struct Step {
    pub done: Vec<Done>,
    /// Why the step stopped before its last change, when that is an error: a gate
    /// that says so, or an answer that no later change would get past (access).
    pub stopped: Option<String>,
    /// The read after the changes failed: they are unverified.
    pub unverified: Option<ApiError>,
    /// The result lines could not be written: the batch stays open.
    pub unrecorded: Option<AuditError>,
    /// Where the history was read after the step, the history as read.
    pub found: Found,
}

impl Executor<'_> {
    /// Carries out `changes` (each with its intent line) as one step, asking `go`
    /// before each. An error means nothing was sent: the batch mark or the intents
    /// could not be written.
    pub(super) async fn step(
        &self,
        changes: Vec<(Change, AuditEntry)>,
        mut go: impl FnMut(usize, Change) -> Go,
    ) -> Result<Step, BatchError> {
        self.open_batch()?;
        // The intents are dated now, after the mark: recovery finds a batch's lines by
        // the mark's time, so none may be older than it.
        let changes: Vec<(Change, AuditEntry)> = changes.into_iter().map(|(c, i)| (c, i.dated_now())).collect();
        // Every intent before the first request, with one flush: a crash after this
        // leaves intents the next holder settles, whichever were sent. If the write
        // fails, a part of it may be on disk: the batch stays open for that part.
        let intents: Vec<AuditEntry> = changes.iter().map(|(_, intent)| intent.clone()).collect();
        self.state.audit().record_all(intents).await?;

        let mut step = Step::default();
        let mut sent = Vec::new();
        let mut not_sent = Vec::new();
        let mut halted: Option<String> = None;
        for (i, (change, intent)) in changes.iter().enumerate() {
            let why = match &halted {
                Some(why) => Some(why.clone()),
                None => match go(i, *change) {
                    Go::Send => None,
                    Go::Skip(why) => Some(why),
                    Go::Stop { why, error } => {
                        if error {
                            step.stopped = Some(why.clone());
                        }
                        halted = Some(why.clone());
                        Some(why)
                    }
                },
            };
            if let Some(why) = why {
                not_sent.push(intent.result(Outcome::Failed, None, Some(format!("not sent: {why}"))));
                step.done.push(Done::NotSent);
                continue;
            }
            let answer = send(self.client, *change).await;
            if let Err(e) = &answer
                && e.is_access_problem()
            {
                step.stopped = Some(e.to_string());
                halted = Some(e.to_string());
            }
            sent.push(*change);
            step.done.push(Done::Unverified { answer });
        }

        // Settle every change sent by reading the portal once.
        let mut results = not_sent;
        let mut verified = true;
        if !sent.is_empty() {
            match Found::read(self.client, &sent).await {
                Ok(found) => {
                    for ((change, intent), done) in changes.iter().zip(step.done.iter_mut()) {
                        if let Done::Unverified { answer } = done {
                            let (outcome, error) = found.settle(*change, answer);
                            let status = status(answer);
                            results.push(intent.result(outcome, status, error.clone()));
                            *done = Done::Settled { outcome, status, error };
                        }
                    }
                    step.found = found;
                }
                Err(e) => {
                    verified = false;
                    step.unverified = Some(e);
                }
            }
        }
        // No action lies between the result lines: they go to disk together.
        match self.state.audit().record_all(results).await {
            Ok(()) if verified => self.close_batch(),
            Ok(()) => {}
            Err(e) => step.unrecorded = Some(e),
        }
        Ok(step)
    }

    /// Marks a batch of real changes open before its first intent: if the process
    /// dies before the results are written, the next holder settles the intents.
    fn open_batch(&self) -> Result<(), BatchError> {
        let (inode, audit_offset) = self.state.audit().end()?;
        self.lock.open_batch(Batch {
            audit_inode: Some(inode),
            audit_offset,
            since: Some(Utc::now().timestamp()),
            dump: self.client.dump(),
        })?;
        Ok(())
    }

    /// Marks the batch settled: every intent has its result on disk. Safe to fail:
    /// the mark then stays, and the next holder reads the lines since it, finds every
    /// intent answered, and closes it (one read of the log lost, nothing settled twice).
    fn close_batch(&self) {
        if let Err(e) = self.lock.close_batch() {
            tracing::warn!(portal = self.portal, error = %e, "cannot close the batch mark: the next holder closes it");
        }
    }

    /// Settles the intents an earlier holder wrote without results: `deleted` when the
    /// backup (or schedule, or history) is gone now, `failed` "interrupted" when it is
    /// still there. The result lines carry `"recovered": true`.
    pub(super) async fn recover(&mut self) -> Result<(), OpenError> {
        let batch = match self.lock.batch() {
            Ok(Some(batch)) => batch,
            Ok(None) => return Ok(()),
            // Only a mark torn while it was written can be unreadable, and its batch
            // had not written an intent yet: nothing to settle.
            Err(e) => {
                tracing::warn!(portal = self.portal, error = %e, "unreadable batch mark: cleared");
                return Ok(self.lock.close_batch()?);
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
            return Ok(self.lock.close_batch()?);
        }
        let changes: Vec<Change> = open.iter().filter_map(Change::of).collect();
        let found = Found::read(client, &changes).await.map_err(OpenError::Settle)?;
        let mut lines = Vec::with_capacity(open.len());
        for intent in open {
            let (outcome, error) = match Change::of(&intent).is_some_and(|c| found.gone(c)) {
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
        Ok(self.lock.close_batch()?)
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
