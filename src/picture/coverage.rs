//! What can be restored, in one sentence, from the plan: for each calendar unit (hour,
//! day, ISO week, month, year in the portal's zone), how many units back from now each
//! hold at least one backup that stays. "Restorable: every day of the last 14 days,
//! every week of the last 8 weeks, every month of the last 12 months".

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use super::Mark;

/// A calendar unit, and roughly how many days one is (to say only what adds).
#[derive(Clone, Copy)]
enum Unit {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    const ALL: [Unit; 5] = [Unit::Hour, Unit::Day, Unit::Week, Unit::Month, Unit::Year];

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Unit::Hour => ("hour", "hours"),
            Unit::Day => ("day", "days"),
            Unit::Week => ("week", "weeks"),
            Unit::Month => ("month", "months"),
            Unit::Year => ("year", "years"),
        }
    }

    fn hours(self) -> i64 {
        match self {
            Unit::Hour => 1,
            Unit::Day => 24,
            Unit::Week => 7 * 24,
            Unit::Month => 30 * 24,
            Unit::Year => 365 * 24,
        }
    }

    /// The unit `t` falls in, as a number that counts up one unit at a time.
    fn index(self, t: DateTime<Utc>, tz: Tz) -> i64 {
        let local = t.with_timezone(&tz).naive_local();
        let day = i64::from(local.date().num_days_from_ce());
        match self {
            Unit::Hour => day * 24 + i64::from(local.hour()),
            Unit::Day => day,
            // ISO weeks start on Monday: count Mondays.
            Unit::Week => (day - i64::from(local.weekday().num_days_from_monday())).div_euclid(7),
            Unit::Month => i64::from(local.year()) * 12 + i64::from(local.month0()),
            Unit::Year => i64::from(local.year()),
        }
    }
}

/// How many units back from the one of `now` hold a restore point each, without a gap
/// (the current unit counts when it has one, else the count starts before it).
fn run(unit: Unit, times: &[DateTime<Utc>], now: DateTime<Utc>, tz: Tz, held: &mut Vec<i64>) -> i64 {
    held.clear();
    held.extend(times.iter().map(|t| unit.index(*t, tz)));
    held.sort_unstable();
    held.dedup();
    let has = |i: i64| held.binary_search(&i).is_ok();
    let mut at = unit.index(now, tz);
    if !has(at) {
        at -= 1;
    }
    let mut n = 0;
    while has(at - n) {
        n += 1;
    }
    n
}

/// The sentence for the backups of `marks` that stay, as of `now`.
pub(super) fn sentence(marks: &[Mark], now: DateTime<Utc>, tz: Tz) -> String {
    let times: Vec<DateTime<Utc>> = marks
        .iter()
        .filter(|m| m.fate.restorable())
        .filter_map(|m| m.created)
        .filter(|t| *t <= now)
        .collect();
    let Some(oldest) = times.iter().min() else {
        return "Restorable: nothing: no backup stays".to_string();
    };
    let mut parts = Vec::new();
    let mut covered_hours = 0;
    let mut held = Vec::with_capacity(times.len());
    for unit in Unit::ALL {
        let n = run(unit, &times, now, tz, &mut held);
        // Only what reaches further back than the finer units already said.
        if n >= 2 && n * unit.hours() > covered_hours {
            let (_, many) = unit.words();
            parts.push(format!("every {} of the last {n} {many}", unit.words().0));
            covered_hours = n * unit.hours();
        }
    }
    let oldest_day: NaiveDate = oldest.with_timezone(&tz).date_naive();
    let n = times.len();
    let count = format!("{n} backup{}", if n == 1 { "" } else { "s" });
    match parts.is_empty() {
        true => format!("Restorable: {count}, the oldest from {oldest_day}"),
        false => format!(
            "Restorable: {}; {count}, the oldest from {oldest_day}",
            parts.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::Fate;

    fn mark(t: DateTime<Utc>, fate: Fate) -> Mark {
        Mark {
            created: Some(t),
            fate,
            id: "x".into(),
            file: None,
            reason: 0,
            deletes_on: None,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_gfs_history_says_days_weeks_and_months() {
        let now = at("2026-12-05T10:00:00Z");
        let mut marks = Vec::new();
        // 14 dailies (today's made at 03:00), 6 Sundays before them, then the 1st of
        // each month from September back to January.
        for d in 0..14 {
            marks.push(mark(
                now - chrono::TimeDelta::hours(7) - chrono::TimeDelta::days(d),
                Fate::Rule,
            ));
        }
        let mut sunday = at("2026-11-15T03:00:00Z");
        for _ in 0..6 {
            marks.push(mark(sunday, Fate::Rule));
            sunday -= chrono::TimeDelta::days(7);
        }
        for m in 1..=9 {
            marks.push(mark(at(&format!("2026-{m:02}-01T03:00:00Z")), Fate::Rule));
        }
        // Deleted and vanished backups restore nothing.
        marks.push(mark(at("2020-01-01T03:00:00Z"), Fate::Deleted));
        marks.push(mark(at("2019-01-01T03:00:00Z"), Fate::Vanished));
        let s = sentence(&marks, now, Tz::UTC);
        assert_eq!(
            s,
            "Restorable: every day of the last 14 days, every week of the last 9 weeks, every month of the last 12 \
             months; 29 backups, the oldest from 2026-01-01"
        );
    }

    #[test]
    fn a_gap_ends_the_run_and_an_empty_history_says_so() {
        let now = at("2026-12-05T01:00:00Z");
        // Today has none yet; yesterday and the day before do, then a gap.
        let marks = vec![
            mark(at("2026-12-04T03:00:00Z"), Fate::Rule),
            mark(at("2026-12-03T03:00:00Z"), Fate::Guard),
            mark(at("2026-12-01T03:00:00Z"), Fate::Rule),
        ];
        assert_eq!(
            sentence(&marks, now, Tz::UTC),
            "Restorable: every day of the last 2 days; 3 backups, the oldest from 2026-12-01"
        );
        assert_eq!(sentence(&[], now, Tz::UTC), "Restorable: nothing: no backup stays");
        let one = [mark(at("2026-12-04T03:00:00Z"), Fate::Rule)];
        assert_eq!(
            sentence(&one, now, Tz::UTC),
            "Restorable: 1 backup, the oldest from 2026-12-04"
        );
    }
}
