//! A DocSpace backup API on 127.0.0.1, for the demo, the end-to-end tests and the
//! benchmarks.
//!
//! It speaks the real server's wire format and keeps its traps (docs/docspace-api.md):
//! integer enums, dates without a zone (or with 7 fractional digits), no `response`
//! key when there is no schedule, `500` for a delete of an unknown GUID, `404` for a
//! non-GUID id, `true` from `deletebackuphistory`, and `401` for a key that is not sent
//! as `Bearer`. Any number of portals live under `/p/<name>/`, each with its own key.
//! Faults can be queued per portal and endpoint to test how the client copes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::listener::{Body, respond, serve};
use crate::wire::is_guid;

/// One backup in the simulated history.
#[derive(Clone, Debug, PartialEq)]
pub struct SimBackup {
    pub id: String,
    pub file_name: String,
    /// The wire integer (0 Documents … 5 ThirdPartyConsumer; others are "unknown").
    pub storage_type: i64,
    pub created_on: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimSchedule {
    pub storage_type: i64,
    /// 0 EveryDay, 1 EveryWeek, 2 EveryMonth.
    pub period: i64,
    pub hour: i64,
    pub day: i64,
    pub backups_stored: Option<u32>,
    pub last_backup_time: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct SimPortal {
    pub name: String,
    pub api_key: String,
    pub backups: Vec<SimBackup>,
    pub schedule: Option<SimSchedule>,
    /// What `settings/version/build` answers as `docSpace` (`None`: no version).
    pub version: Option<String>,
}

/// The version a simulated portal reports unless told otherwise.
pub const SIM_VERSION: &str = "3.7.2.1733";

/// A scripted misbehaviour for the next matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and the server's JSON error envelope.
    Status(u16),
    /// Answer with this status and a reverse proxy's HTML page.
    Html(u16),
    /// Answer 429 with `Retry-After: secs`.
    RateLimited { retry_after_secs: u64 },
    /// Wait this long before handling the request normally.
    Stall(Duration),
    /// Close the connection without answering.
    Reset,
    /// Answer 200 with a truncated JSON body.
    BrokenJson,
    /// Handle the request (e.g. delete the backup), then answer 500 anyway: the
    /// server's "record removed, file delete failed" trap.
    SucceedThen500,
}

/// Which call a fault applies to (the metric's endpoint names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimEndpoint {
    GetSchedule,
    GetHistory,
    DeleteBackup,
    DeleteHistory,
    DeleteSchedule,
    GetVersion,
    GetSettings,
    /// `GET /api/2.0/files/{folderId}`: the schedule folder's files (Documents storage).
    GetFolder,
    /// `GET /api/2.0/keys/@self`: the calling key.
    GetKey,
}

/// What a simulated portal says besides its backups (the health sentinel's signals).
#[derive(Clone, Debug)]
pub struct SimKnobs {
    /// The portal's own time zone (`GET /api/2.0/settings`).
    pub timezone: String,
    pub standalone: bool,
    /// The key's expiry: `Some(None)` never, `None` the server is older than 3.1.1 (404).
    pub key_expires: Option<Option<DateTime<Utc>>>,
    /// Sizes set for backups by id; the others have a size of about 50 MB.
    pub sizes: HashMap<String, u64>,
}

impl Default for SimKnobs {
    fn default() -> Self {
        SimKnobs {
            timezone: "UTC".into(),
            standalone: false,
            key_expires: Some(None),
            sizes: HashMap::new(),
        }
    }
}

/// A backup's size unless set: 48–52 MB, stable per id.
fn default_size(id: &str) -> u64 {
    48_000_000 + crate::shard::stable_hash(id) % 4_000_000
}

#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Added to every answer (benchmarks: the network's round trip).
    pub latency: Duration,
    /// Dates as a PostgreSQL-backed server writes them (`…03:00:00.0000000Z`) instead
    /// of MySQL's zone-less form.
    pub postgres_dates: bool,
}

struct PortalState {
    portal: SimPortal,
    knobs: SimKnobs,
    faults: VecDeque<(SimEndpoint, Fault)>,
    requests: HashMap<(SimEndpoint, u16), u64>,
}

type Portals = Arc<Mutex<HashMap<String, PortalState>>>;

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    portals: Portals,
    stop: CancellationToken,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Simulator {
    /// Starts serving `portals` on 127.0.0.1 (an ephemeral port unless `port` is set).
    pub async fn start(portals: Vec<SimPortal>, options: SimOptions, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state: Portals = Arc::new(Mutex::new(
            portals
                .into_iter()
                .map(|p| {
                    let name = p.name.clone();
                    (
                        name,
                        PortalState {
                            portal: p,
                            knobs: SimKnobs::default(),
                            faults: VecDeque::new(),
                            requests: HashMap::new(),
                        },
                    )
                })
                .collect(),
        ));
        let stop = CancellationToken::new();
        let handler_state = Arc::clone(&state);
        let options = Arc::new(options);
        tokio::spawn(serve(
            listener,
            move |req| handle(Arc::clone(&handler_state), Arc::clone(&options), req),
            stop.clone(),
            Duration::from_millis(200),
            crate::listener::Limits::default(),
        ));
        Ok(Simulator {
            addr,
            portals: state,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure for `portal` (a path prefix, like a reverse proxy).
    pub fn url(&self, portal: &str) -> String {
        format!("http://{}/p/{portal}", self.addr)
    }

    /// The portal's history as it is now.
    pub fn backups(&self, portal: &str) -> Vec<SimBackup> {
        let portals = self.portals.lock().unwrap();
        portals
            .get(portal)
            .map(|p| p.portal.backups.clone())
            .unwrap_or_default()
    }

    pub fn schedule(&self, portal: &str) -> Option<SimSchedule> {
        let portals = self.portals.lock().unwrap();
        portals.get(portal).and_then(|p| p.portal.schedule.clone())
    }

    /// Adds a backup, as the portal's own schedule would.
    pub fn add_backup(&self, portal: &str, backup: SimBackup) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            p.portal.backups.push(backup);
        }
    }

    /// Drops a backup's record as the server does on its own (a file it cannot check
    /// is soft-deleted): no API call, no trace in the history.
    pub fn drop_record(&self, portal: &str, id: &str) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            p.portal.backups.retain(|b| b.id != id);
        }
    }

    /// Replaces the portal's schedule (`None`: the server deleted it, as DocSpace 3.5+
    /// does on its own after billing or quota failures).
    pub fn set_schedule(&self, portal: &str, schedule: Option<SimSchedule>) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            p.portal.schedule = schedule;
        }
    }

    /// The server is upgraded: it reports `version` from now on.
    pub fn set_version(&self, portal: &str, version: Option<&str>) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            p.portal.version = version.map(str::to_string);
        }
    }

    /// Changes what `portal` says besides its backups.
    pub fn set_knobs(&self, portal: &str, change: impl FnOnce(&mut SimKnobs)) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            change(&mut p.knobs);
        }
    }

    /// Queues a fault for the next request of `endpoint` to `portal`.
    pub fn inject(&self, portal: &str, endpoint: SimEndpoint, fault: Fault) {
        if let Some(p) = self.portals.lock().unwrap().get_mut(portal) {
            p.faults.push_back((endpoint, fault));
        }
    }

    /// How many requests of `endpoint` to `portal` were answered with `status`.
    pub fn requests(&self, portal: &str, endpoint: SimEndpoint, status: u16) -> u64 {
        let portals = self.portals.lock().unwrap();
        portals
            .get(portal)
            .and_then(|p| p.requests.get(&(endpoint, status)).copied())
            .unwrap_or(0)
    }

    /// Every request to `portal`, any endpoint and status.
    pub fn total_requests(&self, portal: &str) -> u64 {
        let portals = self.portals.lock().unwrap();
        portals.get(portal).map_or(0, |p| p.requests.values().sum())
    }
}

fn envelope(response: Option<Value>) -> Value {
    match response {
        None => json!({"count": 0, "links": [], "status": 0, "statusCode": 200}),
        Some(v) => {
            let count = v.as_array().map_or(1, Vec::len);
            json!({"response": v, "count": count, "links": [], "status": 0, "statusCode": 200})
        }
    }
}

fn error_envelope(status: StatusCode, message: &str) -> Response<Body> {
    let body = json!({
        "error": {"message": message, "type": null, "stack": null, "hresult": 0},
        "status": 1, "statusCode": status.as_u16()
    });
    respond(status, "application/json", body.to_string())
}

fn ok(response: Option<Value>) -> Response<Body> {
    respond(StatusCode::OK, "application/json", envelope(response).to_string())
}

fn date(t: DateTime<Utc>, postgres: bool) -> String {
    if postgres {
        // .NET's seven fractional digits (chrono formats only 3, 6 or 9).
        let ticks = chrono::Timelike::nanosecond(&t) / 100;
        format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

const NEVER: &str = "0001-01-01T00:00:00";

async fn handle(
    portals: Portals,
    options: Arc<SimOptions>,
    req: Request<hyper::body::Incoming>,
) -> Option<Response<Body>> {
    if !options.latency.is_zero() {
        tokio::time::sleep(options.latency).await;
    }
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/p/") else {
        return Some(respond(StatusCode::NOT_FOUND, "text/plain", "not found"));
    };
    let (name, api) = rest.split_once('/').unwrap_or((rest, ""));
    let route = match (req.method(), api) {
        (&Method::GET, "api/2.0/backup/getbackupschedule") => SimEndpoint::GetSchedule,
        (&Method::GET, "api/2.0/backup/getbackuphistory") => SimEndpoint::GetHistory,
        (&Method::DELETE, "api/2.0/backup/deletebackuphistory") => SimEndpoint::DeleteHistory,
        (&Method::DELETE, "api/2.0/backup/deletebackupschedule") => SimEndpoint::DeleteSchedule,
        (&Method::DELETE, a) if a.starts_with("api/2.0/backup/deletebackup/") => SimEndpoint::DeleteBackup,
        (&Method::GET, "api/2.0/settings/version/build") => SimEndpoint::GetVersion,
        (&Method::GET, "api/2.0/settings") => SimEndpoint::GetSettings,
        (&Method::GET, "api/2.0/keys/@self") => SimEndpoint::GetKey,
        (&Method::GET, a) if a.starts_with("api/2.0/files/") => SimEndpoint::GetFolder,
        _ => return Some(respond(StatusCode::NOT_FOUND, "text/plain", "not found")),
    };
    let query = req.uri().query().unwrap_or("").to_string();
    let api = &format!("{api}?{query}");
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    let fault = {
        let mut all = portals.lock().unwrap();
        let Some(p) = all.get_mut(name) else {
            return Some(respond(StatusCode::NOT_FOUND, "text/plain", "no such portal"));
        };
        let i = p.faults.iter().position(|(e, _)| *e == route);
        i.and_then(|i| p.faults.remove(i)).map(|(_, f)| f)
    };
    let (response, count_status) = match fault {
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            let r = answer(&portals, &options, name, route, api, &auth);
            let s = r.status().as_u16();
            (r, s)
        }
        Some(Fault::Status(s)) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (error_envelope(status, "Injected fault"), s)
        }
        Some(Fault::Html(s)) => (
            respond(
                StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY),
                "text/html",
                format!("<!DOCTYPE html><html><body><h1>{s}</h1><hr>nginx</body></html>"),
            ),
            s,
        ),
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut r = error_envelope(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                retry_after_secs.to_string().parse().unwrap(),
            );
            (r, 429)
        }
        Some(Fault::BrokenJson) => (
            respond(StatusCode::OK, "application/json", "{\"response\": [{\"id\": \""),
            200,
        ),
        Some(Fault::Reset) => {
            record(&portals, name, route, 0);
            return None;
        }
        Some(Fault::SucceedThen500) => {
            let _ = answer(&portals, &options, name, route, api, &auth);
            (
                error_envelope(StatusCode::INTERNAL_SERVER_ERROR, "Could not delete the file"),
                500,
            )
        }
        None => {
            let r = answer(&portals, &options, name, route, api, &auth);
            let s = r.status().as_u16();
            (r, s)
        }
    };
    record(&portals, name, route, count_status);
    Some(response)
}

fn record(portals: &Portals, name: &str, route: SimEndpoint, status: u16) {
    if let Some(p) = portals.lock().unwrap().get_mut(name) {
        *p.requests.entry((route, status)).or_default() += 1;
    }
}

/// The portal's real behaviour for one call.
fn answer(
    portals: &Portals,
    options: &SimOptions,
    name: &str,
    route: SimEndpoint,
    api: &str,
    auth: &str,
) -> Response<Body> {
    let mut all = portals.lock().unwrap();
    let Some(p) = all.get_mut(name) else {
        return respond(StatusCode::NOT_FOUND, "text/plain", "no such portal");
    };
    // The version needs no authentication (and works on unpaid portals).
    if route == SimEndpoint::GetVersion {
        return ok(p
            .portal
            .version
            .as_ref()
            .map(|v| json!({"docSpace": v, "documentServer": "8.3.1.26"})));
    }
    // Anonymous too: who the portal is (each portal of the simulator is its own tenant).
    if route == SimEndpoint::GetSettings {
        return ok(Some(
            json!({"tenantAlias": name, "standalone": p.knobs.standalone, "timezone": p.knobs.timezone}),
        ));
    }
    // API keys work only as Bearer (a bare key is rejected with an empty 401).
    if auth.strip_prefix("Bearer ") != Some(p.portal.api_key.as_str()) {
        return respond(StatusCode::UNAUTHORIZED, "text/plain", "");
    }
    let pg = options.postgres_dates;
    match route {
        SimEndpoint::GetSchedule => ok(p.portal.schedule.as_ref().map(|s| {
            let mut v = json!({
                "storageType": s.storage_type,
                "storageParams": {"folderId": "1"},
                "cronParams": {"period": s.period, "hour": s.hour, "day": s.day},
                "lastBackupTime": s.last_backup_time.map_or(NEVER.to_string(), |t| date(t, pg)),
                "dump": false,
            });
            if let Some(n) = s.backups_stored {
                v["backupsStored"] = json!(n);
            }
            v
        })),
        SimEndpoint::GetHistory => ok(Some(Value::Array(
            p.portal
                .backups
                .iter()
                .map(|b| {
                    let expires = if b.storage_type == 4 {
                        date(b.created_on + TimeDelta::days(1), pg)
                    } else {
                        NEVER.to_string()
                    };
                    json!({
                        "id": b.id, "fileName": b.file_name, "storageType": b.storage_type,
                        "createdOn": date(b.created_on, pg), "expiresOn": expires,
                    })
                })
                .collect(),
        ))),
        SimEndpoint::GetKey => match p.knobs.key_expires {
            None => respond(StatusCode::NOT_FOUND, "text/plain", ""),
            Some(expires) => ok(Some(json!({
                "expiresAt": expires.map(|t| date(t, pg)),
                "isActive": true,
                "permissions": ["*"],
            }))),
        },
        SimEndpoint::GetFolder => {
            let (path, query) = api.split_once('?').unwrap_or((api, ""));
            let folder = path.trim_start_matches("api/2.0/files/");
            if folder != "1" {
                return error_envelope(StatusCode::NOT_FOUND, "The required folder was not found");
            }
            let param = |key: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let files: Vec<&SimBackup> = p.portal.backups.iter().filter(|b| b.storage_type == 0).collect();
            let start = param("startIndex").unwrap_or(0).min(files.len());
            let count = param("count").unwrap_or(100);
            let page: Vec<Value> = files[start..(start + count).min(files.len())]
                .iter()
                .map(|b| {
                    let size = p.knobs.sizes.get(&b.id).copied().unwrap_or_else(|| default_size(&b.id));
                    json!({"title": b.file_name, "pureContentLength": size, "contentLength": format!("{size} bytes")})
                })
                .collect();
            ok(Some(json!({
                "files": page, "folders": [], "startIndex": start, "count": page.len(), "total": files.len(),
            })))
        }
        SimEndpoint::DeleteBackup => {
            let id = api.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("");
            if !is_guid(id) {
                // The server's routing only matches GUIDs.
                return respond(StatusCode::NOT_FOUND, "text/plain", "");
            }
            let before = p.portal.backups.len();
            p.portal.backups.retain(|b| !b.id.eq_ignore_ascii_case(id));
            if p.portal.backups.len() == before {
                // The real server's bug: an unknown id is a 500, not a 404.
                return error_envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Object reference not set to an instance of an object.",
                );
            }
            ok(Some(json!(true)))
        }
        SimEndpoint::DeleteHistory => {
            p.portal.backups.clear();
            ok(Some(json!(true)))
        }
        SimEndpoint::DeleteSchedule => {
            p.portal.schedule = None;
            ok(Some(json!(true)))
        }
        SimEndpoint::GetVersion | SimEndpoint::GetSettings => unreachable!("answered above"),
    }
}

/// A GUID from a number, stable across runs.
pub fn sim_id(portal: &str, n: u64) -> String {
    let h = crate::shard::stable_hash(portal);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        n >> 48 & 0xfff,
        n >> 36 & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

/// The day of the newest nightly backup (03:00 UTC) at `now`: the last 03:00 that has
/// passed, so that a portal built from it holds the same backups whatever the hour (a
/// backup dated after now is kept whatever the rules say).
pub fn newest_nightly_day(now: DateTime<Utc>) -> chrono::NaiveDate {
    (now - TimeDelta::hours(3)).date_naive()
}

/// A portal with `days` nightly backups (finished at 03:00 UTC, 4 to 8 minutes after
/// they started, as their names say; about 50 MB each in the schedule's folder), the newest on
/// [`newest_nightly_day`], a manual backup every nine days in the afternoon, and a
/// daily schedule at 03:00 that keeps every backup (no `backupsStored`).
pub fn realistic_portal(name: &str, api_key: &str, now: DateTime<Utc>, days: u32) -> SimPortal {
    let mut backups = Vec::new();
    let mut add = |created_on: DateTime<Utc>| {
        let id = sim_id(name, backups.len() as u64 + 1);
        // The name carries the start: 4 to 8 minutes before it finished.
        let took = TimeDelta::seconds(240 + (crate::shard::stable_hash(&id) % 240) as i64);
        backups.push(SimBackup {
            file_name: format!("{name}_{}.tar.gz", (created_on - took).format("%Y-%m-%d_%H-%M-%S")),
            id,
            storage_type: 0,
            created_on,
        })
    };
    let today = newest_nightly_day(now);
    for d in 0..days {
        let day = today - TimeDelta::days(d as i64);
        add(day.and_hms_opt(3, 0, 0).expect("valid time").and_utc());
        if d % 9 == 4 {
            add(day.and_hms_opt(14, d * 7 % 60, 12).expect("valid time").and_utc());
        }
    }
    let last = backups.iter().map(|b| b.created_on).max();
    // The server sends the history in no particular order.
    backups.sort_by(|a, b| a.id.cmp(&b.id));
    SimPortal {
        name: name.to_string(),
        api_key: api_key.to_string(),
        version: Some(SIM_VERSION.to_string()),
        backups,
        schedule: Some(SimSchedule {
            storage_type: 0,
            period: 0,
            hour: 3,
            day: 0,
            backups_stored: None,
            last_backup_time: last,
        }),
    }
}
