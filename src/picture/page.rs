//! The page: a portal's section (its timeline, what can be restored, the deletions of
//! the last 30 days), the index of many portals, the style.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{Fate, Mark, Picture, escape, svg, svg::title};
use crate::calendar::rfc3339;

/// One portal's section: heading, caption, picture, legend of what is on it.
pub fn section(p: &Picture) -> String {
    let mut out = String::new();
    let _ = write!(out, r#"<section id="portal-{0}"><h2>{0}</h2>"#, escape(&p.portal));
    if let Some(e) = &p.error {
        let _ = write!(out, r#"<p class="error">last pass failed: {}</p>"#, escape(e));
    }
    if let Some(w) = &p.warning {
        let _ = write!(out, r#"<p class="error">warning: {}</p>"#, escape(w));
    }
    if let Some(h) = &p.health {
        let _ = write!(out, r#"<p class="error">health: {}</p>"#, escape(h));
    }
    let _ = write!(out, "<figure>{}<figcaption>", svg(p));
    let counts: Vec<String> = Fate::ALL
        .iter()
        .filter(|f| p.count(**f) > 0)
        .map(|f| {
            format!(
                r#"<span class="key {}">{} {}</span>"#,
                f.class(),
                p.count(*f),
                f.label()
            )
        })
        .collect();
    let _ = write!(out, "{}", counts.join(" "));
    if !p.missed.is_empty() {
        let _ = write!(
            out,
            r#" <span class="key missed-key">{} missed run{}</span>"#,
            p.missed.len(),
            if p.missed.len() == 1 { "" } else { "s" }
        );
    }
    if !p.guards.is_empty() {
        let _ = write!(out, "<br>guards: {}", escape(&p.guards.join(", ")));
    }
    if let Some(at) = p.at {
        let _ = write!(out, "<br>planned at {}", rfc3339(at));
    }
    if let Some(next) = p.next_run {
        let _ = write!(out, "; next run {}", rfc3339(next));
    }
    if let Some(f) = &p.forecast {
        let _ = write!(out, "<br>forecast: {}", escape(f));
    }
    let outlook = p.outlook();
    if let (Some((_, today)), Some((last, then))) = (outlook.first(), outlook.last()) {
        let fewest = outlook.iter().map(|(_, n)| *n).min().unwrap_or(0);
        let _ = write!(
            out,
            "<br>restore points: {today} today, {then} on {} (fewest {fewest})",
            last.format("%Y-%m-%d")
        );
    }
    out.push_str("</figcaption></figure>");
    if let Some(c) = &p.coverage() {
        let _ = write!(out, r#"<p class="coverage">{}</p>"#, escape(c));
    }
    if let Some(deletions) = &p.deletions {
        out.push_str(&deletions_line(deletions));
    }
    let undated: Vec<&Mark> = p.marks.iter().filter(|m| m.created.is_none()).collect();
    if !undated.is_empty() {
        out.push_str("<p>Without a readable date (kept):</p><ul>");
        for m in undated {
            let _ = write!(out, "<li>{}</li>", title(p, m));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

/// "Deleted in the last 30 days: 9 backups, by 4 runs: 12-01 03:30 3, …": each pass (or
/// operator command) that deleted, at the time it noted its deletions. The latest
/// run's are the ones it sent; the next pass confirms them (a failed one, listed
/// again, then no longer counts).
fn deletions_line(deletions: &[(DateTime<Utc>, u32)]) -> String {
    let total: u32 = deletions.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return r#"<p class="deletions">Deleted in the last 30 days: nothing.</p>"#.to_string();
    }
    let runs: Vec<String> = deletions
        .iter()
        .map(|(t, n)| {
            format!(
                r#"<span title="{}">{} {n}</span>"#,
                rfc3339(*t),
                t.format("%m-%d %H:%M")
            )
        })
        .collect();
    format!(
        r#"<p class="deletions">Deleted in the last 30 days: {total} backup{}, by {} run{}: {}.</p>"#,
        if total == 1 { "" } else { "s" },
        deletions.len(),
        if deletions.len() == 1 { "" } else { "s" },
        runs.join(", ")
    )
}

/// A row of the index of many portals.
#[derive(Clone, Debug)]
pub struct IndexRow {
    pub portal: String,
    pub outcome: Option<&'static str>,
    pub kept: usize,
    pub deleted: usize,
    pub blocked: usize,
    pub next_run: Option<DateTime<Utc>>,
    /// What can be restored, in one sentence (from the last pass's plan).
    pub coverage: Option<String>,
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}\
h1{font-size:20px}h2{font-size:16px;margin:24px 0 4px}figure{margin:0}figcaption{color:#555;font-size:13px}\
svg.timeline{display:block;overflow:hidden;max-width:100%;height:auto}\
.lane{stroke:#eee}.axis{stroke:#888}.tick{stroke:#888}.now{stroke:#444;stroke-dasharray:3 3}\
.until{stroke:#c62828;stroke-opacity:.35;stroke-width:2}.gone{stroke:#c62828;stroke-width:2}\
text{font:11px system-ui,sans-serif;fill:#555}.mark{stroke:#fff;stroke-width:1}\
.key{white-space:nowrap}.key::before{content:\"\";display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:-1px}\
.error{color:#c62828}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}\
.legend{margin:8px 0 16px}.missed{fill:#c62828}\
.key.missed-key::before{background:#c62828;border-radius:0}\
.ahead{fill:#f3f6f9}.life{fill:none;stroke-width:2;stroke-opacity:.4}.life.future{stroke:#2e7d32;stroke-opacity:.25;stroke-dasharray:4 3}\
.scheduled{stroke:#2e7d32;stroke-opacity:.55;stroke-width:2}.band{fill:#2e7d32;fill-opacity:.25;stroke:#2e7d32;stroke-width:1}\
.coverage{margin:4px 0;color:#1b5e20}.deletions{margin:2px 0;color:#555;font-size:13px}td.coverage{white-space:normal;font-size:13px}";

fn colours() -> String {
    let mut css = String::new();
    for f in Fate::ALL {
        let _ = write!(
            css,
            ".mark.{0}{{fill:{1}}}.key.{0}::before{{background:{1}}}.life.{0}{{stroke:{1}}}",
            f.class(),
            f.colour()
        );
    }
    css
}

/// The whole page: `pictures` drawn in full, `index` (when given) a table of every
/// portal linking to `/portal/NAME`.
pub fn page(title: &str, generated_at: DateTime<Utc>, pictures: &[Picture], index: Option<&[IndexRow]>) -> String {
    let mut out = String::with_capacity(4096 + pictures.len() * 8192);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}{}</style></head><body><h1>{}</h1><p>Generated {}.</p>",
        escape(title),
        colours(),
        escape(title),
        rfc3339(generated_at)
    );
    out.push_str("<p class=\"legend\">");
    for f in Fate::ALL {
        let _ = write!(out, r#"<span class="key {}">{}</span> "#, f.class(), f.label());
    }
    out.push_str("</p>");
    if let Some(rows) = index {
        out.push_str(
            "<table><thead><tr><th>portal</th><th>last pass</th><th>kept</th><th>deleted</th><th>blocked</th>\
             <th>next run</th><th>restorable</th></tr></thead><tbody>",
        );
        for r in rows {
            let _ = write!(
                out,
                r#"<tr><td><a href="/portal/{0}">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td><td class="coverage">{6}</td></tr>"#,
                escape(&r.portal),
                r.outcome.unwrap_or("not yet"),
                r.kept,
                r.deleted,
                r.blocked,
                r.next_run.map(rfc3339).unwrap_or_default(),
                r.coverage
                    .as_deref()
                    .map(|c| escape(c.strip_prefix("Restorable: ").unwrap_or(c)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</tbody></table>");
    }
    for p in pictures {
        out.push_str(&section(p));
    }
    out.push_str("</body></html>\n");
    out
}
