//! The picture of a portal's retention (docs/reference.md, "Picture"): every backup a
//! mark on a time axis, coloured by its fate, its reasons in the mark's `<title>`, and
//! with a forecast, a line to the day it would be deleted. One self-contained HTML page:
//! inline SVG and CSS, no script, no external asset; everything that came from a
//! server or the config is escaped, and the admin server sends it with a
//! Content-Security-Policy that forbids scripts anyway.

use std::fmt::Write;

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use crate::retention::{Action, Plan, Reason, Scope};
use crate::wire::{BackupId, rfc3339, shown};

/// The Content-Security-Policy every page is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// What became of a backup, as a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fate {
    Rule,
    Protected,
    Guard,
    /// Kept because the health sentinel judged it suspect.
    Suspect,
    Deleted,
    Temporary,
    Doubtful,
    NotManaged,
    /// Seen by an earlier pass, gone now, and not deleted here.
    Vanished,
}

impl Fate {
    pub const ALL: [Fate; 9] = [
        Fate::Rule,
        Fate::Protected,
        Fate::Guard,
        Fate::Suspect,
        Fate::Deleted,
        Fate::Temporary,
        Fate::Doubtful,
        Fate::NotManaged,
        Fate::Vanished,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Fate::Rule => "kept by a rule",
            Fate::Protected => "protected",
            Fate::Guard => "kept by a guard",
            Fate::Suspect => "suspect (kept)",
            Fate::Deleted => "deleted",
            Fate::Temporary => "temporary",
            Fate::Doubtful => "doubtful",
            Fate::NotManaged => "not managed",
            Fate::Vanished => "vanished",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Fate::Rule => "rule",
            Fate::Protected => "protected",
            Fate::Guard => "guard",
            Fate::Suspect => "suspect",
            Fate::Deleted => "deleted",
            Fate::Temporary => "temporary",
            Fate::Doubtful => "doubtful",
            Fate::NotManaged => "unmanaged",
            Fate::Vanished => "vanished",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Fate::Rule => "#2e7d32",
            Fate::Protected => "#b8860b",
            Fate::Guard => "#ef6c00",
            Fate::Deleted => "#c62828",
            Fate::Temporary => "#0277bd",
            Fate::Doubtful => "#6a1b9a",
            Fate::NotManaged => "#8d8d8d",
            Fate::Suspect => "#ad1457",
            Fate::Vanished => "#37474f",
        }
    }
}

/// One backup on the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// `None`: an undatable (doubtful) record, listed under the picture instead.
    pub created: Option<DateTime<Utc>>,
    pub fate: Fate,
    pub id: Box<str>,
    pub file: Option<Box<str>>,
    /// Index into [`Picture::reasons`].
    pub reason: u16,
    pub deletes_on: Option<DateTime<Utc>>,
}

/// One portal's picture: what the admin server keeps of a portal's last pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Picture {
    pub portal: String,
    /// When the plan was made.
    pub at: Option<DateTime<Utc>>,
    pub marks: Vec<Mark>,
    /// The distinct reason texts of the marks.
    pub reasons: Vec<Box<str>>,
    /// The guards and doubtful kinds that blocked something: "max_deletions: 3".
    pub guards: Vec<String>,
    /// What a forecast assumed, when one was made.
    pub forecast: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The schedule's `backupsStored` fights the policy (in words).
    pub warning: Option<String>,
    /// Slots of the backup schedule that made no backup (the health sentinel's).
    pub missed: Vec<DateTime<Utc>>,
    /// What the sentinel found wrong, in words.
    pub health: Option<String>,
}

/// A file name is shown whole up to this length, then cut (a picture is kept per portal).
const FILE_CHARS: usize = 80;

impl Picture {
    /// The picture of `plan`, with the forecast's deletion dates when there is one.
    pub fn of(
        portal: &str,
        plan: &Plan,
        at: DateTime<Utc>,
        deletes_on: Option<&fnv::FnvHashMap<BackupId, DateTime<Utc>>>,
    ) -> Picture {
        let mut picture = Picture {
            portal: portal.to_string(),
            at: Some(at),
            ..Picture::default()
        };
        for e in plan.iter() {
            let fate = match (e.scope, e.action) {
                (Scope::Temporary, _) => Fate::Temporary,
                (Scope::Doubtful(_), _) => Fate::Doubtful,
                (Scope::NotManaged, _) => Fate::NotManaged,
                (_, Action::Delete) => Fate::Deleted,
                _ if e.reasons.contains(&Reason::Protected) => Fate::Protected,
                _ if matches!(e.reasons.first(), Some(Reason::Suspect(_))) => Fate::Suspect,
                _ if e.reasons.iter().any(|r| matches!(r, Reason::Blocked(_))) => Fate::Guard,
                _ => Fate::Rule,
            };
            let text = e.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let reason = match picture.reasons.iter().position(|r| **r == *text) {
                Some(i) => i,
                None => {
                    picture.reasons.push(text.into_boxed_str());
                    picture.reasons.len() - 1
                }
            };
            picture.marks.push(Mark {
                created: e.created(),
                fate,
                id: e.record.id.clone().into_boxed_str(),
                file: e
                    .record
                    .file_name
                    .as_deref()
                    .map(|f| f.chars().take(FILE_CHARS).collect::<String>().into_boxed_str()),
                reason: reason.min(u16::MAX as usize) as u16,
                deletes_on: e.id.and_then(|id| deletes_on.and_then(|d| d.get(&id).copied())),
            });
        }
        picture.guards = plan
            .guards
            .iter()
            .map(|(g, n)| format!("{}: {n}", g.as_str()))
            .chain(plan.doubtful.iter().map(|(d, n)| format!("{}: {n}", d.as_str())))
            .collect();
        picture
    }

    /// Adds the backups that vanished since the last pass (id, when made), and the
    /// schedule's missed slots.
    pub fn with_health(mut self, vanished: &[(BackupId, Option<DateTime<Utc>>)], missed: &[DateTime<Utc>]) -> Self {
        if !vanished.is_empty() {
            let text = "vanished: gone from the history, not deleted here";
            self.reasons.push(text.into());
            let reason = (self.reasons.len() - 1).min(u16::MAX as usize) as u16;
            for (id, created) in vanished {
                self.marks.push(Mark {
                    created: *created,
                    fate: Fate::Vanished,
                    id: id.to_string().into_boxed_str(),
                    file: None,
                    reason,
                    deletes_on: None,
                });
            }
        }
        self.missed = missed.to_vec();
        self
    }

    /// How many marks of each fate.
    pub fn count(&self, fate: Fate) -> usize {
        self.marks.iter().filter(|m| m.fate == fate).count()
    }
}

/// Text from a server or the config, safe in HTML text and attribute values: control
/// characters shown escaped, markup characters as entities.
pub fn escape(text: &str) -> String {
    let text = shown(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 24.0;
const LANE: f64 = 26.0;
const TOP: f64 = 12.0;
const AXIS: f64 = 34.0;

/// The SVG timeline of one portal.
pub fn svg(p: &Picture) -> String {
    let dated: Vec<&Mark> = p.marks.iter().filter(|m| m.created.is_some()).collect();
    let lanes: Vec<Fate> = Fate::ALL
        .into_iter()
        .filter(|f| dated.iter().any(|m| m.fate == *f))
        .collect();
    let height = TOP + LANE * lanes.len().max(1) as f64 + AXIS;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="backups of {}">"#,
        escape(&p.portal)
    );
    if dated.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{}" class="empty">no dated backups</text></svg>"#,
            TOP + 16.0
        );
        return out;
    }
    let mut start = dated
        .iter()
        .filter_map(|m| m.created)
        .chain(p.missed.iter().copied())
        .min()
        .expect("dated");
    let mut end = dated
        .iter()
        .flat_map(|m| [m.created, m.deletes_on])
        .flatten()
        .chain(p.at)
        .chain(p.missed.iter().copied())
        .max()
        .expect("dated");
    let pad = ((end - start) / 40).max(TimeDelta::hours(12));
    start -= pad;
    end += pad;
    let span = (end - start).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| LEFT + (WIDTH - LEFT - RIGHT) * ((t - start).num_seconds() as f64 / span);
    let axis_y = TOP + LANE * lanes.len() as f64 + 4.0;
    // Lanes, one per fate, labelled at the left.
    for (i, fate) in lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64 + LANE / 2.0;
        let _ = write!(
            out,
            r#"<line class="lane" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}"/><text class="lane-label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            fate.label()
        );
    }
    // The axis with about eight ticks on whole days.
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{axis_y}" y2="{axis_y}"/>"#,
        WIDTH - RIGHT
    );
    let step_days = ((span / 86_400.0) / 8.0).ceil().max(1.0) as i64;
    let mut tick = (start + TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    while let Some(t) = tick.filter(|t| *t < end) {
        let tx = x(t);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{tx:.1}" x2="{tx:.1}" y1="{axis_y}" y2="{}"/><text class="tick-label" x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"#,
            axis_y + 5.0,
            axis_y + 18.0,
            if step_days >= 28 {
                t.format("%Y-%m").to_string()
            } else {
                format!("{}-{:02}", t.month(), t.day())
            }
        );
        tick = Some(t + TimeDelta::days(step_days));
    }
    if let Some(at) = p.at {
        let nx = x(at);
        let _ = write!(
            out,
            r#"<line class="now" x1="{nx:.1}" x2="{nx:.1}" y1="{TOP}" y2="{axis_y}"><title>now: {}</title></line>"#,
            rfc3339(at)
        );
    }
    // The schedule's missed slots, on the axis.
    for slot in &p.missed {
        let mx = x(*slot);
        let _ = write!(
            out,
            r#"<path class="missed" d="M{:.1} {} l5 -9 h-10 z"><title>missed run: no backup for the slot of {}</title></path>"#,
            mx,
            axis_y,
            rfc3339(*slot)
        );
    }
    // The marks, with the forecast's way to their deletion.
    for m in &dated {
        let lane = lanes.iter().position(|f| *f == m.fate).expect("a lane per fate");
        let y = TOP + LANE * lane as f64 + LANE / 2.0;
        let cx = x(m.created.expect("dated"));
        if let Some(gone) = m.deletes_on {
            let _ = write!(
                out,
                r#"<line class="until" x1="{cx:.1}" x2="{:.1}" y1="{y}" y2="{y}"/><line class="gone" x1="{:.1}" x2="{:.1}" y1="{}" y2="{}"/>"#,
                x(gone),
                x(gone),
                x(gone),
                y - 5.0,
                y + 5.0
            );
        }
        let _ = write!(
            out,
            r#"<circle class="mark {}" cx="{cx:.1}" cy="{y}" r="5"><title>{}</title></circle>"#,
            m.fate.class(),
            title(p, m)
        );
    }
    out.push_str("</svg>");
    out
}

fn title(p: &Picture, m: &Mark) -> String {
    let mut t = format!(
        "{} · {}",
        m.created.map(rfc3339).unwrap_or_else(|| "no date".into()),
        m.fate.label()
    );
    let reasons = p.reasons.get(m.reason as usize).map_or("", |r| &**r);
    if !reasons.is_empty() {
        let _ = write!(t, " · {reasons}");
    }
    if let Some(gone) = m.deletes_on {
        let _ = write!(t, " · deleted on {}", rfc3339(gone));
    }
    let _ = write!(t, "\n{}", m.id);
    if let Some(f) = &m.file {
        let _ = write!(t, "\n{f}");
    }
    escape(&t)
}

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
    out.push_str("</figcaption></figure>");
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

/// A row of the index of many portals.
#[derive(Clone, Debug)]
pub struct IndexRow {
    pub portal: String,
    pub outcome: Option<&'static str>,
    pub kept: usize,
    pub deleted: usize,
    pub blocked: usize,
    pub next_run: Option<DateTime<Utc>>,
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
.key.missed-key::before{background:#c62828;border-radius:0}";

fn colours() -> String {
    let mut css = String::new();
    for f in Fate::ALL {
        let _ = write!(
            css,
            ".mark.{0}{{fill:{1}}}.key.{0}::before{{background:{1}}}",
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
             <th>next run</th></tr></thead><tbody>",
        );
        for r in rows {
            let _ = write!(
                out,
                r#"<tr><td><a href="/portal/{0}">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5}</td></tr>"#,
                escape(&r.portal),
                r.outcome.unwrap_or("not yet"),
                r.kept,
                r.deleted,
                r.blocked,
                r.next_run.map(rfc3339).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(fate: Fate, day: u32, file: &str) -> Mark {
        Mark {
            created: Some(
                DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T03:00:00Z"))
                    .unwrap()
                    .to_utc(),
            ),
            fate,
            id: format!("0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a{day:02}").into_boxed_str(),
            file: Some(file.into()),
            reason: 0,
            deletes_on: None,
        }
    }

    #[test]
    fn hostile_text_from_a_server_never_becomes_markup() {
        let hostile = [
            "<script>alert(1)</script>.tar.gz",
            "\"><img src=x onerror=alert(1)>",
            "evil\u{1b}[2J\u{7}\r\nname",
            "x' onmouseover='alert(1)",
        ];
        let p = Picture {
            portal: "acme".into(),
            at: Some(DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").unwrap().to_utc()),
            marks: hostile
                .iter()
                .enumerate()
                .map(|(i, f)| mark(Fate::Rule, i as u32 + 1, f))
                .collect(),
            reasons: vec!["<b>daily snapshot</b>".into()],
            error: Some("<script>x</script>".into()),
            ..Picture::default()
        };
        let html = page("Retention <of> acme", p.at.unwrap(), std::slice::from_ref(&p), None);
        for bad in ["<script", "<img", "<b>", "\u{1b}", "\u{7}", "\r", "' onmouseover"] {
            assert!(!html.contains(bad), "{bad:?} reached the page");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.tar.gz"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("evil\\u{1b}[2J\\u{7}\\r\\nname"));
        assert!(
            !html.contains("http://") || html.matches("http://").count() == 1,
            "only the SVG namespace"
        );
        assert!(
            !html.contains("src=\"http") && !html.contains("href=\"http"),
            "no external asset"
        );
    }

    #[test]
    fn every_fate_has_its_own_colour_and_a_lane() {
        let colours: std::collections::HashSet<&str> = Fate::ALL.iter().map(|f| f.colour()).collect();
        assert_eq!(colours.len(), Fate::ALL.len());
        let p = Picture {
            portal: "acme".into(),
            marks: vec![
                mark(Fate::Rule, 1, "a"),
                mark(Fate::Deleted, 2, "b"),
                mark(Fate::Temporary, 3, "c"),
            ],
            reasons: vec!["".into()],
            ..Picture::default()
        };
        let s = svg(&p);
        assert_eq!(s.matches("class=\"lane\"").count(), 3);
        assert_eq!(s.matches("<circle").count(), 3);
    }
}
