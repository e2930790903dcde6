//! Each backup against the healthy ones before it: a backup is suspect when its size is
//! under `min_size_ratio` of the median of the previous `baseline` healthy ones, or its
//! duration over `max_duration_ratio` times theirs. When `baseline` suspect backups in a
//! row agree with each other, they are the new normal: healthy, and the baseline.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{HealthPolicy, Verdict};
use crate::wire::BackupId;

/// At least this many healthy backups (or `baseline`, when smaller) before anything is
/// judged: the first backups of a portal are the baseline, not its suspects.
const MIN_BASELINE: usize = 3;
/// A duration baseline under this is too short to judge by ratio (a minute's jitter
/// would be "3×").
const MIN_DURATION_SECS: i64 = 60;

/// One backup as the sentinel sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub id: BackupId,
    /// From the file name; `None` when it does not say (or says in an unknown zone).
    pub started: Option<DateTime<Utc>>,
    /// `createdOn`.
    pub finished: DateTime<Utc>,
    pub size: Option<u64>,
}

impl Sample {
    /// Finish minus start; `None` when the start is unknown or after the finish.
    pub fn duration_secs(&self) -> Option<i64> {
        let d = (self.finished - self.started?).num_seconds();
        (d >= 0).then_some(d)
    }
}

/// The verdict on each sample (oldest first).
pub fn judge(samples: &[Sample], policy: &HealthPolicy) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::Unknown; samples.len()];
    let baseline = policy.baseline.max(1);
    let enough = MIN_BASELINE.min(baseline);
    let mut sizes: Vec<u64> = Vec::new();
    let mut durations: Vec<i64> = Vec::new();
    // Consecutive suspects that agree with each other: a new normal in the making.
    let mut run: Vec<usize> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let (size, duration) = (s.size, s.duration_secs());
        if size.is_none() && duration.is_none() {
            continue;
        }
        let size_base = median_u64(last(&sizes, baseline)).filter(|_| sizes.len() >= enough);
        let duration_base =
            median_i64(last(&durations, baseline)).filter(|m| durations.len() >= enough && *m >= MIN_DURATION_SECS);
        let mut why: Vec<String> = Vec::new();
        if let (Some(size), Some(base)) = (size, size_base)
            && policy.min_size_ratio > 0.0
            && (size as f64) < policy.min_size_ratio * base as f64
        {
            why.push(format!("size {}% of median", percent(size as f64, base as f64)));
        }
        if let (Some(d), Some(base)) = (duration, duration_base)
            && policy.max_duration_ratio > 0.0
            && d as f64 > policy.max_duration_ratio * base as f64
        {
            why.push(format!("duration {:.1}× median", d as f64 / base as f64));
        }
        if why.is_empty() {
            verdicts[i] = Verdict::Healthy;
            sizes.extend(size);
            durations.extend(duration);
            run.clear();
            continue;
        }
        verdicts[i] = Verdict::Suspect(Arc::from(why.join(", ")));
        if !run.is_empty() && !agrees(samples, &run, s, policy) {
            run.clear();
        }
        run.push(i);
        if run.len() >= baseline {
            // A level shift: this is what the backups are now.
            for &j in &run {
                verdicts[j] = Verdict::Healthy;
                sizes.extend(samples[j].size);
                durations.extend(samples[j].duration_secs());
            }
            run.clear();
        }
    }
    verdicts
}

/// Whether `s` is like the run's backups: within the ratios of their median, both ways.
fn agrees(samples: &[Sample], run: &[usize], s: &Sample, policy: &HealthPolicy) -> bool {
    let sizes: Vec<u64> = run.iter().filter_map(|&j| samples[j].size).collect();
    let durations: Vec<i64> = run.iter().filter_map(|&j| samples[j].duration_secs()).collect();
    let close = |a: f64, b: f64, ratio: f64| ratio <= 0.0 || (a >= ratio * b && b >= ratio * a);
    let size_ok = match (s.size, median_u64(&sizes)) {
        (Some(a), Some(m)) => close(a as f64, m as f64, policy.min_size_ratio.min(1.0)),
        _ => true,
    };
    let duration_ok = match (s.duration_secs(), median_i64(&durations)) {
        (Some(a), Some(m)) if policy.max_duration_ratio > 1.0 => {
            close(a as f64, m as f64, 1.0 / policy.max_duration_ratio) || (a - m).abs() < MIN_DURATION_SECS
        }
        _ => true,
    };
    size_ok && duration_ok
}

fn last<T>(v: &[T], n: usize) -> &[T] {
    &v[v.len().saturating_sub(n)..]
}

/// The median; of an even count, the mean of the middle two (`mean` says how, without
/// overflow for the type).
fn median<T: Copy + Ord>(v: &[T], mean: fn(T, T) -> T) -> Option<T> {
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(mean(v[n / 2 - 1], v[n / 2])),
    }
}

fn median_u64(v: &[u64]) -> Option<u64> {
    median(v, |a, b| a / 2 + b / 2 + (a % 2 + b % 2) / 2)
}

fn median_i64(v: &[i64]) -> Option<i64> {
    median(v, |a, b| (a + b) / 2)
}

/// `part` as a whole percentage of `whole`, rounded down (never "50%" for 49.9%).
fn percent(part: f64, whole: f64) -> u64 {
    if whole <= 0.0 {
        return 0;
    }
    (part * 100.0 / whole).floor() as u64
}
