//! The planner on 1k, 10k and 100k records with a full GFS policy (restic's rules,
//! guards on), in the portal zone Europe/Berlin. Target: 100k records in ≤ 20 ms on
//! one core. And the forecast: a year of daily passes over 1,000 daily backups, well
//! under a second. `cargo bench --bench planner`

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use docspace_retention::calendar::CalDuration;
use docspace_retention::retention::{
    Cadence, PlanContext, RetentionPolicy, Rule, StaleAfter, forecast, plan_retention,
};
use docspace_retention::wire::{HistoryRecord, Period, StorageType, WireTime};

/// One backup per hour going back from `now`, plus a manual one every 7 hours.
fn history(n: usize) -> Vec<HistoryRecord> {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let t = now - TimeDelta::minutes(i as i64 * 60 - (i % 7) as i64);
            HistoryRecord {
                id: format!("{:08x}-0000-4000-8000-{:012x}", i, i),
                file_name: Some(format!("portal_{i}.tar.gz")),
                storage_type: StorageType::Documents,
                created_on: WireTime::At(t),
                expires_on: WireTime::Never,
            }
        })
        // The server sends no particular order: oldest first here.
        .rev()
        .collect()
}

fn gfs() -> RetentionPolicy {
    RetentionPolicy {
        min_keep: 3,
        max_deletions_per_run: 1_000,
        max_delete_fraction: 0.5,
        stale_after: StaleAfter::After(CalDuration::days(2)),
        ..RetentionPolicy::default()
    }
    .keep(Rule::Last, 5)
    .keep(Rule::Hourly, 48)
    .keep(Rule::Daily, 30)
    .keep(Rule::Weekly, 12)
    .keep(Rule::Monthly, 24)
    .keep(Rule::Yearly, -1)
    .keep(Rule::Within, CalDuration::days(3))
    .keep(
        Rule::WithinDaily,
        CalDuration {
            months: 2,
            ..Default::default()
        },
    )
}

fn bench(c: &mut Criterion) {
    let policy = gfs();
    let ctx = PlanContext::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 13, 0, 0).unwrap(),
        "Europe/Berlin".parse().unwrap(),
    );
    let mut group = c.benchmark_group("plan_retention");
    for n in [1_000usize, 10_000, 100_000] {
        let records = history(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &records, |b, records| {
            b.iter_batched(
                || records.clone(),
                |r| plan_retention(r, &policy, &ctx),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    // A year of daily passes at 03:30 over 1,000 nightly backups, a backup made each day.
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let nightly: Vec<HistoryRecord> = (0..1_000)
        .map(|i| HistoryRecord {
            id: format!("{:08x}-0000-4000-8000-{:012x}", i, i),
            file_name: None,
            storage_type: StorageType::Documents,
            created_on: WireTime::At(now - TimeDelta::days(i) - TimeDelta::hours(9)),
            expires_on: WireTime::Never,
        })
        .collect();
    let cadence = Cadence {
        period: Period::EveryDay,
        hour: 3,
        day: None,
        storage_type: StorageType::Documents,
    };
    let passes: Vec<_> = (1..=365)
        .map(|d| now + TimeDelta::days(d) - TimeDelta::minutes(510))
        .collect();
    let daily_ctx = PlanContext {
        schedule_period: Some(Period::EveryDay),
        ..PlanContext::new(now, "Europe/Berlin".parse().unwrap())
    };
    let mut group = c.benchmark_group("forecast");
    group.sample_size(10);
    group.bench_function("1000 backups, 365 daily passes", |b| {
        b.iter(|| {
            forecast(
                &nightly,
                &policy,
                &daily_ctx,
                Some(&cadence),
                &passes,
                now + TimeDelta::days(366),
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
