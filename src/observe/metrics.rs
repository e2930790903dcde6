//! Every metric, defined in one place (docs/reference.md, "Metrics"): names, types,
//! help texts and labels are the contract dashboards and alerts rely on. This module
//! knows no domain type; the observer (`observe.rs`) is the only code that updates
//! these families.
//!
//! Two kinds of family live here. The few that are not per portal (build info,
//! reloads, request durations by endpoint) are the prometheus crate's. The per-portal
//! ones, 22 series a portal at rest, are plain numbers in one small [`PortalValues`]
//! per portal, rendered straight from those live values: at 10,000 portals the
//! crate's gather-then-encode copied all 220,000 series into label-pair structures on
//! every scrape (0.7 s) and held ~10 KB a portal. The text is the one the crate
//! wrote, byte for byte (tests/it/golden/metrics.txt): families by name, series by
//! label values, the crate's number formats.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

const NS: &str = "docspace_retention";

/// `runs_total`'s outcomes.
pub const RUN_OUTCOMES: [&str; 3] = ["success", "failure", "skipped"];
/// `deletions_total`'s outcomes.
pub const DELETION_OUTCOMES: [&str; 4] = ["deleted", "already_gone", "failed", "dry_run"];
/// `guard_blocks_total`'s guards (and the doubtful kinds counted with them).
pub const GUARDS: [&str; 9] = [
    "clock_skew",
    "stale",
    "server_changed",
    "grace",
    "min_keep",
    "max_fraction",
    "max_deletions",
    "future",
    "unparseable",
];
/// `history_clears_total`'s outcomes.
pub const CLEAR_OUTCOMES: [&str; 3] = ["deleted", "failed", "dry_run"];
/// `recovered_intents_total`'s outcomes.
pub const RECOVERED_OUTCOMES: [&str; 2] = ["deleted", "failed"];
/// `run_duration_seconds`'s buckets.
pub const RUN_DURATION_BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];
const REQUEST_DURATION_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counts by label value, in the order of the label set they belong to.
#[derive(Clone, Debug, PartialEq)]
pub struct Counts<const N: usize>(pub [u64; N]);

impl<const N: usize> Default for Counts<N> {
    fn default() -> Self {
        Counts([0; N])
    }
}

impl<const N: usize> Counts<N> {
    /// Adds `n` to the series whose label is `label` in `set`; a label outside the
    /// set is a bug of the caller (tests hold the observer to the sets).
    pub fn add(&mut self, set: &[&str; N], label: &str, n: u64) {
        match set.iter().position(|l| *l == label) {
            Some(i) => self.0[i] += n,
            None => debug_assert!(false, "{label} is not one of {set:?}"),
        }
    }
}

/// A histogram's observations: count per bucket (not cumulative), sum, count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: [u64; RUN_DURATION_BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64) {
        if let Some(i) = RUN_DURATION_BUCKETS.iter().position(|b| v <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// One API request series of a portal: endpoint and status labels, and the count.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestCount {
    pub endpoint: &'static str,
    /// The HTTP status, `None` for "error" (no answer).
    pub status: Option<u16>,
    pub count: u64,
}

/// The live values of one portal's series. A counter family exists at zero from the
/// moment the portal does; an `Option` is a series that appears once set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortalValues {
    pub runs: Counts<3>,
    pub run_duration: Option<Histogram>,
    pub last_run: Option<f64>,
    pub last_success: Option<f64>,
    pub next_run: Option<f64>,
    pub backups: Option<i64>,
    pub planned_deletions: Option<i64>,
    pub deletions: Counts<4>,
    pub guard_blocks: Counts<9>,
    pub history_clears: Counts<3>,
    pub newest_backup: Option<f64>,
    pub schedule_present: Option<i64>,
    pub schedule_last_backup: Option<f64>,
    pub schedule_backups_stored: Option<i64>,
    pub policy_conflict: i64,
    pub temporary_backups: Option<i64>,
    pub schedule_period: Option<i64>,
    pub schedule_missing_since: Option<f64>,
    /// How far the server's clock is ahead of ours at the last pass, in seconds.
    pub server_clock_skew: Option<i64>,
    /// `server_info`'s version label.
    pub server_version: Option<String>,
    pub recovered: Counts<2>,
    /// The health sentinel's (docs/reference.md, "Backup health").
    pub expected_runs_missed: u64,
    /// The newest missed slot counted (Unix time; not exported): a slot is counted once.
    pub missed_counted_until: Option<f64>,
    pub backups_vanished: u64,
    pub last_good_backup: Option<f64>,
    pub backup_duration: Option<i64>,
    pub backup_size: Option<i64>,
    pub newest_backup_suspect: Option<i64>,
    pub suspect_backups: Option<i64>,
    pub api_key_expiry: Option<f64>,
    pub timezone_mismatch: Option<i64>,
    pub notify_failures: Option<u64>,
    /// Sorted by endpoint, then status as the label reads.
    pub requests: Vec<RequestCount>,
}

impl PortalValues {
    /// Counts one request.
    pub fn request(&mut self, endpoint: &'static str, status: Option<u16>) {
        let key = |r: &RequestCount| (r.endpoint, StatusLabel(r.status));
        match self
            .requests
            .binary_search_by(|r| key(r).cmp(&(endpoint, StatusLabel(status))))
        {
            Ok(i) => self.requests[i].count += 1,
            Err(i) => self.requests.insert(
                i,
                RequestCount {
                    endpoint,
                    status,
                    count: 1,
                },
            ),
        }
    }
}

/// A status label ordered as its text: "200" < "503" < "error" (HTTP statuses have
/// three digits, so their numbers sort as their text).
#[derive(Clone, Copy, PartialEq, Eq)]
struct StatusLabel(Option<u16>);

impl Ord for StatusLabel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    }
}

impl PartialOrd for StatusLabel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Every portal's values, side by side in one vector: a scrape walks them family by
/// family, and at 10,000 portals a separate allocation (and lock) per portal cost a
/// cache miss and two atomics for each of 220,000 series.
#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    /// Slot by name, in name order (the exposition's order).
    by_name: BTreeMap<String, usize>,
    /// Slots of portals that left, to be reused.
    free: Vec<usize>,
}

#[derive(Debug)]
struct Slot {
    portal: String,
    /// Bumped when the slot's portal leaves: a handle or a scrape that still names
    /// the old generation finds nothing.
    generation: u64,
    live: bool,
    values: PortalValues,
}

impl Table {
    fn live(&self, slot: usize, generation: u64) -> Option<&Slot> {
        self.slots.get(slot).filter(|s| s.live && s.generation == generation)
    }
}

/// A portal's series: a handle to its values in the metrics' table. Once the portal
/// has left, updates through an old handle change nothing.
#[derive(Clone, Debug)]
pub struct PortalSeries {
    table: Arc<RwLock<Table>>,
    slot: usize,
    generation: u64,
}

impl PortalSeries {
    /// Changes the portal's values; `None` when the portal has left.
    pub fn update<R>(&self, change: impl FnOnce(&mut PortalValues) -> R) -> Option<R> {
        let mut table = self.table.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        table
            .slots
            .get_mut(self.slot)
            .filter(|s| s.live && s.generation == self.generation)
            .map(|s| change(&mut s.values))
    }
}

pub struct Metrics {
    registry: Registry,
    pub build_info: IntGaugeVec,
    /// The audit chain's last `seq` this process wrote or saw.
    pub audit_chain_head_seq: prometheus::IntGauge,
    pub api_request_duration_seconds: HistogramVec,
    pub config_reloads_total: IntCounterVec,
    table: Arc<RwLock<Table>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NS)
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        macro_rules! register {
            ($metric:expr) => {{
                let m = $metric.expect("valid metric definition");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric name");
                m
            }};
        }
        let m = Metrics {
            build_info: register!(IntGaugeVec::new(
                opts("build_info", "Build information; always 1."),
                &["version"]
            )),
            audit_chain_head_seq: register!(prometheus::IntGauge::with_opts(opts(
                "audit_chain_head_seq",
                "The seq of the audit log's chain head after the last pass (0 before one)."
            ))),
            api_request_duration_seconds: register!(HistogramVec::new(
                HistogramOpts::new("api_request_duration_seconds", "DocSpace API request duration.")
                    .namespace(NS)
                    .buckets(REQUEST_DURATION_BUCKETS.to_vec()),
                &["endpoint"]
            )),
            config_reloads_total: register!(IntCounterVec::new(
                opts("config_reloads_total", "Config reloads (SIGHUP) by outcome."),
                &["outcome"]
            )),
            registry,
            table: Arc::default(),
        };
        m.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for outcome in ["success", "failure"] {
            m.config_reloads_total.with_label_values(&[outcome]);
        }
        m
    }

    /// The series of `portal`, created (its counters at zero) on first use. Portal
    /// names are config names (`[a-z0-9_-]+`): they need no escaping in a label.
    pub fn portal(&self, portal: &str) -> PortalSeries {
        let handle = |table: &Table, slot: usize| PortalSeries {
            table: Arc::clone(&self.table),
            slot,
            generation: table.slots[slot].generation,
        };
        {
            let table = self.table.read().expect("metrics lock");
            if let Some(&slot) = table.by_name.get(portal) {
                return handle(&table, slot);
            }
        }
        let mut table = self.table.write().expect("metrics lock");
        if let Some(&slot) = table.by_name.get(portal) {
            return handle(&table, slot);
        }
        let slot = match table.free.pop() {
            Some(slot) => {
                let s = &mut table.slots[slot];
                s.portal = portal.to_string();
                s.live = true;
                s.values = PortalValues::default();
                slot
            }
            None => {
                table.slots.push(Slot {
                    portal: portal.to_string(),
                    generation: 0,
                    live: true,
                    values: PortalValues::default(),
                });
                table.slots.len() - 1
            }
        };
        table.by_name.insert(portal.to_string(), slot);
        handle(&table, slot)
    }

    /// Drops every series of a portal that left the config.
    pub fn remove_portal(&self, portal: &str) {
        let mut table = self.table.write().expect("metrics lock");
        if let Some(slot) = table.by_name.remove(portal) {
            let s = &mut table.slots[slot];
            s.live = false;
            s.generation += 1;
            s.values = PortalValues::default();
            s.portal = String::new();
            table.free.push(slot);
        }
    }

    /// The Prometheus text exposition of everything, at once (tests, small fleets).
    pub fn render(&self) -> String {
        self.exposition().collect()
    }

    /// The Prometheus text exposition of everything, in chunks of about 256 KB, each
    /// rendered when it is asked for: a scrape of 10,000 portals (16 MB) never
    /// holds more than a chunk. The portals are the ones there when it began; their
    /// values are read as each chunk is rendered.
    pub fn exposition(&self) -> Exposition {
        self.exposition_in(CHUNK)
    }

    fn exposition_in(&self, chunk: usize) -> Exposition {
        let mut shared: Vec<(String, String)> = self
            .registry
            .gather()
            .iter()
            .map(|family| {
                let mut text = Vec::new();
                TextEncoder::new()
                    .encode(std::slice::from_ref(family), &mut text)
                    .expect("text encoding of gathered metrics");
                (
                    family.name().to_string(),
                    String::from_utf8(text).expect("the text format is UTF-8"),
                )
            })
            .collect();
        shared.reverse();
        Exposition {
            shared,
            portals: {
                let table = self.table.read().expect("metrics lock");
                table
                    .by_name
                    .values()
                    .map(|&slot| (slot, table.slots[slot].generation))
                    .collect()
            },
            table: Arc::clone(&self.table),
            at: Cursor::default(),
            endpoints: Vec::new(),
            status: String::new(),
            chunk,
            prefix: ((usize::MAX, 0), String::new(), 0),
        }
    }
}

/// The size a chunk of the exposition grows to before it is handed out.
const CHUNK: usize = 256 * 1024;

/// Where an exposition has got to: a family, a part of it (a label value, an
/// endpoint), a portal.
#[derive(Default)]
struct Cursor {
    family: usize,
    part: usize,
    portal: usize,
    /// The family's header is written (it is written with its first series).
    header: bool,
}

/// The exposition, chunk by chunk (see [`Metrics::exposition`]).
pub struct Exposition {
    /// The crate's families, encoded, last name first.
    shared: Vec<(String, String)>,
    table: Arc<RwLock<Table>>,
    /// The portals there when it began, in name order: slot and generation.
    portals: Vec<(usize, u64)>,
    at: Cursor,
    /// `api_requests_total`'s endpoints, found when the family begins.
    endpoints: Vec<&'static str>,
    status: String,
    /// The size a chunk grows to.
    chunk: usize,
    /// The text of the current (family, part) before a portal's name, and for a
    /// labelled family the label value's index.
    prefix: ((usize, usize), String, usize),
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

fn full_name(family: &PortalFamily) -> String {
    format!("{NS}_{}", family.name)
}

impl Exposition {
    fn request_endpoints(&self, table: &Table) -> Vec<&'static str> {
        let mut endpoints: Vec<&'static str> = Vec::new();
        for &(slot, generation) in &self.portals {
            if let Some(s) = table.live(slot, generation) {
                endpoints.extend(s.values.requests.iter().map(|r| r.endpoint));
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
                Series::Single(_) => {
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
        if let Series::Single(_) | Series::Labelled(..) = family.series {
            // The families of one series a portal (and label value): a tight loop
            // over the portals, most of a scrape.
            while self.at.portal < self.portals.len() && out.len() < self.chunk {
                let (slot, generation) = self.portals[self.at.portal];
                self.at.portal += 1;
                let Some(series) = table.live(slot, generation) else {
                    continue;
                };
                let value = match &family.series {
                    Series::Single(get) => get(&series.values),
                    Series::Labelled(_, _, get) => Some(Number::Int(get(&series.values)[self.prefix.2] as i64)),
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
        let (portal, v) = (series.portal.as_str(), &series.values);
        let mut lines = Lines {
            out,
            name: family.name,
            header: (!self.at.header).then_some(family),
        };
        match &family.series {
            Series::Single(_) | Series::Labelled(..) => unreachable!("written above"),
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
fn sorted_index(set: &[&str], k: usize) -> usize {
    let mut order: smallvec::SmallVec<[usize; 8]> = (0..set.len()).collect();
    order.sort_by_key(|&i| set[i]);
    order[k]
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A per-portal family: its name (without the namespace), help, type, and how its
/// series are read from a portal's values.
struct PortalFamily {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    series: Series,
}

/// How a family's series come out of [`PortalValues`].
enum Series {
    /// One series per portal, or none when `None`.
    Single(fn(&PortalValues) -> Option<Number>),
    /// One series per label value of the set and portal: label name, set, counts.
    Labelled(&'static str, &'static [&'static str], fn(&PortalValues) -> &[u64]),
    RunDuration,
    Requests,
    ServerInfo,
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

/// The per-portal families, in the order of their full names.
static PORTAL_FAMILIES: [PortalFamily; 32] = [
    PortalFamily {
        name: "api_key_expiry_timestamp_seconds",
        help: "When the portal's API key expires (Unix time); absent when it never expires or cannot be read.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.api_key_expiry.map(Number::Float)),
    },
    PortalFamily {
        name: "api_requests_total",
        help: "DocSpace API requests by endpoint and HTTP status (\"error\": no answer).",
        kind: Kind::Counter,
        series: Series::Requests,
    },
    PortalFamily {
        name: "backup_duration_seconds",
        help: "How long the newest backup took (its finish minus the start time in its file name).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backup_duration.map(Number::Int)),
    },
    PortalFamily {
        name: "backup_size_bytes",
        help: "The newest backup's size (Documents storage only).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backup_size.map(Number::Int)),
    },
    PortalFamily {
        name: "backups",
        help: "Managed backup records at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.backups.map(Number::Int)),
    },
    PortalFamily {
        name: "backups_vanished_total",
        help: "Backups seen by an earlier pass that left the history without being deleted by this product (not temporary ones past their expiry).",
        kind: Kind::Counter,
        series: Series::Single(|v| Some(Number::Int(v.backups_vanished as i64))),
    },
    PortalFamily {
        name: "deletions_total",
        help: "Backup deletions by verified outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &DELETION_OUTCOMES, |v| &v.deletions.0),
    },
    PortalFamily {
        name: "expected_runs_missed_total",
        help: "Runs of the portal's backup schedule that made no backup within health.late_after.",
        kind: Kind::Counter,
        series: Series::Single(|v| Some(Number::Int(v.expected_runs_missed as i64))),
    },
    PortalFamily {
        name: "guard_blocks_total",
        help: "Backups kept by a guard instead of deleted (or kept as doubtful).",
        kind: Kind::Counter,
        series: Series::Labelled("guard", &GUARDS, |v| &v.guard_blocks.0),
    },
    PortalFamily {
        name: "history_clears_total",
        help: "Whole-history clears by outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &CLEAR_OUTCOMES, |v| &v.history_clears.0),
    },
    PortalFamily {
        name: "last_good_backup_timestamp_seconds",
        help: "Creation time of the newest backup the health sentinel does not judge suspect (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_good_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "last_run_timestamp_seconds",
        help: "When the last pass ended (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_run.map(Number::Float)),
    },
    PortalFamily {
        name: "last_success_timestamp_seconds",
        help: "When the last successful pass ended (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.last_success.map(Number::Float)),
    },
    PortalFamily {
        name: "newest_backup_suspect",
        help: "1 when the newest backup is suspect (too small or too slow against the healthy ones before it).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.newest_backup_suspect.map(Number::Int)),
    },
    PortalFamily {
        name: "newest_backup_timestamp_seconds",
        help: "Creation time of the newest managed backup (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.newest_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "next_run_timestamp_seconds",
        help: "When the next pass is due (Unix time, jitter included).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.next_run.map(Number::Float)),
    },
    PortalFamily {
        name: "notify_failures_total",
        help: "Notifications after a pass (notify.url) that failed.",
        kind: Kind::Counter,
        series: Series::Single(|v| v.notify_failures.map(|n| Number::Int(n as i64))),
    },
    PortalFamily {
        name: "planned_deletions",
        help: "Deletions planned at the last pass, after the guards.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.planned_deletions.map(Number::Int)),
    },
    PortalFamily {
        name: "policy_conflict",
        help: "1 when the server's cleaner will delete scheduled backups the policy keeps.",
        kind: Kind::Gauge,
        series: Series::Single(|v| Some(Number::Int(v.policy_conflict))),
    },
    PortalFamily {
        name: "recovered_intents_total",
        help: "Changes an interrupted run left unsettled, settled later, by outcome.",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &RECOVERED_OUTCOMES, |v| &v.recovered.0),
    },
    PortalFamily {
        name: "run_duration_seconds",
        help: "Duration of retention passes.",
        kind: Kind::Histogram,
        series: Series::RunDuration,
    },
    PortalFamily {
        name: "runs_total",
        help: "Retention passes by outcome (skipped: the previous pass was still running).",
        kind: Kind::Counter,
        series: Series::Labelled("outcome", &RUN_OUTCOMES, |v| &v.runs.0),
    },
    PortalFamily {
        name: "schedule_backups_stored",
        help: "The schedule's backupsStored (0: unlimited or no schedule).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_backups_stored.map(Number::Int)),
    },
    PortalFamily {
        name: "schedule_last_backup_timestamp_seconds",
        help: "The schedule's last backup time (Unix time).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_last_backup.map(Number::Float)),
    },
    PortalFamily {
        name: "schedule_missing_since_timestamp_seconds",
        help: "Since when the portal has had no schedule (Unix time; 0 while it has one).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_missing_since.map(Number::Float)),
    },
    PortalFamily {
        name: "schedule_period_seconds",
        help: "The schedule's period, or the one last seen when the portal has none now (0: never seen).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_period.map(Number::Int)),
    },
    PortalFamily {
        name: "schedule_present",
        help: "1 when the portal has a backup schedule.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.schedule_present.map(Number::Int)),
    },
    PortalFamily {
        name: "server_clock_skew_seconds",
        help: "How far the server's clock (its Date header) is ahead of ours at the last pass; beyond 300 s either way a pass deletes nothing.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.server_clock_skew.map(Number::Int)),
    },
    PortalFamily {
        name: "server_info",
        help: "The portal's DocSpace version (\"unknown\" when it cannot be read); always 1.",
        kind: Kind::Gauge,
        series: Series::ServerInfo,
    },
    PortalFamily {
        name: "suspect_backups",
        help: "Backups the health sentinel judges suspect at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.suspect_backups.map(Number::Int)),
    },
    PortalFamily {
        name: "temporary_backups",
        help: "Temporary backups (a real expiresOn: the server deletes them) at the last pass.",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.temporary_backups.map(Number::Int)),
    },
    PortalFamily {
        name: "timezone_mismatch",
        help: "1 when the configured timezone differs from the portal's own (GET /api/2.0/settings).",
        kind: Kind::Gauge,
        series: Series::Single(|v| v.timezone_mismatch.map(Number::Int)),
    },
];

/// Sample lines of one family; its header goes before the first (a family with no
/// series is left out, as the crate leaves it out).
struct Lines<'a> {
    out: &'a mut String,
    name: &'static str,
    /// The family, while its header is still to be written.
    header: Option<&'static PortalFamily>,
}

/// `# HELP` and `# TYPE` of a family.
fn write_header(out: &mut String, family: &PortalFamily) {
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

fn number(out: &mut String, value: Number) {
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

fn escape_into(out: &mut String, value: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_in_name_order_and_helps_need_no_escaping() {
        assert!(PORTAL_FAMILIES.windows(2).all(|w| w[0].name < w[1].name));
        for f in &PORTAL_FAMILIES {
            assert!(!f.help.contains(['\\', '\n']), "{}", f.name);
        }
    }

    #[test]
    fn numbers_print_as_the_crate_printed_them() {
        let mut out = String::new();
        for v in [
            0.0,
            -0.0,
            1796268600.37,
            400.0,
            0.12,
            1e21,
            f64::NAN,
            f64::INFINITY,
            -3.5,
        ] {
            out.clear();
            number(&mut out, Number::Float(v));
            assert_eq!(out, format!("{v}"), "{v}");
        }
    }

    /// Cut anywhere, the exposition is the same text; the portals are those there
    /// when it began.
    #[test]
    fn chunks_of_any_size_make_the_same_exposition() {
        let m = Metrics::new();
        for (i, p) in ["c", "a", "b-1", "d_2"].iter().enumerate() {
            m.portal(p).update(|v| {
                v.runs.add(&RUN_OUTCOMES, "success", i as u64);
                if i % 2 == 0 {
                    v.next_run = Some(1.5 + i as f64);
                    v.run_duration
                        .get_or_insert_with(Default::default)
                        .observe(0.3 * i as f64);
                    v.request("get_history", Some(200));
                    v.server_version = Some(format!("3.{i}"));
                }
                v.request("delete_backup", if i == 1 { None } else { Some(500) });
            });
        }
        m.api_request_duration_seconds
            .with_label_values(&["get_history"])
            .observe(0.2);
        let whole: String = m.exposition_in(usize::MAX).collect();
        let mut pieces = m.exposition_in(1);
        let first = pieces.next().unwrap();
        m.portal("aa-joined-late");
        let cut: String = std::iter::once(first).chain(pieces).collect();
        assert_eq!(cut, whole);
        // Four of the crate, twelve per portal with a series (counters, next run, duration, version).
        assert_eq!(whole.matches("# TYPE").count(), 16);
        assert!(m.render().contains("portal=\"aa-joined-late\""));
        assert!(!whole.contains("aa-joined-late"));
        let lines: Vec<&str> = whole.lines().filter(|l| !l.starts_with('#')).collect();
        let distinct: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
        assert_eq!(distinct.len(), lines.len(), "no series twice");
    }

    /// A portal that left keeps no series, and the hook it left behind (a pass still
    /// running when a reload removed it) counts into nothing, also when its slot
    /// goes to another portal.
    #[test]
    fn a_removed_portal_leaves_nothing_behind() {
        let m = Metrics::new();
        let old = m.portal("gone");
        old.update(|v| v.runs.add(&RUN_OUTCOMES, "success", 5)).unwrap();
        m.remove_portal("gone");
        assert!(!m.render().contains("gone"));
        assert_eq!(old.update(|v| v.runs.add(&RUN_OUTCOMES, "success", 1)), None);
        let other = m.portal("other");
        assert_eq!(other.slot, old.slot, "the slot is reused");
        assert_eq!(old.update(|v| v.runs.add(&RUN_OUTCOMES, "failure", 1)), None);
        m.portal("gone");
        let text = m.render();
        for p in ["gone", "other"] {
            for o in RUN_OUTCOMES {
                assert!(
                    text.contains(&format!("runs_total{{outcome=\"{o}\",portal=\"{p}\"}} 0\n")),
                    "{text}"
                );
            }
        }
        // Removed during a scrape: its series stop where it left.
        let mut scrape = m.exposition_in(1);
        let mut text = scrape.next().unwrap();
        m.remove_portal("other");
        text.extend(scrape);
        assert!(text.contains("portal=\"gone\""));
        assert!(!text.contains("portal=\"other\""));
    }

    #[test]
    fn request_series_sort_as_their_labels_read() {
        let mut v = PortalValues::default();
        for (e, s) in [
            ("get_schedule", None),
            ("get_schedule", Some(503)),
            ("delete_backup", Some(200)),
            ("get_schedule", Some(404)),
            ("get_schedule", Some(503)),
        ] {
            v.request(e, s);
        }
        let got: Vec<_> = v.requests.iter().map(|r| (r.endpoint, r.status, r.count)).collect();
        assert_eq!(
            got,
            [
                ("delete_backup", Some(200), 1),
                ("get_schedule", Some(404), 1),
                ("get_schedule", Some(503), 2),
                ("get_schedule", None, 1)
            ]
        );
    }
}
