//! Every metric, defined in one place (docs/reference.md, "Metrics"): names, types,
//! help texts and labels are the contract dashboards and alerts rely on. This module
//! knows no domain type; the observer (`observe.rs`) is the only code that updates
//! these families.

use std::collections::HashMap;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

const NS: &str = "docspace_retention";

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
    pub temporary_backups: IntGaugeVec,
    pub schedule_period_seconds: IntGaugeVec,
    pub schedule_missing_since_timestamp_seconds: GaugeVec,
    pub server_info: IntGaugeVec,
    pub recovered_intents_total: IntCounterVec,
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
            temporary_backups: register!(IntGaugeVec::new(
                opts(
                    "temporary_backups",
                    "Temporary backups (a real expiresOn: the server deletes them) at the last pass."
                ),
                portal
            )),
            schedule_period_seconds: register!(IntGaugeVec::new(
                opts(
                    "schedule_period_seconds",
                    "The schedule's period, or the one last seen when the portal has none now (0: never seen)."
                ),
                portal
            )),
            schedule_missing_since_timestamp_seconds: register!(GaugeVec::new(
                opts(
                    "schedule_missing_since_timestamp_seconds",
                    "Since when the portal has had no schedule (Unix time; 0 while it has one)."
                ),
                portal
            )),
            server_info: register!(IntGaugeVec::new(
                opts(
                    "server_info",
                    "The portal's DocSpace version (\"unknown\" when it cannot be read); always 1."
                ),
                &["portal", "version"]
            )),
            recovered_intents_total: register!(IntCounterVec::new(
                opts(
                    "recovered_intents_total",
                    "Changes an interrupted run left unsettled, settled later, by outcome."
                ),
                &["portal", "outcome"]
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
        drop_portal(&self.temporary_backups, portal);
        drop_portal(&self.schedule_period_seconds, portal);
        drop_portal(&self.schedule_missing_since_timestamp_seconds, portal);
        drop_portal(&self.server_info, portal);
        drop_portal(&self.recovered_intents_total, portal);
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
}

/// Removes every series of `vec` whose `portal` label is `portal`.
pub(crate) fn drop_portal<T: MetricVecBuilder>(vec: &MetricVec<T>, portal: &str) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: HashMap<&str, &str> = metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
            if labels.get("portal") == Some(&portal) {
                let _ = vec.remove(&labels);
            }
        }
    }
}
