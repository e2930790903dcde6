//! When the server should have made each backup. Its scheduler looks every 15 minutes
//! and runs a backup once the cron's time has passed, in the portal's zone: a nightly
//! backup at hour 3 starts in [03:00, 03:15). After an outage it makes one catch-up
//! backup, not one per slot: a slot is filled by a backup that started between it and
//! the next slot, so the catch-up fills one and the others stay missed.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::wire::Period;

/// A clock a little behind ours may start a backup this much before its slot.
const EARLY: TimeDelta = TimeDelta::minutes(15);

/// A schedule's slots: its period, hour and day in the portal's zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Slotting {
    pub period: Period,
    pub hour: u32,
    /// As the server's cron reads it ([`crate::wire::schedule_due`]): EveryWeek 1
    /// (Sunday) to 7 (Saturday); EveryMonth the day of the month (a month without it
    /// has no slot).
    pub day: Option<i64>,
    pub tz: Tz,
}

impl Slotting {
    /// What makes two slottings the same: period, hour, day and zone.
    pub fn key(&self) -> String {
        format!("{}/{}/{:?}/{}", self.period.name(), self.hour, self.day, self.tz.name())
    }

    /// The slots in `(from, until]`, oldest first.
    pub fn slots(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        if matches!(self.period, Period::Unknown(_)) || until <= from {
            return out;
        }
        let mut day: NaiveDate = from.with_timezone(&self.tz).date_naive() - TimeDelta::days(1);
        let last = until.with_timezone(&self.tz).date_naive() + TimeDelta::days(1);
        while day <= last {
            if self.due(day)
                && let Some(at) = self.instant(day)
                && at > from
                && at <= until
            {
                out.push(at);
            }
            day = match day.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        out
    }

    fn due(&self, day: NaiveDate) -> bool {
        crate::wire::schedule_due(&self.period, self.day, day)
    }

    /// The slot's instant on `day`: the hour's first instant, or, in a gap of a clock
    /// change, the first instant after it.
    fn instant(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let wall = day.and_hms_opt(self.hour.min(23), 0, 0)?;
        (0..3).find_map(|h| {
            self.tz
                .from_local_datetime(&(wall + TimeDelta::hours(h)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
    }
}

/// The slots in `(from, until]` that no backup filled: none of `starts` (sorted) lies
/// in [slot, next slot), each widened by a quarter of an hour early.
pub fn missed_slots(
    slotting: &Slotting,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    starts: &[DateTime<Utc>],
) -> Vec<DateTime<Utc>> {
    let slots = slotting.slots(from, until);
    // The slot after the last one bounds it; a year ahead covers every period.
    let after_last = slots
        .last()
        .and_then(|&s| slotting.slots(s, s + TimeDelta::days(400)).first().copied());
    let mut missed = Vec::new();
    for (i, &slot) in slots.iter().enumerate() {
        let next = slots
            .get(i + 1)
            .copied()
            .or(after_last)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let lo = slot - EARLY;
        let hi = next - EARLY;
        let first = starts.partition_point(|t| *t < lo);
        if starts.get(first).is_none_or(|t| *t >= hi) {
            missed.push(slot);
        }
    }
    missed
}
