//! The monitoring artefacts speak the contract: every metric a dashboard query or an
//! alert rule uses is one of the contract's names (docs/reference.md, "Metrics"), and
//! the daemon exports each of them.

use std::collections::BTreeSet;

/// The contract's metrics (docs/reference.md, "Metrics").
const CONTRACT_METRICS: &[&str] = &[
    "docspace_retention_build_info",
    "docspace_retention_runs_total",
    "docspace_retention_run_duration_seconds",
    "docspace_retention_last_run_timestamp_seconds",
    "docspace_retention_last_success_timestamp_seconds",
    "docspace_retention_next_run_timestamp_seconds",
    "docspace_retention_backups",
    "docspace_retention_planned_deletions",
    "docspace_retention_deletions_total",
    "docspace_retention_guard_blocks_total",
    "docspace_retention_history_clears_total",
    "docspace_retention_newest_backup_timestamp_seconds",
    "docspace_retention_schedule_present",
    "docspace_retention_schedule_last_backup_timestamp_seconds",
    "docspace_retention_schedule_backups_stored",
    "docspace_retention_policy_conflict",
    "docspace_retention_api_requests_total",
    "docspace_retention_api_request_duration_seconds",
    "docspace_retention_config_reloads_total",
    "docspace_retention_temporary_backups",
    "docspace_retention_recovered_intents_total",
    "docspace_retention_schedule_period_seconds",
    "docspace_retention_schedule_missing_since_timestamp_seconds",
    "docspace_retention_server_info",
    "docspace_retention_server_clock_skew_seconds",
    "docspace_retention_expected_runs_missed_total",
    "docspace_retention_last_good_backup_timestamp_seconds",
    "docspace_retention_backup_duration_seconds",
    "docspace_retention_backup_size_bytes",
    "docspace_retention_newest_backup_suspect",
    "docspace_retention_suspect_backups",
    "docspace_retention_backups_vanished_total",
    "docspace_retention_api_key_expiry_timestamp_seconds",
    "docspace_retention_timezone_mismatch",
    "docspace_retention_notify_failures_total",
    "docspace_retention_audit_chain_head_seq",
];

fn known(name: &str) -> bool {
    CONTRACT_METRICS.contains(&name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| base.ends_with("_seconds") && CONTRACT_METRICS.contains(&base))
        })
}

/// Every `docspace_retention_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("docspace_retention_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

fn exprs_in(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if (k == "expr" || k == "query" || k == "definition")
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                }
                exprs_in(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs_in(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_uses_only_spec_metrics_and_is_importable() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/monitoring/grafana-dashboard.json"
    ))
    .unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dash["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dash["__inputs"][0]["pluginId"], "prometheus");
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["name"] == "portal"), "a portal variable");
    let mut exprs = Vec::new();
    exprs_in(&dash, &mut exprs);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let mut used = BTreeSet::new();
    for e in &exprs {
        for name in metric_names(e) {
            assert!(
                known(&name),
                "dashboard query uses {name}, which the contract does not define: {e}"
            );
            used.insert(name);
        }
    }
    for must in [
        "docspace_retention_newest_backup_timestamp_seconds",
        "docspace_retention_deletions_total",
        "docspace_retention_guard_blocks_total",
        "docspace_retention_run_duration_seconds_bucket",
        "docspace_retention_api_requests_total",
        "docspace_retention_schedule_present",
        "docspace_retention_policy_conflict",
    ] {
        assert!(used.contains(must), "the dashboard shows no {must}");
    }
    // Every panel reads from the imported data source.
    let panels = dash["panels"].as_array().unwrap();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", p["title"]);
    }
}

#[test]
fn the_alert_rules_use_only_spec_metrics() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/monitoring/alerts.yml")).unwrap();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for name in metric_names(line) {
            assert!(
                known(&name),
                "alert rule uses {name}, which the contract does not define: {line}"
            );
            count += 1;
        }
    }
    assert!(count >= 8);
    for alert in [
        "DocspaceRetentionDown",
        "DocspaceRetentionPassFailing",
        "DocspaceRetentionNoRecentSuccess",
        "DocspaceRetentionNewestBackupTooOld",
        "DocspaceRetentionScheduleMissing",
        "DocspaceRetentionGuardBlocking",
        "DocspaceRetentionPolicyConflict",
    ] {
        assert!(text.contains(&format!("alert: {alert}")), "missing alert {alert}");
    }
}

#[test]
fn the_daemon_defines_every_spec_metric() {
    use chrono::Utc;
    use docspace_retention::docspace::{Endpoint, HookFactory, RequestEvent};
    use docspace_retention::observe::Observer;
    use docspace_retention::pass::{PassReport, PortalRead};
    use docspace_retention::retention::{PlanContext, RetentionPolicy, Rule, plan_retention};
    use docspace_retention::wire::{BackupSchedule, HistoryRecord, Period, StorageType, WireTime};

    // Every series appears once the observer has seen a portal, a request and a pass.
    let observer = Observer::new();
    observer.portal_added("p");
    observer.hook("p").request(RequestEvent {
        endpoint: Endpoint::GetHistory,
        status: Some(200),
        elapsed: std::time::Duration::from_millis(5),
        attempt: 0,
    });
    let now = Utc::now();
    observer.next_run("p", Some(now));
    let record = HistoryRecord {
        id: "0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b".into(),
        file_name: None,
        storage_type: StorageType::Documents,
        created_on: WireTime::At(now),
        expires_on: WireTime::Never,
    };
    let ctx = PlanContext::new(now, chrono_tz::Tz::UTC);
    let plan = plan_retention(vec![record], &RetentionPolicy::default().keep(Rule::Last, 1), &ctx);
    let mut report = PassReport::new("p", false, now);
    report.read = Some(PortalRead {
        schedule: Some(BackupSchedule {
            storage_type: StorageType::Documents,
            storage_params: Vec::new(),
            period: Period::EveryDay,
            hour: Some(3),
            day: None,
            backups_stored: Some(7),
            last_backup_time: WireTime::At(now),
            dump: false,
        }),
        version: Some("3.7.2.1733".into()),
        plan,
        policy_conflict: None,
        memory: Default::default(),
        news: Default::default(),
        context: PlanContext {
            clock_skew_secs: Some(1),
            ..PlanContext::new(now, chrono_tz::Tz::UTC)
        },
        settings: Default::default(),
        health: docspace_retention::pass::HealthRead {
            view: Some(docspace_retention::health::HealthView {
                newest_size: Some(1),
                newest_duration_secs: Some(60),
                last_good: Some(now),
                ..Default::default()
            }),
            update: docspace_retention::state::HealthUpdate {
                key: docspace_retention::state::KeyState::Expires(now),
                ..Default::default()
            },
            ..Default::default()
        },
    });
    report.notified = true;
    observer.pass_finished(&report);
    let text = observer.render_metrics();
    for name in CONTRACT_METRICS {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} is not exported");
    }
    for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            CONTRACT_METRICS.contains(&name),
            "{name} is exported but not in the contract"
        );
    }
}

/// GitHub's anchor for a Markdown heading: lower case, spaces to dashes, other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_its_section_of_the_runbook() {
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/monitoring/alerts.yml")).unwrap();
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbook.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    // Each rule is the text from one "- alert:" line to the next.
    let alerts: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert_eq!(alerts.len(), 12, "the rule file has twelve alerts");
    for alert in alerts {
        let name = alert.split_whitespace().next().unwrap();
        let url = alert
            .lines()
            .find_map(|l| l.trim().strip_prefix("runbook_url: "))
            .unwrap_or_else(|| panic!("{name} has no runbook_url annotation"))
            .trim_matches('"');
        let (page, fragment) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{name}: {url} has no anchor"));
        assert_eq!(
            page,
            format!("{}/blob/main/docs/runbook.md", env!("CARGO_PKG_REPOSITORY")),
            "{name}: {url} is not the runbook"
        );
        assert_eq!(fragment, anchor(name), "{name} links another alert's section");
        assert!(
            anchors.contains(fragment),
            "{name}: docs/runbook.md has no section #{fragment}"
        );
        // Each section says what fired, what to check, how to fix, when to silence.
        let section = runbook.split(&format!("## {name}\n")).nth(1).unwrap();
        let section = section.split("\n## ").next().unwrap();
        for part in ["**What fired.**", "**Check first.**", "**Fix.**", "**Silence when.**"] {
            assert!(section.contains(part), "{name}'s runbook section lacks {part}");
        }
    }
}

#[test]
fn the_manifests_run_the_image_the_dockerfile_and_ci_build() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    let image = format!("docspace-retention:{}", env!("CARGO_PKG_VERSION"));
    assert!(
        read("Dockerfile").contains(&format!("-t {image} .")),
        "the Dockerfile's build command tags {image}"
    );
    assert!(
        read("scripts/check-container.sh").contains(&format!("IMAGE={image}\n")),
        "CI builds {image}"
    );
    assert!(
        read("README.md").contains(&format!("-t {image} .")),
        "the README builds {image}"
    );
    for manifest in ["deploy/kubernetes/sidecar.yaml", "deploy/kubernetes/statefulset.yaml"] {
        let text = read(manifest);
        let ours: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image: "))
            .filter(|i| i.starts_with("docspace-retention"))
            .map(|i| i.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(ours, [image.as_str()], "{manifest}");
    }
}

/// The whole `/metrics` text of a daemon that has seen three portals: every family,
/// every label, the formats of counters, integer and float gauges and histograms. The
/// file was written by the prometheus crate's encoder while it rendered every series;
/// the exposition the daemon renders itself now must be the same, byte for byte (the
/// dashboards, alerts and scrapers were built on it).
#[test]
fn the_exposition_is_byte_for_byte_what_the_prometheus_crate_wrote() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use docspace_retention::docspace::{Endpoint, HookFactory, RequestEvent};
    use docspace_retention::executor::{ClearResult, DeletionResult, Recovered};
    use docspace_retention::observe::Observer;
    use docspace_retention::pass::{PassReport, PortalRead};
    use docspace_retention::retention::{PlanContext, RetentionPolicy, Rule, StaleAfter, plan_retention};
    use docspace_retention::state::PortalMemory;
    use docspace_retention::state::audit::{AuditAction, Outcome};
    use docspace_retention::wire::{BackupId, BackupSchedule, HistoryRecord, Period, StorageType, WireTime};
    use std::time::Duration;

    let now = Utc.with_ymd_and_hms(2026, 12, 3, 3, 30, 0).unwrap() + TimeDelta::milliseconds(250);
    let observer = Observer::new();
    for p in ["bravo", "alpha-2", "charlie_3"] {
        observer.portal_added(p);
    }
    let request = |p: &str, endpoint, status, ms| {
        observer.hook(p).request(RequestEvent {
            endpoint,
            status,
            elapsed: Duration::from_millis(ms),
            attempt: 0,
        })
    };
    request("bravo", Endpoint::GetSchedule, Some(200), 12);
    request("bravo", Endpoint::GetHistory, Some(200), 40);
    request("bravo", Endpoint::GetVersion, Some(404), 3);
    for ms in [20, 30, 700] {
        request("bravo", Endpoint::DeleteBackup, Some(200), ms);
    }
    request("bravo", Endpoint::DeleteBackup, Some(500), 2600);
    request("alpha-2", Endpoint::GetSchedule, None, 30_000);
    request("alpha-2", Endpoint::GetSchedule, Some(503), 8);
    request("charlie_3", Endpoint::Authenticate, Some(200), 90);
    request("charlie_3", Endpoint::DeleteHistory, Some(200), 300);
    observer.next_run("bravo", Some(now + TimeDelta::days(1)));
    observer.next_run("alpha-2", Some(now + TimeDelta::seconds(17)));
    observer.next_run("charlie_3", None);

    let id = |n: u32| format!("0f4b6c1e-2a3d-4e5f-8a9b-{n:012x}");
    let records: Vec<HistoryRecord> = (0..12)
        .map(|d| HistoryRecord {
            id: id(d),
            file_name: Some(format!("bravo_{d}.tar.gz")),
            storage_type: StorageType::Documents,
            created_on: WireTime::At(now - TimeDelta::days(d as i64) - TimeDelta::hours(1)),
            expires_on: if d == 11 {
                WireTime::At(now + TimeDelta::days(2))
            } else {
                WireTime::Never
            },
        })
        .collect();
    let policy = RetentionPolicy {
        max_deletions_per_run: 3,
        stale_after: StaleAfter::Off,
        ..RetentionPolicy::default()
    }
    .keep(Rule::Last, 4);
    let ctx = PlanContext {
        clock_skew_secs: Some(-2),
        ..PlanContext::new(now, chrono_tz::Tz::UTC)
    };
    let plan = plan_retention(records, &policy, &ctx);
    let schedule = BackupSchedule {
        storage_type: StorageType::Documents,
        storage_params: Vec::new(),
        period: Period::EveryDay,
        hour: Some(3),
        day: None,
        backups_stored: Some(3),
        last_backup_time: WireTime::At(now - TimeDelta::minutes(90)),
        dump: false,
    };
    let mut bravo = PassReport::new("bravo", false, now);
    bravo.finished = now + TimeDelta::milliseconds(3_750);
    bravo.read = Some(PortalRead {
        schedule: Some(schedule.clone()),
        version: Some("3.7.2.1733".into()),
        plan: plan.clone(),
        policy_conflict: Some(3),
        memory: PortalMemory::default(),
        news: Default::default(),
        context: ctx.clone(),
        settings: Default::default(),
        health: Default::default(),
    });
    let deletion = |n: u32, outcome| DeletionResult {
        id: BackupId::parse(&id(n)).unwrap(),
        file_name: None,
        created_on: None,
        outcome,
        http_status: Some(200),
        error: None,
    };
    bravo.deletions = vec![
        deletion(10, Outcome::Deleted),
        deletion(9, Outcome::AlreadyGone),
        deletion(8, Outcome::Failed),
    ];
    bravo.recovered = vec![Recovered {
        action: AuditAction::DeleteBackup,
        backup_id: Some(id(7)),
        outcome: Outcome::Deleted,
    }];
    observer.pass_finished(&bravo);
    // A second pass of bravo: the histogram and counters add up, the version changes.
    let mut again = bravo.clone();
    again.started = now + TimeDelta::hours(24);
    again.finished = again.started + TimeDelta::milliseconds(80);
    if let Some(read) = again.read.as_mut() {
        read.version = None;
        read.schedule = None;
        read.memory.schedule_missing_since = Some(now + TimeDelta::hours(20));
    }
    observer.pass_finished(&again);

    let mut alpha = PassReport::new("alpha-2", true, now);
    alpha.finished = now + TimeDelta::milliseconds(120);
    alpha.error = Some("get_schedule: connection refused".into());
    observer.pass_finished(&alpha);
    observer.pass_skipped("alpha-2", "previous pass still running");

    let mut charlie = PassReport::new("charlie_3", false, now);
    charlie.finished = now + TimeDelta::seconds(400);
    charlie.read = Some(PortalRead {
        schedule: Some(BackupSchedule {
            period: Period::EveryWeek,
            backups_stored: None,
            last_backup_time: WireTime::Never,
            ..schedule
        }),
        version: Some("3.6.1\"beta\\\n".into()),
        plan: plan_retention(Vec::new(), &policy, &ctx),
        policy_conflict: None,
        memory: PortalMemory::default(),
        news: Default::default(),
        context: ctx,
        settings: Default::default(),
        health: Default::default(),
    });
    charlie.clear = Some(ClearResult {
        outcome: Outcome::Deleted,
        records: 5,
        http_status: Some(200),
        error: None,
    });
    observer.pass_finished(&charlie);
    observer.config_reload(Ok(3));
    observer.config_reload(Err("portals.x.url: expected a URL"));

    let text = observer.render_metrics();
    // After a deliberate change of the exposition: UPDATE_GOLDEN=1, then review the diff.
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/golden/metrics.txt"),
            &text,
        )
        .unwrap();
    }
    let golden = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/golden/metrics.txt")).unwrap();
    if text != golden {
        let first = text
            .lines()
            .zip(golden.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(text.lines().count().min(golden.lines().count()));
        panic!(
            "the exposition differs from tests/it/golden/metrics.txt at line {}:\n  now:    {:?}\n  golden: {:?}",
            first + 1,
            text.lines().nth(first),
            golden.lines().nth(first)
        );
    }
}
