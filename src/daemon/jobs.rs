//! What a tick does to a portal: one pass at a time per portal, after its jitter and
//! a concurrency slot (when ticks come is the timetable's business).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PortalConfig;
use crate::docspace::{Clients, DocSpaceClient};
use crate::executor::{Gates, LiveGates};
use crate::observe::Observer;
use crate::pass::{PassReport, run_pass_gated};
use crate::state::StateDir;

/// What runs one pass: [`run_pass`] bound to the portal's live gates, unless a test
/// puts something else in.
pub type PassFn = Arc<
    dyn Fn(Arc<PortalConfig>, Arc<DocSpaceClient>, Arc<StateDir>, Arc<LiveGates>) -> BoxFuture<'static, PassReport>
        + Send
        + Sync,
>;

/// The pass the daemon runs: its gates are read again at every change, so a reload
/// during the pass binds it (docs/reference.md, "Gates").
pub fn real_pass() -> PassFn {
    Arc::new(|config, client, state, live| {
        async move {
            let gates = Gates::of(&config).following(live);
            run_pass_gated(&config, &client, &state, Utc::now(), gates).await
        }
        .boxed()
    })
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
    /// How far the page looks ahead (`picture.forecast`; changed by reloads).
    pub picture_forecast: std::sync::RwLock<Option<crate::calendar::CalDuration>>,
}

/// A portal as the daemon runs it: its config and client (replaced on reload), and the
/// token that cancels its waiting passes when it is removed (or the daemon stops). When
/// it runs is the timetable's business.
pub(super) struct PortalRuntime {
    pub name: String,
    current: RwLock<(Arc<PortalConfig>, Arc<DocSpaceClient>)>,
    /// The gates of the current config, for passes already running.
    live: Arc<LiveGates>,
    stop: CancellationToken,
}

impl PortalRuntime {
    pub fn new(config: Arc<PortalConfig>, client: DocSpaceClient, stop: CancellationToken) -> Self {
        PortalRuntime {
            name: config.name.clone(),
            live: Arc::new(LiveGates::new(Gates::of(&config))),
            current: RwLock::new((config, Arc::new(client))),
            stop,
        }
    }

    pub fn config(&self) -> Arc<PortalConfig> {
        Arc::clone(&self.current.read().expect("portal lock").0)
    }

    /// Replaces the config and client; true when the portal must join the timetable
    /// anew (its schedule, zone or jitter changed).
    pub fn replace(&self, config: Arc<PortalConfig>, client: DocSpaceClient) -> bool {
        let old = self.config();
        let retime =
            old.schedule != config.schedule || old.timezone != config.timezone || old.jitter_secs != config.jitter_secs;
        self.live.set(Gates::of(&config));
        *self.current.write().expect("portal lock") = (config, Arc::new(client));
        retime
    }

    /// When a pass ticked at `tick` starts: the tick plus the portal's stable jitter.
    pub fn start_after(&self, tick: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let jitter = crate::shard::jitter_secs(&self.name, self.config().jitter_secs);
        tick.map(|t| t + chrono::TimeDelta::seconds(jitter as i64))
    }

    /// Cancels the portal's passes that wait for their jitter or a concurrency slot
    /// (it was removed); a pass already running finishes.
    pub fn stop(&self) {
        self.stop.cancel();
    }
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

/// A cron tick of the portal's schedule (`next`: the tick after it): starts the
/// portal's pass unless one is still running or the portal is gone. The pass itself
/// waits for its jitter and a concurrency slot.
pub(super) fn tick(shared: &Arc<Shared>, rt: Arc<PortalRuntime>, next: Option<DateTime<Utc>>) {
    if rt.stop.is_cancelled() {
        return;
    }
    shared.observer.next_run(&rt.name, rt.start_after(next));
    let Some(running) = Running::claim(shared, &rt.name) else {
        shared.observer.pass_skipped(&rt.name, "previous pass still running");
        return;
    };
    let (tracker, shared) = (shared.passes.clone(), Arc::clone(shared));
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
    let permit = tokio::select! {
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
    let pass = (shared.pass)(
        Arc::clone(&config),
        client,
        Arc::clone(&shared.state),
        Arc::clone(&rt.live),
    );
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
    if report.locked() {
        shared.observer.pass_locked(&rt.name);
    } else {
        // The page's extras never hold up another portal's pass.
        drop(permit);
        let span = *shared.picture_forecast.read().expect("picture forecast lock");
        if let Some(report) = for_the_page(report, config, span, &shared.state).await {
            shared.observer.pass_finished(&report);
        }
    }
}

/// Adds what the page shows beyond the pass: the forecast to the horizon (off the
/// async workers: a portal of many backups takes a while) and each recent pass's
/// deletions. Neither can fail the pass: without them the page shows less. `None` only
/// when the runtime went away during the forecast.
async fn for_the_page(
    mut report: PassReport,
    config: Arc<PortalConfig>,
    span: Option<crate::calendar::CalDuration>,
    state: &StateDir,
) -> Option<PassReport> {
    if let Some(span) = span.filter(|_| report.read.is_some()) {
        // The report goes to the blocking pool and comes back (no copy of its read); a
        // forecast that panics costs the page its future, never the pass's report.
        let portal = report.portal.clone();
        let done = tokio::task::spawn_blocking(move || {
            let forecast = report.read.as_ref().map(|read| {
                let until = span.after(read.context.now);
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::pass::forecast_every(&config, read, until, crate::pass::PAGE_GAP)
                }))
            });
            let failed = matches!(forecast, Some(Err(_)));
            report.forecast = forecast.and_then(Result::ok);
            (report, failed)
        })
        .await;
        // Only a runtime going away cancels a blocking task: nobody reads the page then.
        let Ok((back, failed)) = done else {
            return None;
        };
        if failed {
            tracing::warn!(portal = %portal, "the page's forecast failed");
        }
        report = back;
    }
    let since = report.finished - crate::picture::DELETIONS_SHOWN;
    report.deletions_by_pass = state.deletions_by_pass(&report.portal, since).await;
    Some(report)
}
