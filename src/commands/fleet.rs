//! `plan` and `once`: the same read over many portals at once, `max_concurrent_portals`
//! at a time; one portal's failure changes the exit status, never the others' work.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::context::{Context, Ended, fail, select};
use crate::calendar::CalDuration;
use crate::config::{Config, PortalConfig};
use crate::docspace::Clients;
use crate::observe::Observer;
use crate::pass::{self, PassReport};
use crate::report::{self, PortalPlan};
use crate::state::{Access, PortalMemory, StateDb, StateDir};

/// This replica's portals of the config, with logging to stderr.
pub(super) fn fleet_config(ctx: &Context) -> Result<Config, Ended> {
    let config = ctx.load(true, true)?.own_shard();
    crate::logging::init_for_command(&config.log);
    Ok(config)
}

/// What `plan` prints or writes besides the table.
#[derive(Clone, Debug, Default)]
pub struct PlanOutput {
    /// JSON on stdout instead of the table.
    pub json: bool,
    /// Plan as if "now" were this instant.
    pub at: Option<DateTime<Utc>>,
    /// Forecast each backup's deletion this far ahead.
    pub forecast: Option<CalDuration>,
    /// Write the HTML picture here too.
    pub html: Option<PathBuf>,
    /// Each portal's header and the fleet's totals, no table of backups.
    pub summary: bool,
    /// Compare with the policy after this config fragment instead.
    pub what_if: Option<PathBuf>,
}

/// `plan`: read and decide, delete nothing; a table or JSON on stdout.
pub async fn plan(ctx: &Context, names: &[String], out: &PlanOutput) -> Ended {
    if let Some(fragment) = &out.what_if {
        return super::what_if::what_if(ctx, names, out, fragment).await;
    }
    let config = match fleet_config(ctx) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    let portals = match select(&config, names) {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    let now = out.at.unwrap_or_else(Utc::now);
    let until = out.forecast.map(|d| d.after(now));
    let db = match state_db(&config) {
        Ok(db) => db,
        Err(ended) => return ended,
    };
    let mut plans = match read_all(&config, portals, db.as_ref(), now, until).await {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    plans.sort_by(|a, b| report::fleet_order((a.result.is_ok(), &a.portal), (b.result.is_ok(), &b.portal)));
    let disabled = if names.is_empty() { config.disabled.len() } else { 0 };
    let totals = report::Totals::of_plans(&plans, disabled);
    if out.json {
        crate::outln!("{}", report::plan_json(now, &plans, &totals));
    } else if out.summary {
        crate::out!("{}", report::plan_summary(&plans));
        crate::outln!("{}", totals.line());
    } else {
        crate::out!("{}", report::plan_table(&plans));
        crate::outln!("\n{}", totals.line());
    }
    if let Some(file) = &out.html {
        let extras = page_extras(&config, &plans, db.as_ref(), now);
        if let Err(e) = std::fs::write(file, report::plan_page(now, &plans, &extras)) {
            return fail(format!("cannot write {}: {e}", file.display()));
        }
    }
    if plans.iter().any(|p| p.result.is_err()) {
        Ended::Failure
    } else {
        Ended::Success
    }
}

/// What earlier passes remember, read only: `plan` never writes it (`None`: no state
/// database yet).
pub(super) fn state_db(config: &Config) -> Result<Option<StateDb>, Ended> {
    crate::state::read_only(&config.daemon.state_dir).map_err(fail)
}

/// What the page of `plan --html` shows beyond the plans: each portal's own forecast
/// to `picture.forecast` (when `--forecast` made none) and its recent deletions.
fn page_extras(config: &Config, plans: &[PortalPlan], db: Option<&StateDb>, now: DateTime<Utc>) -> report::PageExtras {
    let mut extras = report::PageExtras::default();
    let since = now - crate::picture::DELETIONS_SHOWN;
    for p in plans {
        let (Ok(read), Some(portal)) = (&p.result, config.portal(&p.portal)) else {
            continue;
        };
        if let (None, Some(span)) = (&p.forecast, config.picture_forecast) {
            let forecast = pass::forecast_every(portal, read, span.after(now), pass::PAGE_GAP);
            extras.forecasts.insert(p.portal.clone(), forecast);
        }
        if let Some(d) = db.and_then(|db| db.deletions_by_pass(&p.portal, since).ok()) {
            extras.deletions.insert(p.portal.clone(), d);
        }
    }
    extras
}

/// Reads and plans each of `portals` as of `now` (with a forecast to `until`), with
/// what earlier passes remember (`db`); `max_concurrent_portals` at a time.
pub(super) async fn read_all(
    config: &Config,
    portals: Vec<&PortalConfig>,
    db: Option<&StateDb>,
    now: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<PortalPlan>, Ended> {
    let clients = Clients::new().map_err(fail)?;
    let plans = futures::stream::iter(portals)
        .map(|portal| {
            let clients = &clients;
            async move {
                let memory = match db {
                    Some(db) => db
                        .load(&portal.name)
                        .and_then(|m| Ok((m, db.load_health(&portal.name, now)?))),
                    None => Ok((PortalMemory::default(), Default::default())),
                };
                let result = match (memory, clients.client(&portal.name, portal.endpoint())) {
                    (Ok((memory, health)), Ok(client)) => pass::read_and_plan(portal, &client, now, &memory, &health)
                        .await
                        .map_err(|e| e.to_string()),
                    (Err(e), _) => Err(e.to_string()),
                    (_, Err(e)) => Err(e),
                };
                if let Err(e) = &result {
                    tracing::error!(portal = %portal.name, error = %e, "cannot plan");
                }
                // One read, then the forecast from it: no further request.
                let forecast = match (&result, until) {
                    (Ok(read), Some(until)) => Some(pass::forecast(portal, read, until)),
                    _ => None,
                };
                PortalPlan {
                    portal: portal.name.clone(),
                    result,
                    forecast,
                }
            }
        })
        .buffered(config.daemon.max_concurrent_portals)
        .collect()
        .await;
    Ok(plans)
}

/// `once`: one retention pass over the portals, a summary line each.
pub async fn once(ctx: &Context, names: &[String]) -> Ended {
    let config = match fleet_config(ctx) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    let portals = match select(&config, names) {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    // Dry runs never write the state database; a fleet with one real pass does.
    let access = match portals.iter().all(|p| p.dry_run) {
        true => Access::Read,
        false => Access::Write,
    };
    let state = match StateDir::open(&config.daemon.state_dir, access) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    state.audit().set_signer(config.evidence.signer.clone());
    let observer = Arc::new(Observer::new());
    let clients = match Clients::observed(Arc::clone(&observer) as _) {
        Ok(c) => Arc::new(c),
        Err(e) => return fail(e),
    };
    // Each pass is its own task, so passes spread over the runtime's worker threads.
    // Only a summary line per portal is kept: a fleet's full reports would not fit a
    // sidecar's memory.
    let mut results = futures::stream::iter(portals)
        .map(|portal| {
            let (clients, state, observer, portal) = (
                Arc::clone(&clients),
                Arc::clone(&state),
                Arc::clone(&observer),
                portal.clone(),
            );
            tokio::spawn(async move {
                let report = match clients.client(&portal.name, portal.endpoint()) {
                    Ok(client) => pass::run_pass(&portal, &client, &state, Utc::now()).await,
                    Err(e) => PassReport::failed(&portal.name, portal.dry_run, e),
                };
                observer.pass_finished(&report);
                // Nobody scrapes a one-shot run: drop the portal's series as it ends.
                observer.portal_removed(&portal.name);
                let totals = report::Totals::of_report(&report);
                (report.portal.clone(), report::pass_summary(&report), totals)
            })
        })
        .buffered(config.daemon.max_concurrent_portals);
    // Failing portals first, then in natural order; the fleet's totals last.
    let mut lines = Vec::new();
    let mut totals = report::Totals {
        disabled: if names.is_empty() { config.disabled.len() } else { 0 },
        ..report::Totals::default()
    };
    while let Some(joined) = results.next().await {
        let (portal, line, t) = joined.unwrap_or_else(|e| {
            let failed = report::Totals {
                portals: 1,
                failed: 1,
                ..report::Totals::default()
            };
            (String::new(), format!("pass task failed: {e}"), failed)
        });
        lines.push((t.failed == 0, portal, line));
        totals.add(&t);
    }
    lines.sort_by(|a, b| report::fleet_order((a.0, &a.1), (b.0, &b.1)));
    for (_, _, line) in &lines {
        crate::outln!("{line}");
    }
    crate::outln!("{}", totals.line());
    if totals.failed == 0 {
        Ended::Success
    } else {
        Ended::Failure
    }
}
