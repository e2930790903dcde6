//! What earlier passes saw of each backup (docs/reference.md, "State"): when it was
//! first and last seen, when it was made, and how it left — `deleted` (this product
//! deleted it: its deletion was intended before it was sent), `expired` (a temporary
//! backup past its `expiresOn`) or `vanished` (gone, and nobody here deleted it). The
//! health sentinel's memory: slots filled by backups deleted since, vanished records,
//! and the API key's expiry, read once a day.

use chrono::{DateTime, TimeDelta, Utc};
use fnv::FnvHashSet;

use crate::wire::{BackupId, HistoryRecord, WireTime};

/// How a backup left the history.
pub const LEFT_INTENDED: &str = "intended";
pub const LEFT_DELETED: &str = "deleted";
pub const LEFT_EXPIRED: &str = "expired";
pub const LEFT_VANISHED: &str = "vanished";

/// How long the memory of a backup that left is read back (the sentinel looks 35
/// days back for missed slots).
pub const RECALL: TimeDelta = TimeDelta::days(40);

/// One backup as passes saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub id: BackupId,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub created_on: Option<DateTime<Utc>>,
    /// The start time its file name says (UTC), when it says.
    pub started: Option<DateTime<Utc>>,
    /// A temporary backup's `expiresOn`.
    pub expires_on: Option<DateTime<Utc>>,
    /// How it left; `None` while it is still there.
    pub left_as: Option<String>,
    /// When a pass found it gone (or noted its deletion).
    pub left_at: Option<DateTime<Utc>>,
}

/// What a key probe found.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum KeyState {
    /// Not probed, or the server cannot say (older than 3.1.1, a login session).
    #[default]
    Unknown,
    Never,
    Expires(DateTime<Utc>),
}

/// The sentinel's memory of one portal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthMemory {
    /// Backups still there at the last pass, and those that left within [`RECALL`].
    pub observations: Vec<Observation>,
    /// Slots up to here were checked for missed runs.
    pub checked_until: Option<DateTime<Utc>>,
    pub key_checked_at: Option<DateTime<Utc>>,
    pub key: KeyState,
    /// The schedule's slots (period, hour, day, zone) and since when they are these.
    pub slots: Option<(String, Option<DateTime<Utc>>)>,
    /// The last pass that stored what it saw: every backup remembered as still there
    /// was there then.
    pub seen_at: Option<DateTime<Utc>>,
}

/// What one pass adds to that memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthUpdate {
    /// Every backup listed now.
    pub seen: Vec<Observation>,
    /// Backups that left since the last pass, how, and when they were last seen.
    pub left: Vec<(BackupId, &'static str, DateTime<Utc>)>,
    pub checked_until: Option<DateTime<Utc>>,
    pub key_checked_at: Option<DateTime<Utc>>,
    pub key: KeyState,
    pub slots: Option<(String, Option<DateTime<Utc>>)>,
}

impl HealthMemory {
    /// Since when this product has watched the portal.
    pub fn watched_since(&self) -> Option<DateTime<Utc>> {
        self.observations.iter().map(|o| o.first_seen).min()
    }

    /// The starts (else the creation) of every backup remembered.
    pub fn seen_starts(&self) -> Vec<DateTime<Utc>> {
        self.observations
            .iter()
            .filter_map(|o| o.started.or(o.created_on))
            .collect()
    }

    /// The remembered backups that are not in `records` now and were not already
    /// known to have left, each with how it left as far as this memory tells:
    /// `deleted` when its deletion was intended, `expired` when it was temporary and
    /// past its expiry; `None` when nothing here explains it (a vanished candidate).
    pub fn gone(&self, records: &[HistoryRecord], now: DateTime<Utc>) -> Vec<Gone> {
        let present: FnvHashSet<BackupId> = records.iter().filter_map(|r| BackupId::parse(&r.id)).collect();
        self.observations
            .iter()
            .filter(|o| !present.contains(&o.id))
            .filter(|o| o.left_as.as_deref().is_none_or(|l| l == LEFT_INTENDED))
            .map(|o| {
                let how = if o.left_as.as_deref() == Some(LEFT_INTENDED) {
                    Some(LEFT_DELETED)
                } else if o.expires_on.is_some_and(|e| e <= now) {
                    Some(LEFT_EXPIRED)
                } else {
                    None
                };
                Gone {
                    id: o.id,
                    created_on: o.created_on,
                    last_seen: self.seen_at.unwrap_or(o.last_seen).max(o.last_seen),
                    how,
                }
            })
            .collect()
    }
}

/// A remembered backup that is not in the history now.
#[derive(Clone, Debug, PartialEq)]
pub struct Gone {
    pub id: BackupId,
    pub created_on: Option<DateTime<Utc>>,
    pub last_seen: DateTime<Utc>,
    /// How it left, as far as the state database tells.
    pub how: Option<&'static str>,
}

/// What a pass saw of `records` at `now`, for [`HealthUpdate::seen`]; `start` gives a
/// record's start time.
pub fn observe(
    records: &[HistoryRecord],
    now: DateTime<Utc>,
    start: impl Fn(&HistoryRecord) -> Option<DateTime<Utc>>,
) -> Vec<Observation> {
    let mut out: Vec<Observation> = records
        .iter()
        .filter_map(|r| {
            Some(Observation {
                id: BackupId::parse(&r.id)?,
                first_seen: now,
                last_seen: now,
                created_on: r.created_on.instant(),
                started: start(r),
                expires_on: match r.expires_on {
                    WireTime::At(t) => Some(t),
                    _ => None,
                },
                left_as: None,
                left_at: None,
            })
        })
        .collect();
    out.sort_by_key(|o| o.id);
    out.dedup_by_key(|o| o.id);
    out
}
