//! `attest`: what was kept and what was deleted for one portal in a span, from the
//! audit log and the state database alone (no request to any server), and the same
//! bytes for the same inputs. Deletions are "deleted through the DocSpace API", never
//! "erased": storage may keep copies (docs/docspace-api.md, "Time and names").

use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::calendar::rfc3339;
use crate::pass::PassReport;
use crate::state::Observation;

/// The `"phase": "pass"` line a pass leaves in the audit log: what `attest` reads
/// passes from.
pub fn pass_line(portal: &crate::config::PortalConfig, r: &PassReport) -> Value {
    use crate::state::audit::Outcome;
    let gone: std::collections::HashSet<crate::wire::BackupId> = r
        .deletions
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Deleted | Outcome::AlreadyGone))
        .map(|d| d.id)
        .collect();
    let cleared = r.clear.as_ref().is_some_and(|c| c.outcome == Outcome::Deleted);
    let (mut records, mut managed, mut oldest, mut held) = (Value::Null, Value::Null, Value::Null, Value::Null);
    if let Some(read) = &r.read {
        let remaining: Vec<crate::retention::Planned<'_>> = read
            .plan
            .iter()
            .filter(|e| !cleared && !e.id.is_some_and(|id| gone.contains(&id)))
            .collect();
        records = json!(remaining.len());
        managed = json!(
            remaining
                .iter()
                .filter(|e| e.scope == crate::retention::Scope::Managed)
                .count()
        );
        oldest = json!(remaining.iter().filter_map(|e| e.created()).min().map(rfc3339));
        if let Some(max_age) = portal.retention.max_age {
            let cutoff = max_age.before(read.context.now, read.context.tz);
            held = json!(
                !remaining
                    .iter()
                    .any(|e| e.scope == crate::retention::Scope::Managed && e.created().is_some_and(|t| t <= cutoff))
            );
        }
    }
    json!({
        // When the pass planned (its "now"); `finished` is when it ended.
        "ts": rfc3339(r.started),
        "portal": r.portal,
        "phase": "pass",
        "finished": rfc3339(r.finished),
        "outcome": if r.succeeded() { "success" } else { "failure" },
        "error": r.error.as_deref().map(crate::secret::mask_api_keys),
        "dry_run": r.dry_run,
        "records": records,
        "managed": managed,
        "oldest_present": oldest,
        "max_age": portal.retention.max_age.map(|d| d.to_string()),
        "max_age_held": held,
        "deleted": r.count(Outcome::Deleted) + r.count(Outcome::AlreadyGone)
            + if cleared { r.clear.as_ref().map_or(0, |c| c.records) } else { 0 },
        "would_delete": r.count(Outcome::DryRun),
        "policy_hash": crate::config::policy_hash(portal),
    })
}

/// One pass as `attest` shows it.
#[derive(Clone, Debug, PartialEq)]
struct Pass {
    ts: String,
    line: Value,
}

/// The audit lines of some portals in `[from, to]`, by portal, each with the chain's
/// first and last hash among them. One pass over the files for any number of
/// portals: a line is parsed only when its `"portal"` is one of them.
#[derive(Default)]
struct Lines {
    portal: Vec<(u64, Value)>,
    first_hash: Option<String>,
    last_hash: Option<String>,
}

fn read_lines(
    files: &[PathBuf],
    portals: &std::collections::BTreeSet<String>,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<std::collections::BTreeMap<String, Lines>, String> {
    let finder = memchr::memmem::Finder::new(b"\"portal\":\"");
    let mut out: std::collections::BTreeMap<String, Lines> =
        portals.iter().map(|p| (p.clone(), Lines::default())).collect();
    for file in files {
        let reader = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?,
        );
        for raw in reader.split(b'\n') {
            let raw = raw.map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            // Lines are canonical JSON: `"portal":"NAME"`, NAME without escapes.
            let Some(at) = finder.find(&raw) else { continue };
            let rest = &raw[at + 10..];
            let Some(end) = memchr::memchr(b'"', rest) else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(&rest[..end]) else {
                continue;
            };
            let Some(lines) = out.get_mut(name) else { continue };
            let Ok(line) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            // Only chained lines are evidence (a line before the chain is no one's).
            if line.get("hash").is_none() {
                continue;
            }
            let Some(ts) = line
                .get("ts")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            else {
                continue;
            };
            if ts < *from || ts > *to {
                continue;
            }
            if let Some(hash) = line.get("hash").and_then(Value::as_str) {
                lines.first_hash.get_or_insert_with(|| hash.to_string());
                lines.last_hash = Some(hash.to_string());
            }
            let seq = line.get("seq").and_then(Value::as_u64).unwrap_or(0);
            lines.portal.push((seq, line));
        }
    }
    Ok(out)
}

/// The attestations of several portals for `[from, to]`, from one reading of the
/// audit log: `observations` gives each portal's remembered backups.
pub fn attest_many(
    log: &Path,
    portals: &std::collections::BTreeMap<String, Vec<Observation>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Value>, String> {
    let files = super::chain_files(log);
    let names: std::collections::BTreeSet<String> = portals.keys().cloned().collect();
    let mut lines = read_lines(&files, &names, &from, &to)?;
    Ok(portals
        .iter()
        .map(|(name, observations)| {
            let l = lines.remove(name).unwrap_or_default();
            one(&files, l, observations, name, from, to)
        })
        .collect())
}

/// The attestation of `portal` for `[from, to]`, as JSON.
pub fn attest(
    log: &Path,
    observations: &[Observation],
    portal: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Value, String> {
    let portals = std::iter::once((portal.to_string(), observations.to_vec())).collect();
    Ok(attest_many(log, &portals, from, to)?.remove(0))
}

fn one(
    files: &[PathBuf],
    lines: Lines,
    observations: &[Observation],
    portal: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let (from_s, to_s) = (rfc3339(from), rfc3339(to));
    let phase = |l: &Value| l.get("phase").and_then(Value::as_str).map(str::to_string);
    let passes: Vec<Pass> = lines
        .portal
        .iter()
        .filter(|(_, l)| phase(l).as_deref() == Some("pass"))
        .map(|(_, l)| Pass {
            ts: l["ts"].as_str().unwrap_or_default().to_string(),
            line: l.clone(),
        })
        .collect();

    // max_age at every pass.
    let violations: Vec<Value> = passes
        .iter()
        .filter(|p| p.line["max_age_held"] == json!(false))
        .map(|p| {
            json!({"ts": p.ts, "max_age": p.line["max_age"], "oldest_present": p.line["oldest_present"],
                   "dry_run": p.line["dry_run"], "outcome": p.line["outcome"]})
        })
        .collect();
    let max_age_set = passes.iter().any(|p| !p.line["max_age"].is_null());
    // A pass that failed could not say: not "held".
    let not_known: Vec<Value> = passes
        .iter()
        .filter(|p| !p.line["max_age"].is_null() && p.line["max_age_held"].is_null())
        .map(|p| json!({"ts": p.ts, "outcome": p.line["outcome"]}))
        .collect();

    // The spans with no pass: gaps longer than twice the usual one (at least an hour;
    // two days when there are too few passes to say what is usual).
    // A failed pass observed nothing.
    let times: Vec<DateTime<Utc>> = passes
        .iter()
        .filter(|p| p.line["outcome"] == json!("success"))
        .filter_map(|p| DateTime::parse_from_rfc3339(&p.ts).ok().map(|t| t.to_utc()))
        .collect();
    let mut gaps: Vec<TimeDelta> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let usual = gaps.get(gaps.len() / 2).copied().filter(|_| gaps.len() >= 3);
    let limit = usual.map_or(TimeDelta::days(2), |g| (g * 2).max(TimeDelta::hours(1)));
    let mut edges = vec![from];
    edges.extend(&times);
    edges.push(to);
    let unobserved: Vec<Value> = edges
        .windows(2)
        .filter(|w| w[1] - w[0] > limit)
        .map(|w| json!({"from": rfc3339(w[0]), "to": rfc3339(w[1])}))
        .collect();

    // The policy in force: each hash, from the first pass that had it.
    let mut policies: Vec<Value> = Vec::new();
    for p in &passes {
        let hash = &p.line["policy_hash"];
        if policies.last().is_none_or(|last| last["policy_hash"] != *hash) {
            policies.push(json!({"since": p.ts, "policy_hash": hash}));
        }
    }

    // Every backup seen in the span, with its fate and the audit lines behind it
    // (found through an index by id, not a search per backup).
    let mut by_id: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
    for (i, (_, l)) in lines.portal.iter().enumerate() {
        if let Some(b) = l.get("backup_id").and_then(Value::as_str) {
            by_id.entry(b.to_ascii_lowercase()).or_default().push(i);
        }
    }
    let mut backups: Vec<Value> = observations
        .iter()
        .filter(|o| o.first_seen <= to && o.left_at.is_none_or(|t| t >= from))
        .map(|o| {
            let id = o.id.to_string();
            let behind: Vec<Value> = by_id
                .get(&id)
                .into_iter()
                .flatten()
                .map(|&i| &lines.portal[i])
                .map(|(seq, l)| {
                    json!({"seq": seq, "ts": l["ts"], "phase": l["phase"], "outcome": l["outcome"],
                           "dry_run": l["dry_run"], "reasons": l["reasons"]})
                })
                .collect();
            // Deleted: its result line says so (or its deletion was sent and it was
            // gone at the next pass, the result line falling outside the span).
            let verified = behind.iter().any(|l| {
                l["phase"] == json!("result")
                    && l["dry_run"] != json!(true)
                    && matches!(l["outcome"].as_str(), Some("deleted" | "already_gone"))
            });
            let fate = match o.left_as.as_deref() {
                None => "present",
                Some("deleted") if verified => "deleted through the DocSpace API (its result in the log)",
                Some("deleted") => "deleted through the DocSpace API (sent, and gone at the next pass)",
                Some("intended") => "deletion sent, its outcome not yet read",
                Some("expired") => "expired (a temporary backup the server removed)",
                Some("vanished") => "vanished (not deleted by this product)",
                Some(_) => "left",
            };
            json!({
                "id": id,
                "created_on": o.created_on.map(rfc3339),
                "first_seen": rfc3339(o.first_seen),
                "last_seen": rfc3339(o.last_seen),
                "left_at": o.left_at.map(rfc3339),
                "fate": fate,
                "audit": behind,
            })
        })
        .collect();
    backups.sort_by(|a, b| {
        (a["created_on"].as_str(), a["id"].as_str()).cmp(&(b["created_on"].as_str(), b["id"].as_str()))
    });

    json!({
        "portal": portal,
        "from": from_s,
        "to": to_s,
        "passes": passes.iter().map(|p| json!({
            "ts": p.ts, "outcome": p.line["outcome"], "dry_run": p.line["dry_run"],
            "oldest_present": p.line["oldest_present"], "max_age_held": p.line["max_age_held"],
            "deleted": p.line["deleted"], "would_delete": p.line["would_delete"],
            "policy_hash": p.line["policy_hash"],
        })).collect::<Vec<_>>(),
        "max_age": {
            "set": max_age_set,
            "held_at_every_pass": max_age_set.then_some(violations.is_empty() && not_known.is_empty()),
            "not_known": not_known,
            "violations": violations,
        },
        "unobserved": unobserved,
        "policies": policies,
        "backups": backups,
        "chain": {"first_hash": lines.first_hash, "last_hash": lines.last_hash},
        "files": files.iter().map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
    })
}

/// The attestation in words.
pub fn text(a: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| v.as_str().map_or_else(|| "-".to_string(), str::to_string);
    out.push_str(&format!(
        "attestation for portal {} from {} to {}\n",
        s(&a["portal"]),
        s(&a["from"]),
        s(&a["to"])
    ));
    out.push_str(&format!(
        "audit chain: first hash {}, last hash {}\n",
        s(&a["chain"]["first_hash"]),
        s(&a["chain"]["last_hash"])
    ));
    let passes = a["passes"].as_array().map_or(0, Vec::len);
    out.push_str(&format!("passes: {passes}\n"));
    match a["max_age"]["held_at_every_pass"].as_bool() {
        None => out.push_str("max_age: not set\n"),
        Some(true) => out.push_str("max_age: held at every pass\n"),
        Some(false) => {
            for v in a["max_age"]["not_known"].as_array().into_iter().flatten() {
                out.push_str(&format!("max_age: not known at {} (the pass failed)\n", s(&v["ts"])));
            }
            if !a["max_age"]["violations"].as_array().is_none_or(Vec::is_empty) {
                out.push_str("max_age: NOT held at these passes:\n");
            }
            for v in a["max_age"]["violations"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "  {}: oldest backup present {}{}\n",
                    s(&v["ts"]),
                    s(&v["oldest_present"]),
                    if v["dry_run"] == json!(true) {
                        " (dry run: nothing was deleted)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    for u in a["unobserved"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "unobserved: no pass from {} to {}\n",
            s(&u["from"]),
            s(&u["to"])
        ));
    }
    for p in a["policies"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "policy {} in force since {}\n",
            s(&p["policy_hash"]),
            s(&p["since"])
        ));
    }
    out.push_str("backups:\n");
    for b in a["backups"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} created {}: {}{}\n",
            s(&b["id"]),
            s(&b["created_on"]),
            s(&b["fate"]),
            b["left_at"].as_str().map(|t| format!(" at {t}")).unwrap_or_default()
        ));
    }
    out
}

/// The attestation as a self-contained HTML page (no script; everything escaped).
pub fn html(a: &Value) -> String {
    use crate::picture::escape;
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>attestation</title>\
         <style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}td,th{padding:2px 8px;\
         text-align:left;border-bottom:1px solid #eee}</style></head><body>",
    );
    out.push_str(&format!("<h1>Attestation</h1><pre>{}</pre>", escape(&text(a))));
    out.push_str("</body></html>\n");
    out
}
