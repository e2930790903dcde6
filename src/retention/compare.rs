//! Two plans of the same history side by side (`plan --what-if`): which backups a
//! policy change would delete that are kept now, and which it would keep that are
//! deleted now.

use super::decision::{Action, Planned, Scope};
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
    /// Kept before, deleted after, newest first.
    pub newly_deleted: Vec<Change<'a>>,
    /// Deleted before, kept after, newest first.
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

/// Compares two plans made of the same records (the same read): each backup once (a
/// second listing of an id is not a second backup), in `before`'s order.
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
    for b in before.iter() {
        let a = after.get(place[b.index as usize]);
        assert!(a.record == b.record, "plans of different histories");
        if b.scope == Scope::Twin || a.scope == Scope::Twin || a.action == b.action {
            continue;
        }
        let change = Change { before: b, after: a };
        match a.action {
            Action::Delete => out.newly_deleted.push(change),
            Action::Keep => out.newly_kept.push(change),
        }
    }
    if before.clear_history != after.clear_history {
        out.clear = Some((before.clear_history, after.clear_history));
    }
    out
}
