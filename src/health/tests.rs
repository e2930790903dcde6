use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;
use crate::retention::{Action, PlanContext, Reason, RetentionPolicy, Rule, plan_retention};
use crate::wire::{Period, StorageType};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn guid(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// A nightly backup `n` days before `newest`, started at 03:00 and `minutes` long.
fn nightly(n: usize, newest: DateTime<Utc>, minutes: i64) -> HistoryRecord {
    let start = newest - TimeDelta::days(n as i64);
    HistoryRecord {
        id: guid(1000 - n),
        file_name: Some(format!("acme_{}.tar.gz", start.format("%Y-%m-%d_%H-%M-%S"))),
        storage_type: StorageType::Documents,
        created_on: WireTime::At(start + TimeDelta::minutes(minutes)),
        expires_on: WireTime::Never,
    }
}

/// Nightly backups, newest first, each with its size.
fn history(sizes: &[u64], newest: DateTime<Utc>) -> (Vec<HistoryRecord>, FnvHashMap<String, u64>) {
    let records: Vec<HistoryRecord> = (0..sizes.len()).map(|n| nightly(n, newest, 20)).collect();
    let by_name = records
        .iter()
        .zip(sizes)
        .map(|(r, s)| (r.file_name.clone().unwrap(), *s))
        .collect();
    (records, by_name)
}

fn nightly_slots() -> Slotting {
    Slotting {
        period: Period::EveryDay,
        hour: 3,
        day: None,
        tz: Tz::UTC,
    }
}

fn view(records: &[HistoryRecord], sizes: &FnvHashMap<String, u64>, now: DateTime<Utc>) -> HealthView {
    let g = Gathered {
        records,
        sizes: Some(sizes),
        standalone: Some(false),
        slotting: Some(nightly_slots()),
        seen_starts: &[],
        watched_since: None,
        slots_since: None,
        now,
    };
    assess(&g, &HealthPolicy::default(), None)
}

#[test]
fn a_tiny_backup_is_suspect_against_the_median_of_the_healthy_ones_before_it() {
    let now = utc("2026-11-22T10:00:00Z");
    let mb = 1_000_000;
    let (records, sizes) = history(
        &[6 * mb, 50 * mb, 52 * mb, 49 * mb, 51 * mb, 50 * mb],
        utc("2026-11-22T03:00:00Z"),
    );
    let v = view(&records, &sizes, now);
    let newest = BackupId::parse(&records[0].id).unwrap();
    assert_eq!(v.verdict(Some(newest)).unwrap().text(), "suspect: size 12% of median");
    assert!(v.newest_suspect);
    assert_eq!(v.suspects, 1);
    assert_eq!(v.newest_size, Some(6 * mb));
    assert_eq!(v.newest_duration_secs, Some(20 * 60));
    // The last good backup is the one of the night before.
    assert_eq!(v.last_good, records[1].created_on.instant());
    assert!(v.missed.is_empty(), "{:?}", v.missed);
}

#[test]
fn a_slow_backup_is_suspect_and_a_short_baseline_judges_nothing() {
    let newest = utc("2026-11-22T03:00:00Z");
    let mut records: Vec<HistoryRecord> = (1..6).map(|n| nightly(n, newest, 20)).collect();
    records.insert(0, nightly(0, newest, 70));
    let g = Gathered {
        records: &records,
        sizes: None,
        standalone: Some(false),
        slotting: None,
        seen_starts: &[],
        watched_since: None,
        slots_since: None,
        now: utc("2026-11-22T10:00:00Z"),
    };
    let v = assess(&g, &HealthPolicy::default(), None);
    assert_eq!(
        v.verdict(BackupId::parse(&records[0].id)).unwrap().text(),
        "suspect: duration 3.5× median"
    );
    // Two backups are no baseline: nothing is judged yet.
    let g = Gathered {
        records: &records[..2],
        ..g
    };
    assert_eq!(assess(&g, &HealthPolicy::default(), None).suspects, 0);
}

#[test]
fn a_standalone_servers_durations_need_its_offset() {
    let newest = utc("2026-11-22T03:00:00Z");
    let records: Vec<HistoryRecord> = (0..3).map(|n| nightly(n, newest, 20)).collect();
    let g = Gathered {
        records: &records,
        sizes: None,
        standalone: Some(true),
        slotting: None,
        seen_starts: &[],
        watched_since: None,
        slots_since: None,
        now: utc("2026-11-22T10:00:00Z"),
    };
    let v = assess(&g, &HealthPolicy::default(), None);
    assert_eq!(v.newest_duration_secs, None);
    assert_eq!(v.verdict(BackupId::parse(&records[0].id)), Some(&Verdict::Unknown));
    // The file names say 03:00 local on a server at UTC-01:00: 04:00 UTC, and the
    // backup finished at 03:20 UTC: a start after the finish is no duration.
    let policy = HealthPolicy {
        server_utc_offset: FixedOffset::east_opt(-3600),
        ..HealthPolicy::default()
    };
    assert_eq!(assess(&g, &policy, None).newest_duration_secs, None);
    let policy = HealthPolicy {
        server_utc_offset: FixedOffset::east_opt(3600),
        ..HealthPolicy::default()
    };
    assert_eq!(assess(&g, &policy, None).newest_duration_secs, Some(80 * 60));
}

#[test]
fn a_level_shift_becomes_the_new_normal_after_baseline_agreeing_backups() {
    let mb = 1_000_000;
    let newest = utc("2026-11-22T03:00:00Z");
    // Ten at 50 MB, then seven at 20 MB (the portal moved files out): the seventh
    // makes them the new normal.
    let mut sizes = vec![20 * mb; 7];
    sizes.extend([50 * mb; 10]);
    let (records, by_name) = history(&sizes, newest);
    let v = view(&records, &by_name, utc("2026-11-22T10:00:00Z"));
    assert_eq!(v.suspects, 0, "{:?}", v.input.suspect);
    // Six are not yet a new normal.
    let (records, by_name) = history(&sizes[1..], newest - TimeDelta::days(1));
    let v = view(&records, &by_name, utc("2026-11-21T10:00:00Z"));
    assert_eq!(v.suspects, 6);
    // Seven that do not agree with each other are not one either.
    let mut mixed = vec![20 * mb, 5 * mb, 20 * mb, 5 * mb, 20 * mb, 5 * mb, 20 * mb];
    mixed.extend([50 * mb; 10]);
    let (records, by_name) = history(&mixed, newest);
    assert_eq!(view(&records, &by_name, utc("2026-11-22T10:00:00Z")).suspects, 7);
}

#[test]
fn a_slot_without_a_backup_is_missed_once_late_and_a_catch_up_fills_only_its_own() {
    let newest = utc("2026-11-22T03:00:00Z");
    let mb = 1_000_000;
    let (records, sizes) = history(&[50 * mb; 5], newest);
    // Two nights later, 02:00: the night of the 23rd is missed; the 24th's is not
    // due yet.
    let v = view(&records, &sizes, utc("2026-11-24T02:00:00Z"));
    assert_eq!(v.missed, vec![utc("2026-11-23T03:00:00Z")]);
    // At 08:00 it is five hours late: not yet missed (late_after 6h).
    let v = view(&records, &sizes, utc("2026-11-24T08:00:00Z"));
    assert_eq!(v.missed, vec![utc("2026-11-23T03:00:00Z")]);
    let v = view(&records, &sizes, utc("2026-11-24T09:30:00Z"));
    assert_eq!(v.missed, vec![utc("2026-11-23T03:00:00Z"), utc("2026-11-24T03:00:00Z")]);
    // The server comes back at 11:00 on the 24th and makes one catch-up backup.
    let mut with_catch_up = records.clone();
    let mut catch_up = nightly(0, utc("2026-11-24T11:00:00Z"), 20);
    catch_up.id = guid(5000);
    with_catch_up.insert(0, catch_up);
    let v = view(&with_catch_up, &sizes, utc("2026-11-24T18:00:00Z"));
    // Seen from a first look (window from the newest backup), the catch-up's own slot
    // is behind it; watched since before, the 23rd stays missed, the 24th is filled.
    assert!(v.missed.is_empty(), "{:?}", v.missed);
    let g = Gathered {
        records: &with_catch_up,
        sizes: Some(&sizes),
        standalone: Some(false),
        slotting: Some(nightly_slots()),
        seen_starts: &[],
        watched_since: Some(utc("2026-11-20T00:00:00Z")),
        slots_since: None,
        now: utc("2026-11-24T18:00:00Z"),
    };
    let v = assess(&g, &HealthPolicy::default(), None);
    assert_eq!(v.missed, vec![utc("2026-11-23T03:00:00Z")]);
}

#[test]
fn slots_of_an_earlier_schedule_are_not_missed_runs_of_this_one() {
    let mb = 1_000_000;
    // A weekly portal (backups every seventh night) that became nightly yesterday.
    let newest = utc("2026-11-22T03:00:00Z");
    let records: Vec<HistoryRecord> = (0..5).map(|w| nightly(w * 7, newest, 20)).collect();
    let sizes = records
        .iter()
        .map(|r| (r.file_name.clone().unwrap(), 50 * mb))
        .collect();
    let g = Gathered {
        records: &records,
        sizes: Some(&sizes),
        standalone: Some(false),
        slotting: Some(nightly_slots()),
        seen_starts: &[],
        watched_since: Some(utc("2026-10-01T00:00:00Z")),
        slots_since: None,
        now: utc("2026-11-22T12:00:00Z"),
    };
    assert_eq!(assess(&g, &HealthPolicy::default(), None).missed.len(), 30);
    let g = Gathered {
        slots_since: Some(utc("2026-11-21T12:00:00Z")),
        ..g
    };
    assert!(assess(&g, &HealthPolicy::default(), None).missed.is_empty());
}

#[test]
fn a_weekly_and_a_monthly_schedule_have_their_slots_in_the_portals_zone() {
    let weekly = Slotting {
        period: Period::EveryWeek,
        hour: 2,
        day: Some(1),
        tz: "Europe/Berlin".parse().unwrap(),
    };
    // Day 1 is Sunday (the server's cron is Quartz's): 02:00 Berlin, 01:00 UTC in winter.
    assert_eq!(
        weekly.slots(utc("2026-11-01T00:00:00Z"), utc("2026-11-16T00:00:00Z")),
        vec![
            utc("2026-11-01T01:00:00Z"),
            utc("2026-11-08T01:00:00Z"),
            utc("2026-11-15T01:00:00Z")
        ]
    );
    // The spring change skips 02:00: the slot is the first instant after the gap.
    assert_eq!(
        weekly.slots(utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z")),
        vec![utc("2026-03-29T01:00:00Z")]
    );
    let monthly = Slotting {
        period: Period::EveryMonth,
        hour: 3,
        day: Some(31),
        tz: Tz::UTC,
    };
    // A month without a 31st has no slot: the server's cron skips it.
    assert_eq!(
        monthly.slots(utc("2026-01-15T00:00:00Z"), utc("2026-04-15T00:00:00Z")),
        vec![utc("2026-01-31T03:00:00Z"), utc("2026-03-31T03:00:00Z")]
    );
}

fn plan_with(
    records: &[HistoryRecord],
    view: Option<&HealthView>,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Vec<(String, Action)> {
    let ctx = PlanContext {
        health: view.map(|v| std::sync::Arc::new(v.input.clone())),
        ..PlanContext::new(now, Tz::UTC)
    };
    let plan = plan_retention(records.to_vec(), policy, &ctx);
    plan.iter().map(|p| (p.record.id.clone(), p.action)).collect()
}

fn keep_last(n: i64) -> RetentionPolicy {
    let mut policy = RetentionPolicy::default().keep(Rule::Last, crate::retention::Keep::from(n));
    policy.max_deletions_per_run = 1000;
    policy.max_delete_fraction = 1.0;
    policy.stale_after = crate::retention::StaleAfter::Off;
    policy
}

#[test]
fn five_tiny_backups_leave_the_three_newest_good_ones_where_the_rules_alone_delete_them() {
    let mb = 1_000_000;
    let newest = utc("2026-11-22T03:00:00Z");
    let now = utc("2026-11-22T10:00:00Z");
    let mut sizes = vec![1_000; 5];
    sizes.extend([50 * mb; 10]);
    let (records, by_name) = history(&sizes, newest);
    let policy = keep_last(5);
    let without = plan_with(&records, None, &policy, now);
    // The rules alone keep the five tiny ones and delete every good one.
    assert!(without[5..].iter().all(|(_, a)| *a == Action::Delete));
    let v = view(&records, &by_name, now);
    let with = plan_with(&records, Some(&v), &policy, now);
    let kept: Vec<usize> = (0..with.len()).filter(|&i| with[i].1 == Action::Keep).collect();
    // The tiny ones (suspect) are kept, and the three newest good ones pinned; and
    // the five slots of keep_last go to the five newest good ones.
    assert_eq!(kept, (0..10).collect::<Vec<_>>());
    let ctx = PlanContext {
        health: Some(std::sync::Arc::new(v.input.clone())),
        ..PlanContext::new(now, Tz::UTC)
    };
    let plan = plan_retention(records.clone(), &policy, &ctx);
    let reasons: Vec<String> = plan.get(5).reasons.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        ["last snapshot", "healthy pin: newer backups are suspect or missing"]
    );
    assert!(matches!(plan.get(0).reasons[0], Reason::Suspect(_)));
}

#[test]
fn a_missed_night_pins_the_newest_good_ones_but_max_age_stays_the_ceiling() {
    let mb = 1_000_000;
    let newest = utc("2026-11-19T03:00:00Z");
    let (records, by_name) = history(&[50 * mb; 10], newest);
    let now = utc("2026-11-22T10:00:00Z");
    let policy = keep_last(1);
    let v = view(&records, &by_name, now);
    assert_eq!(v.missed.len(), 3, "{:?}", v.missed);
    let without = plan_with(&records, None, &policy, now);
    assert_eq!(without.iter().filter(|(_, a)| *a == Action::Keep).count(), 1);
    let with = plan_with(&records, Some(&v), &policy, now);
    let kept: Vec<usize> = (0..with.len()).filter(|&i| with[i].1 == Action::Keep).collect();
    assert_eq!(kept, vec![0, 1, 2]);
    // max_age 5d: the backups of the 17th and before are past it, pinned or not.
    let mut policy = keep_last(1);
    policy.max_age = Some(crate::calendar::CalDuration::parse("5d").unwrap());
    let with = plan_with(&records, Some(&v), &policy, now);
    let kept: Vec<usize> = (0..with.len()).filter(|&i| with[i].1 == Action::Keep).collect();
    assert_eq!(kept, vec![0, 1]);
}

/// Ten backups, the newest healthy, nine past max_age of which three are suspect:
/// min_keep 8 saves as many with the sentinel as without it (a suspect past max_age is
/// a candidate that min_keep does not count; it must not lift the guard).
#[test]
fn suspects_past_max_age_never_lift_min_keep() {
    let mb = 1_000_000;
    let newest = utc("2026-11-22T03:00:00Z");
    let now = utc("2026-11-22T10:00:00Z");
    let mut sizes = vec![50 * mb; 10];
    for i in [2, 4, 6] {
        sizes[i] = 1_000;
    }
    let (records, by_name) = history(&sizes, newest);
    let mut policy = RetentionPolicy::default().keep(Rule::Last, crate::retention::Keep::from(1));
    policy.min_keep = 8;
    policy.max_age = Some(crate::calendar::CalDuration::days(1));
    policy.stale_after = crate::retention::StaleAfter::Off;
    let v = view(&records, &by_name, now);
    assert_eq!(v.suspects, 3);
    let kept = |plan: &[(String, Action)]| plan.iter().filter(|(_, a)| *a == Action::Keep).count();
    let without = plan_with(&records, None, &policy, now);
    let with = plan_with(&records, Some(&v), &policy, now);
    assert_eq!(kept(&without), 8);
    assert!(kept(&with) >= 8, "{with:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// Over random histories of good nightly backups followed by a few broken ones
    /// (fewer than a new normal), under random count rules: the sentinel only ever
    /// keeps more than the rules alone, the broken ones are all kept unless max_age
    /// takes them, and the three newest good ones are always kept.
    #[test]
    fn broken_new_backups_never_rotate_out_the_newest_good_ones(
        good in proptest::collection::vec(40_000_000u64..60_000_000, 3..30),
        broken in proptest::collection::vec(0u64..20_000_000, 1..7),
        last in 0i64..8,
        daily in 0i64..10,
        min_keep in 0u32..12,
        max_age in proptest::option::of(2u32..30),
        missed_nights in 0i64..3,
    ) {
        let newest = utc("2026-11-22T03:00:00Z");
        let now = utc("2026-11-22T12:00:00Z") + TimeDelta::days(missed_nights);
        let mut sizes = broken.clone();
        sizes.extend(&good);
        let (records, by_name) = history(&sizes, newest);
        let mut policy = keep_last(last.max(1)).keep(Rule::Daily, crate::retention::Keep::from(daily));
        policy.min_keep = min_keep;
        policy.max_age = max_age.map(crate::calendar::CalDuration::days);
        let v = view(&records, &by_name, now);
        let without = plan_with(&records, None, &policy, now);
        let with = plan_with(&records, Some(&v), &policy, now);
        for (a, b) in without.iter().zip(&with) {
            prop_assert!(!(a.1 == Action::Keep && b.1 == Action::Delete), "{} kept by the rules, deleted with health", a.0);
        }
        // Within max_age, the broken ones and the three newest good ones stay.
        let young = |i: usize| max_age.is_none_or(|d| (i as i64) + missed_nights < i64::from(d));
        for (i, (_, action)) in with.iter().enumerate().take(broken.len() + 3) {
            if young(i) {
                prop_assert_eq!(*action, Action::Keep, "backup {} of {:?}", i, sizes);
            }
        }
    }
}
