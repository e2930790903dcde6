//! The guards (docs/reference.md, "Guards"): visible steps after the rules that turn
//! planned deletions back into keeps, each with a reason naming the guard and its limit.

use chrono::{DateTime, TimeDelta, Utc};

use super::decision::{Action, Guard, GuardLimit, PlanContext, PlanEntry, Reason};
use super::policy::{RetentionPolicy, StaleAfter};
use crate::wire::BackupId;

/// How far the server's clock may be from ours before a pass deletes nothing.
pub const CLOCK_SKEW_LIMIT_SECS: i64 = 300;

/// What the guards did.
pub(super) struct Guarded {
    /// How many deletions each guard blocked (only guards that blocked something, in
    /// order).
    pub blocked: Vec<(Guard, usize)>,
    /// The backups planned for deletion when the grace guard looked, with the time
    /// each was first planned: what the state store remembers for the next pass.
    pub planned_since: Vec<(BackupId, DateTime<Utc>)>,
}

/// Applies the guards in order to the deletion `candidates` (indexes of `entries`,
/// oldest first) among `managed` backups whose newest is `newest`. `uncounted` are
/// the managed backups `min_keep` does not count (the health sentinel's suspects).
pub(super) fn apply_guards(
    entries: &mut [PlanEntry],
    mut candidates: Vec<usize>,
    managed: usize,
    uncounted: &fnv::FnvHashSet<usize>,
    newest: Option<DateTime<Utc>>,
    policy: &RetentionPolicy,
    ctx: &PlanContext,
) -> Guarded {
    let mut blocked = Vec::new();

    // 0. clock_skew: with the server's clock far from ours, neither its dates nor our
    //    "now" can be trusted against each other: the pass deletes nothing.
    if let Some(skew_secs) = ctx.clock_skew_secs.filter(|s| s.abs() > CLOCK_SKEW_LIMIT_SECS) {
        block(
            entries,
            &mut candidates,
            0,
            GuardLimit::ClockSkew { skew_secs },
            &mut blocked,
        );
    }
    // 1. stale. With `auto` and no period to measure by (no schedule now, none
    //    remembered: a lost state directory, or a portal never seen with one) it
    //    fails closed: the backups may have stopped, and nothing says since when.
    if policy.stale_after == StaleAfter::Auto && ctx.schedule_period.is_none() {
        block(entries, &mut candidates, 0, GuardLimit::StaleUnknown, &mut blocked);
    } else if let (Some(after), Some(newest)) = (policy.stale_threshold(ctx.schedule_period.as_ref()), newest)
        && newest < after.before(ctx.now, ctx.tz)
    {
        block(entries, &mut candidates, 0, GuardLimit::Stale { after }, &mut blocked);
    }
    // 2. server_changed: the first pass after an upgrade only plans.
    if let Some(change) = &ctx.server_change {
        let limit = GuardLimit::ServerChanged(change.clone());
        block(entries, &mut candidates, 0, limit, &mut blocked);
    }
    // 3. grace: a deletion waits until it has been planned for `delete_grace`. What
    //    reaches this step is "planned for deletion"; the wait is per backup.
    let first_planned = |e: &PlanEntry| {
        e.id.and_then(|id| ctx.first_planned.get(&id).copied())
            .unwrap_or(ctx.now)
            .min(ctx.now)
    };
    let planned_since: Vec<(BackupId, DateTime<Utc>)> = candidates
        .iter()
        .filter_map(|&i| Some((entries[i].id?, first_planned(&entries[i]))))
        .collect();
    let grace = TimeDelta::from_std(policy.delete_grace).unwrap_or(TimeDelta::MAX);
    if grace > TimeDelta::zero() {
        let mut waiting = 0;
        candidates.retain(|&i| {
            let until = first_planned(&entries[i])
                .checked_add_signed(grace)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if ctx.now >= until {
                return true;
            }
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::Blocked(GuardLimit::Grace { until }));
            waiting += 1;
            false
        });
        if waiting > 0 {
            blocked.push((Guard::Grace, waiting));
        }
    }
    // 4. min_keep: save the newest candidates until enough managed backups that
    //    count remain (a suspect one saved does not count, so more are saved).
    let counts = |i: &usize| !uncounted.contains(i);
    let counted_candidates = candidates.iter().filter(|i| counts(i)).count();
    let remaining = (managed - uncounted.len()).saturating_sub(counted_candidates);
    let min = policy.min_keep as usize;
    if remaining < min {
        let mut short = min - remaining;
        let mut from = candidates.len();
        while short > 0 && from > 0 {
            from -= 1;
            if counts(&candidates[from]) {
                short -= 1;
            }
        }
        let limit = GuardLimit::MinKeep { min: policy.min_keep };
        block(entries, &mut candidates, from, limit, &mut blocked);
    }
    // 5. max_delete_fraction, then max_deletions_per_run: the oldest go first.
    let fraction_limit = ((policy.max_delete_fraction * managed as f64) + 1e-9).floor() as usize;
    let limit = GuardLimit::MaxFraction {
        limit: fraction_limit,
        managed,
    };
    block(entries, &mut candidates, fraction_limit, limit, &mut blocked);
    let limit = GuardLimit::MaxDeletions {
        limit: policy.max_deletions_per_run,
    };
    let max = policy.max_deletions_per_run as usize;
    block(entries, &mut candidates, max, limit, &mut blocked);
    Guarded { blocked, planned_since }
}

/// Blocks the candidates from `from` on (the newest ones) with `limit`.
fn block(
    entries: &mut [PlanEntry],
    candidates: &mut Vec<usize>,
    from: usize,
    limit: GuardLimit,
    blocked: &mut Vec<(Guard, usize)>,
) {
    if from >= candidates.len() {
        return;
    }
    for &i in &candidates[from..] {
        entries[i].action = Action::Keep;
        entries[i].reasons.push(Reason::Blocked(limit.clone()));
    }
    blocked.push((limit.guard(), candidates.len() - from));
    candidates.truncate(from);
}
