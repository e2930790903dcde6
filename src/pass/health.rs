//! What a pass gathers for the health sentinel (docs/reference.md, "Backup health"):
//! the backups' sizes (one listing of the schedule's folder, `Documents` storage
//! only), the API key's expiry (once a day), the portal's own time zone, and what
//! earlier passes saw. Every signal that cannot be read is lost alone: nothing here
//! fails a pass or changes what the rules alone would delete, except to keep more.

use chrono::{DateTime, TimeDelta, Utc};
use fnv::FnvHashMap;

use crate::config::PortalConfig;
use crate::docspace::{ApiErrorKind, Credential, DocSpaceClient};
use crate::health::{Gathered, HealthView, Slotting, assess, schedule_zone};
use crate::state::{Gone, HealthMemory, HealthUpdate, KeyState, RememberedSchedule, observe};
use crate::wire::{BackupSchedule, HistoryRecord, Period, ServerSettings, StorageType};

/// How often the API key's expiry is read.
const KEY_PROBE_EVERY: TimeDelta = TimeDelta::days(1);

/// The sentinel's part of a read.
#[derive(Clone, Debug, Default)]
pub struct HealthRead {
    /// `None` when `health.enabled = false`.
    pub view: Option<HealthView>,
    /// What the pass stores for the next one.
    pub update: HealthUpdate,
    /// Backups remembered and gone now, each with how it left as far as the state
    /// database tells (`None`: the pass looks further, then calls it vanished).
    pub gone: Vec<Gone>,
    /// Missed slots no earlier pass has counted.
    pub newly_missed: Vec<DateTime<Utc>>,
    /// The portal's own zone, when it differs from the configured one.
    pub timezone_mismatch: Option<String>,
}

/// The schedule's slots: the current schedule's, else the one last seen.
fn slotting(
    current: Option<&BackupSchedule>,
    remembered: Option<&RememberedSchedule>,
    tz: chrono_tz::Tz,
) -> Option<Slotting> {
    let (period, hour, day): (Period, Option<i64>, Option<i64>) = match (current, remembered) {
        (Some(s), _) => (s.period.clone(), s.hour, s.day),
        (None, Some(r)) => (r.period.clone(), r.hour, r.day),
        (None, None) => return None,
    };
    Some(Slotting {
        period,
        hour: hour.unwrap_or(0).clamp(0, 23) as u32,
        day,
        tz,
    })
}

/// Whether two zone names mean different clocks (aliases such as `UTC` and
/// `Etc/UTC` are one zone): their offsets differ now or within the coming year.
fn zones_differ(a: chrono_tz::Tz, b: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
    use chrono::Offset;
    (0..=12).any(|m| {
        let t = now + TimeDelta::days(30 * m);
        t.with_timezone(&a).offset().fix() != t.with_timezone(&b).offset().fix()
    })
}

/// How long one of the sentinel's reads may take (all its pages or retries): a slow
/// answer costs the signal, never the pass's deadline.
fn budget(portal: &PortalConfig) -> std::time::Duration {
    portal.request_timeout.min(std::time::Duration::from_secs(30))
}

/// The sizes of the backups in the schedule's folder (only the history's file names
/// are kept), or why they are unknown.
async fn sizes(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    schedule: Option<&BackupSchedule>,
    history: &[HistoryRecord],
) -> Result<FnvHashMap<String, u64>, String> {
    let Some(schedule) = schedule else {
        return Err("sizes unknown: the portal has no schedule".into());
    };
    if schedule.storage_type != StorageType::Documents {
        return Err(format!(
            "size unknown: the schedule stores to {}",
            schedule.storage_type.name()
        ));
    }
    let Some(folder) = schedule
        .storage_params
        .iter()
        .find(|(k, _)| k == "folderId")
        .and_then(|(_, v)| v.as_deref())
    else {
        return Err("sizes unknown: the schedule names no folderId".into());
    };
    let names: fnv::FnvHashSet<&str> = history.iter().filter_map(|r| r.file_name.as_deref()).collect();
    let listing = tokio::time::timeout(budget(portal), client.list_folder(folder, |t| names.contains(t)));
    match listing.await {
        Ok(Ok(files)) => Ok(files.into_iter().collect()),
        Err(_) => {
            tracing::info!(portal = %portal.name, "backup sizes unknown: the backup folder was not listed in time");
            Err(format!(
                "sizes unknown: the folder listing took longer than {}s",
                budget(portal).as_secs()
            ))
        }
        Ok(Err(e)) => {
            tracing::info!(portal = %portal.name, error = %e, "backup sizes unknown: the backup folder could not be listed");
            Err(format!(
                "sizes unknown: the folder listing failed ({})",
                e.status()
                    .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"))
            ))
        }
    }
}

/// The key's state after this pass: read again once a day (API keys only; a
/// server that does not know the endpoint, before 3.1.1, says nothing).
async fn key(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    memory: &HealthMemory,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, KeyState) {
    let due = memory
        .key_checked_at
        .is_none_or(|t| now - t >= KEY_PROBE_EVERY || t > now);
    if !matches!(portal.credential, Credential::ApiKey(_)) || !due {
        return (memory.key_checked_at, memory.key.clone());
    }
    let Ok(answer) = tokio::time::timeout(budget(portal), client.get_key_expiry()).await else {
        tracing::info!(portal = %portal.name, "the API key's expiry was not read in time");
        return (memory.key_checked_at, memory.key.clone());
    };
    match answer {
        Ok(Some(t)) => (Some(now), KeyState::Expires(t)),
        Ok(None) => (Some(now), KeyState::Never),
        Err(e) if matches!(e.kind, ApiErrorKind::NotFound { .. }) => (Some(now), KeyState::Unknown),
        Err(e) => {
            tracing::info!(portal = %portal.name, error = %e, "the API key's expiry could not be read");
            (memory.key_checked_at, memory.key.clone())
        }
    }
}

/// Gathers and judges, as of `now`.
#[allow(clippy::too_many_arguments)]
pub async fn gather(
    portal: &PortalConfig,
    client: &DocSpaceClient,
    schedule: Option<&BackupSchedule>,
    remembered: Option<&RememberedSchedule>,
    history: &[HistoryRecord],
    settings: &ServerSettings,
    memory: &HealthMemory,
    now: DateTime<Utc>,
) -> HealthRead {
    let policy = &portal.health;
    let server_zone = settings
        .timezone
        .as_deref()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok());
    let timezone_mismatch = server_zone
        .filter(|z| zones_differ(*z, portal.timezone, now))
        .map(|z| z.name().to_string());
    let (key_checked_at, key) = key(portal, client, memory, now).await;
    // Unread settings leave the clock of the file names unknown: no durations.
    let standalone = settings.read.then_some(settings.standalone);
    let seen = observe(history, now, |r| {
        crate::health::started(r, standalone, policy.server_utc_offset)
    });
    let mut read = HealthRead {
        timezone_mismatch,
        gone: memory.gone(history, now),
        update: HealthUpdate {
            seen,
            key_checked_at,
            key,
            checked_until: memory.checked_until,
            ..HealthUpdate::default()
        },
        ..HealthRead::default()
    };
    if !policy.enabled {
        return read;
    }
    let (sizes, size_note) = match sizes(portal, client, schedule, history).await {
        Ok(s) => (Some(s), None),
        Err(note) => (None, Some(note)),
    };
    let seen_starts = memory.seen_starts();
    let tz = schedule_zone(settings.timezone.as_deref(), portal.timezone);
    let slotting = slotting(schedule, remembered, tz);
    // Slots of an earlier schedule (another period, hour, day or zone) are not this
    // one's: missed runs are looked for since the schedule is what it is now.
    let key = slotting.as_ref().map(Slotting::key);
    let slots_since = match (&memory.slots, &key) {
        (Some((old, since)), Some(new)) if old == new => *since,
        (Some(_), Some(_)) => Some(now),
        _ => None,
    };
    read.update.slots = key.map(|k| (k, slots_since));
    let gathered = Gathered {
        records: history,
        sizes: sizes.as_ref(),
        standalone,
        slotting,
        seen_starts: &seen_starts,
        watched_since: memory.watched_since(),
        slots_since,
        now,
    };
    let view = assess(&gathered, policy, size_note);
    read.newly_missed = view
        .missed
        .iter()
        .copied()
        .filter(|s| memory.checked_until.is_none_or(|c| *s > c))
        .collect();
    read.update.checked_until = view.checked_until.max(memory.checked_until);
    read.view = Some(view);
    read
}
