//! One portal's timeline as inline SVG: a lane per fate, a lighter lane for the
//! backups the schedule would make, each backup's life as a line to the day it would
//! be deleted (or to the horizon), the restore points of each coming day as a band,
//! the missed runs on the axis.

use std::fmt::Write;

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use super::{Fate, Mark, Picture, escape, midnight};
use crate::calendar::rfc3339;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 128.0;
const RIGHT: f64 = 24.0;
const LANE: f64 = 26.0;
const TOP: f64 = 12.0;
const AXIS: f64 = 34.0;
/// The restore-points band.
const BAND: f64 = 34.0;

/// The SVG timeline of one portal.
pub fn svg(p: &Picture) -> String {
    let dated: Vec<&Mark> = p.marks.iter().filter(|m| m.created.is_some()).collect();
    let lanes: Vec<Fate> = Fate::ALL
        .into_iter()
        .filter(|f| dated.iter().any(|m| m.fate == *f))
        .collect();
    let ahead = p.horizon.zip(p.at).filter(|(h, at)| h > at);
    let future_lane = usize::from(p.future().len() > 0);
    let band = if ahead.is_some() { BAND } else { 0.0 };
    let lanes_height = LANE * (lanes.len() + future_lane).max(1) as f64;
    let height = TOP + lanes_height + band + AXIS;
    let mut out = String::with_capacity(1024 + dated.len() * 200);
    let _ = write!(
        out,
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="backups of {}">"#,
        escape(&p.portal)
    );
    if dated.is_empty() && future_lane == 0 {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{}" class="empty">no dated backups</text></svg>"#,
            TOP + 16.0
        );
        return out;
    }
    let instants = || {
        dated
            .iter()
            .flat_map(|m| [m.created, m.deletes_on])
            .flatten()
            .chain(p.future().flat_map(|(c, g)| [Some(c), g]).flatten())
            .chain(p.missed.iter().copied())
            .chain(p.at)
            .chain(p.horizon)
    };
    let (Some(mut start), Some(mut end)) = (instants().min(), instants().max()) else {
        out.push_str("</svg>");
        return out;
    };
    let pad = ((end - start) / 40).max(TimeDelta::hours(12));
    start -= pad;
    // The horizon is the edge: a life that survives it runs to it.
    end = match p.horizon {
        Some(h) if h >= end => h,
        _ => end + pad,
    };
    let span = (end - start).num_seconds().max(1) as f64;
    let x =
        |t: DateTime<Utc>| LEFT + (WIDTH - LEFT - RIGHT) * ((t.clamp(start, end) - start).num_seconds() as f64 / span);
    let band_top = TOP + lanes_height;
    let axis_y = band_top + band + 4.0;
    // The future, shaded.
    if let Some((_, at)) = ahead {
        let _ = write!(
            out,
            r#"<rect class="ahead" x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}"/>"#,
            x(at),
            x(end) - x(at),
            axis_y - TOP
        );
    }
    // Lanes, one per fate, labelled at the left; the scheduled backups last.
    let lane_y = |i: usize| TOP + LANE * i as f64 + LANE / 2.0;
    let labels = lanes
        .iter()
        .map(|f| f.label())
        .chain((future_lane > 0).then_some("scheduled"));
    for (i, label) in labels.enumerate() {
        let y = lane_y(i);
        let _ = write!(
            out,
            r#"<line class="lane" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}"/><text class="lane-label" x="{}" y="{}" text-anchor="end">{label}</text>"#,
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 4.0,
        );
    }
    axis(&mut out, axis_y, start, end, &x);
    if let Some(at) = p.at {
        let nx = x(at);
        let _ = write!(
            out,
            r#"<line class="now" x1="{nx:.1}" x2="{nx:.1}" y1="{TOP}" y2="{axis_y}"><title>now: {}</title></line>"#,
            rfc3339(at)
        );
    }
    if let Some((horizon, at)) = ahead {
        restore_band(&mut out, p, at, horizon, band_top, &x);
    }
    // The schedule's missed slots, on the axis.
    for slot in &p.missed {
        let _ = write!(
            out,
            r#"<path class="missed" d="M{:.1} {} l5 -9 h-10 z"><title>missed run: no backup for the slot of {}</title></path>"#,
            x(*slot),
            axis_y,
            rfc3339(*slot)
        );
    }
    // Each lane's lives in one path: from creation to deletion, or to the edge when a
    // forecast says it survives; a tick where it goes.
    for (lane, fate) in lanes.iter().enumerate() {
        let y = lane_y(lane);
        let mut d = String::new();
        for m in dated.iter().filter(|m| m.fate == *fate) {
            let created = m.created.expect("dated");
            let until = match (m.deletes_on, p.horizon) {
                (Some(gone), _) => Some((gone, true)),
                (None, Some(_)) if fate.restorable() => Some((end, false)),
                _ => None,
            };
            if let Some((until, goes)) = until {
                let _ = write!(d, "M{:.1} {y}H{:.1}", x(created), x(until));
                if goes {
                    let _ = write!(d, "m0 -5v10");
                }
            }
        }
        if !d.is_empty() {
            let _ = write!(out, r#"<path class="life {}" d="{d}"/>"#, fate.class());
        }
    }
    if future_lane > 0 {
        future(&mut out, p, lane_y(lanes.len()), end, &x);
    }
    // The marks, each with its reasons.
    for m in &dated {
        let lane = lanes.iter().position(|f| *f == m.fate).expect("a lane per fate");
        let _ = write!(
            out,
            r#"<circle class="mark {}" cx="{:.1}" cy="{}" r="5"><title>{}</title></circle>"#,
            m.fate.class(),
            x(m.created.expect("dated")),
            lane_y(lane),
            title(p, m)
        );
    }
    out.push_str("</svg>");
    out
}

/// The axis with about eight ticks on whole days.
fn axis(out: &mut String, axis_y: f64, start: DateTime<Utc>, end: DateTime<Utc>, x: &dyn Fn(DateTime<Utc>) -> f64) {
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{axis_y}" y2="{axis_y}"/>"#,
        WIDTH - RIGHT
    );
    let span_days = (end - start).num_seconds() as f64 / 86_400.0;
    let step_days = (span_days / 8.0).ceil().max(1.0) as i64;
    let mut tick = Some(midnight(start + TimeDelta::days(1)));
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
}

/// The restore points of each day from now to the horizon, as a step band.
fn restore_band(
    out: &mut String,
    p: &Picture,
    at: DateTime<Utc>,
    horizon: DateTime<Utc>,
    top: f64,
    x: &dyn Fn(DateTime<Utc>) -> f64,
) {
    let days = p.outlook();
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let min = days.iter().map(|(_, n)| *n).min().unwrap_or(0);
    let base = top + BAND - 6.0;
    let scale = (BAND - 12.0) / max as f64;
    let mut d = format!("M{:.1} {base}", x(at));
    for (day, n) in &days {
        let y = base - scale * *n as f64;
        let _ = write!(d, "V{y:.1}H{:.1}", x((*day + TimeDelta::days(1)).min(horizon)));
    }
    let _ = write!(d, "V{base}Z");
    let (first, last) = (days.first().map_or(0, |d| d.1), days.last().map_or(0, |d| d.1));
    let _ = write!(
        out,
        r#"<text class="lane-label" x="{}" y="{}" text-anchor="end">restore points</text><path class="band" d="{d}"><title>restore points by day: {first} today, {last} on {} (fewest {min}, most {max})</title></path>"#,
        LEFT - 8.0,
        base - 4.0,
        horizon.format("%Y-%m-%d"),
    );
}

/// The backups the schedule would make: a light tick each, and their lives.
fn future(out: &mut String, p: &Picture, y: f64, end: DateTime<Utc>, x: &dyn Fn(DateTime<Utc>) -> f64) {
    let (mut ticks, mut lives) = (String::new(), String::new());
    for (created, gone) in p.future() {
        let _ = write!(ticks, "M{:.1} {}v10", x(created), y - 5.0);
        let _ = write!(lives, "M{:.1} {y}H{:.1}", x(created), x(gone.unwrap_or(end)));
        if let Some(g) = gone {
            let _ = write!(lives, "M{:.1} {}v10", x(g), y - 5.0);
        }
    }
    let kept = p.future().filter(|(_, g)| g.is_none()).count();
    let _ = write!(
        out,
        r#"<path class="life future" d="{lives}"/><path class="scheduled" d="{ticks}"><title>{} backups the schedule would make by {} (forecast); {kept} of them would remain</title></path>"#,
        p.future().len(),
        p.horizon.map(rfc3339).unwrap_or_default(),
    );
}

pub(super) fn title(p: &Picture, m: &Mark) -> String {
    let mut t = format!(
        "{} · {}",
        m.created.map(rfc3339).unwrap_or_else(|| "no date".into()),
        m.fate.label()
    );
    let reasons = p.reasons.get(m.reason as usize).map_or("", |r| &**r);
    if !reasons.is_empty() {
        let _ = write!(t, " · {reasons}");
    }
    match (m.deletes_on, m.fate) {
        (Some(gone), Fate::Deleted) => {
            let _ = write!(t, " · deleted on {}", rfc3339(gone));
        }
        (Some(gone), _) => {
            let _ = write!(t, " · deleted on {} (forecast)", rfc3339(gone));
        }
        (None, _) if p.horizon.is_some() && m.fate.restorable() => {
            let _ = write!(t, " · survives the forecast");
        }
        _ => {}
    }
    let _ = write!(t, "\n{}", m.id);
    if let Some(f) = &m.file {
        let _ = write!(t, "\n{f}");
    }
    escape(&t)
}
