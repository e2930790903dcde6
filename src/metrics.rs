//! Every metric of SPEC §7, defined in one place, and the events that update them.
//!
//! As in vector's `internal_events`, each event both logs and counts, so the two
//! cannot drift: a pass that logs "retention pass failed" is the pass that increments
//! `runs_total{outcome="failure"}`. Names, types and labels here are the contract
//! dashboards and alerts rely on; change them only with SPEC §7.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::audit::Outcome;
use crate::docspace::Endpoint;
use crate::pass::PassReport;
use crate::retention::Guard;

const NS: &str = "docspace_retention";

/// Outcomes of `runs_total`.
pub const RUN_OUTCOMES: [&str; 3] = ["success", "failure", "skipped"];
/// Outcomes of `history_clears_total`.
pub const CLEAR_OUTCOMES: [&str; 3] = ["deleted", "failed", "dry_run"];

pub struct Metrics {
    registry: Registry,
    pub build_info: IntGaugeVec,
    pub runs_total: IntCounterVec,
    pub run_duration_seconds: HistogramVec,
    pub last_run_timestamp_seconds: GaugeVec,
    pub last_success_timestamp_seconds: GaugeVec,
    pub next_run_timestamp_seconds: GaugeVec,
    pub backups: IntGaugeVec,
    pub planned_deletions: IntGaugeVec,
    pub deletions_total: IntCounterVec,
    pub guard_blocks_total: IntCounterVec,
    pub history_clears_total: IntCounterVec,
    pub newest_backup_timestamp_seconds: GaugeVec,
    pub schedule_present: IntGaugeVec,
    pub schedule_last_backup_timestamp_seconds: GaugeVec,
    pub schedule_backups_stored: IntGaugeVec,
    pub policy_conflict: IntGaugeVec,
    pub api_requests_total: IntCounterVec,
    pub api_request_duration_seconds: HistogramVec,
    pub config_reloads_total: IntCounterVec,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        macro_rules! register {
            ($metric:expr) => {{
                let m = $metric.expect("valid metric definition");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric name");
                m
            }};
        }
        let portal = &["portal"];
        let m = Metrics {
            build_info: register!(IntGaugeVec::new(
                opts("build_info", "Build information; always 1."),
                &["version"]
            )),
            runs_total: register!(IntCounterVec::new(
                opts(
                    "runs_total",
                    "Retention passes by outcome (skipped: the previous pass was still running)."
                ),
                &["portal", "outcome"]
            )),
            run_duration_seconds: register!(HistogramVec::new(
                HistogramOpts::new("run_duration_seconds", "Duration of retention passes.")
                    .namespace(NS)
                    .buckets(vec![
                        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0
                    ]),
                portal
            )),
            last_run_timestamp_seconds: register!(GaugeVec::new(
                opts("last_run_timestamp_seconds", "When the last pass ended (Unix time)."),
                portal
            )),
            last_success_timestamp_seconds: register!(GaugeVec::new(
                opts(
                    "last_success_timestamp_seconds",
                    "When the last successful pass ended (Unix time)."
                ),
                portal
            )),
            next_run_timestamp_seconds: register!(GaugeVec::new(
                opts(
                    "next_run_timestamp_seconds",
                    "When the next pass is due (Unix time, jitter included)."
                ),
                portal
            )),
            backups: register!(IntGaugeVec::new(
                opts("backups", "Managed backup records at the last pass."),
                portal
            )),
            planned_deletions: register!(IntGaugeVec::new(
                opts(
                    "planned_deletions",
                    "Deletions planned at the last pass, after the guards."
                ),
                portal
            )),
            deletions_total: register!(IntCounterVec::new(
                opts("deletions_total", "Backup deletions by verified outcome."),
                &["portal", "outcome"]
            )),
            guard_blocks_total: register!(IntCounterVec::new(
                opts(
                    "guard_blocks_total",
                    "Backups kept by a guard instead of deleted (or kept as doubtful)."
                ),
                &["portal", "guard"]
            )),
            history_clears_total: register!(IntCounterVec::new(
                opts("history_clears_total", "Whole-history clears by outcome."),
                &["portal", "outcome"]
            )),
            newest_backup_timestamp_seconds: register!(GaugeVec::new(
                opts(
                    "newest_backup_timestamp_seconds",
                    "Creation time of the newest managed backup (Unix time)."
                ),
                portal
            )),
            schedule_present: register!(IntGaugeVec::new(
                opts("schedule_present", "1 when the portal has a backup schedule."),
                portal
            )),
            schedule_last_backup_timestamp_seconds: register!(GaugeVec::new(
                opts(
                    "schedule_last_backup_timestamp_seconds",
                    "The schedule's last backup time (Unix time)."
                ),
                portal
            )),
            schedule_backups_stored: register!(IntGaugeVec::new(
                opts(
                    "schedule_backups_stored",
                    "The schedule's backupsStored (0: unlimited or no schedule)."
                ),
                portal
            )),
            policy_conflict: register!(IntGaugeVec::new(
                opts(
                    "policy_conflict",
                    "1 when the server's cleaner will delete scheduled backups the policy keeps."
                ),
                portal
            )),
            api_requests_total: register!(IntCounterVec::new(
                opts(
                    "api_requests_total",
                    "DocSpace API requests by endpoint and HTTP status (\"error\": no answer)."
                ),
                &["portal", "endpoint", "status"]
            )),
            api_request_duration_seconds: register!(HistogramVec::new(
                HistogramOpts::new("api_request_duration_seconds", "DocSpace API request duration.")
                    .namespace(NS)
                    .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                &["endpoint"]
            )),
            config_reloads_total: register!(IntCounterVec::new(
                opts("config_reloads_total", "Config reloads (SIGHUP) by outcome."),
                &["outcome"]
            )),
            registry,
        };
        m.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for outcome in ["success", "failure"] {
            m.config_reloads_total.with_label_values(&[outcome]);
        }
        m
    }

    /// Creates every series of a portal at zero, so rates and alerts work from the
    /// first scrape.
    pub fn add_portal(&self, portal: &str) {
        for outcome in RUN_OUTCOMES {
            self.runs_total.with_label_values(&[portal, outcome]);
        }
        for outcome in Outcome::ALL {
            self.deletions_total.with_label_values(&[portal, outcome.as_str()]);
        }
        for guard in Guard::ALL {
            self.guard_blocks_total.with_label_values(&[portal, guard.as_str()]);
        }
        for outcome in CLEAR_OUTCOMES {
            self.history_clears_total.with_label_values(&[portal, outcome]);
        }
        self.policy_conflict.with_label_values(&[portal]);
    }

    /// Drops every series of a portal that left the config.
    pub fn remove_portal(&self, portal: &str) {
        drop_portal(&self.runs_total, portal);
        drop_portal(&self.run_duration_seconds, portal);
        drop_portal(&self.last_run_timestamp_seconds, portal);
        drop_portal(&self.last_success_timestamp_seconds, portal);
        drop_portal(&self.next_run_timestamp_seconds, portal);
        drop_portal(&self.backups, portal);
        drop_portal(&self.planned_deletions, portal);
        drop_portal(&self.deletions_total, portal);
        drop_portal(&self.guard_blocks_total, portal);
        drop_portal(&self.history_clears_total, portal);
        drop_portal(&self.newest_backup_timestamp_seconds, portal);
        drop_portal(&self.schedule_present, portal);
        drop_portal(&self.schedule_last_backup_timestamp_seconds, portal);
        drop_portal(&self.schedule_backups_stored, portal);
        drop_portal(&self.policy_conflict, portal);
        drop_portal(&self.api_requests_total, portal);
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }

    // ----- events -----

    /// One API request (each attempt, retries included).
    pub fn api_request(&self, portal: &str, endpoint: Endpoint, status: Option<u16>, elapsed: Duration, attempt: u32) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        tracing::debug!(portal, endpoint = endpoint.as_str(), status = %status, elapsed_ms = elapsed.as_millis() as u64, attempt, "api request");
        self.api_requests_total
            .with_label_values(&[portal, endpoint.as_str(), &status])
            .inc();
        self.api_request_duration_seconds
            .with_label_values(&[endpoint.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// A tick that found the previous pass of the portal still running.
    pub fn pass_skipped(&self, portal: &str) {
        tracing::warn!(portal, "previous pass still running: tick skipped");
        self.runs_total.with_label_values(&[portal, "skipped"]).inc();
    }

    pub fn next_run(&self, portal: &str, at: Option<DateTime<Utc>>) {
        match at {
            Some(t) => self
                .next_run_timestamp_seconds
                .with_label_values(&[portal])
                .set(unix(t)),
            None => {
                let _ = self.next_run_timestamp_seconds.remove_label_values(&[portal]);
            }
        }
    }

    pub fn config_reload(&self, result: Result<usize, &str>) {
        match result {
            Ok(portals) => {
                tracing::info!(portals, "configuration reloaded");
                self.config_reloads_total.with_label_values(&["success"]).inc();
            }
            Err(errors) => {
                tracing::error!(errors, "configuration reload failed: keeping the running configuration");
                self.config_reloads_total.with_label_values(&["failure"]).inc();
            }
        }
    }

    /// A finished pass: logs its summary and updates every per-portal metric.
    pub fn pass_finished(&self, r: &PassReport) {
        let p = r.portal.as_str();
        let outcome = if r.succeeded() { "success" } else { "failure" };
        match &r.error {
            None => tracing::info!(
                portal = p,
                kept = r.kept(),
                deleted = r.count(Outcome::Deleted),
                already_gone = r.count(Outcome::AlreadyGone),
                dry_run = r.count(Outcome::DryRun),
                blocked = r.blocked(),
                "retention pass finished"
            ),
            Some(e) => tracing::error!(portal = p, error = %e, "retention pass failed"),
        }
        self.runs_total.with_label_values(&[p, outcome]).inc();
        let took = (r.finished - r.started).to_std().unwrap_or_default();
        self.run_duration_seconds
            .with_label_values(&[p])
            .observe(took.as_secs_f64());
        self.last_run_timestamp_seconds
            .with_label_values(&[p])
            .set(unix(r.finished));
        if r.succeeded() {
            self.last_success_timestamp_seconds
                .with_label_values(&[p])
                .set(unix(r.finished));
        }
        for d in &r.deletions {
            self.deletions_total.with_label_values(&[p, d.outcome.as_str()]).inc();
        }
        if let Some(clear) = &r.clear {
            self.history_clears_total
                .with_label_values(&[p, clear.outcome.as_str()])
                .inc();
            if clear.outcome != Outcome::Failed {
                self.deletions_total
                    .with_label_values(&[p, clear.outcome.as_str()])
                    .inc_by(clear.records as u64);
            }
        }
        let Some(read) = &r.read else { return };
        let plan = &read.plan;
        self.backups.with_label_values(&[p]).set(plan.managed as i64);
        self.planned_deletions
            .with_label_values(&[p])
            .set(plan.deletion_count() as i64);
        for (guard, n) in &plan.guards {
            self.guard_blocks_total
                .with_label_values(&[p, guard.as_str()])
                .inc_by(*n as u64);
        }
        match plan.newest_managed {
            Some(t) => self
                .newest_backup_timestamp_seconds
                .with_label_values(&[p])
                .set(unix(t)),
            None => {
                let _ = self.newest_backup_timestamp_seconds.remove_label_values(&[p]);
            }
        }
        let schedule = read.schedule.as_ref();
        self.schedule_present
            .with_label_values(&[p])
            .set(i64::from(schedule.is_some()));
        match schedule.and_then(|s| s.last_backup_time.instant()) {
            Some(t) => self
                .schedule_last_backup_timestamp_seconds
                .with_label_values(&[p])
                .set(unix(t)),
            None => {
                let _ = self.schedule_last_backup_timestamp_seconds.remove_label_values(&[p]);
            }
        }
        self.schedule_backups_stored
            .with_label_values(&[p])
            .set(schedule.and_then(|s| s.backups_stored).map_or(0, i64::from));
        self.policy_conflict
            .with_label_values(&[p])
            .set(i64::from(read.policy_conflict.is_some()));
    }
}

/// Removes every series of `vec` whose `portal` label is `portal`.
fn drop_portal<T: MetricVecBuilder>(vec: &MetricVec<T>, portal: &str) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: HashMap<&str, &str> = metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
            if labels.get("portal") == Some(&portal) {
                let _ = vec.remove(&labels);
            }
        }
    }
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}
