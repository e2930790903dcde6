//! The whole decision about one backup (`explain`, docs/reference.md, "Explain"):
//! each keep rule with the bucket it put the backup in and its rank, the windows'
//! starts, `max_age`, health, `protect`, and the guards in order with what each did.
//! Pure, like the planner: it replays restic's rules over the plan's own order and
//! reads everything else from the plan and its context, so it says what the planner
//! did, not what a second implementation thinks.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use smallvec::SmallVec;

use super::decision::{Action, Guard, GuardLimit, PlanContext, Planned, Reason, Scope};
use super::guards::CLOCK_SKEW_LIMIT_SECS;
use super::plan::Plan;
use super::policy::{Bucket, RetentionPolicy};
use super::rules::{RuleEngine, RuleOutcome, RuleSetting, latest};
use crate::calendar::{CalDuration, WallClock};

/// What one keep rule did with the backup.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleStep {
    pub setting: RuleSetting,
    /// The bucket it put the backup in (`2026-11-21`, `2026-W47`), in the portal's
    /// zone; `None` for `keep_last` and `keep_within`, which keep every backup.
    pub bucket: Option<String>,
    pub outcome: RuleOutcome,
}

/// What one guard did with the backup.
#[derive(Clone, Debug, PartialEq)]
pub enum GuardStep {
    /// The backup was no deletion when the guards ran: nothing to guard.
    NotACandidate,
    /// It let the deletion through; why, in words.
    Passed(String),
    /// It turned the deletion into a keep.
    Blocked(GuardLimit),
    /// An earlier guard already kept it.
    NotReached,
}

/// The decision about one backup, step by step.
#[derive(Clone, Debug)]
pub struct Explanation<'a> {
    /// The backup and the plan's decision (the final action and reasons).
    pub planned: Planned<'a>,
    /// Its place in the plan, newest first, from 1.
    pub position: usize,
    /// The other listings of its id (a twin shares its first listing's fate).
    pub listings: usize,
    /// restic's "latest", from which the windows reach back.
    pub latest: Option<DateTime<Utc>>,
    /// Each keep rule that is on, in restic's order; empty when no rule looked at it
    /// (not managed, doubtful, temporary, a second listing, or suspect).
    pub rules: Vec<RuleStep>,
    /// The health sentinel judged it suspect, and why.
    pub suspect: Option<Arc<str>>,
    /// One of the newest healthy backups, pinned.
    pub pinned: bool,
    /// `max_age`, its cut-off, and whether the backup is not after it.
    pub max_age: Option<(CalDuration, DateTime<Utc>, bool)>,
    pub protected: bool,
    /// The guards in the order they apply; empty when not managed.
    pub guards: Vec<(Guard, GuardStep)>,
}

/// The bucket of a count rule in words, in the portal's zone.
fn bucket_label(bucket: Bucket, t: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<String> {
    let w = WallClock::of(t, tz);
    Some(match bucket {
        Bucket::Every => return None,
        Bucket::Hour => format!("{:04}-{:02}-{:02} {:02}h", w.year, w.month, w.day, w.hour),
        Bucket::Day => format!("{:04}-{:02}-{:02}", w.year, w.month, w.day),
        Bucket::Week => format!("{:04}-W{:02}", w.iso_year, w.iso_week),
        Bucket::Month => format!("{:04}-{:02}", w.year, w.month),
        Bucket::Year => format!("{:04}", w.year),
    })
}

/// Explains the `i`-th entry of `plan` (newest first), made with `policy` and `ctx`.
pub fn explain<'a>(plan: &'a Plan, policy: &RetentionPolicy, ctx: &PlanContext, i: usize) -> Explanation<'a> {
    let planned = plan.get(i);
    let listings = planned
        .id
        .map_or(1, |id| plan.iter().filter(|e| e.id == Some(id)).count());
    let managed: Vec<usize> = (0..plan.entries.len())
        .filter(|&k| plan.entries[k].scope == Scope::Managed)
        .collect();
    let suspect = match planned.scope {
        Scope::Managed => ctx.health.as_ref().and_then(|h| h.suspect.get(&planned.id?).cloned()),
        _ => None,
    };
    // The rules ran over the managed backups that are not suspect, newest first.
    let is_suspect = |k: usize| {
        ctx.health
            .as_ref()
            .is_some_and(|h| plan.entries[k].id.is_some_and(|id| h.suspect.contains_key(&id)))
    };
    let ruled: Vec<usize> = managed.iter().copied().filter(|&k| !is_suspect(k)).collect();
    let times: Vec<DateTime<Utc>> = ruled
        .iter()
        .map(|&k| plan.entries[k].created.expect("managed records have a date"))
        .collect();
    let latest = latest(&times, ctx.now);
    let mut rules = Vec::new();
    if let Some(nr) = ruled.iter().position(|&k| k == i) {
        let mut engine = RuleEngine::new(policy, latest, ctx.tz);
        let settings: Vec<RuleSetting> = engine.settings().collect();
        let mut scratch: SmallVec<[Reason; 2]> = SmallVec::new();
        for (n, &t) in times.iter().enumerate().take(nr) {
            scratch.clear();
            engine.consider(t, n, n + 1 == times.len(), &mut scratch);
        }
        let t = times[nr];
        engine.consider_with(t, nr, nr + 1 == times.len(), &mut scratch, |rule, outcome| {
            let setting = *settings.iter().find(|s| s.rule == rule).expect("an active rule");
            rules.push(RuleStep {
                setting,
                bucket: bucket_label(setting.bucket, t, ctx.tz),
                outcome,
            });
        });
    }
    let max_age = match (policy.max_age, planned.scope, planned.created) {
        (Some(d), Scope::Managed, Some(t)) => {
            let cutoff = d.before(ctx.now, ctx.tz);
            Some((d, cutoff, t <= cutoff))
        }
        _ => None,
    };
    let protected = planned.scope == Scope::Managed && planned.id.is_some_and(|id| policy.protect.contains(&id));
    let guards = match planned.scope {
        Scope::Managed => guard_steps(plan, planned, policy, ctx),
        _ => Vec::new(),
    };
    Explanation {
        planned,
        position: i + 1,
        listings,
        latest,
        rules,
        suspect,
        pinned: planned.reasons.contains(&Reason::HealthyPin),
        max_age,
        protected,
        guards,
    }
}

/// What each guard did: a backup the guards blocked was a deletion for every guard
/// before the one that blocked it; one still deleted passed them all.
fn guard_steps(plan: &Plan, e: Planned<'_>, policy: &RetentionPolicy, ctx: &PlanContext) -> Vec<(Guard, GuardStep)> {
    let blocked_by = e.reasons.iter().find_map(|r| match r {
        Reason::Blocked(limit) => Some(limit),
        _ => None,
    });
    let candidate = e.action == Action::Delete || blocked_by.is_some();
    let mut reached = true;
    Guard::ALL
        .into_iter()
        .map(|g| {
            let step = match blocked_by {
                _ if !candidate => GuardStep::NotACandidate,
                _ if !reached => GuardStep::NotReached,
                Some(limit) if limit.guard() == g => {
                    reached = false;
                    GuardStep::Blocked(limit.clone())
                }
                _ => GuardStep::Passed(passed(g, plan, e, policy, ctx)),
            };
            (g, step)
        })
        .collect()
}

/// Why guard `g` let the deletion of `e` through, in words.
fn passed(g: Guard, plan: &Plan, e: Planned<'_>, policy: &RetentionPolicy, ctx: &PlanContext) -> String {
    let when = |t: DateTime<Utc>| crate::calendar::rfc3339(t);
    match g {
        Guard::ClockSkew => match ctx.clock_skew_secs {
            Some(s) => format!(
                "the server's clock is {}s from ours (the limit is {CLOCK_SKEW_LIMIT_SECS}s)",
                s.unsigned_abs()
            ),
            None => "no answer said the server's time".to_string(),
        },
        Guard::Stale => match (
            policy.stale_threshold(ctx.schedule_period.as_ref()),
            plan.newest_managed,
        ) {
            (None, _) => "off (stale_after = \"off\")".to_string(),
            (Some(after), Some(newest)) => format!(
                "the newest backup ({}) is newer than {after} ago ({})",
                when(newest),
                when(after.before(ctx.now, ctx.tz))
            ),
            (Some(after), None) => format!("stale after {after}"),
        },
        Guard::ServerChanged => "the DocSpace version did not change since the last pass".to_string(),
        Guard::Grace => {
            let grace = TimeDelta::from_std(policy.delete_grace).unwrap_or(TimeDelta::MAX);
            if grace <= TimeDelta::zero() {
                return "off (delete_grace = 0)".to_string();
            }
            let since =
                e.id.and_then(|id| ctx.first_planned.get(&id).copied())
                    .unwrap_or(ctx.now)
                    .min(ctx.now);
            format!(
                "planned for deletion since {}, so deletable from {}",
                when(since),
                when(since.checked_add_signed(grace).unwrap_or(DateTime::<Utc>::MAX_UTC))
            )
        }
        Guard::MinKeep => {
            // As the guard counts: managed backups that are not suspect.
            let suspects = ctx.health.as_ref().map_or(0, |h| {
                plan.iter()
                    .filter(|p| p.scope == Scope::Managed && p.id.is_some_and(|id| h.suspect.contains_key(&id)))
                    .count()
            });
            format!(
                "min_keep {}: {} backups that count remain after this pass's deletions",
                policy.min_keep,
                plan.managed.saturating_sub(suspects + plan.deletion_count())
            )
        }
        Guard::MaxFraction => {
            let limit = ((policy.max_delete_fraction * plan.managed as f64) + 1e-9).floor() as usize;
            format!(
                "max_delete_fraction {}: at most {limit} of {} per pass, the oldest first",
                policy.max_delete_fraction, plan.managed
            )
        }
        Guard::MaxDeletions => format!(
            "max_deletions_per_run {}: the oldest first",
            policy.max_deletions_per_run
        ),
    }
}
