//! Cron schedules as the daemon reads them: six fields, seconds first, evaluated in a
//! portal's time zone. One parser for config validation, the scheduler and forecasts.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

pub use croner::Cron;

/// Parses a cron string the way the scheduler will read it.
pub fn parse(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "expected 6 fields with seconds first (sec min hour day month weekday), found {fields} in {expr:?}"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

/// The runs of `cron` in `tz` after `from` up to `until`, keeping at most one per
/// `min_gap` (a forecast of a fast cron need not evaluate every second). Every run is
/// strictly after the one before it, whatever the clock changes (see [`next_after`]).
pub fn runs(cron: &Cron, tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>, min_gap: TimeDelta) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    let mut after = from;
    // Jump ahead instead of iterating every second of a fast cron.
    while let Some(next) = next_after(cron, tz, after) {
        if next > until {
            break;
        }
        out.push(next);
        after = (next + min_gap - TimeDelta::seconds(1)).max(next);
    }
    out
}

/// Turns [`next_after`] may take to walk out of a repeated hour: one per matching wall
/// time in it, and no zone repeats more than two hours.
const MAX_FOLD_TURNS: usize = 2 * 3600 + 2;

/// The first run of `cron` in `tz` strictly after the instant `after`.
///
/// Where the clocks change, the cron library's answer is checked, not believed:
/// - When the clocks go back, a wall time of the repeated hour names two instants and
///   the library resolves it to the first. Searching from the second pass of that hour,
///   it finds the first instant again, which lies behind: the search goes on from that
///   wall time's last instant. So each wall time runs once, at its first instant (a
///   nightly 02:30 in Berlin runs at 02:30 CEST on the night the clocks go back, not
///   again at 02:30 CET), and nothing loops.
/// - When the clocks go forward, a run whose wall time the change skips moves to the
///   end of the gap (02:30 in Berlin runs at 03:00 CEST that night). The library also
///   answers the end of a gap it merely walked through (Santiago's midnight change
///   gave a nightly 22:00 a second run at 01:00): such an answer is passed over.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use chrono::{TimeZone, Timelike};
    let mut probe = after.with_timezone(&tz);
    for _ in 0..MAX_FOLD_TURNS {
        let found = cron.find_next_occurrence(&probe, false).ok()?;
        // To the second: the library keeps the fraction of the instant it starts from.
        let found_utc = found.with_timezone(&Utc).with_nanosecond(0)?;
        if found_utc > after && is_run(cron, tz, &found) {
            return Some(found_utc);
        }
        // The search goes on from the wall time's last instant.
        let last = tz.from_local_datetime(&found.naive_local()).latest()?;
        if last <= probe {
            return None;
        }
        probe = last;
    }
    None
}

/// Whether the library's answer `found` is a run of `cron`: its wall time matches, or
/// the clocks skipped a wall time just before it that matches.
fn is_run(cron: &Cron, tz: Tz, found: &DateTime<Tz>) -> bool {
    use chrono::TimeZone;
    if cron.is_time_matching(found).unwrap_or(false) {
        return true;
    }
    let wall = found.naive_local();
    let skipped = |t: chrono::NaiveDateTime| tz.from_local_datetime(&t).earliest().is_none();
    // The gap's first wall time: no zone skips more than a few hours.
    let mut start = wall;
    for step in [TimeDelta::minutes(1), TimeDelta::seconds(1)] {
        while start - step > wall - TimeDelta::hours(4) && skipped(start - step) {
            start -= step;
        }
    }
    if start == wall {
        return false;
    }
    // A wall time of the schedule in [start, wall), read as a plain calendar.
    cron.find_next_occurrence(&(start - TimeDelta::seconds(1)).and_utc(), false)
        .is_ok_and(|m| m.naive_utc() < wall)
}

/// The shortest time between two runs of `cron` in `tz` (DST included), over the
/// first 1,000 runs from a fixed start, at most two years.
pub fn shortest_interval(cron: &Cron, tz: Tz) -> Option<u64> {
    use chrono::TimeZone;
    let start = tz.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).earliest()?;
    let end = start + TimeDelta::days(731);
    let mut shortest: Option<u64> = None;
    let mut previous: Option<DateTime<Tz>> = None;
    for next in cron.iter_after(start).take(1000).take_while(|t| *t < end) {
        if let Some(p) = previous {
            let gap = (next - p).num_seconds().max(0) as u64;
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        }
        previous = Some(next);
    }
    shortest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon's scheduler (tokio-cron-scheduler's `Job::new_async_tz`, as the
    /// timetable makes its jobs) and this parser agree on the next run of expressions
    /// that name both a day of the month and a day of the week (both must match: a
    /// Friday the 13th, not every Friday and every 13th), in two zones.
    #[test]
    fn the_scheduler_and_this_parser_agree_on_day_of_month_and_weekday() {
        for expr in [
            "0 0 3 13 * FRI",
            "0 30 2 1-7 * MON",
            "0 0 4 15 * 2",
            "0 0 12 * * SUN",
            "0 0 0 29 2 *",
            "0 15 1 31 * SAT",
        ] {
            for tz in [Tz::UTC, "Europe/Berlin".parse::<Tz>().unwrap()] {
                let ours = next_after(&parse(expr).unwrap(), tz, Utc::now()).unwrap();
                let mut job = tokio_cron_scheduler::Job::new_async_tz(expr, tz, |_, _| Box::pin(async {})).unwrap();
                let theirs = job.job_data().unwrap().next_tick_utc().unwrap();
                assert_eq!(ours, theirs, "{expr} in {tz}");
                // Both days must match: the run falls on that weekday of that day.
                let local = ours.with_timezone(&tz);
                if expr == "0 0 3 13 * FRI" {
                    use chrono::Datelike;
                    assert_eq!((local.day(), local.weekday()), (13, chrono::Weekday::Fri));
                }
            }
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn runs_of_a_daily_cron_and_a_fast_one_thinned_to_one_an_hour() {
        let daily = parse("0 30 3 * * *").unwrap();
        let r = runs(
            &daily,
            Tz::UTC,
            utc("2026-11-22T04:00:00Z"),
            utc("2026-11-25T04:00:00Z"),
            TimeDelta::hours(1),
        );
        assert_eq!(
            r,
            [
                utc("2026-11-23T03:30:00Z"),
                utc("2026-11-24T03:30:00Z"),
                utc("2026-11-25T03:30:00Z")
            ]
        );
        let every_second = parse("* * * * * *").unwrap();
        let r = runs(
            &every_second,
            Tz::UTC,
            utc("2026-11-22T00:00:00Z"),
            utc("2026-11-22T05:00:00Z"),
            TimeDelta::hours(1),
        );
        assert_eq!(r.len(), 5, "{r:?}");
        assert!(r.windows(2).all(|w| w[1] - w[0] >= TimeDelta::hours(1)));
        assert!(parse("* * * * *").unwrap_err().contains("expected 6 fields"));
    }

    /// The forecast of a nightly 02:30 in Berlin across the night the clocks go back
    /// (2027-10-31) used to find 02:30 CEST again from 02:29:59 CET, forever.
    #[test]
    fn runs_across_the_autumn_change_move_forward_once_a_night() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let nightly = parse("0 30 2 * * *").unwrap();
        let r = runs(
            &nightly,
            tz,
            utc("2026-12-04T12:00:00Z"),
            utc("2027-12-04T12:00:00Z"),
            TimeDelta::hours(1),
        );
        assert_eq!(r.len(), 365);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert!(r.contains(&utc("2027-10-31T00:30:00Z")), "02:30 CEST");
        assert!(!r.contains(&utc("2027-10-31T01:30:00Z")), "not 02:30 CET again");
        assert!(r.contains(&utc("2027-11-01T01:30:00Z")));
        // The spring gap: 02:30 does not exist on 2027-03-28; the run is at 03:00 CEST.
        assert!(r.contains(&utc("2027-03-28T01:00:00Z")));
        for (zone, schedule, from) in [
            ("America/New_York", "0 30 1 * * *", "2027-11-06T12:00:00Z"),
            ("Europe/London", "0 30 1 * * *", "2027-10-30T12:00:00Z"),
            ("Europe/Berlin", "0 */15 * * * *", "2027-10-30T12:00:00Z"),
            ("Australia/Lord_Howe", "0 */15 * * * *", "2027-04-03T00:00:00Z"),
        ] {
            let tz: Tz = zone.parse().unwrap();
            let from = utc(from);
            let r = runs(
                &parse(schedule).unwrap(),
                tz,
                from,
                from + TimeDelta::days(3),
                TimeDelta::minutes(15),
            );
            assert!(
                r.windows(2).all(|w| w[1] - w[0] >= TimeDelta::minutes(15)),
                "{zone} {schedule}: {r:?}"
            );
            assert!(r.len() > 1 && r.len() <= 3 * 96 + 1, "{zone} {schedule}: {}", r.len());
        }
    }

    /// Zones whose offset changes in 2027: (zone, the wall hours around each change).
    fn zones_with_clock_changes() -> Vec<(Tz, Vec<u32>)> {
        use chrono::{Offset, TimeZone, Timelike};
        chrono_tz::TZ_VARIANTS
            .iter()
            .filter_map(|tz| {
                let mut hours = Vec::new();
                let mut at = utc("2027-01-01T00:00:00Z");
                let mut offset = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
                while at < utc("2028-01-01T00:00:00Z") {
                    at += TimeDelta::minutes(30);
                    let now = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
                    if now != offset {
                        // The wall hours just before and after the change, in both offsets.
                        for o in [offset, now] {
                            let wall = (at - TimeDelta::minutes(1)).with_timezone(&o).hour();
                            hours.extend([wall, (wall + 1) % 24]);
                        }
                        offset = now;
                    }
                }
                hours.sort_unstable();
                hours.dedup();
                (!hours.is_empty()).then_some((*tz, hours))
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        /// In every zone whose clocks change, a schedule in the hours the change skips
        /// or repeats, or a fast one, over up to five years: every run strictly after
        /// the one before, at least `min_gap` apart, so the count is bounded by the span.
        #[test]
        fn runs_always_move_forward(
            zone in 0usize..10_000,
            hour_pick in 0usize..8,
            minute in 0u32..60,
            kind in 0u8..4,
            start_day in 0i64..1_500,
            span_days in 1i64..(5 * 366),
        ) {
            let zones = ZONES.get_or_init(zones_with_clock_changes);
            let (tz, hours) = &zones[zone % zones.len()];
            let hour = hours[hour_pick % hours.len()];
            let (schedule, min_gap) = match kind {
                0 => (format!("0 {minute} {hour} * * *"), TimeDelta::hours(1)),
                1 => (format!("30 {minute} {hour} * * 0,6"), TimeDelta::hours(1)),
                2 => ("0 */15 * * * *".to_string(), TimeDelta::hours(1)),
                _ => ("* * * * * *".to_string(), TimeDelta::hours(6)),
            };
            let cron = parse(&schedule).unwrap();
            let from = utc("2026-01-01T00:00:00Z") + TimeDelta::days(start_day) + TimeDelta::minutes(i64::from(minute));
            let until = from + TimeDelta::days(span_days);
            let r = runs(&cron, *tz, from, until, min_gap);
            let bound = ((until - from).num_seconds() / min_gap.num_seconds() + 1) as usize;
            proptest::prop_assert!(r.len() <= bound, "{tz} {schedule}: {} > {bound}", r.len());
            proptest::prop_assert!(r.first().is_none_or(|f| *f > from));
            proptest::prop_assert!(r.last().is_none_or(|l| *l <= until));
            for w in r.windows(2) {
                proptest::prop_assert!(w[1] - w[0] >= min_gap, "{tz} {schedule}: {} then {}", w[0], w[1]);
            }
            if kind == 0 {
                // A nightly runs once a night, the nights the clocks change included.
                let nights = span_days as usize;
                proptest::prop_assert!(r.len() + 1 >= nights && r.len() <= nights + 1, "{tz} {schedule}: {} runs in {nights} days", r.len());
            }
        }
    }

    /// Every zone whose clocks change, a nightly at half past each hour around its
    /// changes, over a year: one run a night, none twice.
    #[test]
    fn every_zone_with_clock_changes_runs_a_nightly_once_a_night() {
        let zones = ZONES.get_or_init(zones_with_clock_changes);
        assert!(zones.len() > 100, "{}", zones.len());
        let from = utc("2026-12-31T12:00:00Z");
        for (tz, hours) in zones {
            for hour in hours {
                let r = runs(
                    &parse(&format!("0 30 {hour} * * *")).unwrap(),
                    *tz,
                    from,
                    from + TimeDelta::days(365),
                    TimeDelta::hours(1),
                );
                assert!((364..=366).contains(&r.len()), "{tz} {hour}:30: {} runs", r.len());
                assert!(
                    r.windows(2).all(|w| w[1] - w[0] >= TimeDelta::hours(20)),
                    "{tz} {hour}:30"
                );
            }
        }
    }

    static ZONES: std::sync::OnceLock<Vec<(Tz, Vec<u32>)>> = std::sync::OnceLock::new();
}
