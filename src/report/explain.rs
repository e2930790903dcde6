//! `explain`: the whole decision about one backup, for people and for machines.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::calendar::rfc3339;
use crate::pass::PortalRead;
use crate::retention::{Explanation, GuardStep, RULES, RuleOutcome, RuleStep, Scope};
use crate::wire::shown;

/// 1st, 2nd, 3rd, 4th, 11th, 21st.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn scope_text(scope: Scope) -> String {
    match scope {
        Scope::Managed => "managed: it takes part in the rules and the guards".into(),
        Scope::NotManaged => "not managed: its storage type is outside storage_types; never touched".into(),
        Scope::Doubtful(d) => format!("doubtful ({}): kept, and counted by no rule or guard", d.as_str()),
        Scope::Temporary => "temporary: the server deletes it itself when it expires; never deleted here".into(),
        Scope::Twin => {
            "another listing of an id the history lists more than once: it shares the fate of the id's first \
             listing (kept, when any listing is doubtful, temporary or not managed)"
                .into()
        }
    }
}

fn rule_key(step: &RuleStep) -> &'static str {
    RULES
        .iter()
        .find(|d| d.rule == step.setting.rule)
        .map_or("keep_?", |d| d.key)
}

/// The rule's setting as written: `14`, `unlimited`, `30d`.
fn setting(step: &RuleStep) -> String {
    match (step.setting.count, step.setting.window) {
        (_, Some((d, _))) => d.to_string(),
        (Some(-1), _) => "unlimited".into(),
        (Some(n), _) => n.to_string(),
        (None, None) => String::new(),
    }
}

fn outcome_name(o: RuleOutcome) -> &'static str {
    match o {
        RuleOutcome::Keeps { .. } => "keeps",
        RuleOutcome::SameBucket => "same_bucket",
        RuleOutcome::UsedUp => "used_up",
        RuleOutcome::OutsideWindow => "outside_window",
    }
}

/// One rule's line: `keep_daily 14: bucket 2026-11-21 (Europe/Berlin), 3rd of 14 → keeps`.
fn rule_text(step: &RuleStep, tz: Tz) -> String {
    let mut t = format!("{} {}: ", rule_key(step), setting(step));
    if let Some((_, start)) = step.setting.window {
        t.push_str(&format!("window after {}", rfc3339(start)));
        if step.outcome != RuleOutcome::OutsideWindow {
            t.push_str(", ");
        }
    }
    if let Some(bucket) = &step.bucket
        && step.outcome != RuleOutcome::OutsideWindow
        && step.outcome != RuleOutcome::UsedUp
    {
        t.push_str(&format!("bucket {bucket} ({tz}), "));
    }
    t.push_str(&match step.outcome {
        RuleOutcome::Keeps { rank, oldest } => {
            let of = match step.setting.count {
                Some(n) if n > 0 => format!(" of {n}"),
                _ => String::new(),
            };
            let oldest = if oldest {
                " (the oldest backup, kept while counts are left)"
            } else {
                ""
            };
            format!("{}{of}{oldest} → keeps", ordinal(rank))
        }
        RuleOutcome::SameBucket => "a newer backup stands for this bucket → does not keep".into(),
        RuleOutcome::UsedUp => "its counts were used up by newer backups → does not keep".into(),
        RuleOutcome::OutsideWindow => "outside the window → does not keep".into(),
    });
    t
}

/// The health line and its JSON state.
fn health(ex: &Explanation<'_>, read: &PortalRead) -> (&'static str, String) {
    let Some(view) = &read.health.view else {
        return (
            "off",
            "not judged: the sentinel is off for this portal (health.enabled)".into(),
        );
    };
    if let Some(why) = &ex.suspect {
        return (
            "suspect",
            format!("suspect ({why}) → kept, fills no keep slot, not counted by min_keep"),
        );
    }
    use crate::health::Verdict;
    let (state, text) = match view.verdict(ex.planned.id) {
        Some(Verdict::Healthy) => ("healthy", "healthy".to_string()),
        Some(v @ Verdict::Suspect(_)) => ("suspect", v.text()),
        Some(Verdict::Unknown) | None => ("unknown", "unknown (no size or duration to judge it by)".to_string()),
    };
    match ex.pinned {
        true => (
            state,
            format!("{text}; pinned: one of the newest healthy backups while newer ones are suspect or missing → kept"),
        ),
        false => (state, text),
    }
}

fn guard_text(step: &GuardStep) -> (&'static str, String) {
    match step {
        GuardStep::NotACandidate => (
            "not_a_candidate",
            "nothing to guard: it was kept before the guards".into(),
        ),
        GuardStep::Passed(why) => ("passed", format!("let it through: {why}")),
        GuardStep::Blocked(limit) => ("blocked", format!("blocked it → kept: {limit}")),
        GuardStep::NotReached => ("not_reached", "not reached: an earlier guard kept it".into()),
    }
}

fn max_age_text(ex: &Explanation<'_>) -> Option<String> {
    let (d, cutoff, older) = ex.max_age?;
    Some(match older {
        true => format!(
            "{d}: created before {} → a deletion whatever rule kept it (protect and the guards still apply)",
            rfc3339(cutoff)
        ),
        false => format!("{d}: created after {} → no effect", rfc3339(cutoff)),
    })
}

/// `explain` for people.
pub fn explain_text(portal: &str, ex: &Explanation<'_>, read: &PortalRead, tz: Tz) -> String {
    let e = &ex.planned;
    let mut out = format!("backup {} of portal {portal}\n", shown(&e.record.id));
    if let Some(f) = &e.record.file_name {
        out.push_str(&format!("  file: {}\n", shown(f)));
    }
    let created = match e.created() {
        Some(t) => format!(
            "{} ({} {tz})",
            rfc3339(t),
            t.with_timezone(&tz).format("%Y-%m-%d %H:%M")
        ),
        None => "no readable date".into(),
    };
    out.push_str(&format!(
        "  created: {created}; storage {}; {} newest of {} listed; planned at {}\n",
        e.record.storage_type.name(),
        ordinal(ex.position as u32),
        read.plan.entries.len(),
        rfc3339(read.context.now)
    ));
    if ex.listings > 1 {
        out.push_str(&format!("  the history lists this id {} times\n", ex.listings));
    }
    out.push_str(&format!("scope: {}\n", scope_text(e.scope)));
    if e.scope == Scope::Managed {
        if ex.suspect.is_some() {
            out.push_str("rules: none looked at it: a suspect backup fills no keep slot\n");
        } else if ex.rules.is_empty() {
            out.push_str("rules: none is on\n");
        } else {
            match ex.rules.iter().any(|r| r.setting.window.is_some()) {
                true => out.push_str(&format!(
                    "rules (windows reach back from the newest backup, {}):\n",
                    ex.latest.map_or_else(|| "none before now".to_string(), rfc3339)
                )),
                false => out.push_str("rules:\n"),
            }
            for step in &ex.rules {
                out.push_str(&format!("  {}\n", rule_text(step, tz)));
            }
        }
        if let Some(text) = max_age_text(ex) {
            out.push_str(&format!("max_age {text}\n"));
        }
        out.push_str(&format!("health: {}\n", health(ex, read).1));
        out.push_str(match ex.protected {
            true => "protect: listed → kept\n",
            false => "protect: not listed\n",
        });
        if ex.guards.iter().all(|(_, s)| *s == GuardStep::NotACandidate) {
            out.push_str("guards: none had anything to do: it was kept before the guards\n");
        } else {
            out.push_str("guards, in order:\n");
            for (g, step) in &ex.guards {
                out.push_str(&format!("  {}: {}\n", g.as_str(), guard_text(step).1));
            }
        }
    }
    let reasons: Vec<String> = e.reasons.iter().map(ToString::to_string).collect();
    out.push_str(&format!("decision: {}", e.action.as_str()));
    if !reasons.is_empty() {
        out.push_str(&format!(" ({})", reasons.join(", ")));
    }
    out.push('\n');
    out
}

/// `explain --json`.
pub fn explain_json(portal: &str, ex: &Explanation<'_>, read: &PortalRead, tz: Tz) -> Value {
    let e = &ex.planned;
    let when = |t: Option<DateTime<Utc>>| t.map(rfc3339);
    let rules: Vec<Value> = ex
        .rules
        .iter()
        .map(|s| {
            let (rank, oldest) = match s.outcome {
                RuleOutcome::Keeps { rank, oldest } => (Some(rank), oldest),
                _ => (None, false),
            };
            json!({
                "rule": rule_key(s),
                "setting": setting(s),
                "bucket": s.bucket,
                "window_start": when(s.setting.window.map(|(_, start)| start)),
                "outcome": outcome_name(s.outcome),
                "rank": rank,
                "oldest": oldest,
                "text": rule_text(s, tz),
            })
        })
        .collect();
    let guards: Vec<Value> = ex
        .guards
        .iter()
        .map(|(g, s)| {
            let (did, text) = guard_text(s);
            json!({"guard": g.as_str(), "did": did, "text": text})
        })
        .collect();
    let (health_state, health_text) = health(ex, read);
    json!({
        "portal": portal,
        "id": e.record.id,
        "file_name": e.record.file_name,
        "storage_type": e.record.storage_type.name(),
        "created_on": when(e.created()),
        "timezone": tz.name(),
        "planned_at": rfc3339(read.context.now),
        "position": ex.position,
        "listings": ex.listings,
        "scope": match e.scope {
            Scope::Managed => "managed",
            Scope::NotManaged => "not_managed",
            Scope::Doubtful(_) => "doubtful",
            Scope::Temporary => "temporary",
            Scope::Twin => "twin",
        },
        "latest": when(ex.latest),
        "rules": rules,
        "max_age": ex.max_age.map(|(d, cutoff, older)| json!({"max_age": d.to_string(), "cutoff": rfc3339(cutoff), "older": older})),
        "health": {"state": health_state, "text": health_text, "pinned": ex.pinned},
        "protected": ex.protected,
        "guards": guards,
        "action": e.action.as_str(),
        "reasons": e.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}
