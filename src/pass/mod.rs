//! One retention pass over one portal: read, plan, execute, verify (docs/architecture.md,
//! "The path of one pass"). The planner decides and the executor changes; this module
//! wires them together and reports what happened as plain data ([`PassReport`]), which
//! the observer turns into metrics, `/status` and logs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::config::PortalConfig;
use crate::docspace::{ApiError, DocSpaceClient};
use crate::executor::{ClearRefused, ClearResult, DeletionItem, DeletionResult, Executor, Gates, OpenError, Recovered};
use crate::retention::{
    Cadence, Forecast, MIN_GAP, Plan, PlanContext, ServerChange, forecast as retention_forecast, plan_retention,
    schedule_conflict,
};
use crate::state::audit::Outcome;
use crate::state::{HealthMemory, MemoryNews, PortalMemory, StateDir};
use crate::wire::{BackupId, BackupSchedule, HistoryRecord, ServerSettings};

mod health;
pub use health::HealthRead;

/// What a pass reads and decides before changing anything (also all that `plan` does).
#[derive(Debug, Clone)]
pub struct PortalRead {
    pub schedule: Option<BackupSchedule>,
    /// The DocSpace version, `None` when it could not be read ("unknown").
    pub version: Option<String>,
    pub plan: Plan,
    /// Set when the schedule's `backupsStored` makes the server's cleaner delete
    /// scheduled backups the policy keeps: the position of the first such backup.
    pub policy_conflict: Option<usize>,
    /// What is remembered of the portal after this read (stored unless a dry run).
    pub memory: PortalMemory,
    /// What changed in that memory.
    pub news: MemoryNews,
    /// What the planner was told besides the records (for a forecast from here).
    pub context: PlanContext,
    /// What the server says of the portal (tenant, on-premise, time zone).
    pub settings: ServerSettings,
    /// The health sentinel's view and what it remembers next.
    pub health: HealthRead,
}

/// Reads the portal's settings, schedule, version and history (and, for the health
/// sentinel, its backups' sizes and its key's expiry) and plans, as of `now`, with
/// what is remembered of the portal.
pub async fn read_and_plan(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    now: DateTime<Utc>,
    memory: &PortalMemory,
    health_memory: &HealthMemory,
) -> Result<PortalRead, ApiError> {
    // The server's clock as this read finds it, not as an earlier pass did.
    client.forget_clock_skew();
    // Who the portal is and its zone; an older server that cannot say costs only that.
    let settings = client.get_settings().await.unwrap_or_else(|e| {
        tracing::debug!(portal = %portal.name, error = %e, "the server did not say which tenant it is");
        ServerSettings::default()
    });
    let schedule = client.get_schedule().await?;
    // Anonymous and never a reason to fail: an unreadable version is "unknown".
    let version = client.get_version().await.unwrap_or_else(|e| {
        tracing::debug!(portal = %portal.name, error = %e, "DocSpace version unknown");
        None
    });
    let history = client.get_history().await?;
    // The skew as the reads of the schedule and history found it (the sentinel's
    // reads after them are not what the plan rests on).
    let clock_skew_secs = client.clock_skew_secs();
    let health = health::gather(
        portal,
        client,
        schedule.as_ref(),
        memory.schedule.as_ref(),
        &history,
        &settings,
        health_memory,
        now,
    )
    .await;
    let ctx = PlanContext {
        schedule_period: memory.period(schedule.as_ref()).cloned(),
        server_change: memory
            .version_change(version.as_deref())
            .map(|(from, to)| ServerChange {
                from: from.into(),
                to: to.into(),
            }),
        first_planned: memory.planned.clone(),
        clock_skew_secs,
        health: health.view.as_ref().map(|v| std::sync::Arc::new(v.input.clone())),
        ..PlanContext::new(now, portal.timezone)
    };
    let plan = plan_retention(history, &portal.retention, &ctx);
    let (memory, news) = memory.after(schedule.as_ref(), version.as_deref(), &plan, now);
    let context = ctx;
    let policy_conflict = schedule.as_ref().and_then(|s| {
        let stored = s.backups_stored?;
        schedule_conflict(
            &portal.retention,
            &s.period,
            s.hour,
            s.day,
            stored,
            now,
            portal.timezone,
        )
    });
    Ok(PortalRead {
        schedule,
        version,
        plan,
        policy_conflict,
        memory,
        news,
        context,
        settings,
        health,
    })
}

/// A forecast from what a read found: the planner replayed at each of the portal's
/// coming passes until `until`, with backups made at the schedule's cadence (the
/// current schedule's, else the one last seen; none without either). Also what it
/// assumed, in words, for the output.
pub fn forecast(portal: &PortalConfig, read: &PortalRead, until: DateTime<Utc>) -> (Forecast, String) {
    forecast_every(portal, read, until, MIN_GAP)
}

/// How often the page's forecast evaluates a pass at most: it draws days.
pub const PAGE_GAP: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// [`forecast`] with passes at least `gap` apart (the page's: [`PAGE_GAP`], so a
/// fast cron costs 90 plans for 90 days, not 2,160).
pub fn forecast_every(
    portal: &PortalConfig,
    read: &PortalRead,
    until: DateTime<Utc>,
    gap: chrono::TimeDelta,
) -> (Forecast, String) {
    let now = read.context.now;
    let newest_type = read
        .plan
        .iter()
        .find(|e| e.scope == crate::retention::Scope::Managed)
        .map(|e| e.record.storage_type.clone());
    let cadence = match (&read.schedule, &read.memory.schedule) {
        (Some(s), _) => Some((
            s.period.clone(),
            s.hour,
            s.day,
            s.storage_type.clone(),
            "the schedule's",
        )),
        (None, Some(r)) => Some((
            r.period.clone(),
            r.hour,
            r.day,
            newest_type.unwrap_or(crate::wire::StorageType::Documents),
            "the last schedule seen: the portal has none now",
        )),
        (None, None) => None,
    }
    .map(|(period, hour, day, storage_type, whose)| {
        (
            Cadence {
                period,
                hour: hour.unwrap_or(0).clamp(0, 23) as u32,
                day,
                storage_type,
            },
            whose,
        )
    });
    let passes = crate::cron::parse(&portal.schedule)
        .map(|cron| crate::cron::runs(&cron, portal.timezone, now, until, gap))
        .unwrap_or_default();
    let records: Vec<HistoryRecord> = read.plan.records_newest_first();
    let f = retention_forecast(
        &records,
        &portal.retention,
        &read.context,
        cadence.as_ref().map(|(c, _)| c),
        &passes,
        until,
    );
    let made = match &cadence {
        Some((c, whose)) => format!("{} ({whose})", c.describe()),
        None => "no new backups (the portal has never been seen with a schedule)".to_string(),
    };
    let assumes = format!(
        "assumes {made}, and passes at {:?} in {} ({} until {}; at most one {}, jitter not counted); \
         manual and temporary backups, failed backups and the server's own cleaner are not forecast",
        portal.schedule,
        portal.timezone,
        passes.len(),
        crate::calendar::rfc3339(until),
        if gap >= PAGE_GAP { "a day" } else { "an hour" }
    );
    (f, assumes)
}

/// Claims the tenant the server named for `portal` in this fleet; an answer that
/// names no tenant (an older server, an error) claims nothing.
async fn identify(portal: &PortalConfig, settings: &ServerSettings, state: &StateDir) -> Result<(), String> {
    let Some(alias) = settings.alias.clone() else {
        return Ok(());
    };
    let identified = crate::identity::Identified {
        tenant: crate::identity::Tenant {
            alias,
            standalone: settings.standalone,
            dump: portal.dump,
        },
        addresses: crate::identity::addresses(&portal.url).await,
    };
    state.tenants().claim(&portal.name, identified)
}

/// Settles how each remembered backup that is gone now left: the state database
/// knows the deletions this product intended; for the others, the audit log is read
/// (an operator's `backup delete` notes nothing in the database). What nothing
/// explains vanished.
fn settle_gone(portal: &str, read: &mut PortalRead, state: &StateDir) -> Vec<(BackupId, Option<DateTime<Utc>>)> {
    let unexplained: Vec<&crate::state::Gone> = read.health.gone.iter().filter(|g| g.how.is_none()).collect();
    // The audit lines since the earliest of them was last seen (rotated files too).
    let lines = match unexplained.iter().map(|g| g.last_seen).min() {
        None => Vec::new(),
        Some(since) => match state.audit().lines_since(None, 0, Some(since), portal) {
            Ok(lines) => lines,
            Err(e) => {
                // Without the log nothing can be called vanished: asked again next pass.
                tracing::info!(portal, error = %e, "cannot tell vanished backups from deleted ones");
                return Vec::new();
            }
        },
    };
    // A deletion of this id, or a clear, sent after the pass that last saw it.
    let ours = |g: &crate::state::Gone| {
        lines.iter().any(|l| {
            l.phase == crate::state::audit::Phase::Intent
                && !l.dry_run
                && DateTime::parse_from_rfc3339(&l.ts).is_ok_and(|t| t >= g.last_seen)
                && match l.action {
                    crate::state::audit::AuditAction::ClearHistory => true,
                    crate::state::audit::AuditAction::DeleteBackup => {
                        l.backup_id.as_deref().and_then(BackupId::parse) == Some(g.id)
                    }
                    crate::state::audit::AuditAction::DeleteSchedule => false,
                }
        })
    };
    let mut vanished = Vec::new();
    for g in &read.health.gone {
        let how = match g.how {
            Some(how) => how,
            None if ours(g) => crate::state::LEFT_DELETED,
            None => {
                vanished.push((g.id, g.created_on));
                crate::state::LEFT_VANISHED
            }
        };
        read.health.update.left.push((g.id, how, g.last_seen));
    }
    vanished.sort();
    vanished
}

/// Everything a pass did, for logs, metrics, `/status` and the `once` summary.
#[derive(Debug, Clone)]
pub struct PassReport {
    pub portal: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub dry_run: bool,
    /// `None` when reading the portal failed.
    pub read: Option<PortalRead>,
    pub deletions: Vec<DeletionResult>,
    pub clear: Option<ClearResult>,
    /// Records that vanished between the first read and the verification although
    /// nobody here deleted them (the server's cleaner, another admin): reported only.
    pub unexpectedly_missing: Vec<BackupId>,
    /// Changes an earlier, interrupted run left unsettled, settled by this pass first.
    pub recovered: Vec<Recovered>,
    /// Backups an earlier pass saw that are gone now, and nobody here deleted them
    /// (with when they were made).
    pub vanished: Vec<(BackupId, Option<DateTime<Utc>>)>,
    /// The audit chain's head after the pass's own line (for `/status` and metrics).
    pub chain_head: Option<crate::evidence::Head>,
    /// A notification was sent after the pass (`notify.url`), and why it failed.
    pub notified: bool,
    pub notify_error: Option<String>,
    /// `Some` means the pass failed.
    pub error: Option<String>,
    /// What kind of failure `error` is (set with it).
    pub failure: Option<Failure>,
    /// For the page (the daemon's `picture.forecast`): when each backup would go, and
    /// what that assumed.
    pub forecast: Option<(Forecast, String)>,
    /// For the page: the backups each pass of the last 30 days deleted.
    pub deletions_by_pass: Option<Vec<(DateTime<Utc>, u32)>>,
}

/// What kind of failure ended or spoiled a pass, told apart without reading the
/// message: the log line of a failed pass carries it (`kind`); metrics and `/status`
/// do not show it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Another process (or pass) held the portal's lock.
    Locked,
    /// Changes an earlier run left open could not be settled (the portal could not
    /// be read for them).
    Recovery,
    /// The state directory: the lock file, the audit log, the state database.
    State,
    /// The portal could not be read (or its answers were refused).
    Read,
    /// The pass deadline passed while the portal was being read.
    Deadline,
    /// The portal is another portal of the fleet by another name.
    Identity,
    /// A deletion or clear failed, was refused, or could not be verified.
    Changes,
    /// The pass could not start (no client for the portal) or broke (a panic).
    Setup,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Locked => "locked",
            Failure::Recovery => "recovery",
            Failure::State => "state",
            Failure::Read => "read",
            Failure::Deadline => "deadline",
            Failure::Identity => "identity",
            Failure::Changes => "changes",
            Failure::Setup => "setup",
        }
    }
}

impl PassReport {
    /// A pass that has not done anything yet (or could not even start).
    pub fn new(portal: &str, dry_run: bool, started: DateTime<Utc>) -> Self {
        PassReport {
            portal: portal.to_string(),
            started,
            finished: started,
            dry_run,
            read: None,
            deletions: Vec::new(),
            clear: None,
            unexpectedly_missing: Vec::new(),
            recovered: Vec::new(),
            vanished: Vec::new(),
            chain_head: None,
            notified: false,
            notify_error: None,
            error: None,
            failure: None,
            forecast: None,
            deletions_by_pass: None,
        }
    }

    /// The pass stops here with `error`, finished now.
    fn ended_by(mut self, failure: Failure, error: String) -> Self {
        self.fail(failure, error);
        self.finished = Utc::now();
        self
    }

    /// The pass failed with `error` (the first failure stays).
    fn fail(&mut self, failure: Failure, error: String) {
        if self.error.is_none() {
            self.error = Some(error);
            self.failure = Some(failure);
        }
    }

    /// A pass that could not even start (e.g. no HTTP client for the portal, or a
    /// pass that panicked).
    pub fn failed(portal: &str, dry_run: bool, error: String) -> Self {
        PassReport {
            error: Some(error),
            failure: Some(Failure::Setup),
            ..PassReport::new(portal, dry_run, Utc::now())
        }
    }

    /// Another process (or pass) held the portal's lock: nothing was done.
    pub fn locked(&self) -> bool {
        self.failure == Some(Failure::Locked)
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.deletions.iter().filter(|d| d.outcome == outcome).count()
    }

    pub fn kept(&self) -> usize {
        self.read.as_ref().map_or(0, |r| r.plan.kept_count())
    }

    pub fn blocked(&self) -> usize {
        self.read.as_ref().map_or(0, |r| r.plan.blocked_deletions())
    }
}

/// How long one pass may take before it stops starting deletions (reads are cut off,
/// deletions already sent are still verified): ten times the worst case of one call
/// with all its retries, and at least a minute. One stuck portal therefore cannot hold
/// a concurrency slot for ever.
pub fn pass_deadline(portal: &PortalConfig) -> std::time::Duration {
    (portal.request_timeout * 10 * (portal.max_retries + 1)).max(std::time::Duration::from_secs(60))
}

/// Runs one pass. Never panics on portal behaviour: every failure ends in the report.
pub async fn run_pass(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    state: &StateDir,
    now: DateTime<Utc>,
) -> PassReport {
    run_pass_within(portal, client, state, now, pass_deadline(portal)).await
}

/// [`run_pass`] with gates that may tighten while it runs (the daemon's, which a
/// reload replaces).
pub async fn run_pass_gated(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    state: &StateDir,
    now: DateTime<Utc>,
    gates: Gates,
) -> PassReport {
    run(portal, client, state, now, pass_deadline(portal), gates).await
}

/// [`run_pass`] with an explicit time limit.
pub async fn run_pass_within(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    state: &StateDir,
    now: DateTime<Utc>,
    limit: std::time::Duration,
) -> PassReport {
    run(portal, client, state, now, limit, Gates::of(portal)).await
}

async fn run(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    state: &StateDir,
    now: DateTime<Utc>,
    limit: std::time::Duration,
    gates: Gates,
) -> PassReport {
    let mut report = run_within(portal, client, state, now, limit, gates).await;
    // The pass's line in the audit log (and, with a key, the checkpoint that signs
    // the chain so far): what `attest` reads passes from. A pass another process held
    // the lock for did nothing and leaves none.
    if !report.locked()
        && let Err(e) = state
            .audit()
            .record_pass(crate::evidence::attest::pass_line(portal, &report))
            .await
    {
        tracing::warn!(portal = %portal.name, error = %e, "cannot write the pass's line in the audit log");
    }
    report.chain_head = state.audit().head();
    if let Some(notify) = &portal.notify
        && !report.locked()
    {
        let body = crate::report::pass_json(&report);
        report.notified = true;
        if let Err(e) = crate::notify::send(notify, report.succeeded(), &body).await {
            report.notify_error = Some(e);
        }
    }
    report
}

async fn run_within(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    state: &StateDir,
    now: DateTime<Utc>,
    limit: std::time::Duration,
    gates: Gates,
) -> PassReport {
    let mut report = PassReport::new(&portal.name, portal.dry_run, now);
    let deadline = tokio::time::Instant::now() + limit;
    let exceeded = || {
        format!(
            "pass deadline of {}s exceeded while reading the portal",
            limit.as_secs()
        )
    };
    // The lock first, then what an interrupted run left, and only then the plan.
    let executor = match tokio::time::timeout_at(deadline, Executor::open(&portal.name, client, state, gates)).await {
        Ok(Ok(executor)) => executor,
        Ok(Err(e)) => {
            let failure = match e {
                OpenError::Locked => Failure::Locked,
                OpenError::Settle(_) => Failure::Recovery,
                OpenError::Lock(_) | OpenError::Audit(_) => Failure::State,
            };
            return report.ended_by(failure, e.to_string());
        }
        Err(_) => return report.ended_by(Failure::Deadline, exceeded()),
    };
    report.recovered = executor.recovered().to_vec();
    let memory = match state.memory(&portal.name).await {
        Ok(m) => m,
        Err(e) => return report.ended_by(Failure::State, e.to_string()),
    };
    let health_memory: HealthMemory = match state.health_memory(&portal.name, now).await {
        Ok(m) => m,
        Err(e) => return report.ended_by(Failure::State, e.to_string()),
    };
    let mut read =
        match tokio::time::timeout_at(deadline, read_and_plan(portal, client, now, &memory, &health_memory)).await {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => return report.ended_by(Failure::Read, e.to_string()),
            Err(_) => return report.ended_by(Failure::Deadline, exceeded()),
        };
    // One portal, one definition: a second name for a tenant another portal of this
    // fleet already is gets no pass (nothing was changed by the read).
    match tokio::time::timeout_at(deadline, identify(portal, &read.settings, state)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return report.ended_by(Failure::Identity, e),
        Err(_) => return report.ended_by(Failure::Deadline, exceeded()),
    }
    report.vanished = settle_gone(&portal.name, &mut read, state);
    // What the sentinel saw is stored whatever happens next (a dry run too, when the
    // database is writable); losing it costs a signal, never a backup.
    if let Err(e) = state
        .remember_health(&portal.name, read.health.update.clone(), now)
        .await
    {
        tracing::warn!(portal = %portal.name, error = %e, "cannot store what this pass saw of the backups");
    }
    // What the pass learned is stored before anything is deleted; a pass that
    // cannot store it deletes nothing (a dry run stores nothing).
    if !portal.dry_run
        && let Err(e) = state.remember(&portal.name, read.memory.clone()).await
    {
        report.read = Some(read);
        return report.ended_by(Failure::State, format!("{e}: nothing was deleted"));
    }
    if read.plan.clear_withheld {
        tracing::warn!(
            portal = %portal.name,
            "clear_history: not clearing, the portal protects backups and a clear also removes records the \
             history does not list; deleting them one by one instead"
        );
    }
    if read.plan.clear_history {
        clear_history(&executor, &read.plan, &mut report).await;
    } else {
        delete_backups(&executor, &read.plan, deadline, &mut report).await;
    }
    report.read = Some(read);
    report.finished = Utc::now();
    report
}

async fn delete_backups(executor: &Executor<'_>, plan: &Plan, deadline: tokio::time::Instant, report: &mut PassReport) {
    // Oldest first; one call per backup (a twin listing is not a second backup).
    let items: Vec<DeletionItem> = plan
        .deletions()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter_map(|e| {
            Some(DeletionItem::new(
                e.id?,
                e.record,
                e.reasons.iter().map(ToString::to_string).collect(),
            ))
        })
        .collect();
    if items.is_empty() {
        return;
    }
    let done = executor.delete_backups(&items, false, Some(deadline)).await;
    report.deletions = done.results;
    if let Some(e) = done.error {
        report.fail(Failure::Changes, e);
    }

    if let Some(present) = &done.present_after {
        let touched: HashSet<BackupId> = report.deletions.iter().map(|d| d.id).collect();
        report.unexpectedly_missing = plan
            .entries
            .iter()
            .filter_map(|e| e.id)
            .filter(|id| !touched.contains(id) && !present.contains(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        report.unexpectedly_missing.sort();
    }
    let failed = report.count(Outcome::Failed);
    if failed > 0 {
        report.fail(
            Failure::Changes,
            format!("{failed} of {} deletions failed", report.deletions.len()),
        );
    }
}

async fn clear_history(executor: &Executor<'_>, plan: &Plan, report: &mut PassReport) {
    let records: Vec<HistoryRecord> = plan.records_newest_first();
    let reasons = vec![format!("all {} records planned for deletion", records.len())];
    match executor.clear_history(&records, reasons, false).await {
        Ok(clear) => {
            if clear.outcome == Outcome::Failed {
                let error = clear.error.clone();
                report.fail(
                    Failure::Changes,
                    error.unwrap_or_else(|| "clearing the history failed".into()),
                );
            }
            report.clear = Some(clear);
        }
        // The history changed under us: the next pass plans again.
        Err(ClearRefused::Changed) => {
            tracing::warn!(portal = %report.portal, "the history changed since it was read: not clearing it this pass")
        }
        Err(refused) => report.fail(Failure::Changes, refused.to_string()),
    }
}
