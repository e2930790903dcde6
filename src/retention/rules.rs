//! restic's rule state, fed one backup at a time, newest first. Shared by the planner
//! and the policy-conflict estimate so both count exactly alike; driven by the rule
//! table, so it knows no rule by name.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use smallvec::SmallVec;

use super::decision::Reason;
use super::policy::{Bucket, Keep, RULES, RetentionPolicy, Rule};
use crate::calendar::{CalDuration, WallClock};

impl Bucket {
    fn value(self, w: &WallClock, nr: usize) -> i64 {
        let (y, m, d, h) = (w.year as i64, w.month as i64, w.day as i64, w.hour as i64);
        match self {
            Bucket::Every => nr as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => w.iso_year as i64 * 100 + w.iso_week as i64,
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

/// One active rule while a plan is made.
struct Active {
    rule: Rule,
    bucket: Bucket,
    /// Count rules: counts left (-1 unlimited, 0 used up).
    left: i64,
    /// Window rules: the window and its exclusive start (a backup is inside when
    /// strictly after it).
    window: Option<(CalDuration, DateTime<Utc>)>,
    last: Option<i64>,
}

pub(super) struct RuleEngine {
    tz: Tz,
    active: SmallVec<[Active; 4]>,
}

impl RuleEngine {
    /// The rules of `policy`, with windows reaching back from `latest` (restic's
    /// "latest": the newest backup that is not in the future).
    pub(super) fn new(policy: &RetentionPolicy, latest: Option<DateTime<Utc>>, tz: Tz) -> Self {
        // With no backup before "now", restic's latest is the zero time, so every
        // window includes everything.
        let start = |d: CalDuration| match latest {
            Some(l) => d.before(l, tz),
            None => DateTime::<Utc>::MIN_UTC,
        };
        let active = RULES
            .iter()
            .filter_map(|def| {
                let (left, window) = match policy.rule(def.rule) {
                    Keep::Off => return None,
                    Keep::Count(n) => (n, None),
                    Keep::Within(d) => (0, Some((d, start(d)))),
                };
                Some(Active {
                    rule: def.rule,
                    bucket: def.bucket,
                    left,
                    window,
                    last: None,
                })
            })
            .collect();
        RuleEngine { tz, active }
    }

    /// Considers the `nr`-th backup (newest first); pushes the reasons it is kept
    /// for and answers whether any rule keeps it.
    pub(super) fn consider(
        &mut self,
        t: DateTime<Utc>,
        nr: usize,
        is_oldest: bool,
        reasons: &mut SmallVec<[Reason; 2]>,
    ) -> bool {
        let mut keep = false;
        let mut wall = None;
        let tz = self.tz;
        for r in &mut self.active {
            let within = match r.window {
                Some((d, start)) if t > start => Some(d),
                Some(_) => continue,
                None if r.left == 0 => continue,
                None => None,
            };
            if r.bucket == Bucket::Every && within.is_some() {
                // keep_within: every backup inside the window, no bucket.
                keep = true;
                reasons.push(Reason::Kept {
                    rule: r.rule,
                    within,
                    oldest: false,
                });
                continue;
            }
            let val = r.bucket.value(wall.get_or_insert_with(|| WallClock::of(t, tz)), nr);
            if r.last != Some(val) || is_oldest {
                keep = true;
                let oldest = r.last == Some(val) && is_oldest;
                r.last = Some(val);
                if r.left > 0 {
                    r.left -= 1;
                }
                reasons.push(Reason::Kept {
                    rule: r.rule,
                    within,
                    oldest,
                });
            }
        }
        keep
    }

    /// True when no backup older than `t` can be kept any more.
    pub(super) fn exhausted(&self, t: DateTime<Utc>) -> bool {
        self.active.iter().all(|r| match r.window {
            Some((_, start)) => t <= start,
            None => r.left == 0,
        })
    }
}
