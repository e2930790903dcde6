//! `[*.health]` and `[*.notify]`, merged key by key over `[defaults.health]` and
//! `[defaults.notify]` (docs/reference.md, "Backup health" and "Notifications").

use chrono::{FixedOffset, TimeDelta};

use super::check::{Checker, Inherit};
use super::raw::{HEALTH_KEYS, NOTIFY_KEYS, RawHealth, RawNotify};
use crate::health::HealthPolicy;
use crate::notify::{Notify, NotifyFormat};
use crate::secret::Secret;

fn ratio(
    c: &mut Checker<'_>,
    at: &Inherit<'_>,
    key: &str,
    (own, inherited): (&super::raw::Field<f64>, &super::raw::Field<f64>),
    default: f64,
    (min, max): (f64, f64),
) -> f64 {
    let (path, v) = at.get(c, key, own, inherited);
    match v {
        None => default,
        Some(v) if v.is_finite() && (v == 0.0 || (min..=max).contains(&v)) => v,
        Some(v) => {
            c.err(
                path,
                format!("expected 0 (off) or a number from {min} to {max}, found {v}"),
            );
            default
        }
    }
}

pub(super) fn health_policy(
    c: &mut Checker<'_>,
    prefix: &str,
    h: &RawHealth,
    d: &RawHealth,
    is_portal: bool,
) -> HealthPolicy {
    let at = Inherit {
        own: prefix,
        inherited: "defaults.health",
    };
    c.unknown(prefix, &h.unknown, HEALTH_KEYS);
    if !is_portal {
        c.unknown("defaults.health", &d.unknown, HEALTH_KEYS);
    }
    let builtin = HealthPolicy::default();
    let enabled = at.get(c, "enabled", &h.enabled, &d.enabled).1.unwrap_or(true);
    let (path, text) = at.get(c, "late_after", &h.late_after, &d.late_after);
    let late_after = match text {
        None => builtin.late_after,
        Some(text) => match super::policy::parse_grace(&text)
            .ok()
            .and_then(|d| TimeDelta::from_std(d).ok())
            .filter(|d| *d >= TimeDelta::minutes(15) && *d <= TimeDelta::days(7))
        {
            Some(d) => d,
            None => {
                c.err(
                    path,
                    format!(
                        "expected a duration from 15 minutes to 7 days in days, hours and seconds such as \"6h\", \
                         found {text:?}"
                    ),
                );
                builtin.late_after
            }
        },
    };
    let (path, text) = at.get(c, "server_utc_offset", &h.server_utc_offset, &d.server_utc_offset);
    let server_utc_offset = match text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match parse_offset(text) {
            Some(o) => Some(o),
            None => {
                c.err(
                    path,
                    format!("expected an offset such as \"+02:00\", \"-05:30\" or \"Z\", found {text:?}"),
                );
                None
            }
        },
    };
    let min_size_ratio = ratio(
        c,
        &at,
        "min_size_ratio",
        (&h.min_size_ratio, &d.min_size_ratio),
        builtin.min_size_ratio,
        (0.01, 1.0),
    );
    let max_duration_ratio = ratio(
        c,
        &at,
        "max_duration_ratio",
        (&h.max_duration_ratio, &d.max_duration_ratio),
        builtin.max_duration_ratio,
        (1.0, 1000.0),
    );
    let (_, baseline) = at.int(
        c,
        "baseline",
        (&h.baseline, &d.baseline),
        builtin.baseline as i64,
        (3, 100),
        "an integer from 3 to 100 (fewer is no baseline: every suspect would be a new normal at once)",
    );
    let (_, keep_healthy) = at.int(
        c,
        "keep_healthy",
        (&h.keep_healthy, &d.keep_healthy),
        builtin.keep_healthy as i64,
        (0, 100),
        "an integer from 0 to 100",
    );
    HealthPolicy {
        enabled,
        late_after,
        server_utc_offset,
        min_size_ratio,
        max_duration_ratio,
        baseline: baseline as usize,
        keep_healthy: keep_healthy as usize,
    }
}

/// `+02:00`, `-05:30`, `+0200`, `Z`, `UTC`.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let colon_ok = !rest.contains(':') || (rest.len() == 5 && rest.as_bytes()[2] == b':');
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || !colon_ok {
        return None;
    }
    let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The portal's notification, if any. The URL is a secret: it often carries a token,
/// and no error here echoes it.
pub(super) fn notify(
    c: &mut Checker<'_>,
    prefix: &str,
    n: &RawNotify,
    d: &RawNotify,
    is_portal: bool,
) -> Option<Notify> {
    let at = Inherit {
        own: prefix,
        inherited: "defaults.notify",
    };
    c.unknown(prefix, &n.unknown, NOTIFY_KEYS);
    if !is_portal {
        c.unknown("defaults.notify", &d.unknown, NOTIFY_KEYS);
    }
    let (path, format) = at.get(c, "format", &n.format, &d.format);
    let format = match format.as_deref().map(str::trim) {
        None | Some("") | Some("ping") => NotifyFormat::Ping,
        Some("json") => NotifyFormat::Json,
        Some(other) => {
            c.err(path, format!("expected \"ping\" or \"json\", found {other:?}"));
            NotifyFormat::Ping
        }
    };
    let (path, url) = at.get(c, "url", &n.url, &d.url);
    let url = url.filter(|u| !u.trim().is_empty())?;
    match reqwest::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(Notify {
            url: Secret::new(u.as_str().to_string()),
            format,
        }),
        _ => {
            c.err(
                path,
                "expected an http:// or https:// URL (the value is not shown: it may carry a token)",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_offset;

    #[test]
    fn offsets_are_read_in_their_usual_spellings_and_nothing_else() {
        let secs = |t: &str| parse_offset(t).map(|o| o.local_minus_utc());
        assert_eq!(secs("+02:00"), Some(7200));
        assert_eq!(secs("-05:30"), Some(-19800));
        assert_eq!(secs("+0200"), Some(7200));
        assert_eq!(secs("Z"), Some(0));
        for bad in ["2", "+2", "+02:0", "+25:00", "+02:60", "02:00", "+02-00", "+0:200"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
