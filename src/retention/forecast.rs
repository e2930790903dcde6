//! The forecast (docs/reference.md, "Forecast"): when each backup that exists now
//! would be deleted if nothing but the schedule changed the history. The planner is
//! replayed at each coming pass, each time on what the previous one left, with new
//! backups made at the schedule's cadence; the same planner and guards, nothing else.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use fnv::FnvHashMap;

use super::decision::{Action, PlanContext, Scope};
use super::plan::plan_retention;
use super::policy::RetentionPolicy;
use crate::wire::{BackupId, HistoryRecord, Period, StorageType, WireTime};

/// When the server makes a backup, as the forecast assumes it: one per period at the
/// schedule's hour (UTC), of the schedule's storage type.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    pub period: Period,
    pub hour: u32,
    /// As the server's cron reads it ([`crate::wire::schedule_due`]): EveryWeek 1
    /// (Sunday) to 7 (Saturday); EveryMonth the day of the month.
    pub day: Option<i64>,
    pub storage_type: StorageType,
}

impl Cadence {
    /// The backups it makes after `from` up to `until`.
    pub fn backups(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut day: NaiveDate = from.date_naive();
        while let Some(at) = day.and_hms_opt(self.hour.min(23), 0, 0).map(|t| t.and_utc()) {
            if at > until {
                break;
            }
            let due = crate::wire::schedule_due(&self.period, self.day, day);
            if due && at > from {
                out.push(at);
            }
            day = match day.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        out
    }

    /// In words, for the forecast's caveat.
    pub fn describe(&self) -> String {
        let when = match self.period {
            Period::EveryDay => "a day".to_string(),
            Period::EveryWeek => match crate::wire::schedule_weekday(self.day) {
                Some(day) => format!("a week on {day}"),
                None => format!("a week on day {:?} (unknown: none forecast)", self.day),
            },
            Period::EveryMonth => format!("a month on day {}", self.day.unwrap_or(1)),
            Period::Unknown(ref p) => format!("per period {p} (unknown: none forecast)"),
        };
        format!("one backup {when} at {:02}:00 UTC", self.hour)
    }
}

/// When each existing backup would go.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Forecast {
    /// The first pass that would delete it; absent: it survives the whole span.
    pub deletes_on: FnvHashMap<BackupId, DateTime<Utc>>,
    /// The backups the schedule would make in the span, oldest first, each with the
    /// first pass that would delete it (`None`: it survives the span).
    pub made: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// The passes replayed.
    pub passes: usize,
    pub until: DateTime<Utc>,
}

/// Replays the planner at each of `passes` (sorted), starting from `records` as they
/// are at `ctx.now`, adding a backup at each of `cadence`'s times as they come. The
/// first replayed pass sees `ctx` as it is (a pending server change included); later
/// ones carry the grace clocks forward as the state store would.
pub fn forecast(
    records: &[HistoryRecord],
    policy: &RetentionPolicy,
    ctx: &PlanContext,
    cadence: Option<&Cadence>,
    passes: &[DateTime<Utc>],
    until: DateTime<Utc>,
) -> Forecast {
    let mut result = Forecast {
        until,
        passes: passes.len(),
        ..Forecast::default()
    };
    let existing: std::collections::HashSet<BackupId> = records.iter().filter_map(|r| BackupId::parse(&r.id)).collect();
    result.made = cadence
        .map(|c| c.backups(ctx.now, until))
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t, None))
        .collect();
    let times: Vec<DateTime<Utc>> = result.made.iter().map(|(t, _)| *t).collect();
    let mut made = times.into_iter().enumerate().peekable();
    let mut alive: Vec<HistoryRecord> = records.to_vec();
    let mut step = ctx.clone();
    for (i, &at) in passes.iter().enumerate() {
        while let Some((n, created)) = made.next_if(|(_, t)| *t <= at) {
            alive.push(synthetic(n, created, cadence.expect("made by a cadence")));
        }
        step.now = at;
        if i > 0 {
            step.server_change = None;
        }
        let plan = plan_retention(alive.clone(), policy, &step);
        let gone: std::collections::HashSet<BackupId> = plan
            .entries
            .iter()
            .filter(|e| e.action == Action::Delete && e.scope != Scope::Twin)
            .filter_map(|e| e.id)
            .collect();
        for id in &gone {
            if existing.contains(id) {
                result.deletes_on.entry(*id).or_insert(at);
            } else if let Some((_, deleted)) = synthetic_number(*id).and_then(|n| result.made.get_mut(n)) {
                deleted.get_or_insert(at);
            }
        }
        step.first_planned = plan
            .planned_since
            .iter()
            .filter(|(id, _)| !gone.contains(id))
            .copied()
            .collect();
        alive.retain(|r| BackupId::parse(&r.id).is_none_or(|id| !gone.contains(&id)));
    }
    result
}

/// The ids of the backups the schedule would make: ids no real backup has (a real id
/// with this prefix is an existing backup, looked up first).
const SYNTHETIC: &str = "ffffffff-ffff-4fff-bfff-";

/// A backup the schedule would make.
fn synthetic(n: usize, created: DateTime<Utc>, cadence: &Cadence) -> HistoryRecord {
    HistoryRecord {
        id: format!("{SYNTHETIC}{n:012x}"),
        file_name: None,
        storage_type: cadence.storage_type.clone(),
        created_on: WireTime::At(created),
        expires_on: WireTime::Never,
    }
}

/// The number of a backup [`synthetic`] made.
fn synthetic_number(id: BackupId) -> Option<usize> {
    let text = id.to_string();
    usize::from_str_radix(text.strip_prefix(SYNTHETIC)?, 16).ok()
}

/// Hours apart at most: a fast cron is evaluated at most once an hour.
pub const MIN_GAP: TimeDelta = TimeDelta::hours(1);
