//! The guards (docs/reference.md, "Guards"): visible steps after the rules that turn
//! planned deletions back into keeps, each with a reason naming the guard and its limit.

use chrono::{DateTime, Utc};

use super::decision::{Action, Guard, GuardLimit, PlanContext, PlanEntry, Reason};
use super::policy::RetentionPolicy;

/// Applies the guards in order to the deletion `candidates` (indexes of `entries`,
/// oldest first) among `managed` backups whose newest is `newest`; answers how many
/// deletions each guard blocked (only guards that blocked something, in order).
pub(super) fn apply_guards(
    entries: &mut [PlanEntry],
    mut candidates: Vec<usize>,
    managed: usize,
    newest: Option<DateTime<Utc>>,
    policy: &RetentionPolicy,
    ctx: &PlanContext,
) -> Vec<(Guard, usize)> {
    let mut blocked = Vec::new();
    // Blocks the candidates from `from` on (the newest ones) with `limit`.
    let mut block = |entries: &mut [PlanEntry], candidates: &mut Vec<usize>, from: usize, limit: GuardLimit| {
        if from >= candidates.len() {
            return;
        }
        for &i in &candidates[from..] {
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::Blocked(limit));
        }
        blocked.push((limit.guard(), candidates.len() - from));
        candidates.truncate(from);
    };

    // 1. stale
    if let (Some(after), Some(newest)) = (policy.stale_threshold(ctx.schedule_period.as_ref()), newest)
        && newest < after.before(ctx.now, ctx.tz)
    {
        block(entries, &mut candidates, 0, GuardLimit::Stale { after });
    }
    // 2. min_keep: save the newest candidates until enough managed backups remain.
    let remaining = managed - candidates.len();
    let min = policy.min_keep as usize;
    if remaining < min {
        let from = candidates.len().saturating_sub(min - remaining);
        block(
            entries,
            &mut candidates,
            from,
            GuardLimit::MinKeep { min: policy.min_keep },
        );
    }
    // 3. max_delete_fraction, then max_deletions_per_run: the oldest go first.
    let fraction_limit = ((policy.max_delete_fraction * managed as f64) + 1e-9).floor() as usize;
    block(
        entries,
        &mut candidates,
        fraction_limit,
        GuardLimit::MaxFraction {
            limit: fraction_limit,
            managed,
        },
    );
    block(
        entries,
        &mut candidates,
        policy.max_deletions_per_run as usize,
        GuardLimit::MaxDeletions {
            limit: policy.max_deletions_per_run,
        },
    );
    blocked
}
