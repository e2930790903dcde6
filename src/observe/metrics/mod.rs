//! Every metric, defined in one place (docs/reference.md, "Metrics"): names, types,
//! help texts and labels are the contract dashboards and alerts rely on. This module
//! knows no domain type; the observer (`observe`) is the only code that updates
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
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

mod families;
mod text;

use families::*;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
pub use text::Exposition;
use text::*;

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

/// Which portals' series a scrape shows (`[metrics] per_portal`): every portal's, only
/// those whose last pass failed, or none. The values are kept for every portal either
/// way, so a portal that starts failing shows its counters whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PerPortal {
    #[default]
    All,
    Failing,
    None,
}

impl PerPortal {
    pub const NAMES: [&'static str; 3] = ["all", "failing", "none"];

    pub fn parse(text: &str) -> Option<PerPortal> {
        match text {
            "all" => Some(PerPortal::All),
            "failing" => Some(PerPortal::Failing),
            "none" => Some(PerPortal::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

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
    /// Did the portal's last pass fail (a pass ran since its last success)?
    pub fn failing(&self) -> bool {
        match (self.last_run, self.last_success) {
            (Some(run), Some(success)) => success < run,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

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
    /// `next_run_timestamp_seconds`: every portal has it from the start.
    next_run: Option<f64>,
    /// Everything else, made by the first update: a portal that has not run yet
    /// shows the idle values (counters at zero) and costs no more than this slot.
    values: Option<Box<PortalValues>>,
}

/// The values of a portal nothing has updated yet.
static IDLE: std::sync::LazyLock<PortalValues> = std::sync::LazyLock::new(PortalValues::default);

impl Slot {
    fn values(&self) -> &PortalValues {
        self.values.as_deref().unwrap_or(&IDLE)
    }

    fn failing(&self) -> bool {
        self.values.as_ref().is_some_and(|v| v.failing())
    }

    /// Back to a free slot's state.
    fn clear(&mut self) {
        self.next_run = None;
        self.values = None;
    }
}

impl Table {
    fn live(&self, slot: usize, generation: u64) -> Option<&Slot> {
        self.slots.get(slot).filter(|s| s.live && s.generation == generation)
    }

    fn live_mut(&mut self, slot: usize, generation: u64) -> Option<&mut Slot> {
        self.slots
            .get_mut(slot)
            .filter(|s| s.live && s.generation == generation)
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
        self.with_slot(|s| change(s.values.get_or_insert_with(Box::default)))
    }

    /// Sets `next_run_timestamp_seconds` (`None`: no run due).
    pub fn set_next_run(&self, at: Option<f64>) {
        self.with_slot(|s| s.next_run = at);
    }

    /// Changes the portal's slot; `None` when the portal has left.
    fn with_slot<R>(&self, change: impl FnOnce(&mut Slot) -> R) -> Option<R> {
        let mut table = self.table.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.live_mut(self.slot, self.generation).map(change)
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
    /// A [`PerPortal`], as its index.
    per_portal: AtomicU8,
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
            per_portal: AtomicU8::new(PerPortal::All as u8),
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
                s.clear();
                slot
            }
            None => {
                table.slots.push(Slot {
                    portal: portal.to_string(),
                    generation: 0,
                    live: true,
                    next_run: None,
                    values: None,
                });
                table.slots.len() - 1
            }
        };
        table.by_name.insert(portal.to_string(), slot);
        handle(&table, slot)
    }

    /// Which portals' series the next scrapes show.
    pub fn set_per_portal(&self, shown: PerPortal) {
        self.per_portal.store(shown as u8, Ordering::Relaxed);
    }

    pub fn per_portal(&self) -> PerPortal {
        match self.per_portal.load(Ordering::Relaxed) {
            1 => PerPortal::Failing,
            2 => PerPortal::None,
            _ => PerPortal::All,
        }
    }

    /// Drops every series of a portal that left the config.
    pub fn remove_portal(&self, portal: &str) {
        let mut table = self.table.write().expect("metrics lock");
        if let Some(slot) = table.by_name.remove(portal) {
            let s = &mut table.slots[slot];
            s.live = false;
            s.generation += 1;
            s.clear();
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
        let shown = self.per_portal();
        let portals = {
            let table = self.table.read().expect("metrics lock");
            if shown != PerPortal::All {
                let failing = table.slots.iter().filter(|s| s.live && s.failing()).count();
                shared.push((
                    "docspace_retention_portals".to_string(),
                    fleet_text(table.by_name.len(), failing),
                ));
                shared.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            table
                .by_name
                .values()
                .filter(|&&slot| match shown {
                    PerPortal::All => true,
                    PerPortal::Failing => table.slots[slot].failing(),
                    PerPortal::None => false,
                })
                .map(|&slot| (slot, table.slots[slot].generation))
                .collect()
        };
        shared.reverse();
        Exposition {
            shared,
            portals,
            table: Arc::clone(&self.table),
            at: Cursor::default(),
            endpoints: Vec::new(),
            status: String::new(),
            chunk,
            prefix: ((usize::MAX, 0), String::new(), 0),
        }
    }
}

/// The fleet's family when per-portal series are not all shown: the portals in the
/// config, and those whose last pass failed.
fn fleet_text(configured: usize, failing: usize) -> String {
    format!(
        "# HELP {NS}_portals Portals by state (shown when metrics.per_portal is failing or none).\n\
         # TYPE {NS}_portals gauge\n\
         {NS}_portals{{state=\"configured\"}} {configured}\n\
         {NS}_portals{{state=\"failing\"}} {failing}\n"
    )
}

#[cfg(test)]
mod tests;
