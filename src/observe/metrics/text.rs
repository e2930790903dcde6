//! The text exposition of the per-portal families, written straight from the live
//! values in chunks while the HTTP body streams, byte for byte the text the prometheus
//! crate wrote.

use std::fmt::Write as _;

use super::*;

/// The size a chunk of the exposition grows to before it is handed out.
pub(super) const CHUNK: usize = 256 * 1024;

/// Where an exposition has got to: a family, a part of it (a label value, an
/// endpoint), a portal.
#[derive(Default)]
pub(super) struct Cursor {
    family: usize,
    part: usize,
    portal: usize,
    /// The family's header is written (it is written with its first series).
    header: bool,
}

/// The exposition, chunk by chunk (see [`Metrics::exposition`]).
pub struct Exposition {
    /// The crate's families, encoded, last name first.
    pub(super) shared: Vec<(String, String)>,
    pub(super) table: Arc<RwLock<Table>>,
    /// The portals there when it began, in name order: slot and generation.
    pub(super) portals: Vec<(usize, u64)>,
    pub(super) at: Cursor,
    /// `api_requests_total`'s endpoints, found when the family begins.
    pub(super) endpoints: Vec<&'static str>,
    pub(super) status: String,
    /// The size a chunk grows to.
    pub(super) chunk: usize,
    /// The text of the current (family, part) before a portal's name, and for a
    /// labelled family the label value's index.
    pub(super) prefix: ((usize, usize), String, usize),
}

impl Iterator for Exposition {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut out = String::with_capacity(self.chunk.min(CHUNK) + 8 * 1024);
        let table = Arc::clone(&self.table);
        // Read for one chunk at a time: updates wait a millisecond at most.
        let table = table.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        while out.len() < self.chunk {
            let Some(family) = PORTAL_FAMILIES.get(self.at.family) else {
                match self.shared.pop() {
                    Some((_, text)) => out.push_str(&text),
                    None => break,
                }
                continue;
            };
            if self.at.part == 0 && self.at.portal == 0 && !self.at.header {
                // The crate's families that sort before this one come first.
                if let Some((name, _)) = self.shared.last()
                    && name.as_str() < full_name(family).as_str()
                {
                    out.push_str(&self.shared.pop().expect("checked").1);
                    continue;
                }
                if matches!(family.series, Series::Requests) {
                    self.endpoints = self.request_endpoints(&table);
                }
            }
            if !self.step(&mut out, &table, family) {
                self.at = Cursor {
                    family: self.at.family + 1,
                    ..Cursor::default()
                };
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

pub(super) fn full_name(family: &PortalFamily) -> String {
    format!("{NS}_{}", family.name)
}

impl Exposition {
    fn request_endpoints(&self, table: &Table) -> Vec<&'static str> {
        let mut endpoints: Vec<&'static str> = Vec::new();
        for &(slot, generation) in &self.portals {
            if let Some(s) = table.live(slot, generation) {
                endpoints.extend(s.values().requests.iter().map(|r| r.endpoint));
            }
        }
        endpoints.sort_unstable();
        endpoints.dedup();
        endpoints
    }

    /// Writes the series of one portal at the cursor and moves on; false when the
    /// family is done.
    fn step(&mut self, out: &mut String, table: &Table, family: &'static PortalFamily) -> bool {
        let parts = match &family.series {
            Series::Labelled(_, set, _) => set.len(),
            Series::Requests => self.endpoints.len(),
            _ => 1,
        };
        if self.at.portal == self.portals.len() {
            self.at.portal = 0;
            self.at.part += 1;
        }
        if self.at.part >= parts || self.portals.is_empty() {
            return false;
        }
        // The text before the portal's name is the same for a whole part.
        if self.prefix.0 != (self.at.family, self.at.part) {
            self.prefix = ((self.at.family, self.at.part), String::new(), 0);
            let text = &mut self.prefix.1;
            match &family.series {
                Series::Single(_) | Series::NextRun => {
                    let _ = write!(text, "{NS}_{}{{portal=\"", family.name);
                }
                Series::Labelled(label, set, _) => {
                    // By label value (as its text sorts), then portal.
                    let i = sorted_index(set, self.at.part);
                    self.prefix.2 = i;
                    let _ = write!(text, "{NS}_{}{{{label}=\"{}\",portal=\"", family.name, set[i]);
                }
                _ => {}
            }
        }
        if let Series::Single(_) | Series::Labelled(..) | Series::NextRun = family.series {
            // The families of one series a portal (and label value): a tight loop
            // over the portals, most of a scrape.
            while self.at.portal < self.portals.len() && out.len() < self.chunk {
                let (slot, generation) = self.portals[self.at.portal];
                self.at.portal += 1;
                let Some(series) = table.live(slot, generation) else {
                    continue;
                };
                let value = match &family.series {
                    Series::Single(get) => get(series.values()),
                    Series::Labelled(_, _, get) => Some(Number::Int(get(series.values())[self.prefix.2] as i64)),
                    Series::NextRun => series.next_run.map(Number::Float),
                    _ => None,
                };
                if let Some(value) = value {
                    if !self.at.header {
                        self.at.header = true;
                        write_header(out, family);
                    }
                    out.push_str(&self.prefix.1);
                    out.push_str(&series.portal);
                    out.push_str("\"} ");
                    number(out, value);
                    out.push('\n');
                }
            }
            return true;
        }
        let (slot, generation) = self.portals[self.at.portal];
        let Some(series) = table.live(slot, generation) else {
            // Gone since the scrape began: its series end here.
            self.at.portal += 1;
            return true;
        };
        let (portal, v) = (series.portal.as_str(), series.values());
        let mut lines = Lines {
            out,
            name: family.name,
            header: (!self.at.header).then_some(family),
        };
        match &family.series {
            Series::Single(_) | Series::Labelled(..) | Series::NextRun => unreachable!("written above"),
            Series::RunDuration => {
                if let Some(h) = &v.run_duration {
                    let mut cumulative = 0;
                    let mut le = String::new();
                    for (bound, n) in RUN_DURATION_BUCKETS.iter().zip(h.buckets) {
                        cumulative += n;
                        le.clear();
                        let _ = write!(le, "{bound}");
                        lines.line(
                            "_bucket",
                            &[("portal", portal), ("le", &le)],
                            Number::Int(cumulative as i64),
                        );
                    }
                    let count = Number::Int(h.count as i64);
                    lines.line("_bucket", &[("portal", portal), ("le", "+Inf")], count);
                    lines.line("_sum", &[("portal", portal)], Number::Float(h.sum));
                    lines.line("_count", &[("portal", portal)], count);
                }
            }
            Series::Requests => {
                // By endpoint, then portal, then status.
                let endpoint = self.endpoints[self.at.part];
                let status = &mut self.status;
                for r in v.requests.iter().filter(|r| r.endpoint == endpoint) {
                    status.clear();
                    match r.status {
                        Some(s) => status.push_str(itoa::Buffer::new().format(s)),
                        None => status.push_str("error"),
                    }
                    lines.line(
                        "",
                        &[("endpoint", endpoint), ("portal", portal), ("status", status)],
                        Number::Int(r.count as i64),
                    );
                }
            }
            Series::ServerInfo => {
                if let Some(version) = &v.server_version {
                    lines.line("", &[("portal", portal), ("version", version)], Number::Int(1));
                }
            }
        }
        self.at.header |= lines.header.is_none();
        self.at.portal += 1;
        true
    }
}

/// The index in `set` of its `k`-th label value in text order.
pub(super) fn sorted_index(set: &[&str], k: usize) -> usize {
    let mut order: smallvec::SmallVec<[usize; 8]> = (0..set.len()).collect();
    order.sort_by_key(|&i| set[i]);
    order[k]
}

/// Sample lines of one family; its header goes before the first (a family with no
/// series is left out, as the crate leaves it out).
pub(super) struct Lines<'a> {
    out: &'a mut String,
    name: &'static str,
    /// The family, while its header is still to be written.
    header: Option<&'static PortalFamily>,
}

/// `# HELP` and `# TYPE` of a family.
pub(super) fn write_header(out: &mut String, family: &PortalFamily) {
    let kind = match family.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let name = family.name;
    let _ = write!(out, "# HELP {NS}_{name} {}\n# TYPE {NS}_{name} {kind}\n", family.help);
}

impl Lines<'_> {
    fn header(&mut self) {
        if let Some(family) = self.header.take() {
            write_header(self.out, family);
        }
    }

    /// `name{l="v",…} value`, label values escaped as the text format asks (portal
    /// names need none; a server's version may hold anything).
    fn line(&mut self, suffix: &str, labels: &[(&str, &str)], value: Number) {
        self.header();
        let out = &mut *self.out;
        out.push_str(NS);
        out.push('_');
        out.push_str(self.name);
        out.push_str(suffix);
        let mut separator = '{';
        for (label, value) in labels {
            out.push(separator);
            out.push_str(label);
            out.push_str("=\"");
            escape_into(out, value);
            out.push('"');
            separator = ',';
        }
        if !labels.is_empty() {
            out.push('}');
        }
        out.push(' ');
        number(out, value);
        out.push('\n');
    }
}

pub(super) fn number(out: &mut String, value: Number) {
    match value {
        Number::Int(n) => out.push_str(itoa::Buffer::new().format(n)),
        // Whole numbers print as integers, as f64's Display (the crate's format) does.
        Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 && !(f == 0.0 && f.is_sign_negative()) => {
            out.push_str(itoa::Buffer::new().format(f as i64))
        }
        Number::Float(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

pub(super) fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
