//! The long-running service (docs/reference.md, "The daemon"): one scheduler job per
//! distinct schedule and zone (`timetable`), each tick starting the portals on it after
//! their own jitter (`jobs`), bounded concurrency, no overlapping passes, reload on
//! request, graceful shutdown, signals and systemd notify (`signals`).
//!
//! The daemon is driven through a [`DaemonHandle`] (reload, shutdown) so that tests
//! run it in-process; the binary maps SIGHUP/SIGTERM/SIGINT onto the same handle.

mod jobs;
mod signals;
mod timetable;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::Admin;
use crate::config::{Config, ConfigErrors, PortalConfig};
use crate::docspace::Clients;
use crate::latches::Latches;
use crate::observe::Observer;
use crate::state::{Access, StateDir};
pub use jobs::{PassFn, real_pass};
use jobs::{PortalRuntime, Shared};
use signals::notify;
pub use signals::{Control, Signals};
use timetable::Timetable;

/// Re-reads the configuration for a reload (run off the daemon's control loop: it
/// may read thousands of files).
pub type ReloadFn = Arc<dyn Fn() -> Result<Config, ConfigErrors> + Send + Sync>;

/// How the daemon runs, beside its config. The defaults are what `run` uses; tests
/// put in another pass or a faster heartbeat.
#[derive(Clone)]
pub struct Options {
    /// What one pass is.
    pub pass: PassFn,
    /// How often the scheduler proves it is alive (`/healthz` fails after three
    /// missed beats).
    pub heartbeat: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pass: real_pass(),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// How the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Running passes finished (or the grace period ended).
    Gracefully,
    /// A second shutdown request ended it at once.
    Forced,
}

/// A running daemon.
pub struct DaemonHandle {
    control: mpsc::UnboundedSender<Control>,
    addr: SocketAddr,
    observer: Arc<Observer>,
    scheduler: Arc<Mutex<tokio_cron_scheduler::JobScheduler>>,
    task: JoinHandle<Stopped>,
}

impl DaemonHandle {
    /// Stops the scheduler as a crash of it would: no more ticks, no heartbeat (for
    /// tests of `/healthz`).
    pub async fn stop_scheduler(&mut self) {
        let mut scheduler = self.scheduler.lock().expect("scheduler lock").clone();
        let _ = scheduler.shutdown().await;
    }

    /// The address the HTTP server listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn observer(&self) -> &Arc<Observer> {
        &self.observer
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
    pub async fn wait(self) -> Stopped {
        self.task.await.unwrap_or(Stopped::Forced)
    }
}

/// The HTTP server is up (answering `/readyz` with 503), nothing is scheduled yet.
pub struct Bound {
    addr: SocketAddr,
    latches: Arc<Latches>,
    observer: Arc<Observer>,
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
    let observer = Arc::new(Observer::new());
    let latches = Arc::new(Latches::new());
    let admin = Arc::new(Admin::new(Arc::clone(&latches), Arc::clone(&observer) as _));
    let http_stop = CancellationToken::new();
    let http_task = tokio::spawn(crate::admin::serve(listener, admin, http_stop.clone()));
    tracing::info!(%addr, "serving /metrics /healthz /readyz /status");
    Ok(Bound {
        addr,
        latches,
        observer,
        http_stop,
        http_task,
    })
}

/// Binds the HTTP server, schedules every portal and returns once the daemon is ready.
pub async fn start(config: Config, reload: ReloadFn) -> Result<DaemonHandle, String> {
    let bound = bind(&config).await?;
    start_bound(bound, config, reload, Options::default()).await
}

struct Daemon {
    /// The running config; its portals live in `portals`, one copy each.
    config: Config,
    timetable: Timetable,
    latches: Arc<Latches>,
    shared: Arc<Shared>,
    portals: BTreeMap<String, Arc<PortalRuntime>>,
    reload: ReloadFn,
}

/// Schedules every portal on an already bound daemon and marks it ready.
pub async fn start_bound(
    bound: Bound,
    mut config: Config,
    reload: ReloadFn,
    options: Options,
) -> Result<DaemonHandle, String> {
    let Bound {
        addr,
        latches,
        observer,
        http_stop,
        http_task,
    } = bound;
    let state = StateDir::open(&config.daemon.state_dir, Access::Write)?;
    state.audit().set_signer(config.evidence.signer.clone());
    observer.show_portals(config.metrics_per_portal);
    let shared = Arc::new(Shared {
        clients: Clients::observed(Arc::clone(&observer) as _)?,
        permits: Semaphore::new(config.daemon.max_concurrent_portals),
        observer: Arc::clone(&observer),
        state,
        pass: options.pass,
        passes: TaskTracker::new(),
        closing: CancellationToken::new(),
        running: Mutex::new(HashSet::new()),
        picture_forecast: std::sync::RwLock::new(config.picture_forecast),
    });
    let schedules = config
        .portals
        .iter()
        .map(|p| (p.schedule.as_str(), p.timezone))
        .collect::<HashSet<_>>()
        .len();
    let timetable = Timetable::start(Arc::clone(&shared), options.heartbeat, Arc::clone(&latches), schedules)
        .await
        .map_err(|e| e.to_string())?;
    latches.watch_heartbeat(options.heartbeat * 3);
    latches.set_alive(true);
    let scheduler = timetable.scheduler();
    let portals = std::mem::take(&mut config.portals);
    let count = portals.len();
    let warnings = std::mem::take(&mut config.warnings);
    let mut daemon = Daemon {
        config,
        timetable,
        latches: Arc::clone(&latches),
        shared,
        portals: BTreeMap::new(),
        reload,
    };
    for portal in portals {
        daemon.add_portal(portal).await?;
    }
    for name in &daemon.config.disabled {
        daemon.shared.observer.portal_disabled(name);
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    latches.set_ready(true);
    notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(portals = count, schedules = daemon.timetable.jobs(), "daemon ready");

    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(daemon.control_loop(rx, http_stop, http_task));
    Ok(DaemonHandle {
        control: tx,
        addr,
        observer,
        scheduler,
        task,
    })
}

impl Daemon {
    async fn add_portal(&mut self, config: PortalConfig) -> Result<(), String> {
        let client = self.shared.clients.client(&config.name, config.endpoint())?;
        self.shared.observer.portal_added(&config.name);
        let stop = self.shared.closing.child_token();
        let rt = Arc::new(PortalRuntime::new(Arc::new(config), client, stop));
        self.timetable.join(&rt).await.map_err(|e| e.to_string())?;
        self.portals.insert(rt.name.clone(), rt);
        Ok(())
    }

    async fn remove_portal(&mut self, name: &str) {
        if let Some(rt) = self.portals.remove(name) {
            rt.stop();
            self.timetable.leave(name).await;
            self.shared.observer.portal_removed(name);
            self.shared.state.tenants().forget(name);
            tracing::info!(portal = name, "portal removed");
        }
    }

    async fn update_portal(&mut self, rt: &Arc<PortalRuntime>, config: PortalConfig) -> Result<(), String> {
        let client = self.shared.clients.client(&config.name, config.endpoint())?;
        let retime = rt.replace(Arc::new(config), client);
        tracing::info!(portal = %rt.name, "portal changed");
        if retime {
            self.timetable.join(rt).await.map_err(|e| e.to_string())
        } else {
            Ok(())
        }
    }

    async fn control_loop(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        http_stop: CancellationToken,
        http_task: JoinHandle<()>,
    ) -> Stopped {
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        // Re-create jobs whose zone changed offset (DST) so they keep wall-clock time.
        let mut zone_check = tokio::time::interval(Duration::from_secs(30));
        // A reload reads its files on a blocking thread while this loop goes on
        // (watchdog pings included); a SIGHUP during a reload asks for one more.
        let mut reloading: Option<JoinHandle<Result<Config, ConfigErrors>>> = None;
        let mut reload_again = false;
        loop {
            tokio::select! {
                msg = control.recv() => match msg {
                    Some(Control::Reload) if reloading.is_some() => reload_again = true,
                    Some(Control::Reload) => reloading = Some(self.begin_reload()),
                    Some(Control::Shutdown) | None => break,
                },
                loaded = async { reloading.as_mut().expect("guarded").await }, if reloading.is_some() => {
                    reloading = None;
                    self.finish_reload(loaded.unwrap_or_else(|e| Err(ConfigErrors(vec![
                        crate::config::ConfigError::new("config", format!("the reload failed: {e}")),
                    ])))).await;
                    if std::mem::take(&mut reload_again) {
                        reloading = Some(self.begin_reload());
                    }
                }
                _ = watchdog_tick.tick(), if watchdog.is_some() => notify(&[sd_notify::NotifyState::Watchdog]),
                _ = zone_check.tick() => self.timetable.follow_zone_offsets().await,
            }
        }
        self.shutdown(control, http_stop, http_task).await
    }

    fn begin_reload(&self) -> JoinHandle<Result<Config, ConfigErrors>> {
        match sd_notify::NotifyState::monotonic_usec_now() {
            Ok(usec) => notify(&[sd_notify::NotifyState::Reloading, usec]),
            Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
        }
        let reload = Arc::clone(&self.reload);
        tokio::task::spawn_blocking(move || reload())
    }

    async fn finish_reload(&mut self, loaded: Result<Config, ConfigErrors>) {
        match loaded {
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(error = %e, "invalid configuration");
                }
                self.shared.observer.config_reload(Err(&errors.to_string()));
            }
            Ok(new) => self.apply(new).await,
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }

    async fn apply(&mut self, new: Config) {
        // The locks and the audit log live in state_dir: a daemon using the old one
        // while `once` and operator commands use the new one would be two writers.
        if new.daemon.state_dir != self.config.daemon.state_dir {
            self.shared.observer.config_reload(Err(&format!(
                "daemon.state_dir changed from {} to {}: restart to apply it",
                self.config.daemon.state_dir.display(),
                new.daemon.state_dir.display()
            )));
            return;
        }
        if new.server.listen != self.config.server.listen
            || new.daemon.max_concurrent_portals != self.config.daemon.max_concurrent_portals
        {
            tracing::warn!("server.listen and daemon.max_concurrent_portals apply after a restart");
        }
        crate::logging::set_level(&new.log.level);
        self.shared.state.audit().set_signer(new.evidence.signer.clone());
        self.shared.observer.show_portals(new.metrics_per_portal);
        for w in &new.warnings {
            tracing::warn!("{w}");
        }
        let new_names: HashSet<&str> = new.portals.iter().map(|p| p.name.as_str()).collect();
        let gone: Vec<String> = self
            .portals
            .keys()
            .filter(|name| !new_names.contains(name.as_str()))
            .cloned()
            .collect();
        drop(new_names);
        for name in gone {
            self.remove_portal(&name).await;
        }
        let mut new = new;
        let portals = std::mem::take(&mut new.portals);
        let count = portals.len();
        let mut problems = Vec::new();
        for portal in portals {
            let result = match self.portals.get(&portal.name).cloned() {
                None => {
                    tracing::info!(portal = %portal.name, "portal added");
                    self.add_portal(portal).await
                }
                Some(rt) if *rt.config() != portal => self.update_portal(&rt, portal).await,
                Some(_) => Ok(()),
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
        // Disabled portals: shown as such; one no longer configured at all goes.
        for name in &self.config.disabled {
            if !new.disabled.contains(name) && !self.portals.contains_key(name) {
                self.shared.observer.portal_removed(name);
            }
        }
        for name in &new.disabled {
            self.shared.observer.portal_disabled(name);
        }
        *self.shared.picture_forecast.write().expect("picture forecast lock") = new.picture_forecast;
        self.config = new;
        match problems.is_empty() {
            true => self.shared.observer.config_reload(Ok(count)),
            false => self.shared.observer.config_reload(Err(&problems.join("; "))),
        }
    }

    async fn shutdown(
        self,
        mut control: mpsc::UnboundedReceiver<Control>,
        http_stop: CancellationToken,
        http_task: JoinHandle<()>,
    ) -> Stopped {
        tracing::info!("shutting down: no new passes; waiting for running ones");
        self.latches.set_ready(false);
        notify(&[sd_notify::NotifyState::Stopping]);
        self.shared.closing.cancel();
        self.timetable.shutdown().await;
        self.shared.passes.close();
        let grace = self.config.daemon.shutdown_grace;
        let stopped = tokio::select! {
            () = self.shared.passes.wait() => {
                tracing::info!("all passes finished");
                Stopped::Gracefully
            }
            () = tokio::time::sleep(grace) => {
                tracing::warn!(grace_secs = grace.as_secs(), "passes still running after the grace period: stopping anyway");
                Stopped::Gracefully
            }
            // Only a second shutdown request cuts the drain short: a reload asked for
            // while stopping (logrotate, `systemctl reload`) is ignored.
            msg = async {
                loop {
                    match control.recv().await {
                        Some(Control::Reload) => tracing::info!("reload ignored: shutting down"),
                        other => return other,
                    }
                }
            } => {
                if msg == Some(Control::Shutdown) {
                    tracing::warn!("second signal: stopping at once");
                }
                Stopped::Forced
            }
        };
        self.latches.set_alive(false);
        http_stop.cancel();
        let _ = http_task.await;
        stopped
    }
}
