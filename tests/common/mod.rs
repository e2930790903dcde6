//! Shared helpers: a DocSpace stand-in on wiremock, its wire format, and configs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const KEY: &str = "sk-test-key-5f3a9c";
pub const HISTORY: &str = "/api/2.0/backup/getbackuphistory";
pub const SCHEDULE: &str = "/api/2.0/backup/getbackupschedule";
pub const DELETE_HISTORY: &str = "/api/2.0/backup/deletebackuphistory";
pub const DELETE_SCHEDULE: &str = "/api/2.0/backup/deletebackupschedule";

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
}

/// The first GET of the history answers `first`; every later one `after`.
pub async fn serve_history(server: &MockServer, first: Vec<Value>, after: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .and(query_param("Dump", "false"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(first))))
        .up_to_n_times(1)
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

/// A config directory: key file, state dir and config.toml.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// `portals` is TOML for the portal tables; `KEYFILE`, `STATE` are substituted.
    pub fn new(portals: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), format!("{KEY}\n")).unwrap();
        let setup = Setup { dir };
        setup.write(portals);
        setup
    }

    pub fn write(&self, portals: &str) {
        let text = format!(
            "[daemon]\nstate_dir = \"{}\"\n[log]\nlevel = \"warn\"\n{}",
            self.state().display(),
            portals.replace("KEYFILE", &self.key_file().display().to_string())
        );
        std::fs::write(self.config(), text).unwrap();
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

    /// The audit log's lines, parsed.
    pub fn audit(&self) -> Vec<Value> {
        read_audit(&self.state())
    }
}

pub fn read_audit(state: &Path) -> Vec<Value> {
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
