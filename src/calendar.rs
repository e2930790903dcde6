//! Calendar arithmetic exactly as restic does it.
//!
//! restic's `forget` measures `keep-within*` windows with Go's `time.AddDate` in the
//! snapshot's zone, and buckets snapshots by wall-clock fields. Reproducing Go here
//! (month overflow normalises forward: 31 March minus one month is 3 March; a wall time
//! that falls into a DST gap moves forward by the gap) is what makes "the same history
//! and policy give the same kept set" true, so the quirks are deliberate.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// A duration in restic syntax (`1y6m`, `30d`, `2d12h`): calendar units, not seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CalDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub hours: u32,
}

impl CalDuration {
    pub const fn days(days: u32) -> Self {
        CalDuration {
            years: 0,
            months: 0,
            days,
            hours: 0,
        }
    }

    /// Parses restic's syntax: numbers each followed by `y`, `m`, `d` or `h`, in any
    /// order. Unlike restic, negative numbers are refused: a negative window would reach
    /// into the future and keep nothing.
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("empty duration".into());
        }
        let mut d = CalDuration::default();
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "expected a number at {rest:?} (restic syntax such as \"30d\", \"1y6m\", \"2d12h\")"
                ));
            }
            let num: u32 = rest[..digits]
                .parse()
                .map_err(|_| format!("number {:?} is too large", &rest[..digits]))?;
            let unit = rest[digits..]
                .chars()
                .next()
                .ok_or_else(|| format!("no unit after {num} (use y, m, d or h, e.g. \"{num}d\")"))?;
            match unit {
                'y' => d.years = num,
                'm' => d.months = num,
                'd' => d.days = num,
                'h' => d.hours = num,
                other => {
                    return Err(format!("invalid unit {other:?} after {num} (use y, m, d or h)"));
                }
            }
            rest = &rest[digits + unit.len_utf8()..];
        }
        Ok(d)
    }

    pub fn is_zero(&self) -> bool {
        *self == CalDuration::default()
    }

    /// `from` moved back by this duration the way restic moves `latest` back:
    /// `from.AddDate(-y, -m, -d).Add(-h hours)` in `tz`. Out-of-range results saturate
    /// to the beginning of time, which makes a window include everything (keeping more
    /// is the safe direction).
    pub fn before(&self, from: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        go_add_date(
            from,
            tz,
            -(self.years as i64),
            -(self.months as i64),
            -(self.days as i64),
        )
        .and_then(|t| t.checked_sub_signed(TimeDelta::hours(self.hours as i64)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl CalDuration {
    /// `from` moved forward by this duration (the reverse of [`CalDuration::before`]);
    /// out of range saturates to the end of time.
    pub fn after(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        go_add_date(from, Tz::UTC, self.years as i64, self.months as i64, self.days as i64)
            .and_then(|t| t.checked_add_signed(TimeDelta::hours(self.hours as i64)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Display for CalDuration {
    /// restic's spelling (`1y6m`, `2d12h`), used in reasons such as "within 30d".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Go's `t.AddDate(years, months, days)` evaluated in `tz`.
pub fn go_add_date(t: DateTime<Utc>, tz: Tz, years: i64, months: i64, days: i64) -> Option<DateTime<Utc>> {
    let local = t.with_timezone(&tz).naive_local();
    let total_months = (local.year() as i64)
        .checked_add(years)?
        .checked_mul(12)?
        .checked_add(local.month0() as i64)?
        .checked_add(months)?;
    let year = i32::try_from(total_months.div_euclid(12)).ok()?;
    let month = total_months.rem_euclid(12) as u32 + 1;
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let day_offset = (local.day() as i64 - 1).checked_add(days)?;
    let date = first.checked_add_signed(TimeDelta::try_days(day_offset)?)?;
    go_date_in_zone(date.and_time(local.time()), tz)
}

/// Go's `time.Date(…, loc)`: the offset is looked up at the wall time read as UTC and
/// corrected once if the resulting instant lies in a different zone period. A wall time
/// inside a DST gap therefore lands after the gap, and an ambiguous one gets the
/// offset Go picks, not necessarily the earlier one.
fn go_date_in_zone(wall: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let as_utc = wall.and_utc();
    let first = tz.offset_from_utc_datetime(&wall).fix().local_minus_utc();
    let guess = as_utc.checked_sub_signed(TimeDelta::seconds(first as i64))?;
    let second = tz.offset_from_utc_datetime(&guess.naive_utc()).fix().local_minus_utc();
    as_utc.checked_sub_signed(TimeDelta::seconds(second as i64))
}

/// Wall-clock fields of an instant in the portal's zone, the inputs of restic's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub iso_year: i32,
    pub iso_week: u32,
}

impl WallClock {
    pub fn of(t: DateTime<Utc>, tz: Tz) -> Self {
        let local = t.with_timezone(&tz);
        let iso = local.iso_week();
        WallClock {
            year: local.year(),
            month: local.month(),
            day: local.day(),
            hour: chrono::Timelike::hour(&local),
            iso_year: iso.year(),
            iso_week: iso.week(),
        }
    }
}

/// An instant given as RFC 3339 (`--at`, `--from`, `--to`), in UTC.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 instant such as 2026-11-22T10:00:00Z: {e}"))
}

/// RFC 3339 in UTC with seconds precision (`2026-11-21T03:00:00Z`), our output format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_restic_syntax() {
        let d = CalDuration::parse("1y6m").unwrap();
        assert_eq!((d.years, d.months, d.days, d.hours), (1, 6, 0, 0));
        assert_eq!(CalDuration::parse("2d12h").unwrap().to_string(), "2d12h");
        assert_eq!(CalDuration::parse("12h2d").unwrap().to_string(), "2d12h");
        assert_eq!(CalDuration::parse(" 30d ").unwrap().to_string(), "30d");
        for bad in ["", "30", "d", "30x", "-1d", "1.5d", "99999999999d"] {
            assert!(CalDuration::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn month_overflow_normalises_forward_like_go() {
        // 31 March minus one month is "31 February", which Go normalises to 3 March.
        let t = utc("2026-03-31T10:00:00Z");
        let back = go_add_date(t, Tz::UTC, 0, -1, 0).unwrap();
        assert_eq!(back, utc("2026-03-03T10:00:00Z"));
        // In a leap year it is 2 March.
        let t = utc("2028-03-31T10:00:00Z");
        assert_eq!(go_add_date(t, Tz::UTC, 0, -1, 0).unwrap(), utc("2028-03-02T10:00:00Z"));
        // 29 February minus one year is 1 March.
        let t = utc("2028-02-29T00:00:00Z");
        assert_eq!(go_add_date(t, Tz::UTC, -1, 0, 0).unwrap(), utc("2027-03-01T00:00:00Z"));
    }

    #[test]
    fn add_date_keeps_wall_clock_across_dst() {
        // Berlin switches to summer time on 2026-03-29. One day back from 30 March
        // 12:00 CEST is 29 March 12:00 CEST: 24 wall-clock hours, 23 real hours.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let t = utc("2026-03-30T10:00:00Z");
        assert_eq!(go_add_date(t, tz, 0, 0, -1).unwrap(), utc("2026-03-29T10:00:00Z"));
        // Across the switch: 28 March 12:00 CET is 11:00 UTC.
        assert_eq!(go_add_date(t, tz, 0, 0, -2).unwrap(), utc("2026-03-28T11:00:00Z"));
    }

    #[test]
    fn wall_time_in_a_dst_gap_moves_forward_like_go() {
        // 2026-03-30 02:30 Berlin minus one day is 29 March 02:30, which does not exist;
        // Go answers 03:30 CEST (01:30 UTC).
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let t = utc("2026-03-30T00:30:00Z");
        assert_eq!(go_add_date(t, tz, 0, 0, -1).unwrap(), utc("2026-03-29T01:30:00Z"));
    }

    #[test]
    fn ambiguous_wall_time_takes_gos_choice() {
        // 25 October 2026 02:30 happens twice in Berlin; Go picks CET (01:30 UTC).
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let t = utc("2026-10-26T01:30:00Z"); // 02:30 CET on the 26th
        assert_eq!(go_add_date(t, tz, 0, 0, -1).unwrap(), utc("2026-10-25T01:30:00Z"));
        // New York falls back on 1 November 2026; 01:30 happens twice and Go picks EDT.
        let tz: Tz = "America/New_York".parse().unwrap();
        let t = utc("2026-11-02T06:30:00Z"); // 01:30 EST on the 2nd
        assert_eq!(go_add_date(t, tz, 0, 0, -1).unwrap(), utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn before_subtracts_hours_as_real_time() {
        let d = CalDuration::parse("1d2h").unwrap();
        let t = utc("2026-06-10T12:00:00Z");
        assert_eq!(d.before(t, Tz::UTC), utc("2026-06-09T10:00:00Z"));
        let huge = CalDuration {
            years: 4_000_000,
            ..Default::default()
        };
        assert_eq!(huge.before(t, Tz::UTC), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn iso_week_year_differs_from_calendar_year() {
        // 1 January 2027 is a Friday: ISO week 53 of 2026.
        let w = WallClock::of(utc("2027-01-01T12:00:00Z"), Tz::UTC);
        assert_eq!((w.year, w.iso_year, w.iso_week), (2027, 2026, 53));
        // 29 December 2025 is a Monday: ISO week 1 of 2026.
        let w = WallClock::of(utc("2025-12-29T12:00:00Z"), Tz::UTC);
        assert_eq!((w.year, w.iso_year, w.iso_week), (2025, 2026, 1));
    }
}
