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
/// `min_gap` (a forecast of a fast cron need not evaluate every second).
pub fn runs(cron: &Cron, tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>, min_gap: TimeDelta) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    let mut at = from.with_timezone(&tz);
    // Jump ahead instead of iterating every second of a fast cron.
    while let Ok(next) = cron.find_next_occurrence(&at, false) {
        let next_utc = next.with_timezone(&Utc);
        if next_utc > until {
            break;
        }
        out.push(next_utc);
        at = (next_utc + min_gap - TimeDelta::seconds(1))
            .with_timezone(&tz)
            .max(next);
    }
    out
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
}
