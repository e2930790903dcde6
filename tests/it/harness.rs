//! The one test harness: a DocSpace stand-in on wiremock and its wire format, a
//! config folder, the binary, an in-process pass and daemon, ports and waiting.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use docspace_retention::config::{Config, LoadOptions, PortalConfig, load};
use docspace_retention::daemon::{self, DaemonHandle};
use docspace_retention::docspace::{Clients, DocSpaceClient};
use docspace_retention::pass::{PassReport, run_pass};
use docspace_retention::simulator::{SimPortal, Simulator, realistic_portal};
use docspace_retention::state::StateDir;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const KEY: &str = "sk-test-key-5f3a9c";
pub const HISTORY: &str = "/api/2.0/backup/getbackuphistory";
pub const SCHEDULE: &str = "/api/2.0/backup/getbackupschedule";
pub const DELETE_HISTORY: &str = "/api/2.0/backup/deletebackuphistory";
pub const DELETE_SCHEDULE: &str = "/api/2.0/backup/deletebackupschedule";
pub const VERSION: &str = "/api/2.0/settings/version/build";

pub fn delete_path(id: &str) -> String {
    format!("/api/2.0/backup/deletebackup/{id}")
}

/// Deterministic backup ids.
pub fn id(n: usize) -> String {
    format!("{n:08x}-1111-4222-8333-{n:012x}")
}

/// A history record as a MySQL-backed server sends it: integer enum, no zone.
pub fn record(n: usize, created: &str) -> Value {
    json!({
        "id": id(n),
        "fileName": format!("acme_{}.tar.gz", created.replace(':', "-")),
        "storageType": 0,
        "createdOn": created,
        "expiresOn": "0001-01-01T00:00:00",
    })
}

/// The newest day whose early hours (00:00–06:59 UTC, where the tests put their
/// backups) have all passed: today from 07:00 UTC, yesterday before. A backup dated
/// after now is kept whatever the rules say, so "today" alone makes a test depend on
/// the hour it runs at.
pub fn last_full_morning() -> chrono::NaiveDate {
    (chrono::Utc::now() - chrono::Duration::hours(7)).date_naive()
}

/// Daily backups at 03:00 for `days` days ending on `last` (YYYY-MM-DD), newest id 1.
pub fn daily(last: &str, days: usize) -> Vec<Value> {
    let last = chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap();
    (0..days)
        .map(|i| {
            let day = last - chrono::Duration::days(i as i64);
            record(i + 1, &format!("{day}T03:00:00"))
        })
        .collect()
}

pub fn envelope(response: Value) -> Value {
    let count = response.as_array().map_or(1, Vec::len);
    json!({"response": response, "count": count, "links": [{"href": "x", "action": "GET"}], "status": 0, "statusCode": 200})
}

pub fn no_value() -> Value {
    json!({"count": 0, "links": [], "status": 0, "statusCode": 200})
}

pub fn ok_true() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(envelope(json!(true)))
}

pub fn schedule(period: u32, stored: Option<u32>) -> Value {
    let mut s = json!({
        "storageType": 0,
        "storageParams": {"folderId": "4"},
        "cronParams": {"period": period, "hour": 3, "day": 0},
        "lastBackupTime": "2026-11-22T03:00:00",
        "dump": false,
    });
    if let Some(n) = stored {
        s["backupsStored"] = json!(n);
    }
    envelope(s)
}

pub fn error_body(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": null, "stack": null, "hresult": 0},
        "status": 1, "statusCode": status
    }))
}

pub fn html(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "text/html")
        .set_body_string("<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>nginx</body></html>")
}

/// GET schedule answered with `body` (any number of times).
pub async fn serve_schedule(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .and(query_param("Dump", "false"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
    // The schedule's folder (Documents storage), empty: no backup's size is known.
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/4"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"response": {"files": [], "folders": [], "total": 0}})),
        )
        .mount(server)
        .await;
}

/// The server's version answer (anonymous), as a DocSpace 3.7.2 sends it.
pub async fn serve_version(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(VERSION))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(
            json!({"docSpace": "3.7.2.1733", "documentServer": "8.3.1.26"}),
        )))
        .mount(server)
        .await;
}

/// The first GET of the history answers `first`; every later one `after`.
pub async fn serve_history(server: &MockServer, first: Vec<Value>, after: Vec<Value>) {
    serve_history_times(server, first, 1, after).await;
}

/// The first `times` GETs of the history answer `first`; every later one `after`.
pub async fn serve_history_times(server: &MockServer, first: Vec<Value>, times: u64, after: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .and(query_param("Dump", "false"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(first))))
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(after))))
        .with_priority(2)
        .mount(server)
        .await;
}

/// Expects exactly `times` DELETE calls for backup `n`, answered `true`.
pub async fn expect_delete(server: &MockServer, n: usize, times: u64) {
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(n))))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ok_true())
        .expect(times)
        .named(format!("delete backup {n}"))
        .mount(server)
        .await;
}

/// No DELETE of any kind may happen.
pub async fn forbid_deletes(server: &MockServer) {
    Mock::given(method("DELETE"))
        .respond_with(ok_true())
        .expect(0)
        .named("any DELETE")
        .mount(server)
        .await;
}

// ----- a config folder -----

/// A config folder: key file, state dir, config.toml and conf.d/.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// A config for one-shot commands: `portals` is TOML for the portal tables.
    pub fn new(portals: &str) -> Self {
        let setup = Setup::empty();
        setup.write(portals);
        setup
    }

    /// A config for the daemon: the admin server on port 0, every portal every
    /// second with the key file and `keep_last = 3`, unless its table says otherwise.
    pub fn daemon(portals: &str) -> Self {
        let setup = Setup::empty();
        setup.write_daemon(portals);
        setup
    }

    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), format!("{KEY}\n")).unwrap();
        // As a key file should be: readable by its owner only (else a warning).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        Setup { dir }
    }

    /// Writes config.toml for one-shot commands (`KEYFILE` and `STATE` are substituted).
    pub fn write(&self, portals: &str) {
        self.write_raw(&format!(
            "[daemon]\nstate_dir = \"STATE\"\n[log]\nlevel = \"warn\"\n{portals}"
        ));
    }

    /// Writes config.toml for the daemon (see [`Setup::daemon`]).
    pub fn write_daemon(&self, portals: &str) {
        self.write_raw(&daemon_config(portals));
    }

    /// Writes config.toml as given, with `KEYFILE` and `STATE` substituted.
    pub fn write_raw(&self, text: &str) {
        std::fs::write(self.config(), self.substitute(text)).unwrap();
    }

    /// Writes `conf.d/<name>`, with `KEYFILE` and `STATE` substituted.
    pub fn conf_d(&self, name: &str, text: &str) {
        let dir = self.dir.path().join("conf.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), self.substitute(text)).unwrap();
    }

    fn substitute(&self, text: &str) -> String {
        text.replace("KEYFILE", &self.key_file().display().to_string())
            .replace("STATE", &self.state().display().to_string())
    }

    /// Moves the written config from port 0 to a free fixed port (for the binary,
    /// whose address the test must know in advance).
    pub fn fixed_port(&self) -> u16 {
        let port = free_port();
        let text = std::fs::read_to_string(self.config())
            .unwrap()
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        std::fs::write(self.config(), text).unwrap();
        port
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("key")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The audit log's lines of changes (intents and results), parsed.
    pub fn audit(&self) -> Vec<Value> {
        read_audit(&self.state())
    }

    /// Every line of the audit log, parsed: changes, passes and checkpoints.
    pub fn audit_all(&self) -> Vec<Value> {
        read_all_audit(&self.state())
    }

    /// Load options with no environment.
    pub fn opts(&self) -> LoadOptions {
        let mut opts = LoadOptions::new(self.config());
        opts.env = Vec::new();
        opts
    }

    pub fn load(&self) -> Config {
        load(&self.opts()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The daemon in-process, reloading from this folder.
    pub async fn start_daemon(&self) -> DaemonHandle {
        self.start_daemon_with(daemon::Options::default()).await
    }

    /// The daemon in-process with other options (another pass, a faster heartbeat).
    pub async fn start_daemon_with(&self, options: daemon::Options) -> DaemonHandle {
        let opts = self.opts();
        let config = self.load();
        let bound = daemon::bind(&config).await.unwrap();
        daemon::start_bound(bound, config, Arc::new(move || load(&opts)), options)
            .await
            .unwrap()
    }

    /// The binary with this config and `args`.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config".to_string(), self.config().display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        run_binary(all, Vec::new()).await
    }
}

/// The daemon config of [`Setup::daemon`], with `STATE` and `KEYFILE` to substitute.
pub fn daemon_config(portals: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[daemon]\nstate_dir = \"STATE\"\nshutdown_grace_secs = 20\n\
         [log]\nlevel = \"warn\"\n[defaults]\nschedule = \"* * * * * *\"\nmax_retries = 0\n\
         api_key_file = \"KEYFILE\"\n[defaults.retention]\nkeep_last = 3\nmax_deletions_per_run = 100\n\
         max_delete_fraction = 1.0\n{portals}"
    )
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----- the binary -----

/// The binary, with a clean environment (no RUST_LOG, no prefixed variables).
pub fn binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_docspace-retention"));
    cmd.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("DOCSPACE_RETENTION_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs the binary with `args` and `env` to its end.
pub async fn run_binary(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    let mut cmd = binary();
    cmd.args(args).envs(env);
    output(cmd).await
}

/// Runs a command to its end off the async threads.
pub async fn output(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Runs a command to its end, or kills it after `limit` and fails the test (for a
/// command that used to hang: the test fails instead of waiting forever).
pub async fn output_within(mut cmd: std::process::Command, limit: Duration) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waited = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()),
    )
    .await;
    match waited {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("the command did not finish within {limit:?}");
        }
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// ----- a pass in-process -----

/// The config's first portal with its client (a short retry backoff) and state dir.
pub fn first_portal(config: &Config) -> (&PortalConfig, DocSpaceClient, Arc<StateDir>) {
    let portal = &config.portals[0];
    let audit = StateDir::open(&config.daemon.state_dir, docspace_retention::state::Access::Write).unwrap();
    let client = Clients::new()
        .unwrap()
        .client(&portal.name, portal.endpoint())
        .unwrap()
        .with_backoff_base(Duration::from_millis(20));
    (portal, client, audit)
}

/// One pass of the config's first portal, as of `now`.
pub async fn pass_at(config: &Config, now: DateTime<Utc>) -> PassReport {
    let (portal, client, audit) = first_portal(config);
    run_pass(portal, &client, &audit, now).await
}

/// One pass of the config's first portal, now.
pub async fn first_portal_pass(config: &Config) -> PassReport {
    pass_at(config, Utc::now()).await
}

// ----- the built-in simulator -----

/// A portal table pointing at the simulator (the daemon config supplies the rest).
pub fn sim_portal(name: &str, sim: &Simulator) -> String {
    format!("[portals.{name}]\nurl = \"{}\"\n", sim.url(name))
}

/// `once` over `setup`'s config, killed with `kill -9` while its third deletion on
/// `portal` of `sim` hangs: two deletions went through, and the batch's intents (all of
/// them, written before its first DELETE) are in the audit log without their results.
/// The killed process's exit status.
pub async fn once_killed_mid_batch(setup: &Setup, sim: &Simulator, portal: &str) -> std::process::ExitStatus {
    use docspace_retention::simulator::{Fault, SimEndpoint};
    for stall in [Duration::ZERO, Duration::ZERO, Duration::from_secs(120)] {
        sim.inject(portal, SimEndpoint::DeleteBackup, Fault::Stall(stall));
    }
    let child = spawn_once(setup);
    // A batch's intents are all written before its first DELETE; two go through.
    let before = sim.backups(portal).len();
    eventually("two deletions", Duration::from_secs(10), || async {
        sim.backups(portal).len() == before - 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill_9(child).await
}

/// `once` over `setup`'s config, started and left running (output discarded).
pub fn spawn_once(setup: &Setup) -> std::process::Child {
    binary()
        .arg("--config")
        .arg(setup.config())
        .arg("once")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills `child` with `kill -9` (a real kill) and reaps it: its exit status.
pub async fn kill_9(mut child: std::process::Child) -> std::process::ExitStatus {
    std::process::Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

/// A simulated portal with ten backups (nine nightly, one manual) and a schedule that
/// keeps 30.
pub fn ten_backups(name: &str) -> SimPortal {
    let mut p = realistic_portal(name, KEY, Utc::now(), 9);
    p.schedule.as_mut().unwrap().backups_stored = Some(30);
    p
}

// ----- waiting and the admin endpoints -----

pub async fn metrics(addr: std::net::SocketAddr) -> String {
    get(addr, "/metrics").await.1
}

pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of one exact series line, e.g. `docspace_retention_runs_total{outcome="success",portal="a"}`.
pub fn metric(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
}

/// The audit log's lines of changes (intents and results): a pass's own line and its
/// checkpoint (docs/reference.md, "Evidence") are left out.
pub fn read_audit(state: &Path) -> Vec<Value> {
    read_all_audit(state)
        .into_iter()
        .filter(|l| matches!(l["phase"].as_str(), Some("intent" | "result")))
        .collect()
}

pub fn read_all_audit(state: &Path) -> Vec<Value> {
    match std::fs::read_to_string(state.join("audit.jsonl")) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A portal table pointing at `server`.
pub fn portal(name: &str, server: &MockServer, retention: &str) -> String {
    format!(
        "[portals.{name}]\nurl = \"{}\"\napi_key_file = \"KEYFILE\"\nmax_retries = 0\n[portals.{name}.retention]\n{retention}\n",
        server.uri()
    )
}
