//! The backup health sentinel (docs/reference.md, "Backup health"): what the backups
//! themselves say about whether they are any good. Pure: the pass gathers the facts
//! (the history, the sizes the Files API lists, the schedule, what earlier passes saw)
//! and this module judges them.
//!
//! - `baseline`: each backup against the median of the healthy ones before it
//!   (size, duration), and the level shift that becomes the new normal;
//! - `cadence`: the slots the server's scheduler should have filled, and the missed ones.
//!
//! What it decides reaches the planner as a [`crate::retention::HealthInput`]: which
//! backups are suspect, and whether the newest healthy ones are pinned.

mod baseline;
mod cadence;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use chrono_tz::Tz;
use fnv::FnvHashMap;

pub use baseline::{Sample, judge};
pub use cadence::{Slotting, missed_slots};

use crate::retention::HealthInput;
use crate::wire::{BackupId, HistoryRecord, WireTime};

/// `[*.health]`: the sentinel's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthPolicy {
    /// `false`: no signal, no pin, no suspect: retention by the rules alone.
    pub enabled: bool,
    /// A slot with no new backup this long after it is a missed run.
    pub late_after: TimeDelta,
    /// The offset of a standalone server's clock, in which its file names carry the
    /// start time; `None`: durations of a standalone server are unknown.
    pub server_utc_offset: Option<FixedOffset>,
    /// A backup smaller than this share of the baseline's median is suspect (0: off).
    pub min_size_ratio: f64,
    /// A backup slower than this many times the baseline's median is suspect (0: off).
    pub max_duration_ratio: f64,
    /// How many healthy backups make the baseline, and how many agreeing ones a new
    /// normal.
    pub baseline: usize,
    /// How many of the newest healthy backups are pinned while newer ones are suspect
    /// or missing.
    pub keep_healthy: usize,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            enabled: true,
            late_after: TimeDelta::hours(6),
            server_utc_offset: None,
            min_size_ratio: 0.5,
            max_duration_ratio: 3.0,
            baseline: 7,
            keep_healthy: 3,
        }
    }
}

/// What the sentinel says of one backup.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Healthy,
    /// Why, e.g. `size 12% of median`.
    Suspect(Arc<str>),
    /// Neither its size nor its duration is known, or it is not a scheduled kind of
    /// backup (temporary, unreadable).
    Unknown,
}

impl Verdict {
    /// As `plan` and `/status` show it: `healthy`, `suspect: size 12% of median`, `unknown`.
    pub fn text(&self) -> String {
        match self {
            Verdict::Healthy => "healthy".into(),
            Verdict::Suspect(why) => format!("suspect: {why}"),
            Verdict::Unknown => "unknown".into(),
        }
    }

    pub fn is_suspect(&self) -> bool {
        matches!(self, Verdict::Suspect(_))
    }
}

/// What one backup is known to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub verdict: Verdict,
    pub size: Option<u64>,
    pub duration_secs: Option<i64>,
}

/// Everything a pass gathered for the sentinel.
pub struct Gathered<'a> {
    pub records: &'a [HistoryRecord],
    /// Sizes by file name (the Files API's `title`); `None`: sizes not listed.
    pub sizes: Option<&'a FnvHashMap<String, u64>>,
    /// Whether the server is a standalone (on-premise) one: its file names carry
    /// its local time (`None`: not known this pass, so neither are durations).
    pub standalone: Option<bool>,
    /// The schedule's slots, when there is (or was) a schedule.
    pub slotting: Option<Slotting>,
    /// The start (or, unknown, the finish) of every backup earlier passes saw, gone
    /// since or not: a slot they filled was not missed.
    pub seen_starts: &'a [DateTime<Utc>],
    /// Since when this product has watched the portal (the first observation).
    pub watched_since: Option<DateTime<Utc>>,
    /// Since when the schedule has had its current slots (`None`: as long as known).
    pub slots_since: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

/// The sentinel's view of one portal at one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthView {
    pub facts: FnvHashMap<BackupId, Facts>,
    /// Slots in the watched window that no backup filled within `late_after`, oldest first.
    pub missed: Vec<DateTime<Utc>>,
    /// The window's end: slots up to here were checked.
    pub checked_until: Option<DateTime<Utc>>,
    /// `createdOn` of the newest backup that is not suspect.
    pub last_good: Option<DateTime<Utc>>,
    /// The newest judged backup's duration and size.
    pub newest_duration_secs: Option<i64>,
    pub newest_size: Option<u64>,
    pub newest_suspect: bool,
    pub suspects: usize,
    /// Why sizes are not known, when they are not (e.g. the storage is not Documents).
    pub size_note: Option<String>,
    /// What the planner is told.
    pub input: HealthInput,
}

impl HealthView {
    pub fn verdict(&self, id: Option<BackupId>) -> Option<&Verdict> {
        self.facts.get(&id?).map(|f| &f.verdict)
    }
}

/// How far back missed slots are looked for.
const WINDOW: TimeDelta = TimeDelta::days(35);

/// The sentinel's judgement of one portal.
pub fn assess(g: &Gathered<'_>, policy: &HealthPolicy, size_note: Option<String>) -> HealthView {
    let mut view = HealthView {
        size_note,
        ..HealthView::default()
    };
    if !policy.enabled {
        return view;
    }
    // The judged backups: datable, with a GUID, not temporary; oldest first.
    let mut plain: Vec<Sample> = g
        .records
        .iter()
        .filter(|r| !matches!(r.expires_on, WireTime::At(_)))
        .filter_map(|r| {
            Some(Sample {
                id: BackupId::parse(&r.id)?,
                started: started(r, g.standalone, policy.server_utc_offset),
                finished: r.created_on.instant()?,
                size: g.sizes.and_then(|sizes| sizes.get(r.file_name.as_deref()?).copied()),
            })
        })
        .collect();
    plain.sort_by_key(|s| (s.finished, s.id));
    plain.dedup_by_key(|s| s.id);
    let verdicts = judge(&plain, policy);
    for (s, v) in plain.iter().zip(&verdicts) {
        if let Verdict::Suspect(why) = v {
            view.suspects += 1;
            view.input.suspect.insert(s.id, why.clone());
        }
        if !v.is_suspect() {
            view.last_good = Some(s.finished);
        }
        view.facts.insert(
            s.id,
            Facts {
                verdict: v.clone(),
                size: s.size,
                duration_secs: s.duration_secs(),
            },
        );
    }
    if let (Some(s), Some(v)) = (plain.last(), verdicts.last()) {
        view.newest_duration_secs = s.duration_secs();
        view.newest_size = s.size;
        view.newest_suspect = v.is_suspect();
    }
    view.input.keep_healthy = policy.keep_healthy;

    // Missed slots, from when this product started watching (or the newest backup,
    // at its first look) until `late_after` ago.
    if let Some(slotting) = &g.slotting {
        let until = g.now - policy.late_after;
        let newest_start = plain.last().map(|s| s.started.unwrap_or(s.finished));
        let from = match (g.watched_since, newest_start) {
            (Some(w), Some(n)) => w.min(n),
            (w, n) => w.or(n).unwrap_or(until),
        }
        .max(g.now - WINDOW)
        .max(g.slots_since.unwrap_or(DateTime::<Utc>::MIN_UTC));
        let mut starts: Vec<DateTime<Utc>> = plain.iter().map(|s| s.started.unwrap_or(s.finished)).collect();
        starts.extend_from_slice(g.seen_starts);
        starts.sort_unstable();
        view.missed = missed_slots(slotting, from, until, &starts);
        view.checked_until = Some(until);
        view.input.missed_since = view.missed.last().copied();
    }
    view
}

/// When a backup started, as its file name says (UTC), when it says.
pub fn started(record: &HistoryRecord, standalone: Option<bool>, offset: Option<FixedOffset>) -> Option<DateTime<Utc>> {
    let wall = crate::wire::file_name_start(record.file_name.as_deref()?)?;
    start_instant(wall, standalone?, offset)
}

/// The UTC instant of a file name's start time: UTC on SaaS; a standalone server's
/// local time needs its offset (`health.server_utc_offset`), else it is unknown.
fn start_instant(wall: chrono::NaiveDateTime, standalone: bool, offset: Option<FixedOffset>) -> Option<DateTime<Utc>> {
    if !standalone {
        return Some(wall.and_utc());
    }
    let offset = offset?;
    Some((wall - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc())
}

/// The zone the schedule's hour is in: the portal's own when the server said it,
/// else the configured one.
pub fn schedule_zone(server: Option<&str>, configured: Tz) -> Tz {
    server.and_then(|z| z.parse::<Tz>().ok()).unwrap_or(configured)
}

#[cfg(test)]
mod tests;
