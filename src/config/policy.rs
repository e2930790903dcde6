//! `[*.retention]`: the rules (read through the rule table) and the guards, merged key
//! by key over `[defaults.retention]`.

use std::collections::BTreeSet;

use super::check::{Checker, Inherit};
use super::raw::{Field, RETENTION_KEYS, RawRetention};
use crate::calendar::CalDuration;
use crate::retention::{Keep, RULES, RetentionPolicy, RuleKind, StaleAfter};
use crate::wire::{BackupId, StorageType};

/// Every key a retention table accepts, for "did you mean" hints.
fn known_keys() -> Vec<&'static str> {
    RULES
        .iter()
        .map(|r| r.key)
        .chain(RETENTION_KEYS.iter().copied())
        .collect()
}

fn duration(c: &mut Checker<'_>, path: impl Into<String>, text: Option<&str>, what: &str) -> Option<CalDuration> {
    match text.map(str::trim) {
        None | Some("") => None,
        Some(text) => match CalDuration::parse(text) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(d),
            Err(e) => {
                c.err(path, format!("expected {what}: {e}"));
                None
            }
        },
    }
}

pub(super) fn retention_policy(
    c: &mut Checker<'_>,
    prefix: &str,
    r: &RawRetention,
    d: &RawRetention,
    is_portal: bool,
) -> RetentionPolicy {
    let at = Inherit {
        own: prefix,
        inherited: "defaults.retention",
    };
    let errors_before = c.errors.len();
    let known = known_keys();
    c.unknown(prefix, &r.unknown(), &known);
    if !is_portal {
        c.unknown("defaults.retention", &d.unknown(), &known);
    }
    let builtin = RetentionPolicy::default();
    let mut policy = RetentionPolicy::default();

    for def in &RULES {
        let value = match def.kind {
            RuleKind::Count => {
                let (own, inherited) = (r.rule::<i64>(def.key), d.rule::<i64>(def.key));
                let (_, n) = at.int(
                    c,
                    def.key,
                    (&own, &inherited),
                    0,
                    (-1, i64::from(u32::MAX)),
                    "-1 (unlimited) or a non-negative integer",
                );
                Keep::from(n)
            }
            RuleKind::Window => {
                let (own, inherited) = (r.rule::<String>(def.key), d.rule::<String>(def.key));
                let (path, text) = at.get(c, def.key, &own, &inherited);
                Keep::from(duration(
                    c,
                    path,
                    text.as_deref(),
                    "a duration in restic syntax (\"30d\", \"1y6m\", \"2d12h\")",
                ))
            }
        };
        policy = policy.keep(def.rule, value);
    }

    // Protect is additive: the portal's own ids join those of [defaults.retention], so
    // a fleet-wide hold cannot be undone by a portal's list (docs/reference.md, "Gates").
    let mut protect = BTreeSet::new();
    // `[defaults.retention]` checked on its own is its own inherited table.
    let tables = if at.own == at.inherited {
        vec![(at.inherited, &d.protect)]
    } else {
        vec![(at.own, &r.protect), (at.inherited, &d.protect)]
    };
    for (table, field) in &tables {
        let path = super::check::KeyPath { table, key: "protect" };
        for id in c.get(path, field).unwrap_or_default() {
            match BackupId::parse(&id) {
                Some(id) => {
                    protect.insert(id);
                }
                None => c.err(
                    path,
                    format!(
                        "expected backup ids (GUIDs such as \"0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b\"), found {id:?}"
                    ),
                ),
            }
        }
    }
    policy.protect = protect;
    let (path, names) = at.get(c, "storage_types", &r.storage_types, &d.storage_types);
    for name in names.unwrap_or_default() {
        let t = StorageType::from_name(&name);
        if t.is_known() {
            if !policy.storage_types.contains(&t) {
                policy.storage_types.push(t);
            }
        } else {
            let known: Vec<&str> = StorageType::KNOWN.iter().map(|t| t.name()).collect();
            c.err(
                path,
                format!("unknown storage type {name:?} (known: {})", known.join(", ")),
            );
        }
    }
    let u32_max = i64::from(u32::MAX);
    policy.min_keep = at
        .int(
            c,
            "min_keep",
            (&r.min_keep, &d.min_keep),
            builtin.min_keep.into(),
            (0, u32_max),
            "a non-negative integer",
        )
        .1 as u32;
    policy.max_deletions_per_run = at
        .int(
            c,
            "max_deletions_per_run",
            (&r.max_deletions_per_run, &d.max_deletions_per_run),
            builtin.max_deletions_per_run.into(),
            (0, u32_max),
            "a non-negative integer",
        )
        .1 as u32;
    let (path, v) = at.get(c, "max_delete_fraction", &r.max_delete_fraction, &d.max_delete_fraction);
    policy.max_delete_fraction = match v {
        None => builtin.max_delete_fraction,
        Some(f) if (0.0..=1.0).contains(&f) => f,
        Some(f) => {
            c.err(path, format!("expected a fraction from 0.0 to 1.0, found {f}"));
            builtin.max_delete_fraction
        }
    };
    policy.stale_after = stale_after(c, &at, &r.stale_after, &d.stale_after);
    policy.future_tolerance_secs = at
        .int(
            c,
            "future_tolerance_secs",
            (&r.future_tolerance_secs, &d.future_tolerance_secs),
            builtin.future_tolerance_secs as i64,
            (0, 10 * 365 * 86_400),
            "a non-negative integer (seconds, at most 10 years)",
        )
        .1 as u64;
    policy.clear_history = at.flag(c, "clear_history", &r.clear_history, &d.clear_history);
    let (path, text) = at.get(c, "max_age", &r.max_age, &d.max_age);
    policy.max_age = duration(
        c,
        path,
        text.as_deref(),
        "\"\" (off) or a duration in restic syntax such as \"400d\" or \"1y\"",
    );
    let (path, text) = at.get(c, "delete_grace", &r.delete_grace, &d.delete_grace);
    if let Some(text) = text {
        match parse_grace(&text) {
            Ok(grace) => policy.delete_grace = grace,
            Err(e) => c.err(path, e),
        }
    }
    if is_portal && policy.clear_history && c.errors.len() == errors_before {
        c.warnings.push(format!(
            "{prefix}.clear_history: a clear also removes records the history does not list (those on \
             storage the server cannot reach now); their files stay behind"
        ));
    }

    // An all-off policy is only reported when no retention key had an error (a
    // refused keep_* value would otherwise show up twice).
    if is_portal && !policy.keeps_anything() && c.errors.len() == errors_before {
        let keys: Vec<&str> = RULES.iter().map(|r| r.key).collect();
        c.err(
            prefix,
            format!(
                "every keep_* rule is off and there is no max_age, which would delete every backup: \
                 set max_age or at least one of {}",
                keys.join(", ")
            ),
        );
    }
    policy
}

/// `delete_grace`: whole days, hours and seconds (`"24h"`, `"7d"`, `"1d12h"`, `"0s"`).
/// Minutes and months are refused rather than guessed: in restic's syntax, which the
/// other durations use, `m` is a month.
pub(super) fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    let what = "expected a duration in days, hours and seconds such as \"24h\", \"7d\" or \"0s\"";
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(format!("{what}, found an empty string"));
    }
    let mut secs: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().map_err(|_| format!("{what}, found {text:?}"))?;
        let unit = match rest[digits..].chars().next() {
            Some('d') => 86_400,
            Some('h') => 3_600,
            Some('s') => 1,
            _ => return Err(format!("{what}, found {text:?}")),
        };
        secs = n
            .checked_mul(unit)
            .and_then(|s| s.checked_add(secs))
            .filter(|s| *s <= 10 * 365 * 86_400)
            .ok_or_else(|| format!("{text:?} is longer than ten years"))?;
        rest = &rest[digits + 1..];
    }
    Ok(std::time::Duration::from_secs(secs))
}

fn stale_after(c: &mut Checker<'_>, at: &Inherit<'_>, own: &Field<String>, inherited: &Field<String>) -> StaleAfter {
    let (path, v) = at.get(c, "stale_after", own, inherited);
    match v.as_deref().map(str::trim) {
        None | Some("auto") => StaleAfter::Auto,
        Some("off") => StaleAfter::Off,
        Some(text) => match CalDuration::parse(text) {
            Ok(d) if !d.is_zero() => StaleAfter::After(d),
            Ok(_) => {
                c.err(
                    path,
                    "a zero duration would block every deletion; use \"off\" to disable the guard",
                );
                StaleAfter::Auto
            }
            Err(e) => {
                c.err(
                    path,
                    format!("expected \"auto\", \"off\" or a duration such as \"3d\": {e}"),
                );
                StaleAfter::Auto
            }
        },
    }
}
