//! `plan --what-if FILE` (docs/reference.md, "What if"): each portal read once and
//! planned twice, with the policy it has and with the policy after the fragment.
//! Deletes nothing; exit 0 when nothing would change, 3 when something would.

use std::path::Path;

use chrono::Utc;

use super::context::{Context, Ended, select};
use super::fleet::{PlanOutput, fleet_config, read_all, state_db};
use crate::report::{self, WhatIfPortal, WhatIfRead};

pub(super) async fn what_if(ctx: &Context, names: &[String], out: &PlanOutput, fragment: &Path) -> Ended {
    let config = match fleet_config(ctx) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    // The config as it would be: validated like the config, every error naming its key.
    let mut opts = ctx.load_options();
    opts.file_required = true;
    opts.require_portals = true;
    let after = match crate::config::load_with_fragment(&opts, fragment) {
        Ok(c) => c.own_shard(),
        Err(errors) => {
            eprint!("with the what-if fragment {}: {errors}", fragment.display());
            return Ended::Config;
        }
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
    let plans = match read_all(&config, portals, db.as_ref(), now, until).await {
        Ok(p) => p,
        Err(ended) => return ended,
    };
    let mut portals: Vec<WhatIfPortal> = plans
        .into_iter()
        .map(|p| {
            let after_portal = after.portal(&p.portal);
            let outcome = match (p.result, after_portal) {
                (Ok(read), Some(after_portal)) => {
                    // The same records in the same order, the same context: only the policy differs.
                    let plan = crate::retention::plan_retention(
                        read.plan.records().to_vec(),
                        &after_portal.retention,
                        &read.context,
                    );
                    let forecast_after = until.map(|until| crate::pass::forecast(after_portal, &read, until).0);
                    Ok(WhatIfRead {
                        forecast_before: p.forecast.map(|(f, _)| f),
                        read,
                        after: plan,
                        forecast_after,
                    })
                }
                (Ok(_), None) => Err("the portal is not in the config after the fragment".to_string()),
                (Err(e), _) => Err(e),
            };
            WhatIfPortal {
                portal: p.portal,
                outcome,
            }
        })
        .collect();
    portals.sort_by(|a, b| report::fleet_order((a.outcome.is_ok(), &a.portal), (b.outcome.is_ok(), &b.portal)));
    let changed = portals.iter().any(WhatIfPortal::changes);
    if out.json {
        crate::outln!("{}", report::what_if_json(now, fragment, &portals));
    } else {
        crate::out!("{}", report::what_if_text(fragment, &portals));
    }
    if portals.iter().any(|p| p.outcome.is_err()) {
        Ended::Failure
    } else if changed {
        Ended::Changed
    } else {
        Ended::Success
    }
}
