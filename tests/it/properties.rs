//! Property tests of the planner over random histories, policies, zones and instants:
//! what it may never do, whatever the input.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use docspace_retention::calendar::CalDuration;
use docspace_retention::retention::{
    Action, GuardLimit, GuardStep, HealthInput, Keep, Plan, PlanContext, PlanEntry, RULES, Reason, RetentionPolicy,
    Rule, RuleOutcome, Scope, ServerChange, StaleAfter, explain, plan_retention,
};
use docspace_retention::wire::{BackupId, HistoryRecord, StorageType, WireTime};
use proptest::prelude::*;

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn record() -> impl Strategy<Value = (i64, u8, u8)> {
    // seconds since base (3 years, often clustered on the hour), storage type, defect
    (
        prop_oneof![
            0i64..94_608_000,
            (0i64..26_280).prop_map(|h| h * 3600),
            (0i64..1095).prop_map(|d| d * 86_400 + 10_800)
        ],
        prop_oneof![8 => Just(0u8), 1 => 0u8..8],
        prop_oneof![20 => Just(0u8), 1 => 1u8..4],
    )
}

fn history() -> impl Strategy<Value = Vec<HistoryRecord>> {
    prop::collection::vec(record(), 0..120).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (secs, storage, defect))| {
                let t = base() + TimeDelta::seconds(secs);
                HistoryRecord {
                    id: if defect == 1 {
                        format!("not-a-guid-{i}")
                    } else {
                        format!("{i:08x}-0000-4000-8000-{i:012x}")
                    },
                    file_name: Some(format!("b{i}.tar.gz")),
                    storage_type: StorageType::from_number(storage as i64),
                    created_on: match defect {
                        2 => WireTime::Invalid("garbage".into()),
                        3 => WireTime::Missing,
                        _ => WireTime::At(t),
                    },
                    expires_on: WireTime::Never,
                }
            })
            .collect()
    })
}

fn count() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(0i64), 1 => Just(-1i64), 4 => 1i64..15]
}

fn within() -> impl Strategy<Value = Option<CalDuration>> {
    prop_oneof![
        4 => Just(None),
        1 => (0u32..3, 0u32..14, 0u32..40, 0u32..48).prop_map(|(years, months, days, hours)| {
            let d = CalDuration { years, months, days, hours };
            (!d.is_zero()).then_some(d)
        }),
    ]
}

fn policy() -> impl Strategy<Value = RetentionPolicy> {
    (
        (count(), count(), count(), count(), count(), count()),
        (within(), within(), within(), within(), within(), within()),
        (0u32..6, 0u32..60, 0.0f64..=1.0, prop::bool::ANY, prop::bool::ANY),
        prop::collection::vec(0usize..120, 0..4),
    )
        .prop_map(
            |(c, w, (min_keep, max_del, fraction, only_documents, stale), protect)| RetentionPolicy {
                // The rule table's order: keep_within, the six counts, the five windows.
                rules: [
                    Keep::from(w.0),
                    Keep::from(c.0),
                    Keep::from(c.1),
                    Keep::from(c.2),
                    Keep::from(c.3),
                    Keep::from(c.4),
                    Keep::from(c.5),
                    Keep::from(w.1),
                    Keep::from(w.2),
                    Keep::from(w.3),
                    Keep::from(w.4),
                    Keep::from(w.5),
                ],
                protect: protect
                    .into_iter()
                    .map(|i| BackupId::parse(&format!("{i:08x}-0000-4000-8000-{i:012x}")).unwrap())
                    .collect(),
                storage_types: if only_documents {
                    vec![StorageType::Documents]
                } else {
                    Vec::new()
                },
                min_keep,
                max_deletions_per_run: max_del,
                max_delete_fraction: fraction,
                stale_after: if stale {
                    StaleAfter::After(CalDuration::days(30))
                } else {
                    StaleAfter::Off
                },
                future_tolerance_secs: 300,
                clear_history: false,
                ..RetentionPolicy::default()
            },
        )
        .prop_filter("config refuses all-off policies", RetentionPolicy::has_rules)
}

#[test]
fn the_generated_policy_follows_the_rule_table() {
    assert_eq!(RULES.len(), 12);
    assert_eq!(RULES[0].key, "keep_within");
    assert_eq!(RULES[1].key, "keep_last");
    assert_eq!(RULES[7].key, "keep_within_hourly");
}

fn context() -> impl Strategy<Value = PlanContext> {
    (0usize..ZONES.len(), 0i64..110_000_000)
        .prop_map(|(z, secs)| PlanContext::new(base() + TimeDelta::seconds(secs), ZONES[z].parse::<Tz>().unwrap()))
}

/// The same policy with every guard out of the way: the rules alone.
fn rules_only(p: &RetentionPolicy) -> RetentionPolicy {
    RetentionPolicy {
        min_keep: 0,
        max_deletions_per_run: u32::MAX,
        max_delete_fraction: 1.0,
        stale_after: StaleAfter::Off,
        ..p.clone()
    }
}

fn kept_ids(p: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = p
        .iter()
        .filter(|e| e.action == Action::Keep)
        .map(|e| e.record.id.clone())
        .collect();
    ids.sort();
    ids
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn guards_only_ever_add_keeps(records in history(), policy in policy(), ctx in context()) {
        let rules = plan_retention(records.clone(), &rules_only(&policy), &ctx);
        let full = plan_retention(records, &policy, &ctx);
        let kept = kept_ids(&full);
        for id in kept_ids(&rules) {
            prop_assert!(kept.binary_search(&id).is_ok(), "{id} kept by the rules but deleted");
        }
    }

    /// Grace and a server change only hold deletions back: a pass deletes no more
    /// backups with them than without, never one the rules keep, and nothing at all
    /// after a server change. (Not "the same ones minus some": the limits delete the
    /// oldest candidates, so an old backup waiting for grace makes room for the next
    /// one, in the guard order the contract gives.)
    #[test]
    fn server_changes_and_grace_only_hold_deletions_back(
        records in history(),
        policy in policy(),
        ctx in context(),
        grace_hours in 0u64..100,
        planned_hours_ago in prop::collection::vec(0i64..200, 0..120),
        changed in prop::bool::ANY,
    ) {
        let plain = plan_retention(records.clone(), &policy, &ctx);
        let mut first_planned = fnv::FnvHashMap::default();
        for (record, hours) in records.iter().zip(&planned_hours_ago) {
            if let Some(id) = BackupId::parse(&record.id) {
                first_planned.insert(id, ctx.now - TimeDelta::hours(*hours));
            }
        }
        let remembered = PlanContext {
            first_planned,
            server_change: changed.then(|| ServerChange { from: "3.6.1".into(), to: "3.7.2".into() }),
            ..ctx.clone()
        };
        let graced = RetentionPolicy { delete_grace: std::time::Duration::from_secs(grace_hours * 3600), ..policy.clone() };
        let guarded = plan_retention(records.clone(), &graced, &remembered);
        prop_assert!(guarded.deletion_count() <= plain.deletion_count());
        let by_rules = plan_retention(records, &rules_only(&policy), &ctx);
        let deleted: Vec<String> = guarded.deletions().map(|e| e.record.id.clone()).collect();
        for id in kept_ids(&by_rules) {
            prop_assert!(!deleted.contains(&id), "{id} kept by the rules but deleted");
        }
        if changed {
            prop_assert_eq!(guarded.deletion_count(), 0);
        }
    }

    #[test]
    fn max_age_never_deletes_a_protected_or_doubtful_record_and_min_keep_holds(
        records in history(),
        policy in policy(),
        ctx in context(),
        days in 1u32..800,
    ) {
        let policy = RetentionPolicy { max_age: Some(CalDuration::days(days)), ..policy };
        let p = plan_retention(records, &policy, &ctx);
        for e in p.deletions() {
            prop_assert_eq!(e.scope, Scope::Managed);
            prop_assert!(!policy.protect.contains(&e.id.unwrap()));
        }
        let remaining = p.managed - p.deletion_count();
        prop_assert!(remaining >= (policy.min_keep as usize).min(p.managed));
    }

    /// `explain` says what the planner did for every backup of any history: the rules
    /// it says keep a backup are the ones the plan names, and the guard it says
    /// blocked it is the plan's (suspects from the sentinel included).
    #[test]
    fn explain_agrees_with_the_plan(
        records in history(),
        policy in policy(),
        ctx in context(),
        suspect_every in 0usize..6,
    ) {
        let mut health = HealthInput { keep_healthy: 3, ..HealthInput::default() };
        if suspect_every > 0 {
            for r in records.iter().step_by(suspect_every + 1) {
                if let Some(id) = BackupId::parse(&r.id) {
                    health.suspect.insert(id, "size 1% of median".into());
                }
            }
        }
        let ctx = PlanContext { health: Some(std::sync::Arc::new(health)), ..ctx };
        let p = plan_retention(records, &policy, &ctx);
        for i in 0..p.entries.len() {
            let ex = explain(&p, &policy, &ctx, i);
            let e = p.get(i);
            let keeps: Vec<Rule> = ex.rules.iter()
                .filter(|s| matches!(s.outcome, RuleOutcome::Keeps { .. }))
                .map(|s| s.setting.rule)
                .collect();
            let named: Vec<Rule> = e.reasons.iter()
                .filter_map(|r| match r { Reason::Kept { rule, .. } => Some(*rule), _ => None })
                .collect();
            if !matches!(e.reasons.first(), Some(Reason::OlderThanMaxAge(_))) {
                prop_assert_eq!(keeps, named, "entry {}", i);
            }
            if ex.suspect.is_some() {
                prop_assert!(ex.rules.is_empty());
            }
            let blocked: Vec<&GuardLimit> = ex.guards.iter()
                .filter_map(|(_, s)| match s { GuardStep::Blocked(l) => Some(l), _ => None })
                .collect();
            let named: Vec<&GuardLimit> = e.reasons.iter()
                .filter_map(|r| match r { Reason::Blocked(l) => Some(l), _ => None })
                .collect();
            prop_assert_eq!(blocked, named, "entry {}", i);
        }
    }

    #[test]
    fn limits_hold(records in history(), policy in policy(), ctx in context()) {
        let p = plan_retention(records, &policy, &ctx);
        let deleted = p.deletion_count();
        let remaining = p.managed - deleted;
        prop_assert!(remaining >= (policy.min_keep as usize).min(p.managed), "{remaining} < min_keep {}", policy.min_keep);
        prop_assert!(deleted <= policy.max_deletions_per_run as usize);
        prop_assert!(deleted as f64 <= policy.max_delete_fraction * p.managed as f64 + 1e-6);
    }

    #[test]
    fn only_managed_records_are_ever_deleted(records in history(), policy in policy(), ctx in context()) {
        let p = plan_retention(records, &policy, &ctx);
        for e in p.deletions() {
            prop_assert_eq!(e.scope, Scope::Managed);
            prop_assert!(!policy.protect.contains(&e.id.unwrap()));
            prop_assert!(e.created().unwrap() <= ctx.now + TimeDelta::seconds(300));
        }
    }

    #[test]
    fn the_newest_managed_backup_is_never_deleted(records in history(), policy in policy(), ctx in context()) {
        let p = plan_retention(records, &policy, &ctx);
        if let Some(newest) = p.entries.iter().find(|e| e.scope == Scope::Managed) {
            prop_assert_eq!(newest.action, Action::Keep, "{:?}", newest);
        }
    }

    #[test]
    fn replanning_what_the_rules_keep_deletes_nothing(records in history(), policy in policy(), ctx in context()) {
        let rules = rules_only(&policy);
        let first = plan_retention(records, &rules, &ctx);
        let kept: Vec<HistoryRecord> = first.iter().filter(|e| e.action == Action::Keep).map(|e| e.record.clone()).collect();
        let again = plan_retention(kept, &rules, &ctx);
        prop_assert_eq!(again.deletion_count(), 0);
    }

    #[test]
    fn input_order_does_not_matter(records in history(), policy in policy(), ctx in context(), seed in 0u64..1000) {
        let a = plan_retention(records.clone(), &policy, &ctx);
        let mut shuffled = records;
        let len = shuffled.len().max(1);
        shuffled.rotate_left(seed as usize % len);
        shuffled.reverse();
        let b = plan_retention(shuffled, &policy, &ctx);
        // Undatable records keep the server's order; compare the rest exactly.
        // (Each entry's index is the record's place in the input, which differs.)
        let datable = |p: &Plan| {
            p.iter()
                .filter(|e| e.created().is_some())
                .map(|e| (e.record.clone(), PlanEntry { index: 0, ..e.entry.clone() }))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(datable(&a), datable(&b));
        prop_assert_eq!(kept_ids(&a), kept_ids(&b));
    }
}
