//! What the planner decides about one record: the action, the scope it was
//! classified into, and the reasons, whose text is the same in the plan, the audit
//! log and the logs.

use std::fmt;
use std::sync::Arc;

use fnv::FnvHashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use smallvec::SmallVec;

use super::policy::Rule;
use crate::calendar::CalDuration;
use crate::wire::{BackupId, HistoryRecord, Period};

/// What the planner knows besides the records and the policy: the instant it plans
/// for, the portal's zone, and what the state store remembers of the portal.
#[derive(Clone, Debug)]
pub struct PlanContext {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    /// The schedule's period, or the one last seen when the server deleted the
    /// schedule (for `stale_after = "auto"`).
    pub schedule_period: Option<Period>,
    /// The DocSpace version changed since the last pass: this pass only plans.
    pub server_change: Option<ServerChange>,
    /// When each backup was first planned for deletion by an earlier pass (grace).
    pub first_planned: FnvHashMap<BackupId, DateTime<Utc>>,
    /// How far the server's clock (its `Date` header) is ahead of ours, in seconds;
    /// `None` when no answer said.
    pub clock_skew_secs: Option<i64>,
    /// What the health sentinel says (docs/reference.md, "Backup health"); `None`: off.
    pub health: Option<Arc<HealthInput>>,
}

/// What the health sentinel tells the planner.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthInput {
    /// The suspect backups, and why (`size 12% of median`): each is kept, fills no
    /// `keep_*` slot and does not count toward `min_keep`.
    pub suspect: FnvHashMap<BackupId, Arc<str>>,
    /// How many of the newest healthy backups are pinned while newer ones are suspect
    /// or missing.
    pub keep_healthy: usize,
    /// The newest slot the server's schedule left without a backup.
    pub missed_since: Option<DateTime<Utc>>,
}

impl PlanContext {
    /// A context with nothing remembered.
    pub fn new(now: DateTime<Utc>, tz: Tz) -> Self {
        PlanContext {
            now,
            tz,
            schedule_period: None,
            server_change: None,
            first_planned: FnvHashMap::default(),
            clock_skew_secs: None,
            health: None,
        }
    }
}

/// A DocSpace version change between two passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerChange {
    pub from: Arc<str>,
    pub to: Arc<str>,
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

/// A kind of record too doubtful to decide on: kept, counted, left out of the rules
/// and the guards. Not a guard, though `plan --json` lists them beside the guards and
/// the metric counts them in `guard_blocks_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Doubt {
    /// `createdOn` beyond `now + future_tolerance_secs`.
    Future,
    /// A date, id or storage type we cannot read.
    Unparseable,
}

impl Doubt {
    pub const ALL: [Doubt; 2] = [Doubt::Future, Doubt::Unparseable];

    pub fn as_str(&self) -> &'static str {
        match self {
            Doubt::Future => "future",
            Doubt::Unparseable => "unparseable",
        }
    }
}

/// One reason of a decision. Its text is the same in the plan, the audit log and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Kept by a rule; `within` is the window of a window rule.
    Kept {
        rule: Rule,
        within: Option<CalDuration>,
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
    /// The start time in the file name lies more than a day after `createdOn` (the
    /// finish): one of the two clocks was wrong.
    StartsAfterFinish {
        start: chrono::NaiveDateTime,
    },
    /// A real `expiresOn`: the server deletes it itself then.
    Temporary {
        expires: DateTime<Utc>,
    },
    /// Older than `max_age`: deleted whatever rule kept it.
    OlderThanMaxAge(CalDuration),
    /// Younger than `max_age`, with no `keep_*` rule: kept.
    YoungerThanMaxAge(CalDuration),
    /// Kept by no rule: which rules it fell beyond (`keep_daily 7, keep_weekly 4`).
    NoRule(std::sync::Arc<str>),
    /// A second listing of a backup that is kept.
    DuplicateOfKept,
    /// A second listing of a backup that is deleted (one call deletes both).
    DuplicateOfDeleted,
    Blocked(GuardLimit),
    /// The sentinel judged it suspect: kept, in no `keep_*` slot, not counted by `min_keep`.
    Suspect(Arc<str>),
    /// One of the newest healthy backups while newer ones are suspect or missing.
    HealthyPin,
    /// The policy has no keep rule and no `max_age`: it would delete everything, so
    /// the planner deletes nothing.
    NoPolicy,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoRule(rules) => write!(f, "no keep rule: beyond {rules}"),
            Reason::Kept { rule, within, oldest } => {
                if *oldest {
                    f.write_str("oldest ")?;
                }
                f.write_str(rule.def().reason)?;
                match within {
                    Some(d) => write!(f, " {d}"),
                    None => Ok(()),
                }
            }
            Reason::Protected => f.write_str("protected"),
            Reason::NotManaged => f.write_str("storage type not managed"),
            Reason::UnknownStorageType => f.write_str("unparseable: unknown storage type"),
            Reason::Unparseable(detail) => write!(f, "unparseable: {detail}"),
            Reason::Future { tolerance_secs } => {
                write!(f, "future: created after now + {tolerance_secs}s")
            }
            Reason::StartsAfterFinish { start } => write!(
                f,
                "future: its file name says it started at {}, more than a day after it finished",
                start.format("%Y-%m-%d %H:%M:%S")
            ),
            Reason::Temporary { expires } => write!(f, "temporary: expires {}", crate::calendar::rfc3339(*expires)),
            Reason::OlderThanMaxAge(d) => write!(f, "older than max_age {d}"),
            Reason::YoungerThanMaxAge(d) => write!(f, "younger than max_age {d}"),
            Reason::DuplicateOfKept => f.write_str("duplicate id of a kept backup"),
            Reason::DuplicateOfDeleted => f.write_str("duplicate id of a deleted backup"),
            Reason::Blocked(limit) => limit.fmt(f),
            Reason::Suspect(why) => write!(f, "suspect: {why}"),
            Reason::HealthyPin => f.write_str("healthy pin: newer backups are suspect or missing"),
            Reason::NoPolicy => {
                f.write_str("no keep rule and no max_age: a policy that would delete every backup is refused")
            }
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
    /// Kept because we cannot trust it.
    Doubtful(Doubt),
    /// A temporary backup (a real `expiresOn`): the server deletes it, we never do,
    /// and it counts for no rule or guard.
    Temporary,
    /// Another listing of a backup listed earlier (ids compare without case): it
    /// shares that listing's fate and is not counted again.
    Twin,
}

/// The decision about one record. The record itself stays where the history put it
/// (in [`Plan`](super::Plan)'s records, in the server's order): the plan orders and
/// decides by index, and never moves a record.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanEntry {
    /// The record's place in the history as the server sent it.
    pub index: u32,
    /// Its `createdOn`, when it has one.
    pub created: Option<DateTime<Utc>>,
    /// The record's id, when it is a GUID (only then can it be deleted).
    pub id: Option<BackupId>,
    pub scope: Scope,
    pub action: Action,
    /// Inline for up to two reasons: a large history is mostly single-reason
    /// (or reason-less) entries, and this keeps them off the heap.
    pub reasons: SmallVec<[Reason; 2]>,
}

impl PlanEntry {
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.created
    }

    /// The rules delete it, but a guard holds it back this pass.
    pub fn held_by_guard(&self) -> bool {
        self.reasons.iter().any(|r| matches!(r, Reason::Blocked(_)))
    }
}

/// A record and the decision about it, as a plan lists them.
#[derive(Clone, Copy, Debug)]
pub struct Planned<'a> {
    pub record: &'a HistoryRecord,
    pub entry: &'a PlanEntry,
}

impl std::ops::Deref for Planned<'_> {
    type Target = PlanEntry;

    fn deref(&self) -> &PlanEntry {
        self.entry
    }
}

/// A guard, in the order they apply; the names are the metric's `guard` label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Guard {
    ClockSkew,
    Stale,
    ServerChanged,
    Grace,
    MinKeep,
    MaxFraction,
    MaxDeletions,
}

impl Guard {
    pub const ALL: [Guard; 7] = [
        Guard::ClockSkew,
        Guard::Stale,
        Guard::ServerChanged,
        Guard::Grace,
        Guard::MinKeep,
        Guard::MaxFraction,
        Guard::MaxDeletions,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Guard::ClockSkew => "clock_skew",
            Guard::Stale => "stale",
            Guard::ServerChanged => "server_changed",
            Guard::Grace => "grace",
            Guard::MinKeep => "min_keep",
            Guard::MaxFraction => "max_fraction",
            Guard::MaxDeletions => "max_deletions",
        }
    }
}

/// Why a deletion was blocked, with the limit that applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardLimit {
    /// The server's clock is this many seconds off ours (beyond the limit).
    ClockSkew {
        skew_secs: i64,
    },
    Stale {
        after: CalDuration,
    },
    /// `stale_after = "auto"` with no schedule now and no remembered period.
    StaleUnknown,
    ServerChanged(ServerChange),
    Grace {
        until: DateTime<Utc>,
    },
    MinKeep {
        min: u32,
    },
    MaxFraction {
        limit: usize,
        managed: usize,
    },
    MaxDeletions {
        limit: u32,
    },
}

impl GuardLimit {
    pub fn guard(&self) -> Guard {
        match self {
            GuardLimit::ClockSkew { .. } => Guard::ClockSkew,
            GuardLimit::Stale { .. } | GuardLimit::StaleUnknown => Guard::Stale,
            GuardLimit::ServerChanged(_) => Guard::ServerChanged,
            GuardLimit::Grace { .. } => Guard::Grace,
            GuardLimit::MinKeep { .. } => Guard::MinKeep,
            GuardLimit::MaxFraction { .. } => Guard::MaxFraction,
            GuardLimit::MaxDeletions { .. } => Guard::MaxDeletions,
        }
    }
}

impl std::fmt::Display for GuardLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardLimit::ClockSkew { skew_secs } => write!(
                f,
                "clock_skew: the server's clock is {}s {} ours (more than {}s): its dates cannot be trusted this pass",
                skew_secs.unsigned_abs(),
                if *skew_secs > 0 { "ahead of" } else { "behind" },
                super::guards::CLOCK_SKEW_LIMIT_SECS
            ),
            GuardLimit::Stale { after } => write!(f, "stale: newest backup is older than {after}"),
            GuardLimit::StaleUnknown => f.write_str(
                "stale: no schedule and no remembered period (set stale_after to a duration to manage a portal \
                 without a schedule)",
            ),
            GuardLimit::ServerChanged(change) => write!(
                f,
                "DocSpace {} → {}: first pass after a server change only plans",
                change.from, change.to
            ),
            GuardLimit::Grace { until } => write!(f, "grace: deletable after {}", crate::calendar::rfc3339(*until)),
            GuardLimit::MinKeep { min } => write!(f, "min_keep: keeps at least {min}"),
            GuardLimit::MaxFraction { limit, managed } => {
                write!(f, "max_fraction: at most {limit} of {managed} per pass")
            }
            GuardLimit::MaxDeletions { limit } => write!(f, "max_deletions: at most {limit} per pass"),
        }
    }
}
