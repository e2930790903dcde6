//! The one-off operator commands: `schedule show|delete`, `history list|clear`,
//! `backup delete`. Without `--yes` they read, print what they would do, and change
//! nothing; with it, every change goes through the executor, audited and verified
//! like the daemon's own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::context::{Context, Ended, error, fail, select};
use crate::calendar::rfc3339;
use crate::config::{self, Config};
use crate::docspace::{Clients, Credential, DocSpaceClient, PortalEndpoint};
use crate::executor::{self, ClearRefused, DeletionItem, Executor, Gates};
use crate::report::{backups, history_table, schedule_json, schedule_summary};
use crate::secret::Secret;
use crate::state::audit::Outcome;
use crate::state::{Access, StateDir};
use crate::wire::{BackupId, BackupSchedule, HistoryRecord, redacted_storage_params, shown};

/// Which portal an operator command addresses, as the command line says it.
#[derive(Clone, Debug, Default)]
pub struct TargetArgs {
    /// A portal from the config.
    pub portal: Option<String>,
    /// A portal not in the config, with the file that holds its API key.
    pub url: Option<String>,
    pub api_key_file: Option<PathBuf>,
    /// The server-wide dump (on-premise) instead of the portal.
    pub dump: bool,
}

/// The portal an operator command works on.
pub struct Target {
    /// The config name, or `url-…` (the canonical URL) for an ad-hoc `--url`.
    pub name: String,
    pub client: DocSpaceClient,
    /// Dry run (the portal's, or `--dry-run`) and the protected ids.
    pub gates: Gates,
    state_dir: PathBuf,
}

impl Target {
    /// Resolves the target of an operator command (loading the config it needs).
    pub fn resolve(ctx: &Context, args: &TargetArgs) -> Result<Target, Ended> {
        let adhoc = args.url.is_some();
        let config = ctx.load(!adhoc || ctx.config_chosen, !adhoc)?;
        crate::logging::init_for_command(&config.log);
        target(&config, args, ctx.overrides.dry_run)
    }

    fn state(&self) -> Result<Arc<StateDir>, Ended> {
        StateDir::open(&self.state_dir, Access::None).map_err(fail)
    }

    /// The executor of this portal: its lock taken (or exit 1, "locked by another
    /// process") and whatever an interrupted run left settled and printed.
    async fn executor<'a>(&'a self, state: &'a StateDir) -> Result<Executor<'a>, Ended> {
        let executor = Executor::open(&self.name, &self.client, state, self.gates.clone())
            .await
            .map_err(|e| fail(format!("{}: {e}", self.name)))?;
        for r in executor.recovered() {
            crate::outln!(
                "{}: settled an interrupted {} of an earlier run{}: {}",
                self.name,
                action_words(r.action),
                r.backup_id
                    .as_deref()
                    .map(|id| format!(" ({})", shown(id)))
                    .unwrap_or_default(),
                r.outcome.as_str()
            );
        }
        Ok(executor)
    }

    /// Whether a change runs now: with `--yes`, or as a dry run (which writes its
    /// audit lines and sends nothing, `--yes` or not).
    fn acts(&self, yes: bool) -> bool {
        yes || self.gates.dry_run
    }
}

fn action_words(action: crate::state::audit::AuditAction) -> &'static str {
    match action {
        crate::state::audit::AuditAction::DeleteBackup => "backup deletion",
        crate::state::audit::AuditAction::ClearHistory => "history clear",
        crate::state::audit::AuditAction::DeleteSchedule => "schedule deletion",
    }
}

fn target(config: &Config, args: &TargetArgs, dry_run: bool) -> Result<Target, Ended> {
    let clients = Clients::new().map_err(fail)?;
    let state_dir = config.daemon.state_dir.clone();
    if let Some(name) = &args.portal {
        let mut portal = select(config, std::slice::from_ref(name))?[0].clone();
        portal.dump |= args.dump;
        let client = clients.client(&portal.name, portal.endpoint()).map_err(fail)?;
        return Ok(Target {
            name: portal.name.clone(),
            client,
            gates: Gates::of(&portal),
            state_dir,
        });
    }
    let usage = |message: String| {
        error(message);
        Ended::Usage
    };
    let (Some(url), Some(key_file)) = (&args.url, &args.api_key_file) else {
        return Err(usage(
            "give --portal NAME, or --url URL with --api-key-file FILE".into(),
        ));
    };
    let url = reqwest::Url::parse(url).map_err(|e| usage(format!("--url: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage("--url: expected an http:// or https:// URL with a host".into()));
    }
    // A configured portal reached by its URL, however spelled, keeps its gates: its
    // protect list, dry run and lock belong to it, not to the way it is named.
    let canonical = crate::identity::canonical_url(&url);
    let same = |u: &reqwest::Url| crate::identity::canonical_url(u) == canonical;
    if let Some((name, _, _)) = config
        .disabled_targets
        .iter()
        .find(|(_, url, dump)| same(url) && *dump == args.dump)
    {
        return Err(usage(format!(
            "--url is portal {name} of the config, which has enabled = false: it is never changed (its protect \
             list and dry run belong to it)"
        )));
    }
    if let Some(p) = config.portals.iter().find(|p| same(&p.url) && p.dump == args.dump) {
        return Err(usage(format!(
            "--url is portal {} of the config: use --portal {} (its protect list, dry run and lock apply)",
            p.name, p.name
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(usage("--url: must not contain a user name or password".into()));
    }
    // The file's name is never echoed: it may be the key itself, given by mistake.
    let key = std::fs::read_to_string(key_file)
        .map_err(|e| usage(format!("--api-key-file: {}", config::unreadable_file(&e))))?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(usage("--api-key-file: the file holds no usable API key".to_string()));
    }
    let endpoint = PortalEndpoint {
        credential: Credential::ApiKey(Secret::new(key)),
        request_timeout: std::time::Duration::from_secs(config::defaults::REQUEST_TIMEOUT_SECS as u64),
        max_retries: config::defaults::MAX_RETRIES as u32,
        requests_per_minute: config::defaults::REQUESTS_PER_MINUTE as u32,
        dump: args.dump,
        url: url.clone(),
        ca_file: None,
    };
    // Named by its canonical URL, never by its host: a lock named after a host would
    // let two spellings, or a portal of that name, run side by side.
    let name = crate::identity::adhoc_name(&url);
    Ok(Target {
        client: clients.client(&name, endpoint).map_err(fail)?,
        name,
        // The fleet-wide hold of [defaults.retention] binds a portal not in the config too.
        gates: Gates {
            dry_run,
            protect: config.default_protect.clone(),
            live: None,
        },
        state_dir,
    })
}

pub const SCHEDULE_DELETE_WARNING: &str = "warning: deleting the backup schedule stops all new scheduled backups of this portal. \
On DocSpace servers older than 3.1 the server's own cleaner then deletes EVERY scheduled backup of a portal \
without a schedule, within minutes (server bug 72733). Check the server version first.";

pub async fn schedule_show(target: &Target, json_out: bool) -> Ended {
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
        crate::outln!("{}", json!({"portal": target.name, "schedule": value}));
    } else {
        crate::outln!("{}: {}", target.name, describe_schedule(schedule.as_ref()));
    }
    Ended::Success
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

/// `schedule delete`: refuses on a server older than 3.1.0 or of unknown version
/// unless `force`.
pub async fn schedule_delete(target: &Target, yes: bool, force: bool) -> Ended {
    let schedule = match target.client.get_schedule().await {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    let Some(schedule) = schedule else {
        crate::outln!("{}: no backup schedule: nothing to delete", target.name);
        return Ended::Success;
    };
    eprintln!("{SCHEDULE_DELETE_WARNING}");
    if !target.acts(yes) {
        crate::outln!(
            "would delete the backup schedule of {} ({}); nothing was changed. Run again with --yes to delete it.",
            target.name,
            schedule_summary(Some(&schedule))
        );
        return Ended::Success;
    }
    let state = match target.state() {
        Ok(s) => s,
        Err(ended) => return ended,
    };
    let executor = match target.executor(&state).await {
        Ok(e) => e,
        Err(ended) => return ended,
    };
    let result = match executor
        .delete_schedule(vec!["operator request".to_string()], force)
        .await
    {
        Ok(result) => result,
        Err(refused) => return fail(format!("{}: {refused}", target.name)),
    };
    match (result.outcome, result.error) {
        (Outcome::DryRun, _) => {
            crate::outln!(
                "{}: dry run: would delete the backup schedule ({}); nothing was changed",
                target.name,
                schedule_summary(Some(&schedule))
            );
            Ended::Success
        }
        (_, None) => {
            crate::outln!("{}: backup schedule deleted", target.name);
            Ended::Success
        }
        (_, Some(e)) => fail(format!("{}: deleting the schedule failed: {e}", target.name)),
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

pub async fn history_list(target: &Target, json_out: bool) -> Ended {
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
        crate::outln!("{}", json!({"portal": target.name, "backups": list}));
    } else {
        crate::outln!("{}: {}", target.name, backups(records.len()));
        crate::out!("{}", history_table(&records));
    }
    Ended::Success
}

/// `history clear`: refuses a portal with any `protect` id unless `force_protected`,
/// listed or not: the server's clear also removes records the history leaves out.
pub async fn history_clear(target: &Target, yes: bool, force_protected: bool) -> Ended {
    let records = match target.client.get_history().await {
        Ok(r) => sorted(r),
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    if records.is_empty() {
        crate::outln!("{}: the backup history is empty: nothing to delete", target.name);
        return Ended::Success;
    }
    let listed = records.iter().filter_map(|r| BackupId::parse(&r.id));
    if let Some(refused) = ClearRefused::by_protect(&target.gates, listed, force_protected) {
        return fail(format!("{}: {refused}", target.name));
    }
    if !target.acts(yes) {
        crate::outln!(
            "would delete all {} of {} and their files; nothing was changed. Run again with --yes to delete them.",
            backups(records.len()),
            target.name
        );
        crate::out!("{}", history_table(&records));
        return Ended::Success;
    }
    let state = match target.state() {
        Ok(s) => s,
        Err(ended) => return ended,
    };
    let executor = match target.executor(&state).await {
        Ok(e) => e,
        Err(ended) => return ended,
    };
    let reasons = vec![format!("operator request: all {} records", records.len())];
    match executor.clear_history(&records, reasons, force_protected).await {
        Err(refused) => fail(format!("{}: {refused}", target.name)),
        Ok(clear) if clear.outcome == Outcome::DryRun => {
            crate::outln!(
                "{}: dry run: would delete all {} and their files; nothing was changed",
                target.name,
                backups(records.len())
            );
            Ended::Success
        }
        Ok(clear) => match clear.error {
            None => {
                crate::outln!("{}: backup history cleared ({})", target.name, backups(records.len()));
                Ended::Success
            }
            Some(e) => fail(format!("{}: clearing the history failed: {e}", target.name)),
        },
    }
}

/// `backup delete`: refuses protected ids unless `force_protected`.
pub async fn backup_delete(target: &Target, ids: &[BackupId], yes: bool, force_protected: bool) -> Ended {
    let protected = target.gates.protected_among(ids.iter().copied());
    if !protected.is_empty() && !force_protected {
        return fail(format!(
            "{}: refusing to delete protected backup{} {} (retention.protect); give --force-protected to delete {} anyway",
            target.name,
            if protected.len() == 1 { "" } else { "s" },
            executor::list(&protected),
            if protected.len() == 1 { "it" } else { "them" },
        ));
    }
    let records = match target.client.get_history().await {
        Ok(r) => r,
        Err(e) => return fail(format!("{}: {e}", target.name)),
    };
    let by_id: HashMap<BackupId, &HistoryRecord> = records
        .iter()
        .filter_map(|r| Some((BackupId::parse(&r.id)?, r)))
        .collect();
    let mut items: Vec<DeletionItem> = Vec::new();
    for id in ids {
        let reason = match protected.contains(id) {
            true => "operator request (protected; --force-protected)",
            false => "operator request",
        };
        match by_id.get(id) {
            Some(r) if !items.iter().any(|i| i.id == *id) => {
                items.push(DeletionItem::new(*id, r, vec![reason.to_string()]))
            }
            Some(_) => {}
            None => crate::outln!("{id}: not in the history of {} (already gone): skipped", target.name),
        }
    }
    if items.is_empty() {
        return Ended::Success;
    }
    if !target.acts(yes) {
        crate::outln!(
            "would delete {} of {}; nothing was changed. Run again with --yes to delete them.",
            backups(items.len()),
            target.name
        );
        let chosen: Vec<HistoryRecord> = items
            .iter()
            .filter_map(|i| by_id.get(&i.id).map(|r| (*r).clone()))
            .collect();
        crate::out!("{}", history_table(&chosen));
        return Ended::Success;
    }
    let state = match target.state() {
        Ok(s) => s,
        Err(ended) => return ended,
    };
    let executor = match target.executor(&state).await {
        Ok(e) => e,
        Err(ended) => return ended,
    };
    let done = executor.delete_backups(&items, force_protected, None).await;
    let mut ended = Ended::Success;
    for r in &done.results {
        match r.outcome {
            Outcome::Failed => {
                ended = Ended::Failure;
                eprintln!("{}: failed: {}", r.id, r.error.as_deref().unwrap_or("unknown error"));
            }
            Outcome::DryRun => crate::outln!("{}: dry run: would delete; nothing was changed", r.id),
            other => crate::outln!("{}: {}", r.id, other.as_str()),
        }
    }
    if let Some(e) = done.error {
        ended = fail(e);
    }
    ended
}
