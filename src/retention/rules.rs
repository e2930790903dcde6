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
    /// How many backups it kept so far.
    kept: u32,
}

/// What one rule did with one backup (for `explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleOutcome {
    /// It keeps it: the `rank`-th backup this rule keeps (newest first); `oldest`
    /// when only because it is the oldest backup and the rule had counts left.
    Keeps { rank: u32, oldest: bool },
    /// A newer backup already stands for its bucket.
    SameBucket,
    /// A count rule whose counts newer backups used up.
    UsedUp,
    /// A window rule whose window starts after it (exclusive start).
    OutsideWindow,
}

/// What a rule is, for `explain`: its bucket, its count or window, its window's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSetting {
    pub rule: Rule,
    pub bucket: Bucket,
    /// The count (`-1` unlimited) of a count rule.
    pub count: Option<i64>,
    /// A window rule's window and its exclusive start.
    pub window: Option<(CalDuration, DateTime<Utc>)>,
}

/// restic's "latest": the newest backup (of `times`, newest first) that is not in the
/// future; windows reach back from it.
pub(super) fn latest(times: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    times.iter().copied().find(|t| *t < now)
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
                    kept: 0,
                })
            })
            .collect();
        RuleEngine { tz, active }
    }

    /// The rules that are on, in evaluation order, with their windows' starts.
    pub(super) fn settings(&self) -> impl Iterator<Item = RuleSetting> + '_ {
        self.active.iter().map(|r| RuleSetting {
            rule: r.rule,
            bucket: r.bucket,
            count: r.window.is_none().then_some(r.left),
            window: r.window,
        })
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
        self.consider_with(t, nr, is_oldest, reasons, |_, _| {})
    }

    /// [`consider`](Self::consider), telling `note` what each rule did with it.
    pub(super) fn consider_with(
        &mut self,
        t: DateTime<Utc>,
        nr: usize,
        is_oldest: bool,
        reasons: &mut SmallVec<[Reason; 2]>,
        mut note: impl FnMut(Rule, RuleOutcome),
    ) -> bool {
        let mut keep = false;
        let mut wall = None;
        let tz = self.tz;
        for r in &mut self.active {
            let within = match r.window {
                Some((d, start)) if t > start => Some(d),
                Some(_) => {
                    note(r.rule, RuleOutcome::OutsideWindow);
                    continue;
                }
                None if r.left == 0 => {
                    note(r.rule, RuleOutcome::UsedUp);
                    continue;
                }
                None => None,
            };
            if r.bucket == Bucket::Every && within.is_some() {
                // keep_within: every backup inside the window, no bucket.
                keep = true;
                r.kept += 1;
                note(
                    r.rule,
                    RuleOutcome::Keeps {
                        rank: r.kept,
                        oldest: false,
                    },
                );
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
                r.kept += 1;
                note(r.rule, RuleOutcome::Keeps { rank: r.kept, oldest });
                reasons.push(Reason::Kept {
                    rule: r.rule,
                    within,
                    oldest,
                });
            } else {
                note(r.rule, RuleOutcome::SameBucket);
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
