//! Any body `getbackupschedule` may return: parsing never panics, and the conflict
//! estimate terminates for whatever period and count it yields.
#![no_main]

use docspace_retention::retention::{RetentionPolicy, Rule, schedule_conflict};
use docspace_retention::wire::parse_schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(s)) = parse_schedule(data) else { return };
    let policy = RetentionPolicy::default().keep(Rule::Daily, 30).keep(Rule::Weekly, 8);
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    if let Some(stored) = s.backups_stored {
        let _ = schedule_conflict(&policy, &s.period, s.hour, s.day, stored, now, chrono_tz::Tz::UTC);
    }
});
