//! The one-off operator commands: `schedule show|delete`, `history list|clear`,
//! `backup delete`. Without `--yes` they read, print what they would do, and change
//! nothing; with it, every change is audited and verified like the daemon's own.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::audit::{AuditAction, AuditEntry, AuditLog, Outcome};
use crate::docspace::{BackupSchedule, DocSpaceClient, HistoryRecord, redacted_storage_params, rfc3339};
use crate::pass::{DeletionItem, execute_clear, execute_deletions};
use crate::report::{history_table, schedule_json, schedule_summary};

/// The portal an operator command works on.
pub struct Target {
    /// The config name, or the URL's host for an ad-hoc `--url`.
    pub name: String,
    pub client: DocSpaceClient,
}

/// Exit status of a command (SPEC §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
    Config = 78,
}

fn fail(message: impl std::fmt::Display) -> Exit {
    eprintln!("error: {message}");
    Exit::Failure
}

pub const SCHEDULE_DELETE_WARNING: &str = "warning: deleting the backup schedule stops all new scheduled backups of this portal. \
On DocSpace servers older than 3.1 the server's own cleaner then deletes EVERY scheduled backup of a portal \
without a schedule, within minutes (server bug 72733). Check the server version first.";

pub async fn schedule_show(target: &Target, json_out: bool) -> Exit {
    let schedule = match target.client.get_schedule().await {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    if json_out {
        let mut value = schedule_json(schedule.as_ref());
        if let Some(s) = &schedule {
            value["day"] = json!(s.day);
            value["dump"] = json!(s.dump);
            value["storage_params"] = redacted_storage_params(&s.storage_params)
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        println!("{}", json!({"portal": target.name, "schedule": value}));
    } else {
        println!("{}: {}", target.name, describe_schedule(schedule.as_ref()));
    }
    Exit::Success
}

fn describe_schedule(schedule: Option<&BackupSchedule>) -> String {
    let mut text = schedule_summary(schedule);
    if let Some(s) = schedule {
        if let Some(day) = s.day {
            text.push_str(&format!(", day {day}"));
        }
        text.push_str(&format!(", dump {}", s.dump));
        for (k, v) in redacted_storage_params(&s.storage_params) {
            text.push_str(&format!("\n  storage param {k} = {v}"));
        }
    }
    text
}

pub async fn schedule_delete(target: &Target, audit: Option<&Arc<AuditLog>>, yes: bool) -> Exit {
    let schedule = match target.client.get_schedule().await {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    let Some(schedule) = schedule else {
        println!("{}: no backup schedule: nothing to delete", target.name);
        return Exit::Success;
    };
    eprintln!("{SCHEDULE_DELETE_WARNING}");
    if !yes {
        println!(
            "would delete the backup schedule of {} ({}); nothing was changed. Run again with --yes to delete it.",
            target.name,
            schedule_summary(Some(&schedule))
        );
        return Exit::Success;
    }
    let Some(audit) = audit else {
        return fail("the audit log is not available");
    };
    let intent = AuditEntry::intent(&target.name, AuditAction::DeleteSchedule, false)
        .reasons(vec!["operator request".to_string()]);
    if let Err(e) = audit.record(intent.clone()).await {
        return fail(e);
    }
    let answer = target.client.delete_schedule().await;
    let status = match &answer {
        Ok(_) => Some(200),
        Err(e) => e.status(),
    };
    let (outcome, error) = match (&answer, target.client.get_schedule().await) {
        (_, Ok(None)) => (Outcome::Deleted, None),
        (Err(e), _) => (Outcome::Failed, Some(e.to_string())),
        (Ok(_), Ok(Some(_))) => (
            Outcome::Failed,
            Some("the schedule is still there after the delete".to_string()),
        ),
        (Ok(_), Err(e)) => (Outcome::Failed, Some(format!("cannot verify: {e}"))),
    };
    if let Err(e) = audit.record(intent.result(outcome, status, error.clone())).await {
        return fail(e);
    }
    match error {
        None => {
            println!("{}: backup schedule deleted", target.name);
            Exit::Success
        }
        Some(e) => fail(format!("{}: deleting the schedule failed: {e}", target.name)),
    }
}

/// Newest first; records without a date last.
fn sorted(mut records: Vec<HistoryRecord>) -> Vec<HistoryRecord> {
    records.sort_by(|a, b| {
        b.created_on
            .instant()
            .cmp(&a.created_on.instant())
            .then_with(|| a.id.cmp(&b.id))
    });
    records
}

pub async fn history_list(target: &Target, json_out: bool) -> Exit {
    let records = match target.client.get_history().await {
        Ok(r) => sorted(r),
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    if json_out {
        let list: Vec<_> = records
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "file_name": r.file_name,
                    "storage_type": r.storage_type.name(),
                    "created_on": r.created_on.instant().map(rfc3339),
                    "expires_on": r.expires_on.instant().map(rfc3339),
                })
            })
            .collect();
        println!("{}", json!({"portal": target.name, "backups": list}));
    } else {
        println!("{}: {} backups", target.name, records.len());
        print!("{}", history_table(&records));
    }
    Exit::Success
}

pub async fn history_clear(target: &Target, audit: Option<&Arc<AuditLog>>, yes: bool) -> Exit {
    let records = match target.client.get_history().await {
        Ok(r) => sorted(r),
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    if records.is_empty() {
        println!("{}: the backup history is empty: nothing to delete", target.name);
        return Exit::Success;
    }
    if !yes {
        println!(
            "would delete all {} backups of {} and their files; nothing was changed. Run again with --yes to delete them.",
            records.len(),
            target.name
        );
        print!("{}", history_table(&records));
        return Exit::Success;
    }
    let Some(audit) = audit else {
        return fail("the audit log is not available");
    };
    let reasons = vec![format!("operator request: all {} records", records.len())];
    let clear = execute_clear(&target.name, &target.client, audit, records.len(), reasons, false).await;
    match clear.error {
        None => {
            println!("{}: backup history cleared ({} backups)", target.name, records.len());
            Exit::Success
        }
        Some(e) => fail(format!("{}: clearing the history failed: {e}", target.name)),
    }
}

pub async fn backup_delete(target: &Target, audit: Option<&Arc<AuditLog>>, ids: &[String], yes: bool) -> Exit {
    let records = match target.client.get_history().await {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    let by_id: HashMap<String, &HistoryRecord> = records.iter().map(|r| (r.id.to_ascii_lowercase(), r)).collect();
    let mut items = Vec::new();
    for id in ids {
        match by_id.get(&id.to_ascii_lowercase()) {
            Some(r) if !items.iter().any(|i: &DeletionItem| i.id == r.id) => {
                items.push(DeletionItem::from_record(r, vec!["operator request".to_string()]))
            }
            Some(_) => {}
            None => println!("{id}: not in the history of {} (already gone): skipped", target.name),
        }
    }
    if items.is_empty() {
        return Exit::Success;
    }
    if !yes {
        println!(
            "would delete {} backups of {}; nothing was changed. Run again with --yes to delete them.",
            items.len(),
            target.name
        );
        let chosen: Vec<HistoryRecord> = items
            .iter()
            .filter_map(|i| by_id.get(&i.id.to_ascii_lowercase()).map(|r| (*r).clone()))
            .collect();
        print!("{}", history_table(&chosen));
        return Exit::Success;
    }
    let Some(audit) = audit else {
        return fail("the audit log is not available");
    };
    let done = execute_deletions(&target.name, &target.client, audit, &items, false, None).await;
    let mut exit = Exit::Success;
    for r in &done.results {
        match r.outcome {
            Outcome::Failed => {
                exit = Exit::Failure;
                eprintln!("{}: failed: {}", r.id, r.error.as_deref().unwrap_or("unknown error"));
            }
            other => println!("{}: {}", r.id, other.as_str()),
        }
    }
    if let Some(e) = done.error {
        exit = fail(e);
    }
    exit
}
