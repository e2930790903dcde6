//! When each portal's pass starts: one tokio-cron-scheduler job per distinct schedule
//! and time zone, whose tick starts the pass of every portal on it, each after its own
//! jitter (docs/architecture.md, "Scheduling").
//!
//! Why not a job per portal, as the first version had: the scheduler library carries
//! each run of a job through broadcast channels of a fixed size (an activation and
//! three notifications per run), each drained by one task. A fleet on one schedule put
//! as many runs as portals into one half-second tick: the channels overflowed, every
//! activation dropped there was a portal that did not run, and the library logged
//! "Error receiving value Lagged(N)" at ERROR. Here a tick carries one run per distinct
//! schedule due at that instant, and the channels hold a run of every job at once (the
//! scheduler is rebuilt with larger ones when a reload outgrows them): nothing can
//! overflow, whatever the fleet. It also keeps the daemon small: one parsed cron and
//! one job per schedule, not per portal.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::jobs::{PortalRuntime, Shared, tick};
use crate::cron::Cron;
use crate::latches::Latches;

/// Messages one run of a job puts on the busiest of the library's channels (three
/// notifications: scheduled, started, done), with room to spare.
const SLOTS_PER_JOB: usize = 4;
/// The smallest channel size (the library's default is 200).
const MIN_CAPACITY: usize = 256;

/// A schedule as the timetable groups portals by: the cron's fields (whitespace
/// normalised) and the zone it is read in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    schedule: String,
    tz: Tz,
}

impl Key {
    fn of(rt: &PortalRuntime) -> Key {
        let config = rt.config();
        Key {
            schedule: config.schedule.split_whitespace().collect::<Vec<_>>().join(" "),
            tz: config.timezone,
        }
    }
}

/// The portals on one schedule, and the job that ticks for them.
struct Group {
    cron: Arc<Cron>,
    members: Arc<Mutex<BTreeMap<String, Arc<PortalRuntime>>>>,
    job: Uuid,
    /// The run of the cron the group last started, kept across the job being made again.
    last_slot: Arc<Mutex<Option<DateTime<Utc>>>>,
    /// The zone's UTC offset when the job was made: the library computes it once,
    /// so the job is made again when it changes (DST).
    offset: i32,
}

/// The scheduler and the groups of portals on it.
pub(super) struct Timetable {
    /// Shared with the daemon's handle, which can stop it (as a crash would).
    scheduler: Arc<Mutex<JobScheduler>>,
    capacity: usize,
    heartbeat: (Duration, Arc<Latches>),
    shared: Arc<Shared>,
    groups: HashMap<Key, Group>,
    of_portal: HashMap<String, Key>,
}

impl Timetable {
    /// Starts the scheduler, sized for `schedules` distinct schedules, with the
    /// heartbeat job that `/healthz` watches.
    pub async fn start(
        shared: Arc<Shared>,
        heartbeat: Duration,
        latches: Arc<Latches>,
        schedules: usize,
    ) -> Result<Timetable, SchedulerError> {
        let capacity = capacity_for(schedules);
        let scheduler = new_scheduler(capacity, heartbeat, &latches).await?;
        Ok(Timetable {
            scheduler: Arc::new(Mutex::new(scheduler)),
            capacity,
            heartbeat: (heartbeat, latches),
            shared,
            groups: HashMap::new(),
            of_portal: HashMap::new(),
        })
    }

    /// The scheduler, for the daemon's handle.
    pub fn scheduler(&self) -> Arc<Mutex<JobScheduler>> {
        Arc::clone(&self.scheduler)
    }

    /// Puts a portal on the job of its schedule (a new portal, or one whose schedule,
    /// zone or jitter changed), and tells the observer its next run.
    pub async fn join(&mut self, rt: &Arc<PortalRuntime>) -> Result<(), SchedulerError> {
        let key = Key::of(rt);
        if self.of_portal.get(&rt.name) != Some(&key) {
            self.leave(&rt.name).await;
            if !self.groups.contains_key(&key) {
                self.add_group(&key, &rt.name).await?;
            }
            let group = self.groups.get(&key).expect("just added");
            lock(&group.members).insert(rt.name.clone(), Arc::clone(rt));
            self.of_portal.insert(rt.name.clone(), key.clone());
        }
        let group = &self.groups[&key];
        let next = next_tick(&group.cron, key.tz, Utc::now());
        self.shared.observer.next_run(&rt.name, rt.start_after(next));
        Ok(())
    }

    /// Takes a portal off its job; the job goes with its last portal.
    pub async fn leave(&mut self, name: &str) {
        let Some(key) = self.of_portal.remove(name) else {
            return;
        };
        let Some(group) = self.groups.get(&key) else {
            return;
        };
        let empty = {
            let mut members = lock(&group.members);
            members.remove(name);
            members.is_empty()
        };
        if empty {
            let group = self.groups.remove(&key).expect("present");
            let scheduler = lock(&self.scheduler).clone();
            let _ = scheduler.remove(&group.job).await;
        }
    }

    /// Makes again the jobs whose zone changed its UTC offset since they were made
    /// (DST), so that they keep wall-clock time.
    pub async fn follow_zone_offsets(&mut self) {
        let changed: Vec<Key> = self
            .groups
            .iter()
            .filter(|(key, group)| group.offset != utc_offset(key.tz))
            .map(|(key, _)| key.clone())
            .collect();
        let scheduler = lock(&self.scheduler).clone();
        for key in changed {
            tracing::info!(schedule = %key.schedule, timezone = %key.tz, "UTC offset changed: rescheduling");
            let group = self.groups.get_mut(&key).expect("present");
            let _ = scheduler.remove(&group.job).await;
            match add_job(&scheduler, &self.shared, &key, group).await {
                Ok((job, offset)) => {
                    (group.job, group.offset) = (job, offset);
                    // When the clocks go forward, a wall time in the skipped hour runs at
                    // the end of the gap (as the forecast counts it); the job made
                    // before the change would have ticked later, the new one not at all.
                    let now = Utc::now();
                    if admit(&group.cron, key.tz, now, &mut lock(&group.last_slot)).is_some() {
                        tracing::info!(schedule = %key.schedule, timezone = %key.tz, "a run the clock change moved is due: starting it");
                        let next = next_tick(&group.cron, key.tz, now);
                        let portals: Vec<Arc<PortalRuntime>> = lock(&group.members).values().cloned().collect();
                        for rt in portals {
                            tick(&self.shared, rt, next);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(schedule = %key.schedule, timezone = %key.tz, error = %e, "cannot reschedule")
                }
            }
        }
    }

    /// Stops the scheduler: no more ticks, no heartbeat.
    pub async fn shutdown(&self) {
        let mut scheduler = lock(&self.scheduler).clone();
        let _ = scheduler.shutdown().await;
    }

    /// How many distinct schedules have a job (for tests and logs).
    pub fn jobs(&self) -> usize {
        self.groups.len()
    }

    async fn add_group(&mut self, key: &Key, portal: &str) -> Result<(), SchedulerError> {
        if SLOTS_PER_JOB * (self.groups.len() + 2) > self.capacity {
            self.grow().await?;
        }
        let cron = crate::cron::parse(&key.schedule).map_err(|message| SchedulerError::Cron {
            portal: portal.to_string(),
            message,
        })?;
        let mut group = Group {
            cron: Arc::new(cron),
            members: Arc::new(Mutex::new(BTreeMap::new())),
            job: Uuid::nil(),
            last_slot: Arc::new(Mutex::new(None)),
            offset: 0,
        };
        let scheduler = lock(&self.scheduler).clone();
        (group.job, group.offset) =
            add_job(&scheduler, &self.shared, key, &group)
                .await
                .map_err(|e| SchedulerError::Portal {
                    portal: portal.to_string(),
                    source: Box::new(e),
                })?;
        self.groups.insert(key.clone(), group);
        Ok(())
    }

    /// A scheduler with channels for twice as many jobs, carrying every job over. The
    /// old one stops first, so no tick runs twice; a tick due in between (a few
    /// milliseconds of a reload that doubled the schedules) is missed.
    async fn grow(&mut self) -> Result<(), SchedulerError> {
        let capacity = capacity_for(self.groups.len() * 2 + 1);
        tracing::info!(
            schedules = self.groups.len(),
            capacity,
            "more distinct schedules: rebuilding the scheduler with larger channels"
        );
        let (every, latches) = &self.heartbeat;
        let new = new_scheduler(capacity, *every, latches).await?;
        let mut old = std::mem::replace(&mut *lock(&self.scheduler), new.clone());
        let _ = old.shutdown().await;
        for (key, group) in &mut self.groups {
            (group.job, group.offset) = add_job(&new, &self.shared, key, group).await?;
        }
        self.capacity = capacity;
        Ok(())
    }
}

/// The library's channel size for `schedules` jobs and the heartbeat.
fn capacity_for(schedules: usize) -> usize {
    (SLOTS_PER_JOB * (schedules + 1)).next_power_of_two().max(MIN_CAPACITY)
}

/// Why the scheduler, or a job on it, could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The scheduler itself or its heartbeat job (`what` failed).
    #[error("cannot {what}: {source}")]
    Scheduler {
        what: &'static str,
        source: tokio_cron_scheduler::JobSchedulerError,
    },
    /// The library refused a schedule.
    #[error("cannot schedule {schedule:?}: {source}")]
    Job {
        schedule: String,
        source: tokio_cron_scheduler::JobSchedulerError,
    },
    #[error("cannot add the job of {schedule:?}: {source}")]
    Add {
        schedule: String,
        source: tokio_cron_scheduler::JobSchedulerError,
    },
    /// Our cron parser refused a portal's schedule (validation checks it first).
    #[error("portals.{portal}.schedule: {message}")]
    Cron { portal: String, message: String },
    /// A portal's schedule could not be put on the scheduler.
    #[error("portals.{portal}.schedule: {source}")]
    Portal {
        portal: String,
        source: Box<SchedulerError>,
    },
}

async fn new_scheduler(
    capacity: usize,
    heartbeat: Duration,
    latches: &Arc<Latches>,
) -> Result<JobScheduler, SchedulerError> {
    let failed = |what| move |source| SchedulerError::Scheduler { what, source };
    let scheduler = JobScheduler::new_with_channel_size(capacity)
        .await
        .map_err(failed("create the scheduler"))?;
    scheduler.start().await.map_err(failed("start the scheduler"))?;
    // The scheduler proves it lives by running this job; /healthz watches it.
    let beats = Arc::clone(latches);
    let job = Job::new_repeated(heartbeat, move |_, _| beats.beat()).map_err(failed("create the heartbeat job"))?;
    scheduler.add(job).await.map_err(failed("add the heartbeat job"))?;
    Ok(scheduler)
}

/// The job of one group: each tick starts the pass of every portal on it.
async fn add_job(
    scheduler: &JobScheduler,
    shared: &Arc<Shared>,
    key: &Key,
    group: &Group,
) -> Result<(Uuid, i32), SchedulerError> {
    let (shared, members, cron, tz, last_slot) = (
        Arc::clone(shared),
        Arc::clone(&group.members),
        Arc::clone(&group.cron),
        key.tz,
        Arc::clone(&group.last_slot),
    );
    let job = Job::new_async_tz(key.schedule.as_str(), key.tz, move |_id, _scheduler| {
        let (shared, cron) = (Arc::clone(&shared), Arc::clone(&cron));
        let now = Utc::now();
        let portals: Vec<Arc<PortalRuntime>> = match admit(&cron, tz, now, &mut lock(&last_slot)) {
            Some(_) => lock(&members).values().cloned().collect(),
            None => {
                tracing::warn!(
                    timezone = %tz,
                    "a tick with no run of its schedule due now (late by more than 5 minutes, or a run that \
                     already ran): skipped"
                );
                Vec::new()
            }
        };
        // The fan-out runs as the job's task, not inside the library's dispatch.
        Box::pin(async move {
            let next = next_tick(&cron, tz, now);
            for rt in portals {
                tick(&shared, rt, next);
            }
        })
    })
    .map_err(|source| SchedulerError::Job {
        schedule: key.schedule.clone(),
        source,
    })?;
    let id = scheduler.add(job).await.map_err(|source| SchedulerError::Add {
        schedule: key.schedule.clone(),
        source,
    })?;
    Ok((id, utc_offset(key.tz)))
}

/// How late a tick may come after the run it is for (the library looks twice a second).
const TICK_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Whether a tick of the library at `now` is a run of `cron` in `tz` that has not run
/// yet: the run it is for, which `last` then remembers, or `None`.
///
/// The library computes a job's next run with the UTC offset of the moment the job was
/// made, so the timetable makes a job again when its zone's offset changes. On the
/// night the clocks go back, the job made in the repeated hour finds a wall time of
/// that hour (already run, at its first instant) and ticks at once: without this check
/// a nightly 02:30 in Berlin would run at 02:30 CEST and again at 02:00 CET.
pub(super) fn admit(
    cron: &Cron,
    tz: Tz,
    now: DateTime<Utc>,
    last: &mut Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    // The latest run due by now and not run yet (a fast cron has several in the window).
    let from = last.map_or(now - TICK_TOLERANCE, |l| l.max(now - TICK_TOLERANCE));
    let mut slot = crate::cron::next_after(cron, tz, from).filter(|slot| *slot <= now)?;
    while let Some(next) = crate::cron::next_after(cron, tz, slot).filter(|next| *next <= now) {
        slot = next;
    }
    if *last == Some(slot) {
        return None;
    }
    *last = Some(slot);
    Some(slot)
}

/// The next tick of `cron` in `tz` after `now`, to the second; the same search as the
/// forecast's, so a wall time the clocks repeat is one tick.
pub(super) fn next_tick(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    crate::cron::next_after(cron, tz, now)
}

fn utc_offset(tz: Tz) -> i32 {
    tz.offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The night the clocks go back in Berlin (2027-10-31, 03:00 CEST → 02:00 CET): a
    /// nightly 02:30 runs once, at 02:30 CEST, and its next run is the next night.
    #[test]
    fn a_nightly_in_the_repeated_hour_runs_once_and_next_the_next_night() {
        let cron = crate::cron::parse("0 30 2 * * *").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let mut last = None;
        // The genuine tick, half a second late.
        assert_eq!(
            admit(&cron, tz, utc("2027-10-31T00:30:00.5Z"), &mut last),
            Some(utc("2027-10-31T00:30:00Z"))
        );
        assert_eq!(
            next_tick(&cron, tz, utc("2027-10-31T00:30:00.5Z")),
            Some(utc("2027-11-01T01:30:00Z"))
        );
        // The same run ticked twice (a job made again): once.
        assert_eq!(admit(&cron, tz, utc("2027-10-31T00:31:00Z"), &mut last), None);
        // The job made again at 02:00:30 CET ticks at once for 02:30 CEST: not a run.
        let mut fresh = None;
        assert_eq!(admit(&cron, tz, utc("2027-10-31T01:00:30Z"), &mut fresh), None);
        assert_eq!(admit(&cron, tz, utc("2027-10-31T01:00:30Z"), &mut last), None);
        // 02:30 CET is the same wall time: no second run, and the next is the next night.
        assert_eq!(admit(&cron, tz, utc("2027-10-31T01:30:00Z"), &mut last), None);
        assert_eq!(
            next_tick(&cron, tz, utc("2027-10-31T01:00:30Z")),
            Some(utc("2027-11-01T01:30:00Z"))
        );
        assert_eq!(
            admit(&cron, tz, utc("2027-11-01T01:30:01Z"), &mut last),
            Some(utc("2027-11-01T01:30:00Z"))
        );
    }

    /// The night the clocks go forward (2027-03-28, 02:00 CET → 03:00 CEST): 02:30 does
    /// not exist; the run is at 03:00 CEST, which the job made again at 03:00:30 admits.
    #[test]
    fn a_nightly_in_the_skipped_hour_runs_at_the_end_of_the_gap() {
        let cron = crate::cron::parse("0 30 2 * * *").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let mut last = Some(utc("2027-03-27T01:30:00Z"));
        assert_eq!(
            next_tick(&cron, tz, utc("2027-03-27T01:30:00Z")),
            Some(utc("2027-03-28T01:00:00Z"))
        );
        assert_eq!(
            admit(&cron, tz, utc("2027-03-28T01:00:30Z"), &mut last),
            Some(utc("2027-03-28T01:00:00Z"))
        );
        assert_eq!(admit(&cron, tz, utc("2027-03-28T01:30:00Z"), &mut last), None);
        assert_eq!(
            next_tick(&cron, tz, utc("2027-03-28T01:00:30Z")),
            Some(utc("2027-03-29T00:30:00Z"))
        );
    }

    #[test]
    fn a_fast_cron_admits_each_run_once_as_its_latest_due() {
        let cron = crate::cron::parse("0 * * * * *").unwrap();
        let mut last = None;
        assert_eq!(
            admit(&cron, Tz::UTC, utc("2027-01-01T12:00:00.3Z"), &mut last),
            Some(utc("2027-01-01T12:00:00Z"))
        );
        assert_eq!(admit(&cron, Tz::UTC, utc("2027-01-01T12:00:40Z"), &mut last), None);
        assert_eq!(
            admit(&cron, Tz::UTC, utc("2027-01-01T12:01:00.2Z"), &mut last),
            Some(utc("2027-01-01T12:01:00Z"))
        );
        // A tick three runs late is for the latest of them.
        assert_eq!(
            admit(&cron, Tz::UTC, utc("2027-01-01T12:04:30Z"), &mut last),
            Some(utc("2027-01-01T12:04:00Z"))
        );
    }

    #[test]
    fn channels_hold_a_run_of_every_job() {
        assert_eq!(capacity_for(0), 256);
        assert_eq!(capacity_for(63), 256);
        assert_eq!(capacity_for(64), 512);
        for schedules in [1, 100, 1000, 5000] {
            assert!(capacity_for(schedules) >= SLOTS_PER_JOB * (schedules + 1));
        }
    }
}
