//! `[metrics]`: which portals' series a scrape shows (docs/reference.md, "Metrics").

use super::check::Checker;
use crate::observe::metrics::PerPortal;

/// Above this many portals, `per_portal` left unset shows only the failing ones: a
/// scrape of every portal's 25 series is then more than a Prometheus server wants
/// from one target.
pub const ALL_UP_TO: usize = 10_000;

/// `[metrics] per_portal`, as set (`None`: not set; the fleet's size decides).
pub(super) fn per_portal(c: &mut Checker<'_>, raw: &super::raw::RawConfig) -> Option<PerPortal> {
    let m = c.table("metrics", &raw.metrics);
    c.unknown("metrics", &m.unknown, super::raw::METRICS_KEYS);
    let path = "metrics.per_portal";
    let text = c.get(path, &m.per_portal)?;
    let shown = PerPortal::parse(text.trim());
    if shown.is_none() {
        c.err(
            path,
            format!("expected \"all\", \"failing\" or \"none\", found {:?}", text.trim()),
        );
    }
    shown
}

/// What a scrape shows for a fleet of `portals`: the setting, else every portal's
/// series up to [`ALL_UP_TO`] portals and the failing ones above, with a warning.
pub(super) fn shown(c: &mut Checker<'_>, set: Option<PerPortal>, portals: usize) -> PerPortal {
    match set {
        Some(shown) => shown,
        None if portals > ALL_UP_TO => {
            c.warnings.push(format!(
                "{portals} portals: /metrics shows the series of failing portals only (over {ALL_UP_TO} portals \
                 metrics.per_portal defaults to \"failing\"; set it to \"all\" or \"none\" to choose)"
            ));
            PerPortal::Failing
        }
        None => PerPortal::All,
    }
}
