//! Each portal's cron job and what a tick does: one pass at a time per portal, after
//! its jitter and a concurrency slot.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::config::PortalConfig;
use crate::docspace::{Clients, DocSpaceClient};
use crate::observe::Observer;
use crate::pass::{PassReport, run_pass};
use crate::state::StateDir;

/// What runs one pass: [`run_pass`], unless a test puts something else in.
pub type PassFn =
    Arc<dyn Fn(Arc<PortalConfig>, Arc<DocSpaceClient>, Arc<StateDir>) -> BoxFuture<'static, PassReport> + Send + Sync>;

/// The pass the daemon runs.
pub fn real_pass() -> PassFn {
    Arc::new(|config, client, state| async move { run_pass(&config, &client, &state, Utc::now()).await }.boxed())
}

/// What every job needs.
pub(super) struct Shared {
    pub observer: Arc<Observer>,
    pub state: Arc<StateDir>,
    pub pass: PassFn,
    pub clients: Clients,
    pub permits: Semaphore,
    pub passes: TaskTracker,
    pub closing: CancellationToken,
    /// Portals with a pass under way, by name: a portal removed and added back by
    /// reloads is still the same portal.
    pub running: Mutex<HashSet<String>>,
}

/// A portal as the daemon runs it: its config and client (replaced on reload), its
/// cron job, and the token that cancels its waiting passes when it is removed (or the
/// daemon stops).
pub(super) struct PortalRuntime {
    pub name: String,
    current: RwLock<(Arc<PortalConfig>, Arc<DocSpaceClient>, croner::Cron)>,
    job: tokio::sync::Mutex<Option<(Uuid, i32)>>,
    stop: CancellationToken,
}

impl PortalRuntime {
    pub fn new(config: PortalConfig, client: DocSpaceClient, stop: CancellationToken) -> Result<Self, String> {
        let cron = parse_cron(&config.schedule)?;
        Ok(PortalRuntime {
            name: config.name.clone(),
            current: RwLock::new((Arc::new(config), Arc::new(client), cron)),
            job: tokio::sync::Mutex::new(None),
            stop,
        })
    }

    pub fn config(&self) -> Arc<PortalConfig> {
        Arc::clone(&self.current.read().expect("portal lock").0)
    }

    /// Replaces the config and client; true when the job must be scheduled anew.
    pub fn replace(&self, config: PortalConfig, client: DocSpaceClient) -> Result<bool, String> {
        let cron = parse_cron(&config.schedule)?;
        let old = self.config();
        let reschedule =
            old.schedule != config.schedule || old.timezone != config.timezone || old.jitter_secs != config.jitter_secs;
        *self.current.write().expect("portal lock") = (Arc::new(config), Arc::new(client), cron);
        Ok(reschedule)
    }

    /// The next scheduled start after `now`, jitter included, in real time (the
    /// zone's DST rules applied).
    pub fn next_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (config, _, cron) = &*self.current.read().expect("portal lock");
        let next = cron
            .find_next_occurrence(&now.with_timezone(&config.timezone), false)
            .ok()?;
        let next = chrono::Timelike::with_nanosecond(&next, 0)?;
        let jitter = crate::shard::jitter_secs(&self.name, config.jitter_secs);
        Some(next.with_timezone(&Utc) + chrono::TimeDelta::seconds(jitter as i64))
    }

    /// (Re)creates the portal's cron job in its zone with the zone's current offset.
    pub async fn schedule(self: &Arc<Self>, scheduler: &JobScheduler, shared: &Arc<Shared>) -> Result<(), String> {
        let config = self.config();
        let mut job = self.job.lock().await;
        if let Some((old, _)) = job.take() {
            let _ = scheduler.remove(&old).await;
        }
        let (shared_job, runtime) = (Arc::clone(shared), Arc::clone(self));
        let new = Job::new_async_tz(config.schedule.as_str(), config.timezone, move |_id, _scheduler| {
            tick(Arc::clone(&shared_job), Arc::clone(&runtime));
            Box::pin(async {})
        })
        .map_err(|e| {
            format!(
                "portals.{}.schedule: cannot schedule {:?}: {e}",
                self.name, config.schedule
            )
        })?;
        let id = scheduler
            .add(new)
            .await
            .map_err(|e| format!("cannot add the job of portal {}: {e}", self.name))?;
        *job = Some((id, utc_offset(config.timezone)));
        shared.observer.next_run(&self.name, self.next_run(Utc::now()));
        Ok(())
    }

    /// Removes the portal's cron job and cancels its passes that wait for their
    /// jitter or a concurrency slot; a pass already running finishes.
    pub async fn unschedule(&self, scheduler: &JobScheduler) {
        self.stop.cancel();
        if let Some((id, _)) = self.job.lock().await.take() {
            let _ = scheduler.remove(&id).await;
        }
    }

    /// tokio-cron-scheduler computes a zone's UTC offset once, when a job is created:
    /// true when the zone's offset changed since (DST) and the job must be re-created.
    pub async fn offset_changed(&self) -> bool {
        let tz = self.config().timezone;
        let created = self.job.lock().await.as_ref().map(|(_, offset)| *offset);
        created.is_some_and(|o| o != utc_offset(tz))
    }
}

fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    crate::cron::parse(expr).map_err(|e| format!("invalid schedule: {e}"))
}

fn utc_offset(tz: chrono_tz::Tz) -> i32 {
    tz.offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc()
}

/// Marks a portal running for as long as it lives (a panicking pass too).
struct Running {
    shared: Arc<Shared>,
    name: String,
}

impl Running {
    /// `None` when the portal already has a pass under way.
    fn claim(shared: &Arc<Shared>, name: &str) -> Option<Self> {
        let mut running = shared.running.lock().expect("running lock");
        running.insert(name.to_string()).then(|| Running {
            shared: Arc::clone(shared),
            name: name.to_string(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.running.lock().expect("running lock").remove(&self.name);
    }
}

/// A cron tick: starts the portal's pass unless one is still running or the daemon
/// is stopping. The pass itself waits for its jitter and a concurrency slot.
fn tick(shared: Arc<Shared>, rt: Arc<PortalRuntime>) {
    if rt.stop.is_cancelled() {
        return;
    }
    shared.observer.next_run(&rt.name, rt.next_run(Utc::now()));
    let Some(running) = Running::claim(&shared, &rt.name) else {
        shared.observer.pass_skipped(&rt.name, "previous pass still running");
        return;
    };
    let tracker = shared.passes.clone();
    tracker.spawn(async move {
        run_scheduled_pass(&shared, &rt).await;
        drop(running);
    });
}

async fn run_scheduled_pass(shared: &Shared, rt: &PortalRuntime) {
    let jitter = crate::shard::jitter_secs(&rt.name, rt.config().jitter_secs);
    if jitter > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(jitter)) => {}
            () = rt.stop.cancelled() => return,
        }
    }
    let _permit = tokio::select! {
        permit = shared.permits.acquire() => match permit {
            Ok(p) => p,
            Err(_) => return,
        },
        () = rt.stop.cancelled() => return,
    };
    // Removed (or stopping) while it waited for the slot: it never starts.
    if rt.stop.is_cancelled() {
        return;
    }
    let (config, client) = {
        let current = rt.current.read().expect("portal lock");
        (Arc::clone(&current.0), Arc::clone(&current.1))
    };
    shared.observer.pass_started(&rt.name);
    let pass = (shared.pass)(Arc::clone(&config), client, Arc::clone(&shared.state));
    let report = match AssertUnwindSafe(pass).catch_unwind().await {
        Ok(report) => report,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PassReport::failed(
                &rt.name,
                config.dry_run,
                format!("internal error: the pass panicked: {what}"),
            )
        }
    };
    if report.locked {
        shared.observer.pass_locked(&rt.name);
    } else {
        shared.observer.pass_finished(&report);
    }
}
