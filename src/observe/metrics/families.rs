//! The per-portal families: each one's name, help, type, and how its series are read
//! from a portal's live values. One table, in the order of the full names.

use super::*;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A per-portal family: its name (without the namespace), help, type, and how its
/// series are read from a portal's values.
pub(super) struct PortalFamily {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) kind: Kind,
    pub(super) series: Series,
}

/// How a family's series come out of [`PortalValues`].
pub(super) enum Series {
    /// One series per portal, or none when `None`.
    Single(fn(&PortalValues) -> Option<Number>),
    /// One series per label value of the set and portal: label name, set, counts.
    Labelled(&'static str, &'static [&'static str], fn(&PortalValues) -> &[u64]),
    /// `next_run_timestamp_seconds`, kept beside a portal's values.
    NextRun,
    RunDuration,
    Requests,
    ServerInfo,
}

#[derive(Clone, Copy)]
pub(super) enum Number {
    Int(i64),
    Float(f64),
}

/// The per-portal families, in the order of their full names.
pub(super) static PORTAL_FAMILIES: [PortalFamily; 32] = [
    PortalFamily {
        name: "api_key_expiry_timestamp_seconds",
        help: "When the portal's API key expires (Unix time); absent when it never expires or cannot be read.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.api_key_expiry.map(Number::Float)),
    },
    PortalFamily {
        name: "api_requests_total",
        help: "DocSpace API requests by endpoint and HTTP status (\"error\": no answer).",
        kind: Kind::Counter,
        series: Series::Requests,
    },
    PortalFamily {
        name: "backup_duration_seconds",
        help: "How long the newest backup took (its finish minus the start time in its file name).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backup_duration.map(Number::Int)),
    },
    PortalFamily {
        name: "backup_size_bytes",
        help: "The newest backup's size (Documents storage only).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backup_size.map(Number::Int)),
    },
    PortalFamily {
        name: "backups",
        help: "Managed backup records at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backups.map(Number::Int)),
    },
    PortalFamily {
        name: "backups_vanished_total",
        help: "Backups seen by an earlier pass that left the history without being deleted by this product (not temporary ones past their expiry).",
        kind: Kind::Counter,
        series: Series::Single(|v| Some(Number::Int(v.backups_vanished as i64))),
    },
    PortalFamily {
        name: "deletions_total",
        help: "Backup deletions by verified outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &DELETION_OUTCOMES, |v| &v.deletions.0),
    },
    PortalFamily {
        name: "expected_runs_missed_total",
        help: "Runs of the portal's backup schedule that made no backup within health.late_after.",
        kind: Kind::Counter,
        series: Series::Single(|v| Some(Number::Int(v.expected_runs_missed as i64))),
    },
    PortalFamily {
        name: "guard_blocks_total",
        help: "Backups kept by a guard instead of deleted (or kept as doubtful).",
        kind: Kind::Counter,
        series: Series::Labelled("guard", &GUARDS, |v| &v.guard_blocks.0),
    },
    PortalFamily {
        name: "history_clears_total",
        help: "Whole-history clears by outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &CLEAR_OUTCOMES, |v| &v.history_clears.0),
    },
    PortalFamily {
        name: "last_good_backup_timestamp_seconds",
        help: "Creation time of the newest backup the health sentinel does not judge suspect (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_good_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "last_run_timestamp_seconds",
        help: "When the last pass ended (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_run.map(Number::Float)),
    },
    PortalFamily {
        name: "last_success_timestamp_seconds",
        help: "When the last successful pass ended (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_success.map(Number::Float)),
    },
    PortalFamily {
        name: "newest_backup_suspect",
        help: "1 when the newest backup is suspect (too small or too slow against the healthy ones before it).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.newest_backup_suspect.map(Number::Int)),
    },
    PortalFamily {
        name: "newest_backup_timestamp_seconds",
        help: "Creation time of the newest managed backup (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.newest_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "next_run_timestamp_seconds",
        help: "When the next pass is due (Unix time, jitter included).",
        kind: Kind::Gauge,
        series: Series::NextRun,
    },
    PortalFamily {
        name: "notify_failures_total",
        help: "Notifications after a pass (notify.url) that failed.",
        kind: Kind::Counter,
        series: Series::Single(|v| v.notify_failures.map(|n| Number::Int(n as i64))),
    },
    PortalFamily {
        name: "planned_deletions",
        help: "Deletions planned at the last pass, after the guards.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.planned_deletions.map(Number::Int)),
    },
    PortalFamily {
        name: "policy_conflict",
        help: "1 when the server's cleaner will delete scheduled backups the policy keeps.",
        kind: Kind::Gauge,
        series: Series::Single(|v| Some(Number::Int(v.policy_conflict))),
    },
    PortalFamily {
        name: "recovered_intents_total",
        help: "Changes an interrupted run left unsettled, settled later, by outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &RECOVERED_OUTCOMES, |v| &v.recovered.0),
    },
    PortalFamily {
        name: "run_duration_seconds",
        help: "Duration of retention passes.",
        kind: Kind::Histogram,
        series: Series::RunDuration,
    },
    PortalFamily {
        name: "runs_total",
        help: "Retention passes by outcome (skipped: the previous pass was still running).",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &RUN_OUTCOMES, |v| &v.runs.0),
    },
    PortalFamily {
        name: "schedule_backups_stored",
        help: "The schedule's backupsStored (0: unlimited or no schedule).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_backups_stored.map(Number::Int)),
    },
    PortalFamily {
        name: "schedule_last_backup_timestamp_seconds",
        help: "The schedule's last backup time (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_last_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "schedule_missing_since_timestamp_seconds",
        help: "Since when the portal has had no schedule (Unix time; 0 while it has one).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_missing_since.map(Number::Float)),
    },
    PortalFamily {
        name: "schedule_period_seconds",
        help: "The schedule's period, or the one last seen when the portal has none now (0: never seen).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_period.map(Number::Int)),
    },
    PortalFamily {
        name: "schedule_present",
        help: "1 when the portal has a backup schedule.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_present.map(Number::Int)),
    },
    PortalFamily {
        name: "server_clock_skew_seconds",
        help: "How far the server's clock (its Date header) is ahead of ours at the last pass; beyond 300 s either way a pass deletes nothing.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.server_clock_skew.map(Number::Int)),
    },
    PortalFamily {
        name: "server_info",
        help: "The portal's DocSpace version (\"unknown\" when it cannot be read); always 1.",
        kind: Kind::Gauge,
        series: Series::ServerInfo,
    },
    PortalFamily {
        name: "suspect_backups",
        help: "Backups the health sentinel judges suspect at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.suspect_backups.map(Number::Int)),
    },
    PortalFamily {
        name: "temporary_backups",
        help: "Temporary backups (a real expiresOn: the server deletes them) at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.temporary_backups.map(Number::Int)),
    },
    PortalFamily {
        name: "timezone_mismatch",
        help: "1 when the configured timezone differs from the portal's own (GET /api/2.0/settings).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.timezone_mismatch.map(Number::Int)),
    },
];
