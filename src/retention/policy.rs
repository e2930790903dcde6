//! A portal's retention policy, and the one table of restic's rules.
//!
//! Every rule is described once, in [`RULES`]: its config key, whether it counts
//! backups or reaches back in time, the bucket it keeps one backup of, and the words
//! of its reason. Defaults, config validation, `check-config --print`, the planner and
//! the reference table in docs/reference.md all iterate this table, so adding a rule
//! is one row here plus its tests.

use std::collections::BTreeSet;

use crate::calendar::CalDuration;
use crate::wire::{BackupId, Period, StorageType};

/// restic's rules, in restic's evaluation order (the order of reasons in a plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Within,
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    WithinHourly,
    WithinDaily,
    WithinWeekly,
    WithinMonthly,
    WithinYearly,
}

/// How a rule is set: a number of backups, or a time window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `0` off, `-1` unlimited, else how many buckets to keep one backup of.
    Count,
    /// A restic duration (`"30d"`); `""` off.
    Window,
}

/// What one kept backup stands for: every backup (`keep_last`, `keep_within`), or
/// one per hour, day, ISO week, month or year in the portal's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Every,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// One row of the rule table.
#[derive(Debug)]
pub struct RuleDef {
    pub rule: Rule,
    /// The key under `[*.retention]`.
    pub key: &'static str,
    pub kind: RuleKind,
    pub bucket: Bucket,
    /// restic's reason words: "daily snapshot", or "daily within" followed by the window.
    pub reason: &'static str,
    /// One line for the reference docs.
    pub doc: &'static str,
}

const fn row(
    rule: Rule,
    key: &'static str,
    kind: RuleKind,
    bucket: Bucket,
    reason: &'static str,
    doc: &'static str,
) -> RuleDef {
    RuleDef {
        rule,
        key,
        kind,
        bucket,
        reason,
        doc,
    }
}

use Bucket as B;
use RuleKind::{Count, Window};

/// restic's `forget` rules (restic 0.16 and later), in evaluation order.
pub const RULES: [RuleDef; 12] = [
    row(
        Rule::Within,
        "keep_within",
        Window,
        B::Every,
        "within",
        "every backup within this long of the newest",
    ),
    row(
        Rule::Last,
        "keep_last",
        Count,
        B::Every,
        "last snapshot",
        "the newest N backups",
    ),
    row(
        Rule::Hourly,
        "keep_hourly",
        Count,
        B::Hour,
        "hourly snapshot",
        "the newest backup of each of the last N hours that have one",
    ),
    row(
        Rule::Daily,
        "keep_daily",
        Count,
        B::Day,
        "daily snapshot",
        "the newest backup of each of the last N days that have one",
    ),
    row(
        Rule::Weekly,
        "keep_weekly",
        Count,
        B::Week,
        "weekly snapshot",
        "the newest backup of each of the last N ISO weeks that have one",
    ),
    row(
        Rule::Monthly,
        "keep_monthly",
        Count,
        B::Month,
        "monthly snapshot",
        "the newest backup of each of the last N months that have one",
    ),
    row(
        Rule::Yearly,
        "keep_yearly",
        Count,
        B::Year,
        "yearly snapshot",
        "the newest backup of each of the last N years that have one",
    ),
    row(
        Rule::WithinHourly,
        "keep_within_hourly",
        Window,
        B::Hour,
        "hourly within",
        "the newest backup of each hour within this long of the newest",
    ),
    row(
        Rule::WithinDaily,
        "keep_within_daily",
        Window,
        B::Day,
        "daily within",
        "the newest backup of each day within this long of the newest",
    ),
    row(
        Rule::WithinWeekly,
        "keep_within_weekly",
        Window,
        B::Week,
        "weekly within",
        "the newest backup of each ISO week within this long of the newest",
    ),
    row(
        Rule::WithinMonthly,
        "keep_within_monthly",
        Window,
        B::Month,
        "monthly within",
        "the newest backup of each month within this long of the newest",
    ),
    row(
        Rule::WithinYearly,
        "keep_within_yearly",
        Window,
        B::Year,
        "yearly within",
        "the newest backup of each year within this long of the newest",
    ),
];

impl Rule {
    /// This rule's row of [`RULES`].
    pub fn def(self) -> &'static RuleDef {
        &RULES[self as usize]
    }
}

/// A rule's setting in a policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keep {
    #[default]
    Off,
    /// A positive count, or -1 for unlimited.
    Count(i64),
    /// A non-zero window.
    Within(CalDuration),
}

impl From<i64> for Keep {
    fn from(n: i64) -> Self {
        if n == 0 { Keep::Off } else { Keep::Count(n) }
    }
}

impl From<CalDuration> for Keep {
    fn from(d: CalDuration) -> Self {
        if d.is_zero() { Keep::Off } else { Keep::Within(d) }
    }
}

impl From<Option<CalDuration>> for Keep {
    fn from(d: Option<CalDuration>) -> Self {
        d.map_or(Keep::Off, Keep::from)
    }
}

/// `stale_after`: how old the newest backup may get before deletions stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleAfter {
    /// Twice the schedule's period (now, else remembered); with neither, every
    /// deletion is held.
    Auto,
    Off,
    After(CalDuration),
}

/// A validated retention policy (config keys of `[*.retention]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// The setting of every rule, indexed by [`Rule`] (use [`RetentionPolicy::rule`]).
    pub rules: [Keep; RULES.len()],
    /// Backup ids never deleted.
    pub protect: BTreeSet<BackupId>,
    /// Storage types managed; empty = all.
    pub storage_types: Vec<StorageType>,
    pub min_keep: u32,
    pub max_deletions_per_run: u32,
    pub max_delete_fraction: f64,
    pub stale_after: StaleAfter,
    pub future_tolerance_secs: u64,
    pub clear_history: bool,
    /// A hard ceiling from `now`: older backups are deleted whatever rule keeps them
    /// (docs/reference.md, "Maximum age"). `None` = off.
    pub max_age: Option<CalDuration>,
    /// A deletion waits until it has been planned for this long (docs/reference.md,
    /// "Grace"). Zero = restic's behaviour.
    pub delete_grace: std::time::Duration,
}

impl Default for RetentionPolicy {
    /// The built-in defaults (docs/reference.md, "Configuration"): every rule off
    /// (which config validation refuses), the guards on.
    fn default() -> Self {
        RetentionPolicy {
            rules: [Keep::Off; RULES.len()],
            protect: BTreeSet::new(),
            storage_types: Vec::new(),
            min_keep: 1,
            max_deletions_per_run: 20,
            max_delete_fraction: 0.5,
            stale_after: StaleAfter::Auto,
            future_tolerance_secs: 300,
            clear_history: false,
            max_age: None,
            delete_grace: std::time::Duration::ZERO,
        }
    }
}

impl RetentionPolicy {
    /// The policy with `rule` set to `value`.
    ///
    /// # Panics
    /// When the value does not fit the rule's kind (a window for a count rule): a
    /// programming error, since config validation builds values by the table's kind.
    pub fn keep(mut self, rule: Rule, value: impl Into<Keep>) -> Self {
        let value = value.into();
        let fits = match value {
            Keep::Off => true,
            Keep::Count(n) => rule.def().kind == RuleKind::Count && (n > 0 || n == -1),
            Keep::Within(d) => rule.def().kind == RuleKind::Window && !d.is_zero(),
        };
        assert!(fits, "{value:?} is not a setting of {}", rule.def().key);
        self.rules[rule as usize] = value;
        self
    }

    pub fn rule(&self, rule: Rule) -> Keep {
        self.rules[rule as usize]
    }

    /// True when at least one `keep_*` rule is on.
    pub fn has_rules(&self) -> bool {
        self.rules.iter().any(|k| *k != Keep::Off)
    }

    /// True when the policy keeps something: a `keep_*` rule, or `max_age` (which
    /// keeps what is younger). A policy with neither would delete every backup, so
    /// config validation refuses it.
    pub fn keeps_anything(&self) -> bool {
        self.has_rules() || self.max_age.is_some()
    }

    pub(super) fn manages(&self, storage_type: &StorageType) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_rule_and_keys_are_unique() {
        for (i, def) in RULES.iter().enumerate() {
            assert_eq!(def.rule as usize, i, "{}", def.key);
            assert_eq!(def.rule.def().key, def.key);
            assert!(def.key.starts_with("keep_"));
        }
        let keys: BTreeSet<&str> = RULES.iter().map(|d| d.key).collect();
        assert_eq!(keys.len(), RULES.len());
    }

    /// The reference's rule table, as the code's table renders it.
    fn rules_markdown() -> String {
        let mut out = String::from("| key | kind | keeps | reason |\n|---|---|---|---|\n");
        for def in &RULES {
            let (kind, example) = match def.kind {
                RuleKind::Count => ("count", def.reason.to_string()),
                RuleKind::Window => ("window", format!("{} 30d", def.reason)),
            };
            out.push_str(&format!("| `{}` | {kind} | {} | `{example}` |\n", def.key, def.doc));
        }
        out
    }

    #[test]
    fn the_reference_lists_every_rule_as_the_table_says() {
        let doc = include_str!("../../docs/reference.md");
        let start = doc.find("<!-- rules:begin -->\n").expect("begin marker") + "<!-- rules:begin -->\n".len();
        let end = doc.find("<!-- rules:end -->").expect("end marker");
        assert_eq!(
            &doc[start..end],
            rules_markdown(),
            "docs/reference.md's rule table is out of date; paste the right-hand side"
        );
    }

    #[test]
    #[should_panic(expected = "is not a setting of keep_daily")]
    fn a_window_is_not_a_count() {
        let _ = RetentionPolicy::default().keep(Rule::Daily, CalDuration::days(3));
    }
}
