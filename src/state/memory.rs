//! What the product remembers of a portal between passes (docs/reference.md, "State"):
//! plain data, and the pure step from one pass's memory to the next.

use chrono::{DateTime, Utc};
use fnv::FnvHashMap;

use crate::retention::Plan;
use crate::wire::{BackupId, BackupSchedule, Period};

/// The last schedule seen on a portal.
#[derive(Clone, Debug, PartialEq)]
pub struct RememberedSchedule {
    pub period: Period,
    pub hour: Option<i64>,
    pub day: Option<i64>,
    pub backups_stored: Option<u32>,
    /// When it was last seen.
    pub seen_at: DateTime<Utc>,
}

impl RememberedSchedule {
    fn of(s: &BackupSchedule, now: DateTime<Utc>) -> Self {
        RememberedSchedule {
            period: s.period.clone(),
            hour: s.hour,
            day: s.day,
            backups_stored: s.backups_stored,
            seen_at: now,
        }
    }
}

/// One portal's memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortalMemory {
    /// The last schedule seen, kept when the server deletes it.
    pub schedule: Option<RememberedSchedule>,
    /// Since when the portal has had no schedule (first seen missing).
    pub schedule_missing_since: Option<DateTime<Utc>>,
    /// The last DocSpace version read (never "unknown"), and since when.
    pub version: Option<String>,
    pub version_since: Option<DateTime<Utc>>,
    /// Each backup planned for deletion, and when it was first planned.
    pub planned: FnvHashMap<BackupId, DateTime<Utc>>,
}

/// What changed in a portal's memory that deserves to be said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryNews {
    /// The schedule, seen before, is gone now.
    pub schedule_vanished: bool,
    /// The DocSpace version changed: (from, to).
    pub version_changed: Option<(String, String)>,
}

impl PortalMemory {
    /// The period `stale_after = "auto"` uses: the current schedule's, else the one
    /// last seen.
    pub fn period<'a>(&'a self, current: Option<&'a BackupSchedule>) -> Option<&'a Period> {
        current.map(|s| &s.period).or(self.schedule.as_ref().map(|s| &s.period))
    }

    /// The version change this read shows, if any: `unknown` on either side is not
    /// a change.
    pub fn version_change(&self, current: Option<&str>) -> Option<(String, String)> {
        match (self.version.as_deref(), current) {
            (Some(old), Some(new)) if old != new => Some((old.to_string(), new.to_string())),
            _ => None,
        }
    }

    /// The memory after a pass read `schedule` and `version` and made `plan` at `now`.
    pub fn after(
        &self,
        schedule: Option<&BackupSchedule>,
        version: Option<&str>,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> (PortalMemory, MemoryNews) {
        let mut news = MemoryNews::default();
        let mut next = self.clone();
        match schedule {
            Some(s) => {
                next.schedule = Some(RememberedSchedule::of(s, now));
                next.schedule_missing_since = None;
            }
            None => {
                if next.schedule_missing_since.is_none() {
                    next.schedule_missing_since = Some(now);
                    news.schedule_vanished = next.schedule.is_some();
                }
            }
        }
        if let Some(v) = version {
            if let Some(change) = self.version_change(Some(v)) {
                news.version_changed = Some(change);
            }
            if self.version.as_deref() != Some(v) {
                next.version = Some(v.to_string());
                next.version_since = Some(now);
            }
        }
        next.planned = plan.planned_since.iter().copied().collect();
        (next, news)
    }
}
