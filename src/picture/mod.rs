//! The picture of a portal's retention (docs/reference.md, "Picture"): every backup a
//! mark on a time axis, coloured by its fate, its reasons in the mark's `<title>`, and
//! with a forecast, a line from its creation to the day it would be deleted (or to the
//! horizon), the backups the schedule would make drawn lighter, and the restore points
//! of each coming day; under it, one sentence of what can be restored and the
//! deletions of the last 30 days. One self-contained HTML page: inline SVG and CSS, no
//! script, no external asset; everything that came from a server or the config is
//! escaped, and the admin server sends it with a Content-Security-Policy that forbids
//! scripts anyway.
//!
//! - `coverage`: the sentence of what can be restored, from the plan.
//! - `svg`: one portal's timeline.
//! - `page`: a portal's section, the index of many, the page.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::retention::{Action, Forecast, Plan, Reason, Scope};
use crate::wire::{BackupId, shown};

mod coverage;
mod page;
mod svg;

pub use page::{IndexRow, page, section};
pub use svg::svg;

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

    /// Whether a backup of this fate can be restored from (it exists and stays).
    pub fn restorable(self) -> bool {
        !matches!(self, Fate::Deleted | Fate::Vanished)
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
    /// How far the forecast looked: the axis runs to here.
    pub horizon: Option<DateTime<Utc>>,
    /// The backups the schedule would make until the horizon, oldest first: when each
    /// is made and deleted, in minutes after `at` (`u32::MAX`: it survives the
    /// horizon). Minutes keep a fleet's pictures small; [`Picture::future`] gives the
    /// instants.
    pub scheduled: Vec<(u32, u32)>,
    /// The portal's zone, for the sentence of what can be restored ([`Picture::coverage`],
    /// made when the page is, not kept: a fleet's pictures stay small).
    pub tz: Option<Tz>,
    /// The backups deleted by each pass of the last 30 days, oldest first (from the
    /// state database); `None` when it was not read.
    pub deletions: Option<Vec<(DateTime<Utc>, u32)>>,
}

/// Midnight (UTC) of the day of `t`: the page's days.
fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive().and_hms_opt(0, 0, 0).map_or(t, |d| d.and_utc())
}

/// How far back the page lists each pass's deletions.
pub const DELETIONS_SHOWN: TimeDelta = TimeDelta::days(30);

/// A file name is shown whole up to this length, then cut (a picture is kept per portal).
const FILE_CHARS: usize = 80;

impl Picture {
    /// The picture of `plan`, made at `at` for a portal in zone `tz`.
    pub fn of(portal: &str, plan: &Plan, at: DateTime<Utc>, tz: Tz) -> Picture {
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
                _ if e.held_by_guard() || e.reasons.contains(&Reason::NoPolicy) => Fate::Guard,
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
                // A deletion of this plan ends the backup's life now.
                deletes_on: (fate == Fate::Deleted).then_some(at),
            });
        }
        picture.guards = plan
            .guards
            .iter()
            .map(|(g, n)| format!("{}: {n}", g.as_str()))
            .chain(plan.doubtful.iter().map(|(d, n)| format!("{}: {n}", d.as_str())))
            .collect();
        picture.tz = Some(tz);
        picture
    }

    /// What can be restored, in one sentence ("Restorable: every day of the last 14
    /// days, …"), from the plan; `None` for a portal not yet planned.
    pub fn coverage(&self) -> Option<String> {
        Some(coverage::sentence(&self.marks, self.at?, self.tz?))
    }

    /// Adds what a forecast says: each backup's deletion day, the backups the
    /// schedule would make, and the horizon the axis runs to.
    pub fn with_forecast(mut self, forecast: &Forecast) -> Self {
        for m in &mut self.marks {
            if m.fate != Fate::Deleted {
                m.deletes_on = BackupId::parse(&m.id).and_then(|id| forecast.deletes_on.get(&id).copied());
            }
        }
        // Offsets count from the plan's instant; a picture without one (never made by
        // `Picture::of`) keeps no scheduled backups.
        let Some(at) = self.at else {
            return self;
        };
        let minutes = |t: DateTime<Utc>| u32::try_from((t - at).num_minutes().max(0)).unwrap_or(u32::MAX - 1);
        self.scheduled = forecast
            .made
            .iter()
            .map(|(made, gone)| (minutes(*made), gone.map_or(u32::MAX, minutes)))
            .collect();
        self.horizon = Some(forecast.until);
        self
    }

    /// The backups the schedule would make until the horizon, oldest first, each with
    /// when it would be deleted (`None`: it survives the horizon).
    pub fn future(&self) -> impl ExactSizeIterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)> + '_ {
        let at = self.at.unwrap_or_default(); // `scheduled` is empty without `at`
        let instant = move |m: u32| at + TimeDelta::minutes(i64::from(m));
        self.scheduled
            .iter()
            .map(move |&(made, gone)| (instant(made), (gone != u32::MAX).then(|| instant(gone))))
    }

    /// Adds the deletions of each pass of the last 30 days.
    pub fn with_deletions(mut self, deletions: Vec<(DateTime<Utc>, u32)>) -> Self {
        self.deletions = Some(deletions);
        self
    }

    /// The restore points of each day from the plan's to the horizon (days start at
    /// midnight UTC): how many backups exist at the end of the day and are not deleted
    /// by then. Empty without a forecast. One sweep over the sorted creations and
    /// deletions, so a long horizon over a long history stays cheap.
    pub fn outlook(&self) -> Vec<(DateTime<Utc>, usize)> {
        let (Some(at), Some(horizon)) = (self.at, self.horizon) else {
            return Vec::new();
        };
        let lives = self
            .marks
            .iter()
            .filter(|m| m.fate.restorable())
            .filter_map(|m| Some((m.created?, m.deletes_on)))
            .chain(self.future());
        let (mut made, mut gone): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) = (Vec::new(), Vec::new());
        for (created, deleted) in lives {
            made.push(created);
            gone.extend(deleted);
        }
        made.sort_unstable();
        gone.sort_unstable();
        let (mut m, mut g) = (0, 0);
        let mut days = Vec::new();
        let mut day = midnight(at);
        while day <= horizon {
            let end = day + TimeDelta::days(1);
            // Made before the day's end, and not deleted before it.
            while m < made.len() && made[m] < end {
                m += 1;
            }
            while g < gone.len() && gone[g] < end {
                g += 1;
            }
            days.push((day, m.saturating_sub(g)));
            day = end;
        }
        days
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

    /// The restore points of each coming day: the backups that exist at the day's end
    /// and are not deleted by then, the schedule's coming backups included, the ones
    /// deleted now and the vanished ones not.
    #[test]
    fn the_outlook_counts_what_exists_at_each_days_end() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let mut p = Picture {
            at: Some(at("2026-11-22T12:00:00Z")),
            horizon: Some(at("2026-11-25T12:00:00Z")),
            marks: vec![
                mark(Fate::Rule, 20, "kept"),
                mark(Fate::Rule, 21, "goes on the 23rd"),
                mark(Fate::Deleted, 10, "deleted now"),
                mark(Fate::Vanished, 11, "vanished"),
            ],
            ..Picture::default()
        };
        p.marks[1].deletes_on = Some(at("2026-11-23T03:30:00Z"));
        p.marks[2].deletes_on = p.at;
        // Made on the 23rd at 03:00, deleted on the 25th at 03:30; made on the 24th, kept.
        p.scheduled = vec![(15 * 60, (2 * 24 + 15) * 60 + 30), (39 * 60, u32::MAX)];
        let counts: Vec<usize> = p.outlook().into_iter().map(|(_, n)| n).collect();
        assert_eq!(counts, [2, 2, 3, 2]);
        assert_eq!(p.future().count(), 2);
    }
}
