//! How plans and passes are shown: tables for people, JSON for machines
//! (docs/reference.md, "plan --json").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::calendar::rfc3339;
use crate::pass::{PassReport, PortalRead};
use crate::picture::{Picture, page};
use crate::retention::{Forecast, Plan};
use crate::state::audit::Outcome;
use crate::wire::{BackupId, BackupSchedule, HistoryRecord, shown};

mod explain;
mod what_if;
pub use explain::{explain_json, explain_text};
pub use what_if::{WhatIfPortal, WhatIfRead, what_if_json, what_if_text};

/// The result of planning one portal.
pub struct PortalPlan {
    pub portal: String,
    pub result: Result<PortalRead, String>,
    /// With `--forecast`: when each backup would go, and what that assumed.
    pub forecast: Option<(Forecast, String)>,
}

impl PortalPlan {
    /// When the forecast has `id` deleted (`None` without a forecast, or when it survives).
    fn deletes_on(&self, id: Option<BackupId>) -> Option<DateTime<Utc>> {
        let (f, _) = self.forecast.as_ref()?;
        f.deletes_on.get(&id?).copied()
    }
}

pub fn schedule_json(schedule: Option<&BackupSchedule>) -> Value {
    match schedule {
        None => json!({"present": false, "storage_type": null, "period": null, "hour": null,
                       "backups_stored": null, "last_backup_time": null}),
        Some(s) => json!({
            "present": true,
            "storage_type": s.storage_type.name(),
            "period": s.period.name(),
            "hour": s.hour,
            "backups_stored": s.backups_stored,
            "last_backup_time": s.last_backup_time.instant().map(rfc3339),
        }),
    }
}

/// What kept backups that the rules would delete, by guard label: the guards, then
/// the kinds of doubtful records (which the contract lists beside them).
fn blocks(plan: &Plan) -> impl Iterator<Item = (&'static str, usize)> + '_ {
    plan.guards
        .iter()
        .map(|(g, n)| (g.as_str(), *n))
        .chain(plan.doubtful.iter().map(|(d, n)| (d.as_str(), *n)))
}

fn guards_json(plan: &Plan) -> Value {
    blocks(plan).map(|(g, n)| json!({"guard": g, "blocked": n})).collect()
}

/// A backup's health as `plan` shows it: `healthy`, `suspect: …` or `unknown`.
fn health_text(read: &PortalRead, id: Option<crate::wire::BackupId>) -> String {
    read.health
        .view
        .as_ref()
        .and_then(|v| v.verdict(id))
        .map_or_else(|| "unknown".to_string(), |v| v.text())
}

/// The sentinel's view of a portal in `plan --json`; `null` when it is off.
fn health_json(read: &PortalRead) -> Value {
    let Some(v) = &read.health.view else {
        return Value::Null;
    };
    json!({
        "last_good": v.last_good.map(rfc3339),
        "missed_runs": v.missed.iter().map(|t| rfc3339(*t)).collect::<Vec<_>>(),
        "newest_size_bytes": v.newest_size,
        "newest_duration_secs": v.newest_duration_secs,
        "suspects": v.suspects,
        "size_note": v.size_note,
        "timezone_mismatch": read.health.timezone_mismatch,
    })
}

/// What the sentinel found wrong with a portal, in one line of `plan` (none when
/// nothing is).
pub fn health_line(read: &PortalRead) -> Option<String> {
    let v = read.health.view.as_ref()?;
    let mut parts = Vec::new();
    if v.newest_suspect {
        let newest = read
            .plan
            .iter()
            .find_map(|e| v.verdict(e.id).filter(|v| v.is_suspect()));
        parts.push(format!(
            "the newest backup is {}",
            newest.map_or_else(|| "suspect".to_string(), |v| v.text())
        ));
    }
    if v.suspects > usize::from(v.newest_suspect) {
        parts.push(format!("{} suspect backups kept", v.suspects));
    }
    if !v.missed.is_empty() {
        let list: Vec<String> = v
            .missed
            .iter()
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .collect();
        parts.push(format!(
            "{} missed run{} ({})",
            v.missed.len(),
            if v.missed.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
    }
    if let Some(zone) = &read.health.timezone_mismatch {
        parts.push(format!("the portal's own time zone is {zone}"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A size as people read it: `48.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration as people read it: `14m`, `1h 05m`, `40s`.
pub fn duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

fn backups_json(p: &PortalPlan, read: &PortalRead) -> Value {
    let plan = &read.plan;
    let facts = read.health.view.as_ref();
    plan.iter()
        .map(|e| {
            let fact = facts.and_then(|v| v.facts.get(&e.id?));
            let mut b = json!({
                "id": e.record.id,
                "file_name": e.record.file_name,
                "storage_type": e.record.storage_type.name(),
                "created_on": e.created().map(rfc3339),
                "action": e.action.as_str(),
                "reasons": e.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "health": health_text(read, e.id),
                "size_bytes": fact.and_then(|f| f.size),
                "duration_secs": fact.and_then(|f| f.duration_secs),
            });
            if p.forecast.is_some() {
                b["deletes_on"] = json!(p.deletes_on(e.id).map(rfc3339));
            }
            b
        })
        .collect()
}

/// `plan --json`.
pub fn plan_json(generated_at: DateTime<Utc>, plans: &[PortalPlan], totals: &Totals) -> Value {
    let portals: Vec<Value> = plans
        .iter()
        .map(|p| match &p.result {
            Ok(read) => {
                let mut v = json!({
                    "portal": p.portal,
                    "outcome": "planned",
                    "error": null,
                    "schedule": schedule_json(read.schedule.as_ref()),
                    "backups": backups_json(p, read),
                    "guards": guards_json(&read.plan),
                    "health": health_json(read),
                });
                if let Some((f, assumes)) = &p.forecast {
                    v["forecast"] = json!({"until": rfc3339(f.until), "passes": f.passes, "assumes": assumes});
                }
                v
            }
            Err(e) => json!({
                "portal": p.portal,
                "outcome": "failed",
                "error": e,
                "schedule": null,
                "backups": [],
                "guards": [],
                "health": null,
            }),
        })
        .collect();
    json!({
        "generated_at": rfc3339(generated_at),
        "portals": portals,
        "totals": {
            "portals": totals.portals,
            "failed": totals.failed,
            "disabled": totals.disabled,
            "keep": totals.keep,
            "delete": totals.delete + totals.would_delete,
            "blocked": totals.blocked,
        },
    })
}

/// Rows padded to the widest cell of each column.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn schedule_summary(schedule: Option<&BackupSchedule>) -> String {
    match schedule {
        None => "no backup schedule".to_string(),
        Some(s) => {
            let mut text = format!(
                "schedule {} at hour {}",
                s.period,
                s.hour.map_or("?".to_string(), |h| h.to_string())
            );
            text.push_str(&format!(", to {}", s.storage_type));
            match s.backups_stored {
                Some(n) => text.push_str(&format!(", server keeps {n}")),
                None => text.push_str(", server keeps all"),
            }
            text.push_str(&format!(", last backup {}", s.last_backup_time));
            text
        }
    }
}

/// "1 backup", "3 backups".
pub fn backups(n: usize) -> String {
    match n {
        1 => "1 backup".to_string(),
        n => format!("{n} backups"),
    }
}

pub use crate::wire::{fleet_order, natural_cmp};

/// The server's `backupsStored` fighting the policy, in words (`plan`, `/status`, the
/// page): `None` when they agree.
pub fn conflict_warning(read: &PortalRead) -> Option<String> {
    let pos = read.policy_conflict?;
    Some(format!(
        "the schedule keeps only the newest {} scheduled backups, but the policy keeps older ones (from number \
         {}): the server's own cleaner will delete them; raise backupsStored",
        read.schedule.as_ref().and_then(|s| s.backups_stored).unwrap_or(0),
        pos + 1
    ))
}

/// A fleet's totals, for the line that ends `plan` and `once` and for `"totals"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub portals: usize,
    pub failed: usize,
    pub disabled: usize,
    pub keep: usize,
    pub delete: usize,
    /// Deletions a dry run would have made (`once`), or `plan` would make.
    pub would_delete: usize,
    pub blocked: usize,
    /// `plan`: nothing is deleted, only "would".
    pub planned: bool,
}

impl Totals {
    /// `plan`'s totals (every deletion is one that would be made).
    pub fn of_plans(plans: &[PortalPlan], disabled: usize) -> Totals {
        let mut t = Totals {
            portals: plans.len(),
            disabled,
            planned: true,
            ..Totals::default()
        };
        for p in plans {
            match &p.result {
                Err(_) => t.failed += 1,
                Ok(read) => {
                    t.keep += read.plan.kept_count();
                    t.would_delete += read.plan.deletion_count();
                    t.blocked += read.plan.blocked_deletions();
                }
            }
        }
        t
    }

    /// One pass's contribution to `once`'s totals.
    pub fn of_report(report: &PassReport) -> Totals {
        let cleared = report
            .clear
            .as_ref()
            .filter(|c| c.outcome == Outcome::Deleted)
            .map_or(0, |c| c.records);
        Totals {
            portals: 1,
            failed: usize::from(!report.succeeded()),
            keep: report.kept(),
            delete: report.count(Outcome::Deleted) + cleared,
            would_delete: report.count(Outcome::DryRun),
            blocked: report.blocked(),
            ..Totals::default()
        }
    }

    /// Adds another part of the fleet's counts (its portals, failures, backups).
    pub fn add(&mut self, other: &Totals) {
        self.portals += other.portals;
        self.failed += other.failed;
        self.disabled += other.disabled;
        self.keep += other.keep;
        self.delete += other.delete;
        self.would_delete += other.would_delete;
        self.blocked += other.blocked;
    }

    /// One line: `fleet: 12 portals (11 ok, 1 failed, 2 disabled): kept 340, deleted 12, blocked by guards 3`.
    pub fn line(&self) -> String {
        let mut text = format!(
            "fleet: {} ({} ok, {} failed, {} disabled): kept {}",
            match self.portals {
                1 => "1 portal".to_string(),
                n => format!("{n} portals"),
            },
            self.portals - self.failed,
            self.failed,
            self.disabled,
            self.keep
        );
        if !self.planned && (self.delete > 0 || self.would_delete == 0) {
            text.push_str(&format!(", deleted {}", self.delete));
        }
        if self.planned || self.would_delete > 0 {
            text.push_str(&format!(", would delete {}", self.would_delete));
        }
        text.push_str(&format!(", blocked by guards {}", self.blocked));
        text
    }
}

/// `plan --summary`: each portal's header lines, no table of backups.
pub fn plan_summary(plans: &[PortalPlan]) -> String {
    plan_text(plans, false)
}

/// `plan` for people: one summary per portal, then every backup and its reasons.
pub fn plan_table(plans: &[PortalPlan]) -> String {
    plan_text(plans, true)
}

/// Each portal's header lines, then (`with_backups`) the table of every backup.
fn plan_text(plans: &[PortalPlan], with_backups: bool) -> String {
    let mut out = String::new();
    let mut rows = Vec::new();
    let forecasting = plans.iter().any(|p| p.forecast.is_some());
    for p in plans {
        match &p.result {
            Err(e) => out.push_str(&format!("{}: FAILED: {}\n", p.portal, shown(e))),
            Ok(read) => {
                let plan = &read.plan;
                out.push_str(&format!(
                    "{}: {} ({} managed): keep {}, delete {}; {}\n",
                    p.portal,
                    backups(plan.entries.len()),
                    plan.managed,
                    plan.kept_count(),
                    plan.deletion_count(),
                    schedule_summary(read.schedule.as_ref()),
                ));
                for (g, n) in blocks(plan) {
                    out.push_str(&format!("  guard {g}: kept {n}\n"));
                }
                if plan.clear_history {
                    out.push_str("  every record is to be deleted: the history will be cleared with one call\n");
                }
                if plan.clear_withheld {
                    out.push_str(
                        "  every record is to be deleted, one by one: the portal protects backups, and a clear would \
                         also remove records the history does not list\n",
                    );
                }
                if let Some(warning) = conflict_warning(read) {
                    out.push_str(&format!("  warning: {warning}\n"));
                }
                if let Some(line) = health_line(read) {
                    out.push_str(&format!("  health: {}\n", shown(&line)));
                }
                if let Some((_, assumes)) = &p.forecast {
                    out.push_str(&format!("  forecast: {assumes}\n"));
                }
                if !with_backups {
                    continue;
                }
                for e in plan.iter() {
                    let mut row = vec![
                        p.portal.clone(),
                        if e.record.id.is_empty() {
                            "(no id)".to_string()
                        } else {
                            shown(&e.record.id).into_owned()
                        },
                        e.created().map(rfc3339).unwrap_or_else(|| "?".to_string()),
                        e.action.as_str().to_string(),
                        health_text(read, e.id),
                    ];
                    if forecasting {
                        row.push(p.deletes_on(e.id).map_or_else(|| "-".to_string(), rfc3339));
                    }
                    row.push(
                        shown(&e.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")).into_owned(),
                    );
                    rows.push(row);
                }
            }
        }
    }
    if !rows.is_empty() {
        out.push('\n');
        let header: &[&str] = if forecasting {
            &[
                "PORTAL",
                "BACKUP",
                "CREATED",
                "ACTION",
                "HEALTH",
                "DELETES ON",
                "REASONS",
            ]
        } else {
            &["PORTAL", "BACKUP", "CREATED", "ACTION", "HEALTH", "REASONS"]
        };
        out.push_str(&table(header, &rows));
    }
    out
}

/// What `plan --html` shows beyond the plans, by portal: the page's own forecast (for a
/// portal planned without `--forecast`) and the deletions of each recent pass.
#[derive(Default)]
pub struct PageExtras {
    pub forecasts: std::collections::HashMap<String, (Forecast, String)>,
    pub deletions: std::collections::HashMap<String, Vec<(DateTime<Utc>, u32)>>,
}

/// `plan --html`: the picture of every planned portal, with the forecast's dates (the
/// page's own, `picture.forecast`, when `--forecast` made none) and the deletions of
/// the last 30 days.
pub fn plan_page(generated_at: DateTime<Utc>, plans: &[PortalPlan], extras: &PageExtras) -> String {
    let pictures: Vec<Picture> = plans
        .iter()
        .map(|p| match &p.result {
            Ok(read) => {
                let missed = read.health.view.as_ref().map_or(&[][..], |v| &v.missed[..]);
                let mut picture =
                    Picture::of(&p.portal, &read.plan, read.context.now, read.context.tz).with_health(&[], missed);
                if let Some((forecast, assumes)) = p.forecast.as_ref().or(extras.forecasts.get(&p.portal)) {
                    picture = picture.with_forecast(forecast);
                    picture.forecast = Some(assumes.clone());
                }
                if let Some(d) = extras.deletions.get(&p.portal) {
                    picture = picture.with_deletions(d.clone());
                }
                picture.health = health_line(read);
                picture.warning = conflict_warning(read);
                picture
            }
            Err(e) => Picture {
                portal: p.portal.clone(),
                error: Some(e.clone()),
                ..Picture::default()
            },
        })
        .collect();
    page("docspace-retention plan", generated_at, &pictures, None)
}

/// The pass report a `notify.format = "json"` notification posts.
pub fn pass_json(report: &PassReport) -> Value {
    let health = report.read.as_ref().map_or(Value::Null, health_json);
    json!({
        "portal": report.portal,
        "outcome": if report.succeeded() { "success" } else { "failure" },
        "error": report.error.as_deref().map(crate::secret::mask_api_keys),
        "started": rfc3339(report.started),
        "finished": rfc3339(report.finished),
        "dry_run": report.dry_run,
        "kept": report.kept(),
        "deleted": report.count(Outcome::Deleted),
        "already_gone": report.count(Outcome::AlreadyGone),
        "failed": report.count(Outcome::Failed),
        "would_delete": report.count(Outcome::DryRun),
        "blocked": report.blocked(),
        "vanished": report.vanished.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>(),
        "health": health,
    })
}

/// One line per portal after `once`.
pub fn pass_summary(report: &PassReport) -> String {
    let deleted = report.count(Outcome::Deleted);
    let gone = report.count(Outcome::AlreadyGone);
    let failed = report.count(Outcome::Failed);
    let dry = report.count(Outcome::DryRun);
    let mut text = format!(
        "{}: {}: kept {}, deleted {}",
        report.portal,
        if report.succeeded() { "ok" } else { "FAILED" },
        report.kept(),
        deleted
    );
    if gone > 0 {
        text.push_str(&format!(", already gone {gone}"));
    }
    if failed > 0 {
        text.push_str(&format!(", failed {failed}"));
    }
    if dry > 0 {
        text.push_str(&format!(", would delete {dry} (dry run)"));
    }
    if let Some(c) = &report.clear {
        text.push_str(&format!(
            ", history clear of {} records: {}",
            c.records,
            c.outcome.as_str()
        ));
    }
    if report.blocked() > 0 {
        text.push_str(&format!(", blocked by guards {}", report.blocked()));
    }
    if let Some(e) = &report.error {
        text.push_str(&format!(": {}", shown(e)));
    }
    text
}

pub fn history_table(records: &[HistoryRecord]) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                if r.id.is_empty() {
                    "(no id)".to_string()
                } else {
                    shown(&r.id).into_owned()
                },
                r.created_on.to_string(),
                shown(&r.storage_type.to_string()).into_owned(),
                shown(r.file_name.as_deref().unwrap_or_default()).into_owned(),
            ]
        })
        .collect();
    table(&["BACKUP", "CREATED", "STORAGE", "FILE"], &rows)
}
