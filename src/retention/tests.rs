//! Table tests of the planner, in the style of rustic_core's forget tests: one fixture
//! of ~90 timestamps, one case per rule and per guard, each re-run under another `now`
//! where the rules say the result must not change.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::*;
use crate::calendar::CalDuration;
use crate::retention::ServerChange;
use crate::wire::{BackupId, HistoryRecord, Period, StorageType, WireTime};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn t(s: &str) -> String {
    crate::calendar::rfc3339(utc(s))
}

fn guid(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

fn record(n: usize, created: &str) -> HistoryRecord {
    HistoryRecord {
        id: guid(n),
        file_name: Some(format!("acme_{created}.tar.gz")),
        storage_type: StorageType::Documents,
        created_on: WireTime::At(utc(created)),
        expires_on: WireTime::Never,
    }
}

fn records(times: &[&str]) -> Vec<HistoryRecord> {
    times.iter().enumerate().map(|(i, s)| record(i + 1, s)).collect()
}

/// ~90 backups: two manual ones, 53 nightly ones (1 Oct to 22 Nov 2026), then weekly on
/// Sundays (July to September), monthly on the 1st (January 2025 to June 2026), and
/// three old ones (two of them in 2023).
fn fixture() -> Vec<HistoryRecord> {
    let mut times: Vec<String> = vec![
        "2026-11-22T14:30:00Z".into(),
        "2026-11-20T16:10:00Z".into(),
        "2026-11-20T16:05:00Z".into(),
    ];
    let mut day = utc("2026-11-22T03:00:00Z");
    while day >= utc("2026-10-01T03:00:00Z") {
        times.push(crate::calendar::rfc3339(day));
        day -= TimeDelta::days(1);
    }
    let mut sunday = utc("2026-09-27T03:00:00Z");
    while sunday >= utc("2026-07-05T03:00:00Z") {
        times.push(crate::calendar::rfc3339(sunday));
        sunday -= TimeDelta::days(7);
    }
    for (year, last_month) in [(2026, 6), (2025, 12)] {
        for month in (1..=last_month).rev() {
            times.push(format!("{year}-{month:02}-01T03:00:00Z"));
        }
    }
    times.extend(["2024-06-15T03:00:00Z", "2023-06-15T03:00:00Z", "2023-03-10T03:00:00Z"].map(String::from));
    // The server sends no order: shuffle deterministically.
    let mut v: Vec<HistoryRecord> = times.iter().enumerate().map(|(i, s)| record(i + 1, s)).collect();
    v.reverse();
    v.swap(3, 40);
    v.swap(10, 70);
    v
}

/// A policy with the guards out of the way, to test the rules alone.
fn rules_only() -> RetentionPolicy {
    RetentionPolicy {
        min_keep: 0,
        max_deletions_per_run: u32::MAX,
        max_delete_fraction: 1.0,
        stale_after: StaleAfter::Off,
        ..RetentionPolicy::default()
    }
}

fn ctx(now: &str) -> PlanContext {
    PlanContext::new(utc(now), Tz::UTC)
}

fn plan(records: Vec<HistoryRecord>, policy: &RetentionPolicy, ctx: &PlanContext) -> Plan {
    plan_retention(records, policy, ctx)
}

fn kept_times(p: &Plan) -> Vec<String> {
    p.entries
        .iter()
        .filter(|e| e.action == Action::Keep)
        .map(|e| crate::calendar::rfc3339(e.created().unwrap()))
        .collect()
}

fn reasons_of(p: &Plan, created: &str) -> Vec<String> {
    let e = p.entries.iter().find(|e| e.created() == Some(utc(created))).unwrap();
    e.reasons.iter().map(ToString::to_string).collect()
}

const NOW: &str = "2026-11-23T00:00:00Z";
const MUCH_LATER: &str = "2031-01-01T00:00:00Z";

/// A rule case: the policy, and every backup it keeps with its reasons, newest first.
struct Case {
    name: &'static str,
    policy: RetentionPolicy,
    kept: Vec<(&'static str, &'static [&'static str])>,
}

fn d(s: &str) -> Option<CalDuration> {
    Some(CalDuration::parse(s).unwrap())
}

fn rule_cases() -> Vec<Case> {
    let p = rules_only;
    vec![
        Case {
            name: "keep_last 3",
            policy: p().keep(Rule::Last, 3),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["last snapshot"]),
                ("2026-11-22T03:00:00Z", &["last snapshot"]),
                ("2026-11-21T03:00:00Z", &["last snapshot"]),
            ],
        },
        Case {
            name: "keep_hourly 5: 16:05 shares 16:10's hour",
            policy: p().keep(Rule::Hourly, 5),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["hourly snapshot"]),
                ("2026-11-22T03:00:00Z", &["hourly snapshot"]),
                ("2026-11-21T03:00:00Z", &["hourly snapshot"]),
                ("2026-11-20T16:10:00Z", &["hourly snapshot"]),
                ("2026-11-20T03:00:00Z", &["hourly snapshot"]),
            ],
        },
        Case {
            name: "keep_daily 3: the newest of each day",
            policy: p().keep(Rule::Daily, 3),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["daily snapshot"]),
                ("2026-11-21T03:00:00Z", &["daily snapshot"]),
                ("2026-11-20T16:10:00Z", &["daily snapshot"]),
            ],
        },
        Case {
            name: "keep_weekly 3: ISO weeks 47, 46, 45",
            policy: p().keep(Rule::Weekly, 3),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["weekly snapshot"]),
                ("2026-11-15T03:00:00Z", &["weekly snapshot"]),
                ("2026-11-08T03:00:00Z", &["weekly snapshot"]),
            ],
        },
        Case {
            name: "keep_monthly 3",
            policy: p().keep(Rule::Monthly, 3),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["monthly snapshot"]),
                ("2026-10-31T03:00:00Z", &["monthly snapshot"]),
                ("2026-09-27T03:00:00Z", &["monthly snapshot"]),
            ],
        },
        Case {
            name: "keep_yearly 2",
            policy: p().keep(Rule::Yearly, 2),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["yearly snapshot"]),
                ("2025-12-01T03:00:00Z", &["yearly snapshot"]),
            ],
        },
        Case {
            name: "keep_yearly 10 keeps the oldest backup too while counts are left",
            policy: p().keep(Rule::Yearly, 10),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["yearly snapshot"]),
                ("2025-12-01T03:00:00Z", &["yearly snapshot"]),
                ("2024-06-15T03:00:00Z", &["yearly snapshot"]),
                ("2023-06-15T03:00:00Z", &["yearly snapshot"]),
                ("2023-03-10T03:00:00Z", &["oldest yearly snapshot"]),
            ],
        },
        Case {
            name: "keep_yearly 4 has no count left for the oldest",
            policy: p().keep(Rule::Yearly, 4),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["yearly snapshot"]),
                ("2025-12-01T03:00:00Z", &["yearly snapshot"]),
                ("2024-06-15T03:00:00Z", &["yearly snapshot"]),
                ("2023-06-15T03:00:00Z", &["yearly snapshot"]),
            ],
        },
        Case {
            name: "keep_within 7d reaches back from the newest backup, not from now",
            policy: p().keep(Rule::Within, d("7d")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["within 7d"]),
                ("2026-11-22T03:00:00Z", &["within 7d"]),
                ("2026-11-21T03:00:00Z", &["within 7d"]),
                ("2026-11-20T16:10:00Z", &["within 7d"]),
                ("2026-11-20T16:05:00Z", &["within 7d"]),
                ("2026-11-20T03:00:00Z", &["within 7d"]),
                ("2026-11-19T03:00:00Z", &["within 7d"]),
                ("2026-11-18T03:00:00Z", &["within 7d"]),
                ("2026-11-17T03:00:00Z", &["within 7d"]),
                ("2026-11-16T03:00:00Z", &["within 7d"]),
            ],
        },
        Case {
            name: "keep_within_hourly 1d",
            policy: p().keep(Rule::WithinHourly, d("1d")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["hourly within 1d"]),
                ("2026-11-22T03:00:00Z", &["hourly within 1d"]),
            ],
        },
        Case {
            name: "keep_within_daily 7d",
            policy: p().keep(Rule::WithinDaily, d("7d")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["daily within 7d"]),
                ("2026-11-21T03:00:00Z", &["daily within 7d"]),
                ("2026-11-20T16:10:00Z", &["daily within 7d"]),
                ("2026-11-19T03:00:00Z", &["daily within 7d"]),
                ("2026-11-18T03:00:00Z", &["daily within 7d"]),
                ("2026-11-17T03:00:00Z", &["daily within 7d"]),
                ("2026-11-16T03:00:00Z", &["daily within 7d"]),
            ],
        },
        Case {
            name: "keep_within_weekly 1m",
            policy: p().keep(Rule::WithinWeekly, d("1m")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["weekly within 1m"]),
                ("2026-11-15T03:00:00Z", &["weekly within 1m"]),
                ("2026-11-08T03:00:00Z", &["weekly within 1m"]),
                ("2026-11-01T03:00:00Z", &["weekly within 1m"]),
                ("2026-10-25T03:00:00Z", &["weekly within 1m"]),
            ],
        },
        Case {
            name: "keep_within_monthly 6m",
            policy: p().keep(Rule::WithinMonthly, d("6m")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["monthly within 6m"]),
                ("2026-10-31T03:00:00Z", &["monthly within 6m"]),
                ("2026-09-27T03:00:00Z", &["monthly within 6m"]),
                ("2026-08-30T03:00:00Z", &["monthly within 6m"]),
                ("2026-07-26T03:00:00Z", &["monthly within 6m"]),
                ("2026-06-01T03:00:00Z", &["monthly within 6m"]),
            ],
        },
        Case {
            name: "keep_within_yearly 2y",
            policy: p().keep(Rule::WithinYearly, d("2y")),
            kept: vec![
                ("2026-11-22T14:30:00Z", &["yearly within 2y"]),
                ("2025-12-01T03:00:00Z", &["yearly within 2y"]),
            ],
        },
        Case {
            name: "GFS: daily 7, weekly 4, monthly 6",
            policy: p().keep(Rule::Daily, 7).keep(Rule::Weekly, 4).keep(Rule::Monthly, 6),
            kept: vec![
                (
                    "2026-11-22T14:30:00Z",
                    &["daily snapshot", "weekly snapshot", "monthly snapshot"],
                ),
                ("2026-11-21T03:00:00Z", &["daily snapshot"]),
                ("2026-11-20T16:10:00Z", &["daily snapshot"]),
                ("2026-11-19T03:00:00Z", &["daily snapshot"]),
                ("2026-11-18T03:00:00Z", &["daily snapshot"]),
                ("2026-11-17T03:00:00Z", &["daily snapshot"]),
                ("2026-11-16T03:00:00Z", &["daily snapshot"]),
                ("2026-11-15T03:00:00Z", &["weekly snapshot"]),
                ("2026-11-08T03:00:00Z", &["weekly snapshot"]),
                ("2026-11-01T03:00:00Z", &["weekly snapshot"]),
                ("2026-10-31T03:00:00Z", &["monthly snapshot"]),
                ("2026-09-27T03:00:00Z", &["monthly snapshot"]),
                ("2026-08-30T03:00:00Z", &["monthly snapshot"]),
                ("2026-07-26T03:00:00Z", &["monthly snapshot"]),
                ("2026-06-01T03:00:00Z", &["monthly snapshot"]),
            ],
        },
    ]
}

#[test]
fn every_rule_of_the_table_has_a_case() {
    // rustic_core's lesson: a rule without a case regresses silently.
    for def in &RULES {
        assert!(
            rule_cases().iter().any(|c| c.policy.rule(def.rule) != Keep::Off),
            "{} has no case",
            def.key
        );
    }
}

#[test]
fn fixture_has_ninety_backups() {
    assert_eq!(fixture().len(), 90);
}

#[test]
fn every_rule_case() {
    for case in rule_cases() {
        let p = plan(fixture(), &case.policy, &ctx(NOW));
        let expected: Vec<String> = case.kept.iter().map(|(s, _)| t(s)).collect();
        assert_eq!(kept_times(&p), expected, "case {:?}", case.name);
        for (time, reasons) in &case.kept {
            assert_eq!(reasons_of(&p, time), *reasons, "case {:?} at {time}", case.name);
        }
        assert_eq!(p.deletion_count(), 90 - expected.len(), "case {:?}", case.name);
        assert!(p.guards.is_empty(), "case {:?}: {:?}", case.name, p.guards);
    }
}

#[test]
fn rules_do_not_depend_on_now() {
    // Windows reach back from the newest backup and counts from the list, so a later
    // "now" (with the stale guard off) decides exactly the same.
    for case in rule_cases() {
        let early = plan(fixture(), &case.policy, &ctx(NOW));
        let late = plan(fixture(), &case.policy, &ctx(MUCH_LATER));
        // Only when each deletion was first planned (now, for both) differs.
        assert!(
            early.entries == late.entries && early.guards == late.guards,
            "case {:?}",
            case.name
        );
    }
}

#[test]
fn unlimited_count_keeps_everything() {
    let p = plan(fixture(), &rules_only().keep(Rule::Last, -1), &ctx(NOW));
    assert_eq!(p.deletion_count(), 0);
    let p = plan(fixture(), &rules_only().keep(Rule::Monthly, -1), &ctx(NOW));
    // One per month: Nov, Oct, Sep, Aug, Jul 2026, 18 monthly (Jun 2026..Jan 2025),
    // 2024-06, 2023-06, and the oldest (2023-03, its own month).
    assert_eq!(p.kept_count(), 5 + 18 + 3);
}

#[test]
fn reasons_use_restics_words() {
    let policy = rules_only()
        .keep(Rule::Daily, 7)
        .keep(Rule::Weekly, 4)
        .keep(Rule::Monthly, 6)
        .keep(Rule::Within, d("30d"));
    let p = plan(fixture(), &policy, &ctx(NOW));
    assert_eq!(
        reasons_of(&p, "2026-11-22T14:30:00Z"),
        ["within 30d", "daily snapshot", "weekly snapshot", "monthly snapshot"]
    );
    assert_eq!(reasons_of(&p, "2026-06-01T03:00:00Z"), ["monthly snapshot"]);
    assert_eq!(reasons_of(&p, "2026-10-25T03:00:00Z"), ["within 30d"]);
    // Every deletion says why: the rules it fell beyond, in the table's order.
    let deleted = p.entries.iter().find(|e| e.action == Action::Delete).unwrap();
    assert_eq!(
        deleted.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["no keep rule: beyond keep_daily 7, keep_weekly 4, keep_monthly 6, keep_within 30d"]
    );

    let p = plan(fixture(), &rules_only().keep(Rule::Yearly, 10), &ctx(NOW));
    assert_eq!(reasons_of(&p, "2023-03-10T03:00:00Z"), ["oldest yearly snapshot"]);
    let p = plan(fixture(), &rules_only().keep(Rule::WithinDaily, d("2d12h")), &ctx(NOW));
    assert_eq!(reasons_of(&p, "2026-11-21T03:00:00Z"), ["daily within 2d12h"]);
}

#[test]
fn window_start_is_exclusive() {
    let r = records(&["2026-06-10T12:00:00Z", "2026-06-09T12:00:01Z", "2026-06-09T12:00:00Z"]);
    let p = plan(
        r,
        &rules_only().keep(Rule::Within, d("1d")),
        &ctx("2026-06-11T00:00:00Z"),
    );
    assert_eq!(kept_times(&p), [t("2026-06-10T12:00:00Z"), t("2026-06-09T12:00:01Z")]);
}

#[test]
fn month_arithmetic_is_gos_add_date() {
    // 31 March minus one month is 3 March (Go normalises "31 February" forward), so
    // 2 March is outside the window even though it is within "a month" by clamping.
    let r = records(&[
        "2026-03-31T12:00:00Z",
        "2026-03-03T12:00:01Z",
        "2026-03-03T12:00:00Z",
        "2026-03-02T12:00:00Z",
    ]);
    let p = plan(
        r,
        &rules_only().keep(Rule::Within, d("1m")),
        &ctx("2026-04-01T00:00:00Z"),
    );
    assert_eq!(kept_times(&p), [t("2026-03-31T12:00:00Z"), t("2026-03-03T12:00:01Z")]);
}

#[test]
fn future_records_are_kept_and_do_not_anchor_windows() {
    // 14:30 is 4.5 hours after "now": beyond the tolerance, so it is kept as doubtful and
    // the rules start from the 03:00 backup.
    let policy = rules_only().keep(Rule::Last, 1);
    let p = plan(fixture(), &policy, &ctx("2026-11-22T10:00:00Z"));
    assert_eq!(
        reasons_of(&p, "2026-11-22T14:30:00Z"),
        ["future: created after now + 300s"]
    );
    assert_eq!(reasons_of(&p, "2026-11-22T03:00:00Z"), ["last snapshot"]);
    assert_eq!(p.doubtful_count(Doubt::Future), 1);
    assert_eq!(p.managed, 89);

    // Two minutes ahead is within the tolerance: managed, but not restic's "latest",
    // which must lie before now; the 1d window starts at 21 Nov 03:00 (exclusive).
    let policy = rules_only().keep(Rule::Within, d("1d"));
    let p = plan(fixture(), &policy, &ctx("2026-11-22T14:28:00Z"));
    assert_eq!(p.doubtful_count(Doubt::Future), 0);
    assert_eq!(kept_times(&p), [t("2026-11-22T14:30:00Z"), t("2026-11-22T03:00:00Z")]);
}

fn berlin(now: &str) -> PlanContext {
    PlanContext {
        tz: "Europe/Berlin".parse().unwrap(),
        ..ctx(now)
    }
}

#[test]
fn buckets_are_computed_in_the_portals_zone() {
    // 22:30 and 23:30 UTC on 28 March are the same UTC day but different Berlin days.
    let times = ["2026-03-28T23:30:00Z", "2026-03-28T22:30:00Z", "2026-03-27T12:00:00Z"];
    let policy = rules_only().keep(Rule::Daily, 10);
    let in_utc = plan(records(&times), &policy, &ctx("2026-04-01T00:00:00Z"));
    assert_eq!(kept_times(&in_utc), [t(times[0]), t(times[2])]);
    let in_berlin = plan(records(&times), &policy, &berlin("2026-04-01T00:00:00Z"));
    assert_eq!(in_berlin.deletion_count(), 0);
}

#[test]
fn hourly_buckets_merge_the_repeated_hour_when_clocks_go_back() {
    // On 25 October 2026 Berlin lives 02:00–03:00 twice: 00:30Z and 01:30Z are both
    // "02:30" on the wall clock, so restic's hourly bucket holds one of them.
    let times = ["2026-10-25T01:30:00Z", "2026-10-25T00:30:00Z", "2026-10-24T12:00:00Z"];
    let policy = rules_only().keep(Rule::Hourly, 10);
    let p = plan(records(&times), &policy, &berlin("2026-11-01T00:00:00Z"));
    assert_eq!(kept_times(&p), [t(times[0]), t(times[2])]);
    let p = plan(records(&times), &policy, &ctx("2026-11-01T00:00:00Z"));
    assert_eq!(p.deletion_count(), 0);
}

#[test]
fn within_windows_use_wall_clock_days_across_dst() {
    // Two days before 30 March 12:00 CEST is 28 March 12:00 CET = 11:00Z, not 10:00Z.
    let times = ["2026-03-30T10:00:00Z", "2026-03-28T11:30:00Z", "2026-03-28T10:30:00Z"];
    let policy = rules_only().keep(Rule::Within, d("2d"));
    let p = plan(records(&times), &policy, &berlin("2026-04-01T00:00:00Z"));
    assert_eq!(kept_times(&p), [t(times[0]), t(times[1])]);
    let p = plan(records(&times), &policy, &ctx("2026-04-01T00:00:00Z"));
    assert_eq!(p.deletion_count(), 0);
}

#[test]
fn weekly_buckets_use_the_iso_week_year() {
    // 31 Dec 2026 and 1 Jan 2027 are both in ISO week 53 of 2026; 29 Dec 2025 is week 1
    // of 2026. A calendar-year bucket would keep 31 Dec as "2026-53" next to "2027-53".
    let times = [
        "2027-01-04T03:00:00Z",
        "2027-01-01T03:00:00Z",
        "2026-12-31T03:00:00Z",
        "2025-12-29T03:00:00Z",
        "2025-12-28T03:00:00Z",
    ];
    let policy = rules_only().keep(Rule::Weekly, 10);
    let p = plan(records(&times), &policy, &ctx("2027-01-05T00:00:00Z"));
    assert_eq!(kept_times(&p), [t(times[0]), t(times[1]), t(times[3]), t(times[4])]);
}

#[test]
fn ties_are_ordered_by_ascending_id() {
    let mut r = records(&["2026-06-10T12:00:00Z", "2026-06-10T12:00:00Z"]);
    r[0].id = "bbbbbbbb-0000-4000-8000-000000000000".into();
    r[1].id = "aaaaaaaa-0000-4000-8000-000000000000".into();
    let p = plan(r, &rules_only().keep(Rule::Last, 1), &ctx(NOW));
    assert_eq!(p.get(0).record.id, "aaaaaaaa-0000-4000-8000-000000000000");
    assert_eq!(p.entries[0].action, Action::Keep);
    assert_eq!(p.entries[1].action, Action::Delete);
}

#[test]
fn input_order_does_not_matter() {
    let policy = RetentionPolicy::default()
        .keep(Rule::Daily, 7)
        .keep(Rule::Weekly, 4)
        .keep(Rule::Monthly, 6);
    let a = plan(fixture(), &policy, &ctx(NOW));
    let mut shuffled = fixture();
    shuffled.reverse();
    shuffled.rotate_left(17);
    let b = plan(shuffled, &policy, &ctx(NOW));
    assert_eq!(a, b);
}

#[test]
fn empty_history_plans_nothing() {
    let p = plan(Vec::new(), &RetentionPolicy::default().keep(Rule::Last, 1), &ctx(NOW));
    assert!(p.entries.is_empty() && p.guards.is_empty() && !p.clear_history);
}

// ----- scope, protection, doubtful records -----

#[test]
fn records_outside_storage_types_are_never_touched_nor_counted() {
    let mut r = records(&[
        "2026-06-06T03:00:00Z",
        "2026-06-05T03:00:00Z",
        "2026-06-04T03:00:00Z",
        "2026-06-03T03:00:00Z",
        "2026-06-02T03:00:00Z",
        "2026-06-01T03:00:00Z",
    ]);
    for rec in r.iter_mut().step_by(2) {
        rec.storage_type = StorageType::DataStore;
    }
    let policy = RetentionPolicy {
        storage_types: vec![StorageType::Documents],
        ..rules_only()
    }
    .keep(Rule::Last, 1);
    let p = plan(r, &policy, &ctx(NOW));
    assert_eq!(p.managed, 3);
    for e in p.iter() {
        if e.record.storage_type == StorageType::DataStore {
            assert_eq!((e.action, e.scope), (Action::Keep, Scope::NotManaged));
            assert_eq!(e.reasons[..], [Reason::NotManaged]);
        }
    }
    // The newest Documents backup (5 June) is kept; 3 and 1 June are deleted.
    assert_eq!(kept_times(&p).len(), 4);
    assert_eq!(reasons_of(&p, "2026-06-05T03:00:00Z"), ["last snapshot"]);
    assert_eq!(p.deletion_count(), 2);
}

#[test]
fn protected_ids_are_kept_and_still_take_part_in_the_rules() {
    let r = records(&["2026-06-03T03:00:00Z", "2026-06-02T03:00:00Z", "2026-06-01T03:00:00Z"]);
    let policy = RetentionPolicy {
        protect: [guid(3), guid(1)].iter().map(|g| BackupId::parse(g).unwrap()).collect(),
        ..rules_only()
    }
    .keep(Rule::Last, 1);
    let p = plan(r, &policy, &ctx(NOW));
    assert_eq!(reasons_of(&p, "2026-06-03T03:00:00Z"), ["last snapshot", "protected"]);
    assert_eq!(reasons_of(&p, "2026-06-01T03:00:00Z"), ["protected"]);
    assert_eq!(
        p.deletions().map(|e| e.record.id.clone()).collect::<Vec<_>>(),
        [guid(2)]
    );
}

#[test]
fn doubtful_records_are_kept_counted_and_left_out_of_the_rules() {
    let mut r = records(&[
        "2026-06-10T03:00:00Z", // 1: unparseable date
        "2026-06-09T03:00:00Z", // 2: unknown storage type
        "2026-06-08T03:00:00Z", // 3: no id
        "2026-06-07T03:00:00Z", // 4: id not a GUID
        "2026-06-06T03:00:00Z", // 5: "never"
        "2026-06-05T03:00:00Z", // 6: missing createdOn
        "2026-06-04T03:00:00Z", // 7: fine, the newest good one
        "2026-06-03T03:00:00Z", // 8: fine
    ]);
    r[0].created_on = WireTime::Invalid("yesterday".into());
    r[1].storage_type = StorageType::Unknown("42".into());
    r[2].id = String::new();
    r[3].id = "42".into();
    r[4].created_on = WireTime::Never;
    r[5].created_on = WireTime::Missing;
    let p = plan(r, &rules_only().keep(Rule::Last, 1), &ctx(NOW));
    assert_eq!(p.managed, 2);
    assert_eq!(p.doubtful, [(Doubt::Unparseable, 6)]);
    assert!(p.guards.is_empty());
    assert_eq!(
        p.deletions().map(|e| e.record.id.clone()).collect::<Vec<_>>(),
        [guid(8)]
    );
    assert_eq!(reasons_of(&p, "2026-06-04T03:00:00Z"), ["last snapshot"]);
    let texts: Vec<String> = p
        .entries
        .iter()
        .filter(|e| e.scope != Scope::Managed)
        .map(|e| e.reasons[0].to_string())
        .collect();
    assert!(
        texts.contains(&"unparseable: createdOn \"yesterday\"".to_string()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"unparseable: unknown storage type".to_string()),
        "{texts:?}"
    );
    assert!(texts.contains(&"unparseable: no id".to_string()), "{texts:?}");
    assert!(
        texts.contains(&"unparseable: id is not a GUID".to_string()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"unparseable: createdOn is 0001-01-01".to_string()),
        "{texts:?}"
    );
    assert!(texts.contains(&"unparseable: no createdOn".to_string()), "{texts:?}");
    // Undatable records come last.
    assert!(p.entries[..3].iter().all(|e| e.created().is_some()));
}

#[test]
fn a_duplicate_id_is_not_deleted_when_another_copy_is_kept() {
    let mut r = records(&["2026-06-03T03:00:00Z", "2026-06-02T03:00:00Z", "2026-06-01T03:00:00Z"]);
    r[2].id = r[0].id.clone();
    let p = plan(r, &rules_only().keep(Rule::Last, 1), &ctx(NOW));
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        ["duplicate id of a kept backup"]
    );
    assert_eq!(
        p.deletions().map(|e| e.record.id.clone()).collect::<Vec<_>>(),
        [guid(2)]
    );
}

#[test]
fn an_id_listed_twice_is_one_backup_and_min_keep_counts_it_once() {
    // Before: B and its twin B' counted as two; min_keep saved B and deleted B',
    // which deletes B too, leaving one backup.
    let mut r = records(&["2026-06-03T03:00:00Z", "2026-06-02T03:00:00Z", "2026-06-01T03:00:00Z"]);
    r[2].id = r[1].id.to_ascii_uppercase();
    let policy = RetentionPolicy {
        min_keep: 2,
        ..rules_only()
    }
    .keep(Rule::Last, 1);
    let p = plan(r, &policy, &ctx(NOW));
    assert_eq!(p.managed, 2);
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(p.guards, [(Guard::MinKeep, 1)]);
    assert_eq!(reasons_of(&p, "2026-06-02T03:00:00Z"), ["min_keep: keeps at least 2"]);
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        ["duplicate id of a kept backup"]
    );
    assert_eq!(p.entries[2].scope, Scope::Twin);
    assert_eq!(p.kept_count(), 2);

    // Without the guard the backup goes, once, and its twin listing with it.
    let p = plan(
        records(&["2026-06-03T03:00:00Z", "2026-06-02T03:00:00Z", "2026-06-01T03:00:00Z"])
            .into_iter()
            .enumerate()
            .map(|(i, mut rec)| {
                if i == 2 {
                    rec.id = guid(2);
                }
                rec
            })
            .collect(),
        &rules_only().keep(Rule::Last, 1),
        &ctx(NOW),
    );
    assert_eq!(
        p.deletions().map(|e| e.id.unwrap().to_string()).collect::<Vec<_>>(),
        [guid(2)]
    );
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        ["duplicate id of a deleted backup"]
    );
    assert_eq!(p.entries[2].action, Action::Delete);
}

#[test]
fn a_doubtful_listing_keeps_every_listing_of_its_id() {
    let mut r = records(&["2026-06-03T03:00:00Z", "2026-06-02T03:00:00Z"]);
    let mut twin = record(2, "2026-06-02T03:00:00Z");
    twin.created_on = WireTime::Invalid("soon".into());
    r.push(twin);
    let p = plan(r, &rules_only().keep(Rule::Last, 1), &ctx(NOW));
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(p.managed, 1);
    assert_eq!(
        reasons_of(&p, "2026-06-02T03:00:00Z"),
        ["duplicate id of a kept backup"]
    );
    assert_eq!(p.doubtful, [(Doubt::Unparseable, 1)]);
}

#[test]
fn temporary_backups_are_kept_and_count_for_nothing() {
    // Two fresh "Temporary" downloads must not make the durable backups look redundant.
    let mut r = records(&[
        "2026-06-10T12:00:00Z",
        "2026-06-10T11:00:00Z",
        "2026-06-09T03:00:00Z",
        "2026-06-08T03:00:00Z",
        "2026-06-07T03:00:00Z",
    ]);
    for rec in &mut r[..2] {
        rec.storage_type = StorageType::DataStore;
        rec.expires_on = WireTime::At(rec.created_on.instant().unwrap() + TimeDelta::days(1));
    }
    let policy = RetentionPolicy {
        min_keep: 3,
        ..rules_only()
    }
    .keep(Rule::Last, 3);
    let p = plan(r, &policy, &ctx("2026-06-10T13:00:00Z"));
    assert_eq!((p.managed, p.temporary), (3, 2));
    assert_eq!(p.deletion_count(), 0);
    assert!(p.guards.is_empty());
    assert_eq!(
        reasons_of(&p, "2026-06-10T12:00:00Z"),
        ["temporary: expires 2026-06-11T12:00:00Z"]
    );
    assert_eq!(reasons_of(&p, "2026-06-07T03:00:00Z"), ["last snapshot"]);
    // An unreadable expiry is doubtful, never a deletion.
    let mut r = records(&["2026-06-10T12:00:00Z", "2026-06-09T12:00:00Z"]);
    r[1].expires_on = WireTime::Invalid("tomorrow".into());
    let p = plan(r, &rules_only().keep(Rule::Last, 1), &ctx(NOW));
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(
        reasons_of(&p, "2026-06-09T12:00:00Z"),
        ["unparseable: expiresOn \"tomorrow\""]
    );
}

// ----- guards -----

fn ten_days() -> Vec<HistoryRecord> {
    let times: Vec<String> = (0..10).map(|i| format!("2026-06-{:02}T03:00:00Z", 10 - i)).collect();
    times.iter().enumerate().map(|(i, s)| record(i + 1, s)).collect()
}

fn guards(min_keep: u32, fraction: f64, max: u32) -> RetentionPolicy {
    RetentionPolicy {
        min_keep,
        max_delete_fraction: fraction,
        max_deletions_per_run: max,
        stale_after: StaleAfter::Off,
        ..RetentionPolicy::default()
    }
    .keep(Rule::Last, 1)
}

fn deleted_days(p: &Plan) -> Vec<String> {
    let mut days: Vec<String> = p
        .deletions()
        .map(|e| e.created().unwrap().format("%d").to_string())
        .collect();
    days.sort();
    days
}

/// A guard case over ten daily backups (1–10 June) with `keep_last = 1`.
struct GuardCase {
    name: &'static str,
    min_keep: u32,
    fraction: f64,
    max: u32,
    /// Days of June deleted.
    deleted: &'static [&'static str],
    guards: &'static [(Guard, usize)],
    /// A kept backup and its reasons.
    reason: Option<(&'static str, &'static [&'static str])>,
}

fn guard_cases() -> Vec<GuardCase> {
    vec![
        GuardCase {
            name: "min_keep saves the newest candidates",
            min_keep: 3,
            fraction: 1.0,
            max: 100,
            deleted: &["01", "02", "03", "04", "05", "06", "07"],
            guards: &[(Guard::MinKeep, 2)],
            reason: Some(("2026-06-09T03:00:00Z", &["min_keep: keeps at least 3"])),
        },
        GuardCase {
            name: "max_delete_fraction deletes the oldest first",
            min_keep: 1,
            fraction: 0.5,
            max: 100,
            deleted: &["01", "02", "03", "04", "05"],
            guards: &[(Guard::MaxFraction, 4)],
            reason: Some(("2026-06-06T03:00:00Z", &["max_fraction: at most 5 of 10 per pass"])),
        },
        GuardCase {
            name: "max_deletions_per_run deletes the oldest first",
            min_keep: 1,
            fraction: 1.0,
            max: 2,
            deleted: &["01", "02"],
            guards: &[(Guard::MaxDeletions, 7)],
            reason: Some(("2026-06-03T03:00:00Z", &["max_deletions: at most 2 per pass"])),
        },
        GuardCase {
            name: "fraction then deletions each count their own blocks",
            min_keep: 1,
            fraction: 0.5,
            max: 2,
            deleted: &["01", "02"],
            guards: &[(Guard::MaxFraction, 4), (Guard::MaxDeletions, 3)],
            reason: None,
        },
        GuardCase {
            name: "zero max_deletions deletes nothing",
            min_keep: 1,
            fraction: 1.0,
            max: 0,
            deleted: &[],
            guards: &[(Guard::MaxDeletions, 9)],
            reason: None,
        },
        GuardCase {
            name: "the newest is always kept by the rule, so min_keep 1 blocks nothing",
            min_keep: 1,
            fraction: 1.0,
            max: 100,
            deleted: &["01", "02", "03", "04", "05", "06", "07", "08", "09"],
            guards: &[],
            reason: Some(("2026-06-10T03:00:00Z", &["last snapshot"])),
        },
    ]
}

#[test]
fn every_guard_case() {
    for case in guard_cases() {
        let p = plan(ten_days(), &guards(case.min_keep, case.fraction, case.max), &ctx(NOW));
        assert_eq!(deleted_days(&p), case.deleted, "case {:?}", case.name);
        assert_eq!(p.guards, case.guards, "case {:?}", case.name);
        assert_eq!(
            p.blocked_deletions(),
            case.guards.iter().map(|(_, n)| n).sum::<usize>(),
            "case {:?}",
            case.name
        );
        if let Some((time, reasons)) = case.reason {
            assert_eq!(reasons_of(&p, time), reasons, "case {:?}", case.name);
        }
    }
}

#[test]
fn max_delete_fraction_is_not_fooled_by_float_rounding() {
    // 0.29 * 100 is 28.999999999999996 in binary floating point.
    let times: Vec<String> = (0..100)
        .map(|i| format!("2026-01-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24))
        .collect();
    let r: Vec<HistoryRecord> = times.iter().enumerate().map(|(i, s)| record(i + 1, s)).collect();
    let p = plan(r, &guards(1, 0.29, 1000), &ctx(NOW));
    assert_eq!(p.deletion_count(), 29);
}

fn stale_policy(stale: StaleAfter) -> RetentionPolicy {
    RetentionPolicy {
        stale_after: stale,
        ..rules_only()
    }
    .keep(Rule::Last, 3)
}

fn with_schedule(now: &str, period: Option<Period>) -> PlanContext {
    PlanContext {
        schedule_period: period,
        ..ctx(now)
    }
}

#[test]
fn stale_auto_uses_twice_the_schedule_period() {
    let policy = stale_policy(StaleAfter::Auto);
    // Newest backup 22 Nov 14:30; EveryDay → 2 days.
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2026-11-24T14:29:00Z", Some(Period::EveryDay)),
    );
    assert_eq!(p.deletion_count(), 87);
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2026-11-24T14:31:00Z", Some(Period::EveryDay)),
    );
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(p.guards, [(Guard::Stale, 87)]);
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        ["stale: newest backup is older than 2d"]
    );
    // EveryWeek → 14 days; EveryMonth and unknown periods → 62 days.
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2026-12-06T14:29:00Z", Some(Period::EveryWeek)),
    );
    assert_eq!(p.deletion_count(), 87);
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2026-12-06T14:31:00Z", Some(Period::EveryWeek)),
    );
    assert_eq!(p.deletion_count(), 0);
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2027-01-23T14:29:00Z", Some(Period::EveryMonth)),
    );
    assert_eq!(p.deletion_count(), 87);
    let p = plan(
        fixture(),
        &policy,
        &with_schedule("2027-01-23T14:31:00Z", Some(Period::Unknown("9".into()))),
    );
    assert_eq!(p.deletion_count(), 0);
    // No schedule now and none remembered (a lost state directory): auto holds every
    // deletion, however fresh the backups.
    let p = plan(fixture(), &policy, &with_schedule("2026-11-22T15:00:00Z", None));
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(p.guards, [(Guard::Stale, 87)]);
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        [
            "stale: no schedule and no remembered period (set stale_after to a duration to manage a portal without a \
          schedule)"
        ]
    );
}

#[test]
fn stale_explicit_and_off() {
    let p = plan(
        fixture(),
        &stale_policy(StaleAfter::After(CalDuration::days(3))),
        &ctx("2026-11-25T14:31:00Z"),
    );
    assert_eq!(p.blocked(Guard::Stale), 87);
    let p = plan(
        fixture(),
        &stale_policy(StaleAfter::Off),
        &with_schedule(MUCH_LATER, Some(Period::EveryDay)),
    );
    assert_eq!(p.deletion_count(), 87);
}

#[test]
fn stale_runs_before_min_keep() {
    let policy = RetentionPolicy {
        min_keep: 5,
        ..stale_policy(StaleAfter::After(CalDuration::days(1)))
    };
    let p = plan(fixture(), &policy, &ctx(MUCH_LATER));
    assert_eq!(p.guards, [(Guard::Stale, 87)]);
}

#[test]
fn clearing_needs_every_record_planned_for_deletion() {
    // The rules always keep the newest backup, so a valid policy never plans a clear;
    // a kept doubtful record would prevent it too.
    let policy = RetentionPolicy {
        clear_history: true,
        min_keep: 0,
        ..rules_only()
    }
    .keep(Rule::Last, 1);
    let p = plan(fixture(), &policy, &ctx(NOW));
    assert!(!p.clear_history);
}

#[test]
fn an_all_off_policy_is_recognised() {
    assert!(!RetentionPolicy::default().has_rules());
    assert!(RetentionPolicy::default().keep(Rule::WithinYearly, d("1y")).has_rules());
    assert!(RetentionPolicy::default().keep(Rule::Last, -1).has_rules());
}

// ----- the server's own cleaner -----

#[test]
fn schedule_conflict_finds_backups_the_servers_cleaner_would_delete() {
    let now = utc("2026-11-23T12:00:00Z"); // a Monday
    let daily = |policy: RetentionPolicy, stored| {
        schedule_conflict(&policy, &Period::EveryDay, Some(3), None, stored, now, Tz::UTC)
    };
    let base = RetentionPolicy::default;
    assert_eq!(daily(base().keep(Rule::Daily, 30), 7), Some(7));
    assert_eq!(daily(base().keep(Rule::Daily, 7), 7), None);
    assert_eq!(daily(base().keep(Rule::Last, 7), 7), None);
    // Four weekly backups span three weeks back: the server keeps one week.
    assert_eq!(daily(base().keep(Rule::Weekly, 4), 7), Some(8));
    assert_eq!(daily(base().keep(Rule::Last, -1), 100), Some(100));
    assert_eq!(daily(base().keep(Rule::Within, d("10d")), 7), Some(7));
    assert_eq!(daily(base().keep(Rule::Within, d("10d")), 10), None);
    let monthly = |policy: RetentionPolicy, stored| {
        schedule_conflict(&policy, &Period::EveryMonth, Some(3), Some(1), stored, now, Tz::UTC)
    };
    assert_eq!(monthly(base().keep(Rule::Monthly, 12), 12), None);
    assert_eq!(monthly(base().keep(Rule::Monthly, 12), 6), Some(6));
    let unknown = schedule_conflict(
        &base().keep(Rule::Daily, 30),
        &Period::Unknown("7".into()),
        None,
        None,
        1,
        now,
        Tz::UTC,
    );
    assert_eq!(unknown, None);
}

// ----- what the state store adds: server changes, grace, max_age -----

fn changed() -> Option<ServerChange> {
    Some(ServerChange {
        from: "3.6.1".into(),
        to: "3.7.2".into(),
    })
}

#[test]
fn the_first_pass_after_a_server_change_only_plans() {
    let ctx = PlanContext {
        server_change: changed(),
        ..ctx(NOW)
    };
    let p = plan(ten_days(), &guards(1, 1.0, 100), &ctx);
    assert_eq!(p.deletion_count(), 0);
    assert_eq!(p.guards, [(Guard::ServerChanged, 9)]);
    assert_eq!(
        reasons_of(&p, "2026-06-01T03:00:00Z"),
        ["DocSpace 3.6.1 → 3.7.2: first pass after a server change only plans"]
    );
    // Nothing reached the grace step, so nothing counts as planned.
    assert!(p.planned_since.is_empty());
}

#[test]
fn grace_lets_a_deletion_wait_until_it_was_planned_long_enough() {
    let policy = RetentionPolicy {
        delete_grace: std::time::Duration::from_secs(24 * 3600),
        ..guards(1, 1.0, 100)
    };
    let now = utc(NOW);
    let mut first_planned = fnv::FnvHashMap::default();
    // 1 June planned 25 h ago: deletable. 2 June planned 1 h ago: waits 23 h more.
    first_planned.insert(BackupId::parse(&guid(10)).unwrap(), now - TimeDelta::hours(25));
    first_planned.insert(BackupId::parse(&guid(9)).unwrap(), now - TimeDelta::hours(1));
    let ctx = PlanContext {
        first_planned,
        ..ctx(NOW)
    };
    let p = plan(ten_days(), &policy, &ctx);
    assert_eq!(deleted_days(&p), ["01"]);
    assert_eq!(p.guards, [(Guard::Grace, 8)]);
    assert_eq!(
        reasons_of(&p, "2026-06-02T03:00:00Z"),
        ["grace: deletable after 2026-11-23T23:00:00Z"]
    );
    assert_eq!(
        reasons_of(&p, "2026-06-09T03:00:00Z"),
        ["grace: deletable after 2026-11-24T00:00:00Z"]
    );
    // Every candidate is remembered with when it was first planned; the new ones now.
    assert_eq!(p.planned_since.len(), 9);
    let first = |n: usize| {
        let id = BackupId::parse(&guid(n)).unwrap();
        p.planned_since.iter().find(|(i, _)| *i == id).unwrap().1
    };
    assert_eq!(first(10), now - TimeDelta::hours(25));
    assert_eq!(first(2), now);
}

#[test]
fn guards_apply_in_order_and_each_counts_what_it_blocked() {
    // stale first: nothing is left for the others.
    let ctx_all = PlanContext {
        server_change: changed(),
        ..ctx(MUCH_LATER)
    };
    let stale = RetentionPolicy {
        stale_after: StaleAfter::After(CalDuration::days(1)),
        delete_grace: std::time::Duration::from_secs(3600),
        ..guards(5, 1.0, 100)
    };
    assert_eq!(plan(ten_days(), &stale, &ctx_all).guards, [(Guard::Stale, 9)]);
    // Then server_changed before grace and min_keep.
    let policy = RetentionPolicy {
        delete_grace: std::time::Duration::from_secs(3600),
        ..guards(5, 1.0, 100)
    };
    assert_eq!(
        plan(
            ten_days(),
            &policy,
            &PlanContext {
                server_change: changed(),
                ..ctx(NOW)
            }
        )
        .guards,
        [(Guard::ServerChanged, 9)]
    );
    // grace, then min_keep counts what is left, then the limits.
    let mut first_planned = fnv::FnvHashMap::default();
    for n in 4..=10 {
        first_planned.insert(BackupId::parse(&guid(n)).unwrap(), utc(NOW) - TimeDelta::hours(2));
    }
    let policy = RetentionPolicy {
        delete_grace: std::time::Duration::from_secs(3600),
        ..guards(5, 0.3, 100)
    };
    let p = plan(
        ten_days(),
        &policy,
        &PlanContext {
            first_planned,
            ..ctx(NOW)
        },
    );
    // 9 candidates (1–9 June): 8 and 9 June were never planned, so they wait for
    // grace; of the 7 left, min_keep 5 saves the newest 2 (10 June kept + 2 waiting
    // + 2 saved = 5); the fraction (3 of 10) lets the oldest 3 go and keeps 2.
    assert_eq!(
        p.guards,
        [(Guard::Grace, 2), (Guard::MinKeep, 2), (Guard::MaxFraction, 2)]
    );
    assert_eq!(deleted_days(&p), ["01", "02", "03"]);
}

#[test]
fn max_age_deletes_what_any_rule_keeps_but_never_what_is_protected_or_doubtful() {
    let mut r = records(&[
        "2026-11-20T03:00:00Z",
        "2026-09-01T03:00:00Z",
        "2026-06-01T03:00:00Z",
        "2026-03-01T03:00:00Z",
        "2025-11-01T03:00:00Z",
    ]);
    r.push(record(6, "2025-01-01T03:00:00Z"));
    r[5].storage_type = StorageType::Unknown("42".into());
    let policy = RetentionPolicy {
        max_age: d("6m"),
        protect: [BackupId::parse(&guid(5)).unwrap()].into_iter().collect(),
        ..rules_only()
    }
    .keep(Rule::Monthly, 12);
    let p = plan(r, &policy, &ctx(NOW));
    // 23 May is the cutoff: 1 March goes although it is a monthly; 1 Nov 2025 is
    // protected; the doubtful one is never touched.
    assert_eq!(
        p.deletions().map(|e| e.record.id.clone()).collect::<Vec<_>>(),
        [guid(4)]
    );
    assert_eq!(reasons_of(&p, "2026-03-01T03:00:00Z"), ["older than max_age 6m"]);
    assert_eq!(
        reasons_of(&p, "2025-11-01T03:00:00Z"),
        ["older than max_age 6m", "protected"]
    );
    assert_eq!(reasons_of(&p, "2026-06-01T03:00:00Z"), ["monthly snapshot"]);

    // max_age alone is a policy: what is younger is kept for being younger, and the
    // guards still hold (min_keep saves the newest old one).
    let alone = RetentionPolicy {
        max_age: d("6m"),
        min_keep: 4,
        max_delete_fraction: 1.0,
        stale_after: StaleAfter::Off,
        ..RetentionPolicy::default()
    };
    assert!(!alone.has_rules() && alone.keeps_anything());
    let p = plan(
        records(&[
            "2026-11-20T03:00:00Z",
            "2026-09-01T03:00:00Z",
            "2026-03-01T03:00:00Z",
            "2025-11-01T03:00:00Z",
            "2025-10-01T03:00:00Z",
        ]),
        &alone,
        &ctx(NOW),
    );
    assert_eq!(reasons_of(&p, "2026-11-20T03:00:00Z"), ["younger than max_age 6m"]);
    assert_eq!(deleted_days(&p), ["01"]);
    assert_eq!(p.guards, [(Guard::MinKeep, 2)]);
}

#[test]
fn max_age_makes_clearing_reachable() {
    let policy = RetentionPolicy {
        max_age: d("30d"),
        clear_history: true,
        min_keep: 0,
        max_delete_fraction: 1.0,
        stale_after: StaleAfter::Off,
        ..RetentionPolicy::default()
    };
    let p = plan(ten_days(), &policy, &ctx(NOW));
    assert!(p.clear_history);
    assert_eq!(p.deletion_count(), 10);
}

// ----- the forecast -----

fn daily_at(days: &[&str]) -> Vec<HistoryRecord> {
    days.iter()
        .enumerate()
        .map(|(i, d)| record(i + 1, &format!("2026-{d}T03:00:00Z")))
        .collect()
}

fn cadence_daily() -> Cadence {
    Cadence {
        period: Period::EveryDay,
        hour: 3,
        day: None,
        storage_type: StorageType::Documents,
    }
}

/// Daily passes at 04:00 UTC from the day after `now` to `until`.
fn passes(from: &str, until: &str) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = utc(from);
    while t <= utc(until) {
        out.push(t);
        t += TimeDelta::days(1);
    }
    out
}

#[test]
fn the_forecast_of_a_daily_and_weekly_policy_by_hand() {
    // 14 nightly backups, Tue 2 June to Mon 15 June 2026; keep 7 dailies and 4
    // weeklies (ISO weeks 23, 24, 25 so far); a daily schedule at 03:00, passes at 04:00.
    let days = [
        "06-02", "06-03", "06-04", "06-05", "06-06", "06-07", "06-08", "06-09", "06-10", "06-11", "06-12", "06-13",
        "06-14", "06-15",
    ];
    let policy = rules_only().keep(Rule::Daily, 7).keep(Rule::Weekly, 4);
    let ctx = PlanContext {
        schedule_period: Some(Period::EveryDay),
        ..ctx("2026-06-15T12:00:00Z")
    };
    let until = utc("2026-08-14T12:00:00Z");
    let f = forecast(
        &daily_at(&days),
        &policy,
        &ctx,
        Some(&cadence_daily()),
        &passes("2026-06-16T04:00:00Z", "2026-08-14T04:00:00Z"),
        until,
    );
    let when = |day: &str| {
        let i = days.iter().position(|d| *d == day).unwrap();
        f.deletes_on
            .get(&BackupId::parse(&guid(i + 1)).unwrap())
            .map(|t| crate::calendar::rfc3339(*t))
    };
    let on = |d: &str| Some(format!("2026-{d}T04:00:00Z"));
    // The next pass: the non-weekly days beyond the 7 dailies. (2 June, the oldest, is
    // kept while the weekly rule has counts left: the 4th week is not there yet.)
    for day in ["06-03", "06-04", "06-05", "06-06", "06-08", "06-09"] {
        assert_eq!(when(day), on("06-16"), "{day}");
    }
    // Dailies leave one a day as new backups come.
    assert_eq!(when("06-10"), on("06-17"));
    assert_eq!(when("06-11"), on("06-18"));
    assert_eq!(when("06-12"), on("06-19"));
    assert_eq!(when("06-13"), on("06-20"));
    // Week 26 starts on 22 June: the weekly rule is full, the oldest goes; 15 June
    // leaves the dailies (21 June is week 25's newest).
    assert_eq!(when("06-02"), on("06-22"));
    assert_eq!(when("06-15"), on("06-22"));
    // Week 23's and week 24's newest go when weeks 27 and 28 begin.
    assert_eq!(when("06-07"), on("06-29"));
    assert_eq!(when("06-14"), on("07-06"));
    assert_eq!(f.passes, 60);
}

#[test]
fn the_first_forecast_pass_deletes_what_the_planner_would_then() {
    let policy = RetentionPolicy {
        max_deletions_per_run: 3,
        ..guards(2, 1.0, 3)
    }
    .keep(Rule::Daily, 3);
    let ctx = ctx(NOW);
    let first = utc(NOW) + TimeDelta::hours(4);
    let f = forecast(&fixture(), &policy, &ctx, None, &[first], first);
    let by_planner = plan(fixture(), &policy, &PlanContext { now: first, ..ctx });
    let mut expected: Vec<BackupId> = by_planner.deletions().filter_map(|e| e.id).collect();
    let mut got: Vec<BackupId> = f.deletes_on.keys().copied().collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 3);
}

#[test]
fn without_a_schedule_no_backups_come_and_the_stale_guard_stops_the_forecast() {
    // Backups stop: after two days without one, the stale guard keeps everything.
    let policy = RetentionPolicy {
        stale_after: StaleAfter::Auto,
        ..rules_only()
    }
    .keep(Rule::Last, 1);
    let ctx = PlanContext {
        schedule_period: Some(Period::EveryDay),
        ..ctx("2026-06-15T12:00:00Z")
    };
    let f = forecast(
        &daily_at(&["06-13", "06-14", "06-15"]),
        &policy,
        &ctx,
        None,
        &passes("2026-06-16T04:00:00Z", "2026-07-16T04:00:00Z"),
        utc("2026-07-16T12:00:00Z"),
    );
    // The next pass deletes the two older ones; nothing after that (one is left).
    assert_eq!(f.deletes_on.len(), 2);
    assert!(f.deletes_on.values().all(|t| *t == utc("2026-06-16T04:00:00Z")));
}

#[test]
fn weekly_and_monthly_cadences_make_backups_on_their_day() {
    let weekly = Cadence {
        period: Period::EveryWeek,
        day: Some(2),
        ..cadence_daily()
    };
    // Mondays (day 2: the server's cron is Quartz's, 1 is Sunday) at 03:00.
    assert_eq!(
        weekly.backups(utc("2026-06-15T12:00:00Z"), utc("2026-07-01T00:00:00Z")),
        [utc("2026-06-22T03:00:00Z"), utc("2026-06-29T03:00:00Z")]
    );
    let monthly = Cadence {
        period: Period::EveryMonth,
        day: Some(31),
        ..cadence_daily()
    };
    // The 31st; a month without one has no backup (Quartz skips it).
    assert_eq!(
        monthly.backups(utc("2026-01-15T00:00:00Z"), utc("2026-04-01T00:00:00Z")),
        [utc("2026-01-31T03:00:00Z"), utc("2026-03-31T03:00:00Z")]
    );
    let sunday = Cadence {
        day: Some(1),
        ..weekly.clone()
    };
    assert_eq!(sunday.describe(), "one backup a week on Sunday at 03:00 UTC");
    assert_eq!(weekly.describe(), "one backup a week on Monday at 03:00 UTC");
}

/// `explain` agrees with the plan on every backup: the rules it says keep a backup are
/// the rules the plan's reasons name, and the guard it says blocked it is the one the
/// plan names; a deletion passed every guard.
fn explanations_agree(p: &Plan, policy: &RetentionPolicy, ctx: &PlanContext) {
    for i in 0..p.entries.len() {
        let ex = explain(p, policy, ctx, i);
        let e = p.get(i);
        assert_eq!((ex.planned.action, &ex.planned.reasons), (e.action, &e.reasons));
        let keeps: Vec<Rule> = ex
            .rules
            .iter()
            .filter(|s| matches!(s.outcome, RuleOutcome::Keeps { .. }))
            .map(|s| s.setting.rule)
            .collect();
        let named: Vec<Rule> = e
            .reasons
            .iter()
            .filter_map(|r| match r {
                Reason::Kept { rule, .. } => Some(*rule),
                _ => None,
            })
            .collect();
        if matches!(e.reasons.first(), Some(Reason::OlderThanMaxAge(_))) {
            assert!(ex.max_age.is_some_and(|(_, _, older)| older), "entry {i}");
        } else {
            assert_eq!(keeps, named, "entry {i}: {:?}", ex.rules);
        }
        for s in &ex.rules {
            if let (RuleOutcome::Keeps { rank, .. }, Some(n)) = (s.outcome, s.setting.count)
                && n > 0
            {
                assert!(i64::from(rank) <= n, "entry {i}: rank {rank} of {n}");
            }
        }
        let blocked: Vec<&GuardLimit> = ex
            .guards
            .iter()
            .filter_map(|(_, s)| match s {
                GuardStep::Blocked(l) => Some(l),
                _ => None,
            })
            .collect();
        let named: Vec<&GuardLimit> = e
            .reasons
            .iter()
            .filter_map(|r| match r {
                Reason::Blocked(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(blocked, named, "entry {i}");
        if e.scope == Scope::Managed && e.action == Action::Delete {
            assert!(
                ex.guards.iter().all(|(_, s)| matches!(s, GuardStep::Passed(_))),
                "entry {i}"
            );
        }
        if e.scope != Scope::Managed {
            assert!(ex.rules.is_empty() && ex.guards.is_empty(), "entry {i}");
        }
    }
}

#[test]
fn explain_agrees_with_the_plan_on_every_backup_of_every_case() {
    for case in rule_cases() {
        let ctx = ctx(NOW);
        let p = plan(fixture(), &case.policy, &ctx);
        explanations_agree(&p, &case.policy, &ctx);
    }
    // With guards that block, max_age, protect and a grace that holds.
    let mut policy = rules_only().keep(Rule::Daily, 7).keep(Rule::Monthly, 6);
    policy.min_keep = 20;
    policy.max_deletions_per_run = 10;
    policy.max_age = d("1y");
    policy.protect.insert(BackupId::parse(&guid(80)).unwrap());
    let mut c = ctx(NOW);
    c.first_planned
        .insert(BackupId::parse(&guid(70)).unwrap(), utc("2026-11-22T00:00:00Z"));
    let p = plan(fixture(), &policy, &c);
    assert!(p.blocked(Guard::MaxDeletions) > 0 && p.deletion_count() > 0);
    explanations_agree(&p, &policy, &c);
    policy.delete_grace = std::time::Duration::from_secs(7 * 86_400);
    let p = plan(fixture(), &policy, &c);
    assert!(p.blocked(Guard::Grace) > 0);
    explanations_agree(&p, &policy, &c);
}

#[test]
fn explain_names_the_bucket_and_rank() {
    let policy = rules_only().keep(Rule::Daily, 14);
    let c = PlanContext::new(utc(NOW), "Europe/Berlin".parse().unwrap());
    let p = plan(fixture(), &policy, &c);
    // The third daily backup: 2026-11-20 in Berlin (16:10 UTC is 17:10 there).
    let i = p
        .iter()
        .position(|e| e.created() == Some(utc("2026-11-20T16:10:00Z")))
        .unwrap();
    let ex = explain(&p, &policy, &c, i);
    assert_eq!(ex.rules.len(), 1);
    assert_eq!(ex.rules[0].bucket.as_deref(), Some("2026-11-20"));
    assert_eq!(ex.rules[0].outcome, RuleOutcome::Keeps { rank: 3, oldest: false });
    assert_eq!(ex.rules[0].setting.count, Some(14));
    // The one five minutes older shares its day.
    let ex = explain(&p, &policy, &c, i + 1);
    assert_eq!(ex.rules[0].outcome, RuleOutcome::SameBucket);
    assert!(ex.guards.iter().all(|(_, s)| matches!(s, GuardStep::Passed(_))));
    // Past the 14 days, the counts are used up.
    let old = p
        .iter()
        .position(|e| e.created() == Some(utc("2026-10-01T03:00:00Z")))
        .unwrap();
    assert_eq!(explain(&p, &policy, &c, old).rules[0].outcome, RuleOutcome::UsedUp);
}

/// `compare` (what-if) sees a backup listed twice once, whichever listing the policy
/// makes the twin, and counts a deletion a guard holds back as a deletion.
#[test]
fn compare_counts_each_backup_once_and_held_deletions_as_deletions() {
    let mut records = records(&[
        "2026-11-22T03:00:00Z",
        "2026-11-21T03:00:00Z",
        "2026-11-20T03:00:00Z",
        "2026-11-19T03:00:00Z",
    ]);
    // The oldest id listed again, as another storage type.
    let mut twin = records[3].clone();
    twin.storage_type = StorageType::CustomCloud;
    records.push(twin);
    let mut before = rules_only().keep(Rule::Last, 10);
    before.storage_types = vec![StorageType::Documents];
    let c = ctx(NOW);
    let p_before = plan(records.clone(), &before, &c);
    // After: every storage type managed and two kept: the oldest two go (the id listed
    // twice once).
    let after = rules_only().keep(Rule::Last, 2);
    let p_after = plan(records.clone(), &after, &c);
    let cmp = compare(&p_before, &p_after);
    let ids: Vec<String> = cmp.newly_deleted.iter().map(|ch| ch.before.record.id.clone()).collect();
    assert_eq!(ids, [guid(3), guid(4)]);
    assert!(cmp.newly_kept.is_empty());
    // With a grace that holds every new deletion this pass, the same two are reported.
    let mut graced = after.clone();
    graced.delete_grace = std::time::Duration::from_secs(86_400);
    let p_graced = plan(records, &graced, &c);
    assert_eq!(p_graced.deletion_count(), 0);
    let cmp = compare(&p_before, &p_graced);
    assert_eq!(cmp.newly_deleted.len(), 2);
    assert!(compare(&p_graced, &p_graced).is_empty());
}

/// The planner refuses a policy with every rule off and no `max_age` (it would delete
/// every backup), whoever built it: config validation is not the only wall.
#[test]
fn a_policy_with_no_rule_and_no_max_age_deletes_nothing() {
    let mut policy = rules_only();
    for def in &RULES {
        policy = policy.keep(def.rule, Keep::Off);
    }
    assert!(!policy.has_rules() && policy.max_age.is_none());
    let p = plan(fixture(), &policy, &ctx(NOW));
    assert_eq!(p.deletion_count(), 0);
    assert!(
        p.iter()
            .all(|e| e.reasons.contains(&Reason::NoPolicy) || e.scope != Scope::Managed)
    );
    // With a max_age the younger backups stay and the older go, as before.
    policy.max_age = d("30d");
    let p = plan(fixture(), &policy, &ctx(NOW));
    assert!(p.deletion_count() > 0 && p.kept_count() > 0);
}
