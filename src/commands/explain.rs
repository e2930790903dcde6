//! `explain --portal NAME BACKUP_ID` (docs/reference.md, "Explain"): the portal read
//! and planned as `plan` does, then the whole decision about one of its backups.

use chrono::{DateTime, Utc};

use super::context::{Context, Ended, error, select};
use super::fleet::{fleet_config, read_all, state_db};
use crate::wire::BackupId;

pub async fn explain(ctx: &Context, portal: &str, backup: &str, json: bool, at: Option<DateTime<Utc>>) -> Ended {
    let config = match fleet_config(ctx) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    let portals = match select(&config, std::slice::from_ref(&portal.to_string())) {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    let config_portal = portals[0];
    let now = at.unwrap_or_else(Utc::now);
    let db = match state_db(&config) {
        Ok(db) => db,
        Err(ended) => return ended,
    };
    let mut plans = match read_all(&config, portals, db.as_ref(), now, None).await {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    let read = match plans.pop().map(|p| p.result) {
        Some(Ok(read)) => read,
        Some(Err(e)) => return super::fail(format!("cannot plan portal {portal:?}: {e}")),
        None => return Ended::Failure,
    };
    // The id as the server spells it, or the same GUID in any case; its first listing.
    let wanted = BackupId::parse(backup);
    let Some(i) = read
        .plan
        .iter()
        .position(|e| e.record.id == backup || (wanted.is_some() && e.id == wanted))
    else {
        error(format!(
            "no backup {backup:?} in the history of portal {portal:?} ({} listed; `plan --portal {portal}` shows them)",
            read.plan.entries.len()
        ));
        return Ended::Failure;
    };
    let ex = crate::retention::explain(&read.plan, &config_portal.retention, &read.context, i);
    let tz = config_portal.timezone;
    if json {
        crate::outln!("{}", crate::report::explain_json(portal, &ex, &read, tz));
    } else {
        crate::out!("{}", crate::report::explain_text(portal, &ex, &read, tz));
    }
    Ended::Success
}
