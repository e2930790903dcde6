//! The long-running service (SPEC §6): one cron job per portal, bounded concurrency,
//! no overlapping passes, reload on request, graceful shutdown, systemd notify.
//!
//! The daemon is driven through a [`DaemonHandle`] (reload, shutdown) so that tests
//! run it in-process; the binary maps SIGHUP/SIGTERM/SIGINT onto the same handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Offset, TimeZone, Utc};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::audit::AuditLog;
use crate::cli::Clients;
use crate::config::{Config, ConfigErrors, PortalConfig};
use crate::docspace::DocSpaceClient;
use crate::metrics::Metrics;
use crate::operator::Exit;
use crate::pass::run_pass;
use crate::server::{DaemonState, PassSummary, PortalStatus};

/// Re-reads the configuration for a reload.
pub type ReloadFn = Box<dyn Fn() -> Result<Config, ConfigErrors> + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// A running daemon.
pub struct DaemonHandle {
    control: mpsc::UnboundedSender<Control>,
    addr: SocketAddr,
    state: Arc<DaemonState>,
    task: JoinHandle<Exit>,
}

impl DaemonHandle {
    /// The address the HTTP server listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &Arc<DaemonState> {
        &self.state
    }

    pub fn reload(&self) {
        let _ = self.control.send(Control::Reload);
    }

    /// The first call starts a graceful shutdown; a second one ends it at once.
    pub fn shutdown(&self) {
        let _ = self.control.send(Control::Shutdown);
    }

    pub fn controller(&self) -> mpsc::UnboundedSender<Control> {
        self.control.clone()
    }

    /// Waits until the daemon has stopped.
    pub async fn wait(self) -> Exit {
        self.task.await.unwrap_or(Exit::Failure)
    }
}

/// What every job needs.
struct Shared {
    metrics: Arc<Metrics>,
    state: Arc<DaemonState>,
    audit: Arc<AuditLog>,
    clients: Clients,
    permits: Semaphore,
    passes: TaskTracker,
    closing: CancellationToken,
}

/// A portal as the daemon runs it: its config and client (replaced on reload), its
/// cron job, and the flag that keeps two passes of it from overlapping.
struct PortalRuntime {
    name: String,
    current: RwLock<(Arc<PortalConfig>, Arc<DocSpaceClient>, croner::Cron)>,
    status: Arc<PortalStatus>,
    job: tokio::sync::Mutex<Option<(Uuid, i32)>>,
}

impl PortalRuntime {
    fn config(&self) -> Arc<PortalConfig> {
        Arc::clone(&self.current.read().unwrap().0)
    }

    /// The next scheduled start after `now`, jitter included, in real time (the
    /// zone's DST rules applied).
    fn next_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (config, _, cron) = &*self.current.read().unwrap();
        let next = cron
            .find_next_occurrence(&now.with_timezone(&config.timezone), false)
            .ok()?;
        let next = chrono::Timelike::with_nanosecond(&next, 0)?;
        let jitter = crate::shard::jitter_secs(&self.name, config.jitter_secs);
        Some(next.with_timezone(&Utc) + chrono::TimeDelta::seconds(jitter as i64))
    }
}

fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid schedule {expr:?}: {e}"))
}

fn utc_offset(tz: chrono_tz::Tz) -> i32 {
    tz.offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc()
}

struct Daemon {
    config: Config,
    scheduler: JobScheduler,
    shared: Arc<Shared>,
    portals: BTreeMap<String, Arc<PortalRuntime>>,
    reload: ReloadFn,
}

/// The HTTP server is up (answering `/readyz` with 503), nothing is scheduled yet.
pub struct Bound {
    addr: SocketAddr,
    state: Arc<DaemonState>,
    http_stop: CancellationToken,
    http_task: JoinHandle<()>,
}

impl Bound {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `server.listen` and starts serving the admin endpoints (not ready yet).
pub async fn bind(config: &Config) -> Result<Bound, String> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e} (server.listen)", config.server.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = Arc::new(DaemonState::new(Arc::new(Metrics::new())));
    let http_stop = CancellationToken::new();
    let http_state = Arc::clone(&state);
    let http_task = tokio::spawn(crate::http::serve(
        listener,
        move |req| crate::server::route(Arc::clone(&http_state), req),
        http_stop.clone(),
        Duration::from_secs(2),
    ));
    tracing::info!(%addr, "serving /metrics /healthz /readyz /status");
    Ok(Bound {
        addr,
        state,
        http_stop,
        http_task,
    })
}

/// Binds the HTTP server, schedules every portal and returns once the daemon is ready.
pub async fn start(config: Config, reload: ReloadFn) -> Result<DaemonHandle, String> {
    let bound = bind(&config).await?;
    start_bound(bound, config, reload).await
}

/// Schedules every portal on an already bound daemon and marks it ready.
pub async fn start_bound(bound: Bound, config: Config, reload: ReloadFn) -> Result<DaemonHandle, String> {
    let Bound {
        addr,
        state,
        http_stop,
        http_task,
    } = bound;
    let metrics = Arc::clone(&state.metrics);
    let audit = AuditLog::open(&config.daemon.state_dir)?;
    let scheduler = JobScheduler::new()
        .await
        .map_err(|e| format!("cannot create the scheduler: {e}"))?;
    scheduler
        .start()
        .await
        .map_err(|e| format!("cannot start the scheduler: {e}"))?;
    state.set_alive(true);

    let shared = Arc::new(Shared {
        clients: Clients::with_metrics(Arc::clone(&metrics))?,
        permits: Semaphore::new(config.daemon.max_concurrent_portals),
        metrics,
        state: Arc::clone(&state),
        audit,
        passes: TaskTracker::new(),
        closing: CancellationToken::new(),
    });
    let mut daemon = Daemon {
        config: config.clone(),
        scheduler,
        shared,
        portals: BTreeMap::new(),
        reload,
    };
    for portal in &config.portals {
        daemon.add_portal(portal.clone()).await?;
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    state.set_ready(true);
    notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(portals = config.portals.len(), "daemon ready");

    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(daemon.control_loop(rx, http_stop, http_task));
    Ok(DaemonHandle {
        control: tx,
        addr,
        state,
        task,
    })
}

fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

impl Daemon {
    async fn add_portal(&mut self, config: PortalConfig) -> Result<(), String> {
        let client = Arc::new(self.shared.clients.for_portal(&config)?);
        let cron = parse_cron(&config.schedule)?;
        self.shared.metrics.add_portal(&config.name);
        let rt = Arc::new(PortalRuntime {
            name: config.name.clone(),
            status: self.shared.state.portal(&config.name),
            current: RwLock::new((Arc::new(config), client, cron)),
            job: tokio::sync::Mutex::new(None),
        });
        self.schedule(&rt).await?;
        self.portals.insert(rt.name.clone(), rt);
        Ok(())
    }

    /// (Re)creates the portal's cron job in its zone with the zone's current offset.
    async fn schedule(&self, rt: &Arc<PortalRuntime>) -> Result<(), String> {
        let config = rt.config();
        let mut job = rt.job.lock().await;
        if let Some((old, _)) = job.take() {
            let _ = self.scheduler.remove(&old).await;
        }
        let (shared, runtime) = (Arc::clone(&self.shared), Arc::clone(rt));
        let new = Job::new_async_tz(config.schedule.as_str(), config.timezone, move |_id, _scheduler| {
            tick(Arc::clone(&shared), Arc::clone(&runtime));
            Box::pin(async {})
        })
        .map_err(|e| {
            format!(
                "portals.{}.schedule: cannot schedule {:?}: {e}",
                rt.name, config.schedule
            )
        })?;
        let id = self
            .scheduler
            .add(new)
            .await
            .map_err(|e| format!("cannot add the job of portal {}: {e}", rt.name))?;
        *job = Some((id, utc_offset(config.timezone)));
        let next = rt.next_run(Utc::now());
        *rt.status.next_run.lock().unwrap() = next;
        self.shared.metrics.next_run(&rt.name, next);
        Ok(())
    }

    async fn remove_portal(&mut self, name: &str) {
        if let Some(rt) = self.portals.remove(name) {
            if let Some((id, _)) = rt.job.lock().await.take() {
                let _ = self.scheduler.remove(&id).await;
            }
            self.shared.metrics.remove_portal(name);
            self.shared.state.remove_portal(name);
            tracing::info!(portal = name, "portal removed");
        }
    }

    async fn control_loop(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        http_stop: CancellationToken,
        http_task: JoinHandle<()>,
    ) -> Exit {
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        // tokio-cron-scheduler computes a zone's UTC offset once, when a job is created;
        // re-create jobs whose zone changed offset (DST) so they keep wall-clock time.
        let mut zone_check = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                msg = control.recv() => match msg {
                    Some(Control::Reload) => self.reload().await,
                    Some(Control::Shutdown) | None => break,
                },
                _ = watchdog_tick.tick(), if watchdog.is_some() => notify(&[sd_notify::NotifyState::Watchdog]),
                _ = zone_check.tick() => self.follow_zone_offsets().await,
            }
        }
        self.shutdown(control, http_stop, http_task).await
    }

    async fn follow_zone_offsets(&self) {
        for rt in self.portals.values() {
            let tz = rt.config().timezone;
            let created = rt.job.lock().await.as_ref().map(|(_, offset)| *offset);
            if created.is_some_and(|o| o != utc_offset(tz)) {
                tracing::info!(portal = %rt.name, timezone = %tz, "UTC offset changed: rescheduling");
                if let Err(e) = self.schedule(rt).await {
                    tracing::error!(portal = %rt.name, error = %e, "cannot reschedule");
                }
            }
        }
    }

    async fn reload(&mut self) {
        let now_usec = sd_notify::NotifyState::monotonic_usec_now();
        match now_usec {
            Ok(usec) => notify(&[sd_notify::NotifyState::Reloading, usec]),
            Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
        }
        match (self.reload)() {
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(error = %e, "invalid configuration");
                }
                self.shared.metrics.config_reload(Err(&errors.to_string()));
            }
            Ok(new) => self.apply(new).await,
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }

    async fn apply(&mut self, new: Config) {
        if new.server.listen != self.config.server.listen
            || new.daemon.state_dir != self.config.daemon.state_dir
            || new.daemon.max_concurrent_portals != self.config.daemon.max_concurrent_portals
        {
            tracing::warn!("server.listen, daemon.state_dir and daemon.max_concurrent_portals apply after a restart");
        }
        crate::logging::set_level(&new.log.level);
        for w in &new.warnings {
            tracing::warn!("{w}");
        }
        let gone: Vec<String> = self
            .portals
            .keys()
            .filter(|name| new.portal(name).is_none())
            .cloned()
            .collect();
        for name in gone {
            self.remove_portal(&name).await;
        }
        let mut problems = Vec::new();
        for portal in &new.portals {
            let result = match self.portals.get(&portal.name).cloned() {
                None => {
                    tracing::info!(portal = %portal.name, "portal added");
                    self.add_portal(portal.clone()).await
                }
                Some(rt) if *rt.config() != *portal => self.update_portal(&rt, portal.clone()).await,
                Some(_) => Ok(()),
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
        let portals = new.portals.len();
        self.config = new;
        match problems.is_empty() {
            true => self.shared.metrics.config_reload(Ok(portals)),
            false => self.shared.metrics.config_reload(Err(&problems.join("; "))),
        }
    }

    async fn update_portal(&self, rt: &Arc<PortalRuntime>, config: PortalConfig) -> Result<(), String> {
        let client = Arc::new(self.shared.clients.for_portal(&config)?);
        let cron = parse_cron(&config.schedule)?;
        let old = rt.config();
        let reschedule =
            old.schedule != config.schedule || old.timezone != config.timezone || old.jitter_secs != config.jitter_secs;
        *rt.current.write().unwrap() = (Arc::new(config), client, cron);
        tracing::info!(portal = %rt.name, "portal changed");
        if reschedule { self.schedule(rt).await } else { Ok(()) }
    }

    async fn shutdown(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        http_stop: CancellationToken,
        http_task: JoinHandle<()>,
    ) -> Exit {
        tracing::info!("shutting down: no new passes; waiting for running ones");
        self.shared.state.set_ready(false);
        notify(&[sd_notify::NotifyState::Stopping]);
        self.shared.closing.cancel();
        let _ = self.scheduler.shutdown().await;
        self.shared.passes.close();
        let grace = self.config.daemon.shutdown_grace;
        let exit = tokio::select! {
            () = self.shared.passes.wait() => {
                tracing::info!("all passes finished");
                Exit::Success
            }
            () = tokio::time::sleep(grace) => {
                tracing::warn!(grace_secs = grace.as_secs(), "passes still running after the grace period: stopping anyway");
                Exit::Success
            }
            msg = control.recv() => {
                if msg == Some(Control::Shutdown) {
                    tracing::warn!("second signal: stopping at once");
                }
                Exit::Failure
            }
        };
        self.shared.state.set_alive(false);
        http_stop.cancel();
        let _ = http_task.await;
        exit
    }
}

/// A cron tick: starts the portal's pass unless one is still running or the daemon
/// is stopping. The pass itself waits for its jitter and a concurrency slot.
fn tick(shared: Arc<Shared>, rt: Arc<PortalRuntime>) {
    if shared.closing.is_cancelled() {
        return;
    }
    let next = rt.next_run(Utc::now());
    *rt.status.next_run.lock().unwrap() = next;
    shared.metrics.next_run(&rt.name, next);
    if rt.status.running.swap(true, Ordering::SeqCst) {
        shared.metrics.pass_skipped(&rt.name);
        return;
    }
    let tracker = shared.passes.clone();
    tracker.spawn(async move {
        run_scheduled_pass(&shared, &rt).await;
        rt.status.running.store(false, Ordering::SeqCst);
    });
}

async fn run_scheduled_pass(shared: &Shared, rt: &PortalRuntime) {
    let jitter = crate::shard::jitter_secs(&rt.name, rt.config().jitter_secs);
    if jitter > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(jitter)) => {}
            () = shared.closing.cancelled() => return,
        }
    }
    let _permit = tokio::select! {
        permit = shared.permits.acquire() => match permit {
            Ok(p) => p,
            Err(_) => return,
        },
        () = shared.closing.cancelled() => return,
    };
    if shared.closing.is_cancelled() {
        return;
    }
    let (config, client) = {
        let current = rt.current.read().unwrap();
        (Arc::clone(&current.0), Arc::clone(&current.1))
    };
    let report = run_pass(&config, &client, &shared.audit, Utc::now()).await;
    shared.metrics.pass_finished(&report);
    *rt.status.last_pass.lock().unwrap() = Some(PassSummary::of(&report));
}
