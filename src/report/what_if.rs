//! `plan --what-if`: per portal, the backups a policy change would delete that are
//! kept now, those it would keep that are deleted now, and (with `--forecast`) the
//! deletion dates that move. A table for people, JSON for machines.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::calendar::rfc3339;
use crate::pass::PortalRead;
use crate::retention::{Change, Comparison, Forecast, Plan, Scope, compare};
use crate::wire::{BackupId, shown};

/// One portal read once and planned with the policy it has and the one after.
pub struct WhatIfRead {
    pub read: PortalRead,
    /// The plan with the policy after the fragment, of the same records.
    pub after: Plan,
    pub forecast_before: Option<Forecast>,
    pub forecast_after: Option<Forecast>,
}

pub struct WhatIfPortal {
    pub portal: String,
    pub outcome: Result<WhatIfRead, String>,
}

/// A backup whose forecast deletion date moves.
struct Moved<'a> {
    id: &'a str,
    created: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
}

impl WhatIfRead {
    fn comparison(&self) -> Comparison<'_> {
        compare(&self.read.plan, &self.after)
    }

    /// With forecasts: the backups kept by both plans whose deletion date moves.
    fn moved(&self, changed: &Comparison<'_>) -> Vec<Moved<'_>> {
        let (Some(before), Some(after)) = (&self.forecast_before, &self.forecast_after) else {
            return Vec::new();
        };
        let changed_ids: Vec<BackupId> = changed
            .newly_deleted
            .iter()
            .chain(&changed.newly_kept)
            .filter_map(|c| c.before.id)
            .collect();
        let on = |f: &Forecast, id: BackupId| f.deletes_on.get(&id).copied();
        self.read
            .plan
            .iter()
            .filter(|e| e.scope != Scope::Twin)
            .filter_map(|e| Some((e, e.id?)))
            .filter(|(_, id)| !changed_ids.contains(id))
            .filter(|(_, id)| on(before, *id) != on(after, *id))
            .map(|(e, id)| Moved {
                id: &e.record.id,
                created: e.created(),
                before: on(before, id),
                after: on(after, id),
            })
            .collect()
    }
}

impl WhatIfPortal {
    /// Whether the change would change anything for this portal.
    pub fn changes(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|w| {
            let c = w.comparison();
            !c.is_empty() || !w.moved(&c).is_empty()
        })
    }
}

fn reasons(p: &crate::retention::Planned<'_>) -> Vec<String> {
    p.reasons.iter().map(ToString::to_string).collect()
}

fn change_json(c: &Change<'_>) -> Value {
    json!({
        "id": c.before.record.id,
        "file_name": c.before.record.file_name,
        "created_on": c.before.created().map(rfc3339),
        "action_before": c.before.action.as_str(),
        "reasons_before": reasons(&c.before),
        "action_after": c.after.action.as_str(),
        "reasons_after": reasons(&c.after),
    })
}

/// `plan --what-if FILE --json`.
pub fn what_if_json(generated_at: DateTime<Utc>, fragment: &Path, portals: &[WhatIfPortal]) -> Value {
    let list: Vec<Value> = portals
        .iter()
        .map(|p| match &p.outcome {
            Ok(w) => {
                let c = w.comparison();
                let mut v = json!({
                    "portal": p.portal,
                    "outcome": "planned",
                    "error": null,
                    "changed": p.changes(),
                    "newly_deleted": c.newly_deleted.iter().map(change_json).collect::<Vec<_>>(),
                    "newly_kept": c.newly_kept.iter().map(change_json).collect::<Vec<_>>(),
                    "clear_history": c.clear.map(|(before, after)| json!({"before": before, "after": after})),
                });
                if w.forecast_before.is_some() {
                    v["deletes_on_moved"] = w
                        .moved(&c)
                        .iter()
                        .map(|m| {
                            json!({
                                "id": m.id,
                                "created_on": m.created.map(rfc3339),
                                "deletes_on_before": m.before.map(rfc3339),
                                "deletes_on_after": m.after.map(rfc3339),
                            })
                        })
                        .collect::<Value>();
                }
                v
            }
            Err(e) => json!({
                "portal": p.portal, "outcome": "failed", "error": e, "changed": null,
                "newly_deleted": [], "newly_kept": [], "clear_history": null,
            }),
        })
        .collect();
    json!({
        "generated_at": rfc3339(generated_at),
        "what_if": fragment.display().to_string(),
        "changed": portals.iter().filter(|p| p.changes()).count(),
        "portals": list,
    })
}

/// `keep: daily snapshot`, `delete: no keep rule: …`, or for a deletion a guard holds
/// back this pass `delete, held this pass: grace: deletable after …`.
fn decision(p: &crate::retention::Planned<'_>) -> String {
    let why = reasons(p).join(", ");
    match (why.is_empty(), p.held_by_guard()) {
        (_, true) => format!("delete, held this pass: {why}"),
        (true, false) => p.action.as_str().to_string(),
        (false, false) => format!("{}: {why}", p.action.as_str()),
    }
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), rfc3339)
}

/// `plan --what-if FILE`: a block per portal, then one line for the fleet.
pub fn what_if_text(fragment: &Path, portals: &[WhatIfPortal]) -> String {
    let mut out = String::new();
    let (mut deleted, mut kept, mut moved, mut changed, mut failed) = (0, 0, 0, 0, 0);
    for p in portals {
        let w = match &p.outcome {
            Ok(w) => w,
            Err(e) => {
                failed += 1;
                out.push_str(&format!("{}: failed: {}\n", p.portal, shown(e)));
                continue;
            }
        };
        let c = w.comparison();
        let m = w.moved(&c);
        if c.is_empty() && m.is_empty() {
            out.push_str(&format!("{}: no change\n", p.portal));
            continue;
        }
        changed += 1;
        deleted += c.newly_deleted.len();
        kept += c.newly_kept.len();
        moved += m.len();
        out.push_str(&format!(
            "{}: {} newly deleted, {} newly kept{}\n",
            p.portal,
            c.newly_deleted.len(),
            c.newly_kept.len(),
            if w.forecast_before.is_some() {
                match m.len() {
                    1 => ", 1 deletion date moves".to_string(),
                    n => format!(", {n} deletion dates move"),
                }
            } else {
                String::new()
            }
        ));
        if let Some((before, after)) = c.clear {
            out.push_str(match (before, after) {
                (false, true) => {
                    "  the history would be cleared with one call (which also takes records the list does not show)\n"
                }
                _ => "  the history would no longer be cleared with one call\n",
            });
        }
        for (title, list) in [("newly deleted", &c.newly_deleted), ("newly kept", &c.newly_kept)] {
            if list.is_empty() {
                continue;
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|ch| {
                    vec![
                        shown(&ch.before.record.id).into_owned(),
                        when(ch.before.created()),
                        decision(&ch.before),
                        decision(&ch.after),
                    ]
                })
                .collect();
            out.push_str(&format!("  {title}:\n"));
            for line in super::table(&["ID", "CREATED", "NOW", "AFTER"], &rows).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if !m.is_empty() {
            let rows: Vec<Vec<String>> = m
                .iter()
                .map(|m| vec![shown(m.id).into_owned(), when(m.created), when(m.before), when(m.after)])
                .collect();
            out.push_str("  deletion dates that move (- survives the forecast):\n");
            for line in super::table(&["ID", "CREATED", "DELETED NOW ON", "AFTER ON"], &rows).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out.push_str(&format!(
        "what-if {}: {changed} of {} portal{} would change: {deleted} newly deleted, {kept} newly kept{}{}\n",
        fragment.display(),
        portals.len(),
        if portals.len() == 1 { "" } else { "s" },
        if portals
            .iter()
            .any(|p| p.outcome.as_ref().is_ok_and(|w| w.forecast_before.is_some()))
        {
            format!(", {moved} deletion dates move")
        } else {
            String::new()
        },
        if failed > 0 {
            format!("; {failed} failed")
        } else {
            String::new()
        }
    ));
    out
}
