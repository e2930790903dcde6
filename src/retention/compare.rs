//! Two plans of the same history side by side (`plan --what-if`): which backups a
//! policy change would delete that are kept now, and which it would keep that are
//! deleted now.
//!
//! A backup counts as deleted by a plan when the plan deletes it this pass, or when
//! the rules delete it and only a guard holds it back this pass (grace, a stale
//! history, a server change, the limits): a policy change that a guard delays is still
//! a change, and the next passes carry it out. Each backup is compared once, by id.

use fnv::FnvHashSet;

use super::decision::{Action, Planned};
use super::plan::Plan;

/// One backup whose fate differs between two plans of the same records.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    pub before: Planned<'a>,
    pub after: Planned<'a>,
}

/// What changes from `before` to `after`.
#[derive(Clone, Debug, Default)]
pub struct Comparison<'a> {
    /// Kept before, deleted (or held by a guard only) after, newest first.
    pub newly_deleted: Vec<Change<'a>>,
    /// Deleted (or held by a guard only) before, kept after, newest first.
    pub newly_kept: Vec<Change<'a>>,
    /// Whether each plan clears the whole history with one call, when they differ:
    /// a clear also takes records the history does not list.
    pub clear: Option<(bool, bool)>,
}

impl Comparison<'_> {
    /// Nothing would change.
    pub fn is_empty(&self) -> bool {
        self.newly_deleted.is_empty() && self.newly_kept.is_empty() && self.clear.is_none()
    }
}

/// What a plan decides about a backup: (the rules delete it, this pass deletes it).
fn fate(p: &Planned<'_>) -> (bool, bool) {
    let deleted = p.action == Action::Delete;
    (deleted || p.held_by_guard(), deleted)
}

/// Compares two plans made of the same records (the same read), in `before`'s order.
///
/// # Panics
/// When the plans were not made of the same records.
pub fn compare<'a>(before: &'a Plan, after: &'a Plan) -> Comparison<'a> {
    assert_eq!(
        before.entries.len(),
        after.entries.len(),
        "plans of different histories"
    );
    let mut place = vec![usize::MAX; after.entries.len()];
    for (i, e) in after.entries.iter().enumerate() {
        place[e.index as usize] = i;
    }
    let mut out = Comparison::default();
    // One backup listed twice is one backup: compared at its first listing that
    // changes (which listing is the "twin" may itself change with the policy).
    let mut seen = FnvHashSet::default();
    for b in before.iter() {
        let a = after.get(place[b.index as usize]);
        assert!(a.record == b.record, "plans of different histories");
        let ((meant_before, now_before), (meant_after, now_after)) = (fate(&b), fate(&a));
        let deletes = (meant_after && !meant_before) || (now_after && !now_before);
        let keeps = (meant_before && !meant_after) || (now_before && !now_after);
        if !(deletes || keeps) || b.id.is_some_and(|id| !seen.insert(id)) {
            continue;
        }
        let change = Change { before: b, after: a };
        match deletes {
            true => out.newly_deleted.push(change),
            false => out.newly_kept.push(change),
        }
    }
    if before.clear_history != after.clear_history {
        out.clear = Some((before.clear_history, after.clear_history));
    }
    out
}
