//! The server's own cleaner keeps only the newest `backupsStored` scheduled backups
//! (docs/docspace-api.md, "The server prunes too"). This estimates whether the policy
//! wants more than that.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use smallvec::SmallVec;

use super::policy::RetentionPolicy;
use super::rules::RuleEngine;
use crate::calendar::go_add_date;
use crate::wire::Period;

/// On a synthetic history of one backup per schedule period (newest first), the
/// position of the first backup the policy keeps although the cleaner will delete it
/// (`None` when there is none within 20 years). Counting uses the planner's own rule
/// engine.
pub fn schedule_conflict(
    policy: &RetentionPolicy,
    period: &Period,
    hour: Option<i64>,
    day: Option<i64>,
    backups_stored: u32,
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<usize> {
    let step_days = match period {
        Period::EveryDay => 1,
        Period::EveryWeek => 7,
        Period::EveryMonth => 0,
        Period::Unknown(_) => return None,
    };
    // The most recent scheduled instant at or before `now`.
    let hour = hour.unwrap_or(0).clamp(0, 23) as u32;
    let mut first = now.date_naive().and_hms_opt(hour, 0, 0)?.and_utc();
    if step_days == 0 {
        let dom = day.unwrap_or(1).clamp(1, 28) as u32;
        first = chrono::Datelike::with_day(&first, dom)?;
        if first > now {
            first = go_add_date(first, Tz::UTC, 0, -1, 0)?;
        }
    } else if first > now {
        first -= TimeDelta::days(1);
    }
    let mut rules = RuleEngine::new(policy, Some(first), tz);
    let horizon = first - TimeDelta::days(366 * 20);
    let mut scratch = SmallVec::new();
    let mut t = first;
    for nr in 0.. {
        if t <= horizon || rules.exhausted(t) {
            return None;
        }
        scratch.clear();
        if rules.consider(t, nr, false, &mut scratch) && nr >= backups_stored as usize {
            return Some(nr);
        }
        t = if step_days == 0 {
            go_add_date(first, Tz::UTC, 0, -(nr as i64 + 1), 0)?
        } else {
            t - TimeDelta::days(step_days)
        };
    }
    None
}
