//! The retention planner: which backups to keep, which to delete, and why.
//!
//! [`plan_retention`] is a pure function of the history, the policy, `now` and the
//! portal's time zone. It never reads the clock and does no I/O, so every decision can
//! be pinned by a table test and replayed with `plan --at`. The steps are visible and
//! in the order of SPEC §4: scope, doubtful records, restic's rules, `protect`, then
//! the guards (stale, min_keep, max_fraction, max_deletions). Turning the plan into
//! HTTP calls is the executor's job (`pass.rs`).

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use smallvec::SmallVec;

use crate::calendar::{CalDuration, WallClock, go_add_date};
use crate::docspace::{HistoryRecord, Period, StorageType, WireTime, is_guid};

/// `stale_after`: how old the newest backup may get before deletions stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleAfter {
    /// Twice the schedule's period; off when the portal has no schedule.
    Auto,
    Off,
    After(CalDuration),
}

/// A validated retention policy (config keys of `[*.retention]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// Counts: 0 = rule off, -1 = unlimited.
    pub keep_last: i64,
    pub keep_hourly: i64,
    pub keep_daily: i64,
    pub keep_weekly: i64,
    pub keep_monthly: i64,
    pub keep_yearly: i64,
    pub keep_within: Option<CalDuration>,
    pub keep_within_hourly: Option<CalDuration>,
    pub keep_within_daily: Option<CalDuration>,
    pub keep_within_weekly: Option<CalDuration>,
    pub keep_within_monthly: Option<CalDuration>,
    pub keep_within_yearly: Option<CalDuration>,
    /// Backup ids never deleted, lowercase.
    pub protect: BTreeSet<String>,
    /// Storage types managed; empty = all.
    pub storage_types: Vec<StorageType>,
    pub min_keep: u32,
    pub max_deletions_per_run: u32,
    pub max_delete_fraction: f64,
    pub stale_after: StaleAfter,
    pub future_tolerance_secs: u64,
    pub clear_history: bool,
}

impl Default for RetentionPolicy {
    /// The built-in defaults of SPEC §3: every rule off (which config validation
    /// refuses), the guards on.
    fn default() -> Self {
        RetentionPolicy {
            keep_last: 0,
            keep_hourly: 0,
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
            keep_yearly: 0,
            keep_within: None,
            keep_within_hourly: None,
            keep_within_daily: None,
            keep_within_weekly: None,
            keep_within_monthly: None,
            keep_within_yearly: None,
            protect: BTreeSet::new(),
            storage_types: Vec::new(),
            min_keep: 1,
            max_deletions_per_run: 20,
            max_delete_fraction: 0.5,
            stale_after: StaleAfter::Auto,
            future_tolerance_secs: 300,
            clear_history: false,
        }
    }
}

impl RetentionPolicy {
    /// True when at least one `keep_*` rule is on. A policy without rules would
    /// delete every backup, so config validation refuses it.
    pub fn has_rules(&self) -> bool {
        [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
            self.keep_yearly,
        ]
        .iter()
        .any(|c| *c != 0)
            || [
                self.keep_within,
                self.keep_within_hourly,
                self.keep_within_daily,
                self.keep_within_weekly,
                self.keep_within_monthly,
                self.keep_within_yearly,
            ]
            .iter()
            .any(|d| d.is_some_and(|d| !d.is_zero()))
    }

    fn manages(&self, storage_type: &StorageType) -> bool {
        self.storage_types.is_empty() || self.storage_types.contains(storage_type)
    }

    /// The stale threshold in effect for a portal with this schedule period.
    pub fn stale_threshold(&self, schedule_period: Option<&Period>) -> Option<CalDuration> {
        match self.stale_after {
            StaleAfter::Off => None,
            StaleAfter::After(d) => Some(d),
            StaleAfter::Auto => schedule_period.map(|p| match p {
                Period::EveryDay => CalDuration::days(2),
                Period::EveryWeek => CalDuration::days(14),
                // An unknown period gets the longest known one: it still stops
                // deleting from a portal whose backups stopped, just later.
                Period::EveryMonth | Period::Unknown(_) => CalDuration::days(62),
            }),
        }
    }
}

/// What the planner knows besides the records: the instant it plans for, the portal's
/// zone, and whether the portal has a schedule (and its period) for `stale_after = auto`.
#[derive(Clone, Debug)]
pub struct PlanContext {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub schedule_period: Option<Period>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Keep,
    Delete,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Delete => "delete",
        }
    }
}

/// The restic rules, in restic's evaluation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Within(CalDuration),
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    WithinHourly(CalDuration),
    WithinDaily(CalDuration),
    WithinWeekly(CalDuration),
    WithinMonthly(CalDuration),
    WithinYearly(CalDuration),
}

/// A guard of SPEC §4/§7; the names are the metric's `guard` label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Guard {
    Stale,
    MinKeep,
    MaxFraction,
    MaxDeletions,
    Future,
    Unparseable,
}

impl Guard {
    pub const ALL: [Guard; 6] = [
        Guard::Stale,
        Guard::MinKeep,
        Guard::MaxFraction,
        Guard::MaxDeletions,
        Guard::Future,
        Guard::Unparseable,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Guard::Stale => "stale",
            Guard::MinKeep => "min_keep",
            Guard::MaxFraction => "max_fraction",
            Guard::MaxDeletions => "max_deletions",
            Guard::Future => "future",
            Guard::Unparseable => "unparseable",
        }
    }
}

/// Why a deletion was blocked, with the limit that applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardLimit {
    Stale { after: CalDuration },
    MinKeep { min: u32 },
    MaxFraction { limit: usize, managed: usize },
    MaxDeletions { limit: u32 },
}

impl GuardLimit {
    pub fn guard(&self) -> Guard {
        match self {
            GuardLimit::Stale { .. } => Guard::Stale,
            GuardLimit::MinKeep { .. } => Guard::MinKeep,
            GuardLimit::MaxFraction { .. } => Guard::MaxFraction,
            GuardLimit::MaxDeletions { .. } => Guard::MaxDeletions,
        }
    }
}

/// One reason of a decision. Its text is the same in the plan, the audit log and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Rule {
        rule: Rule,
        oldest: bool,
    },
    Protected,
    /// Storage type outside `storage_types`: never touched, not counted.
    NotManaged,
    /// A storage type number or name we do not know.
    UnknownStorageType,
    /// A record we cannot read well enough to decide on (date, id).
    Unparseable(String),
    /// `createdOn` beyond `now + future_tolerance_secs`.
    Future {
        tolerance_secs: u64,
    },
    /// Another record with the same id is kept, so this id must not be deleted.
    DuplicateOfKept,
    Blocked(GuardLimit),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule { rule, oldest } => {
                if *oldest {
                    f.write_str("oldest ")?;
                }
                match rule {
                    Rule::Within(d) => write!(f, "within {d}"),
                    Rule::Last => f.write_str("last snapshot"),
                    Rule::Hourly => f.write_str("hourly snapshot"),
                    Rule::Daily => f.write_str("daily snapshot"),
                    Rule::Weekly => f.write_str("weekly snapshot"),
                    Rule::Monthly => f.write_str("monthly snapshot"),
                    Rule::Yearly => f.write_str("yearly snapshot"),
                    Rule::WithinHourly(d) => write!(f, "hourly within {d}"),
                    Rule::WithinDaily(d) => write!(f, "daily within {d}"),
                    Rule::WithinWeekly(d) => write!(f, "weekly within {d}"),
                    Rule::WithinMonthly(d) => write!(f, "monthly within {d}"),
                    Rule::WithinYearly(d) => write!(f, "yearly within {d}"),
                }
            }
            Reason::Protected => f.write_str("protected"),
            Reason::NotManaged => f.write_str("storage type not managed"),
            Reason::UnknownStorageType => f.write_str("unparseable: unknown storage type"),
            Reason::Unparseable(detail) => write!(f, "unparseable: {detail}"),
            Reason::Future { tolerance_secs } => {
                write!(f, "future: created after now + {tolerance_secs}s")
            }
            Reason::DuplicateOfKept => f.write_str("duplicate id of a kept backup"),
            Reason::Blocked(limit) => match limit {
                GuardLimit::Stale { after } => {
                    write!(f, "stale: newest backup is older than {after}")
                }
                GuardLimit::MinKeep { min } => write!(f, "min_keep: keeps at least {min}"),
                GuardLimit::MaxFraction { limit, managed } => {
                    write!(f, "max_fraction: at most {limit} of {managed} per pass")
                }
                GuardLimit::MaxDeletions { limit } => {
                    write!(f, "max_deletions: at most {limit} per pass")
                }
            },
        }
    }
}

/// How the planner classified a record before the rules ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Takes part in rules and guards.
    Managed,
    /// Outside `storage_types`.
    NotManaged,
    /// Kept because we cannot trust it (unparseable, unknown type, future).
    Doubtful(Guard),
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanEntry {
    pub record: HistoryRecord,
    pub scope: Scope,
    pub action: Action,
    /// Inline for up to two reasons: a large history is mostly single-reason
    /// (or reason-less) entries, and this keeps them off the heap.
    pub reasons: SmallVec<[Reason; 2]>,
}

impl PlanEntry {
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.record.created_on.instant()
    }
}

/// The outcome of planning one portal.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Every record, newest first (ties by ascending id); undatable records last.
    pub entries: Vec<PlanEntry>,
    /// How many deletions (or doubtful records) each guard blocked, in guard order,
    /// only guards that blocked something.
    pub guards: Vec<(Guard, usize)>,
    /// Records that took part in rules and guards.
    pub managed: usize,
    pub newest_managed: Option<DateTime<Utc>>,
    /// SPEC §4 "Clearing": delete the whole history with one call.
    pub clear_history: bool,
}

impl Plan {
    pub fn deletions(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.action == Action::Delete)
    }

    pub fn deletion_count(&self) -> usize {
        self.deletions().count()
    }

    pub fn kept_count(&self) -> usize {
        self.entries.len() - self.deletion_count()
    }

    pub fn blocked(&self, guard: Guard) -> usize {
        self.guards.iter().find(|(g, _)| *g == guard).map_or(0, |(_, n)| *n)
    }

    /// Deletions by the guards (stale, min_keep, max_fraction, max_deletions).
    pub fn blocked_deletions(&self) -> usize {
        self.guards
            .iter()
            .filter(|(g, _)| !matches!(g, Guard::Future | Guard::Unparseable))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Decides for every record of one portal. See the module docs for the steps.
pub fn plan_retention(records: Vec<HistoryRecord>, policy: &RetentionPolicy, ctx: &PlanContext) -> Plan {
    let future_limit = i64::try_from(policy.future_tolerance_secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|d| ctx.now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let entries: Vec<PlanEntry> = records
        .into_iter()
        .map(|record| classify(record, policy, future_limit))
        .collect();

    // Newest first, ties by ascending id; records without a date go last, in the
    // order the server sent them (a stable sort keeps it).
    let mut entries = newest_first(entries);

    let managed: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].scope == Scope::Managed)
        .collect();
    let times: Vec<DateTime<Utc>> = managed
        .iter()
        .map(|&i| entries[i].created().expect("managed records have a date"))
        .collect();

    apply_rules(&mut entries, &managed, &times, policy, ctx);
    for &i in managed.iter().filter(|_| !policy.protect.is_empty()) {
        if policy.protect.contains(&entries[i].record.id.to_ascii_lowercase()) {
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::Protected);
        }
    }
    keep_duplicates_of_kept(&mut entries);

    let mut guards: Vec<(Guard, usize)> = Vec::new();
    let mut count = |guard: Guard, n: usize| {
        if n > 0 {
            match guards.iter_mut().find(|(g, _)| *g == guard) {
                Some((_, c)) => *c += n,
                None => guards.push((guard, n)),
            }
        }
    };
    for e in &entries {
        if let Scope::Doubtful(g) = e.scope {
            count(g, 1);
        }
    }

    let newest_managed = times.first().copied();
    // Candidates oldest first: the limits delete the oldest and save the newest.
    let mut candidates: Vec<usize> = managed
        .iter()
        .rev()
        .copied()
        .filter(|&i| entries[i].action == Action::Delete)
        .collect();
    let block = |entries: &mut [PlanEntry], idx: &[usize], limit: GuardLimit| {
        for &i in idx {
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::Blocked(limit));
        }
        idx.len()
    };

    // 1. stale
    if let (Some(after), Some(newest)) = (policy.stale_threshold(ctx.schedule_period.as_ref()), newest_managed)
        && newest < after.before(ctx.now, ctx.tz)
    {
        let n = block(&mut entries, &candidates, GuardLimit::Stale { after });
        count(Guard::Stale, n);
        candidates.clear();
    }
    // 2. min_keep: save the newest candidates until enough managed backups remain.
    let remaining = managed.len() - candidates.len();
    let min = policy.min_keep as usize;
    if remaining < min {
        let save = (min - remaining).min(candidates.len());
        let from = candidates.len() - save;
        let n = block(
            &mut entries,
            &candidates[from..],
            GuardLimit::MinKeep { min: policy.min_keep },
        );
        count(Guard::MinKeep, n);
        candidates.truncate(from);
    }
    // 3. max_delete_fraction, then max_deletions_per_run: the oldest go first.
    let fraction_limit = ((policy.max_delete_fraction * managed.len() as f64) + 1e-9).floor() as usize;
    if candidates.len() > fraction_limit {
        let n = block(
            &mut entries,
            &candidates[fraction_limit..],
            GuardLimit::MaxFraction {
                limit: fraction_limit,
                managed: managed.len(),
            },
        );
        count(Guard::MaxFraction, n);
        candidates.truncate(fraction_limit);
    }
    let deletion_limit = policy.max_deletions_per_run as usize;
    if candidates.len() > deletion_limit {
        let n = block(
            &mut entries,
            &candidates[deletion_limit..],
            GuardLimit::MaxDeletions {
                limit: policy.max_deletions_per_run,
            },
        );
        count(Guard::MaxDeletions, n);
        candidates.truncate(deletion_limit);
    }
    guards.sort_by_key(|(g, _)| *g);

    let clear_history = policy.clear_history
        && policy.min_keep == 0
        && policy.storage_types.is_empty()
        && !entries.is_empty()
        && entries.iter().all(|e| e.action == Action::Delete);

    Plan {
        entries,
        guards,
        managed: managed.len(),
        newest_managed,
        clear_history,
    }
}

fn classify(record: HistoryRecord, policy: &RetentionPolicy, future_limit: DateTime<Utc>) -> PlanEntry {
    let (scope, reason) = if !policy.manages(&record.storage_type) {
        (Scope::NotManaged, Reason::NotManaged)
    } else if !record.storage_type.is_known() {
        (Scope::Doubtful(Guard::Unparseable), Reason::UnknownStorageType)
    } else if !matches!(record.created_on, WireTime::At(_)) {
        let detail = match &record.created_on {
            WireTime::Missing => "no createdOn".to_string(),
            WireTime::Never => "createdOn is 0001-01-01".to_string(),
            other => format!("createdOn {other}"),
        };
        (Scope::Doubtful(Guard::Unparseable), Reason::Unparseable(detail))
    } else if !is_guid(&record.id) {
        let detail = if record.id.is_empty() {
            "no id".to_string()
        } else {
            "id is not a GUID".to_string()
        };
        (Scope::Doubtful(Guard::Unparseable), Reason::Unparseable(detail))
    } else if record.created_on.instant().is_some_and(|t| t > future_limit) {
        (
            Scope::Doubtful(Guard::Future),
            Reason::Future {
                tolerance_secs: policy.future_tolerance_secs,
            },
        )
    } else {
        return PlanEntry {
            record,
            scope: Scope::Managed,
            action: Action::Delete,
            reasons: SmallVec::new(),
        };
    };
    PlanEntry {
        record,
        scope,
        action: Action::Keep,
        reasons: smallvec::smallvec![reason],
    }
}

/// restic's `ApplyPolicy` over the managed records (`managed` indexes `entries`,
/// newest first, `times` their instants).
fn apply_rules(
    entries: &mut [PlanEntry],
    managed: &[usize],
    times: &[DateTime<Utc>],
    policy: &RetentionPolicy,
    ctx: &PlanContext,
) {
    // restic's "latest": the newest backup that is not in the future.
    let latest = times.iter().copied().find(|t| *t < ctx.now);
    let mut rules = RuleEngine::new(policy, latest, ctx.tz);
    let n = managed.len();
    for (nr, (&i, &t)) in managed.iter().zip(times).enumerate() {
        let reasons = &mut entries[i].reasons;
        if rules.consider(t, nr, nr + 1 == n, reasons) {
            entries[i].action = Action::Keep;
        }
    }
}

/// Sorts newest first, ties by ascending id, undatable records last in the server's
/// order. Sorts small keys, then moves the (large) entries into place by following
/// the permutation's cycles: each entry moves once, nothing is allocated for them.
fn newest_first(mut entries: Vec<PlanEntry>) -> Vec<PlanEntry> {
    let mut order: Vec<(Option<DateTime<Utc>>, u32)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.created(), i as u32))
        .collect();
    order.sort_by(|(ta, ia), (tb, ib)| match (ta, tb) {
        (Some(x), Some(y)) => y
            .cmp(x)
            .then_with(|| entries[*ia as usize].record.id.cmp(&entries[*ib as usize].record.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => ia.cmp(ib),
    });
    // Position k must receive the entry now at source[k].
    let mut source: Vec<u32> = order.into_iter().map(|(_, i)| i).collect();
    for start in 0..source.len() {
        let mut k = start;
        while source[k] as usize != start && source[k] != u32::MAX {
            let from = source[k] as usize;
            entries.swap(k, from);
            source[k] = u32::MAX;
            k = from;
        }
        source[k] = u32::MAX;
    }
    entries
}

/// The hasher for keys that are hashes already.
#[derive(Default)]
struct AlreadyHashed(u64);

impl std::hash::Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A 64-bit hash of an id that ignores ASCII case (`| 0x20` on every byte, so a
/// few other characters collide too: this only pre-screens for duplicates).
fn caseless_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ id.len() as u64;
    for chunk in id.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        let w = u64::from_le_bytes(word) | 0x2020_2020_2020_2020;
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    h
}

/// Deleting one record of an id deletes them all; if any record with the id is kept,
/// none may be deleted.
fn keep_duplicates_of_kept(entries: &mut [PlanEntry]) {
    // Fast check first: sorted 64-bit hashes of the ids; only a collision (a real
    // duplicate or, rarely, a hash clash) takes the exact path below.
    let mut seen: HashSet<u64, std::hash::BuildHasherDefault<AlreadyHashed>> =
        HashSet::with_capacity_and_hasher(entries.len(), Default::default());
    if entries.iter().all(|e| seen.insert(caseless_hash(&e.record.id))) {
        return;
    }
    let kept: HashSet<String> = entries
        .iter()
        .filter(|e| e.action == Action::Keep)
        .map(|e| e.record.id.to_ascii_lowercase())
        .collect();
    for e in entries.iter_mut() {
        if e.action == Action::Delete && kept.contains(&e.record.id.to_ascii_lowercase()) {
            e.action = Action::Keep;
            e.reasons.push(Reason::DuplicateOfKept);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Always,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    fn value(self, w: &WallClock, nr: usize) -> i64 {
        let (y, m, d, h) = (w.year as i64, w.month as i64, w.day as i64, w.hour as i64);
        match self {
            Bucket::Always => nr as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => w.iso_year as i64 * 100 + w.iso_week as i64,
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

struct CountRule {
    rule: Rule,
    bucket: Bucket,
    /// Remaining count; -1 = unlimited; 0 = off or used up.
    left: i64,
    last: Option<i64>,
}

struct WithinRule {
    rule: Rule,
    bucket: Bucket,
    /// Exclusive window start: a backup is inside when strictly after it.
    start: DateTime<Utc>,
    last: Option<i64>,
}

/// restic's rule state, fed one backup at a time, newest first. Shared by the planner
/// and the policy-conflict estimate so both count exactly alike.
struct RuleEngine {
    tz: Tz,
    within: Option<(CalDuration, DateTime<Utc>)>,
    counts: Vec<CountRule>,
    windows: Vec<WithinRule>,
}

impl RuleEngine {
    fn new(policy: &RetentionPolicy, latest: Option<DateTime<Utc>>, tz: Tz) -> Self {
        // With no backup before "now", restic's latest is the zero time, so every
        // window includes everything.
        let start = |d: CalDuration| match latest {
            Some(l) => d.before(l, tz),
            None => DateTime::<Utc>::MIN_UTC,
        };
        let on = |d: Option<CalDuration>| d.filter(|d| !d.is_zero());
        let counts = [
            (policy.keep_last, Rule::Last, Bucket::Always),
            (policy.keep_hourly, Rule::Hourly, Bucket::Hour),
            (policy.keep_daily, Rule::Daily, Bucket::Day),
            (policy.keep_weekly, Rule::Weekly, Bucket::Week),
            (policy.keep_monthly, Rule::Monthly, Bucket::Month),
            (policy.keep_yearly, Rule::Yearly, Bucket::Year),
        ]
        .into_iter()
        .filter(|(c, _, _)| *c > 0 || *c == -1)
        .map(|(left, rule, bucket)| CountRule {
            rule,
            bucket,
            left,
            last: None,
        })
        .collect();
        type MakeRule = fn(CalDuration) -> Rule;
        let windows = [
            (policy.keep_within_hourly, Rule::WithinHourly as MakeRule, Bucket::Hour),
            (policy.keep_within_daily, Rule::WithinDaily, Bucket::Day),
            (policy.keep_within_weekly, Rule::WithinWeekly, Bucket::Week),
            (policy.keep_within_monthly, Rule::WithinMonthly, Bucket::Month),
            (policy.keep_within_yearly, Rule::WithinYearly, Bucket::Year),
        ]
        .into_iter()
        .filter_map(|(d, make, bucket)| {
            on(d).map(|d| WithinRule {
                rule: make(d),
                bucket,
                start: start(d),
                last: None,
            })
        })
        .collect();
        RuleEngine {
            tz,
            within: on(policy.keep_within).map(|d| (d, start(d))),
            counts,
            windows,
        }
    }

    /// Considers the `nr`-th backup (newest first); pushes the reasons it is kept
    /// for and answers whether any rule keeps it.
    fn consider(&mut self, t: DateTime<Utc>, nr: usize, is_oldest: bool, reasons: &mut SmallVec<[Reason; 2]>) -> bool {
        let mut keep = false;
        if let Some((d, start)) = self.within
            && t > start
        {
            keep = true;
            reasons.push(Reason::Rule {
                rule: Rule::Within(d),
                oldest: false,
            });
        }
        let mut wall = None;
        let tz = self.tz;
        let mut wall_clock = || *wall.get_or_insert_with(|| WallClock::of(t, tz));
        for r in &mut self.counts {
            if r.left == 0 {
                continue;
            }
            let val = r.bucket.value(&wall_clock(), nr);
            if r.last != Some(val) || is_oldest {
                keep = true;
                let oldest = r.last == Some(val) && is_oldest;
                r.last = Some(val);
                if r.left > 0 {
                    r.left -= 1;
                }
                reasons.push(Reason::Rule { rule: r.rule, oldest });
            }
        }
        for r in &mut self.windows {
            if t > r.start {
                let val = r.bucket.value(&wall_clock(), nr);
                if r.last != Some(val) || is_oldest {
                    keep = true;
                    let oldest = r.last == Some(val) && is_oldest;
                    r.last = Some(val);
                    reasons.push(Reason::Rule { rule: r.rule, oldest });
                }
            }
        }
        keep
    }

    /// True when no older backup than `t` can be kept any more.
    fn exhausted(&self, t: DateTime<Utc>) -> bool {
        self.within.is_none_or(|(_, start)| t <= start)
            && self.counts.iter().all(|r| r.left == 0)
            && self.windows.iter().all(|r| t <= r.start)
    }
}

/// The server's own cleaner keeps only the newest `backups_stored` scheduled backups.
/// This answers whether the policy wants more than that: on a synthetic history of one
/// backup per schedule period (newest first), the position of the first backup the
/// policy keeps although the cleaner will delete it (`None` when there is none within
/// 20 years). Counting uses the planner's own rule engine.
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

#[cfg(test)]
mod tests;
