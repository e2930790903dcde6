//! The backup health sentinel (docs/reference.md, "Backup health"): through the real
//! binary where a user would run it (`once`), the daemon for its metrics.

use std::time::Duration;

use chrono::{Timelike, Utc};
use docspace_retention::simulator::{SimEndpoint, SimPortal, Simulator, realistic_portal};
use serde_json::Value;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::*;

/// Nightly backups only (no manual ones), `days` of them, the newest `days_ago` days
/// before the last night.
fn nightly(name: &str, days: u32, days_ago: i64) -> SimPortal {
    let mut p = realistic_portal(name, KEY, Utc::now() - chrono::TimeDelta::days(days_ago), days);
    p.backups.retain(|b| b.created_on.hour() == 3);
    p
}

/// The portal's backups, newest first.
fn newest_first(sim: &Simulator, portal: &str) -> Vec<String> {
    let mut backups = sim.backups(portal);
    backups.sort_by_key(|b| std::cmp::Reverse(b.created_on));
    backups.into_iter().map(|b| b.id).collect()
}

const DELETE_ALL_IT_MAY: &str =
    "min_keep = 0\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0\nstale_after = \"off\"\n";

fn entry(name: &str, sim: &Simulator, retention: &str, extra: &str) -> String {
    format!(
        "{}api_key_file = \"KEYFILE\"\n{extra}[portals.{name}.retention]\n{retention}{DELETE_ALL_IT_MAY}",
        sim_portal(name, sim)
    )
}

/// Five tiny backups in a row: the rules alone keep the five newest (the tiny ones)
/// and delete every good one; with the sentinel the tiny ones are kept as suspects
/// and the keep rule's five slots go to the five newest good ones. A portal whose
/// server stopped making backups three nights ago keeps its three newest (the
/// healthy pin) where `keep_last = 1` alone keeps one.
#[tokio::test]
async fn broken_new_backups_never_rotate_out_the_good_ones() {
    let sim = Simulator::start(
        vec![
            nightly("watched", 15, 0),
            nightly("plain", 15, 0),
            nightly("stopped", 10, 3),
            nightly("stopped-plain", 10, 3),
        ],
        Default::default(),
        0,
    )
    .await
    .unwrap();
    let mut tiny = Vec::new();
    for name in ["watched", "plain"] {
        let ids = newest_first(&sim, name);
        sim.set_knobs(name, |k| {
            for id in &ids[..5] {
                k.sizes.insert(id.clone(), 40_000);
            }
        });
        tiny.push(ids[..5].to_vec());
    }
    let (watched_before, stopped_before) = (newest_first(&sim, "watched"), newest_first(&sim, "stopped"));
    let off = "[portals.NAME.health]\nenabled = false\n";
    let setup = Setup::new(&format!(
        "{}{}{}{}",
        entry("watched", &sim, "keep_last = 5\n", ""),
        entry("plain", &sim, "keep_last = 5\n", &off.replace("NAME", "plain")),
        entry("stopped", &sim, "keep_last = 1\n", ""),
        entry(
            "stopped-plain",
            &sim,
            "keep_last = 1\n",
            &off.replace("NAME", "stopped-plain")
        ),
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // The rules alone: only the tiny ones are left.
    assert_eq!(newest_first(&sim, "plain"), tiny[1]);
    // The sentinel: the tiny ones and the five newest good ones.
    assert_eq!(newest_first(&sim, "watched"), watched_before[..10].to_vec());
    assert_eq!(newest_first(&sim, "stopped-plain").len(), 1);
    assert_eq!(newest_first(&sim, "stopped"), stopped_before[..3].to_vec());
    // One folder listing a pass, for sizes.
    assert_eq!(sim.requests("watched", SimEndpoint::GetFolder, 200), 1);
    assert_eq!(sim.requests("plain", SimEndpoint::GetFolder, 200), 0);

    // What `plan` says of them, and why.
    let o = setup
        .cli(&["plan", "--json", "--portal", "watched", "--portal", "stopped"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let watched = &plan["portals"][1];
    assert_eq!(watched["portal"], "watched");
    let backups = watched["backups"].as_array().unwrap();
    assert!(
        backups[0]["health"]
            .as_str()
            .unwrap()
            .starts_with("suspect: size 0% of median"),
        "{}",
        backups[0]
    );
    assert_eq!(backups[0]["size_bytes"], 40_000);
    assert!(backups[0]["duration_secs"].as_i64().unwrap() >= 240);
    assert_eq!(backups[5]["health"], "healthy");
    assert_eq!(
        backups[5]["reasons"],
        serde_json::json!(["last snapshot", "healthy pin: newer backups are suspect or missing"])
    );
    assert_eq!(watched["health"]["suspects"], 5);
    let stopped = &plan["portals"][0];
    assert!(
        stopped["health"]["missed_runs"].as_array().unwrap().len() >= 2,
        "{stopped}"
    );
    assert_eq!(
        stopped["backups"][2]["reasons"],
        serde_json::json!(["healthy pin: newer backups are suspect or missing"])
    );
}

/// A record seen by one pass and gone at the next, that nobody here deleted, is
/// reported once as vanished; the backups the pass deleted itself, and one an
/// operator deleted with `backup delete`, are not.
#[tokio::test]
async fn a_record_the_server_drops_is_vanished_once_and_our_deletions_never_are() {
    let sim = Simulator::start(vec![nightly("acme", 8, 0)], Default::default(), 0)
        .await
        .unwrap();
    let before = newest_first(&sim, "acme");
    let setup = Setup::new(&entry("acme", &sim, "keep_last = 4\n", ""));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(newest_first(&sim, "acme"), before[..4].to_vec());

    // The server drops the oldest kept one; an operator deletes the newest.
    sim.drop_record("acme", &before[3]);
    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &before[0], "--yes"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("a backup seen before is gone"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains(&before[3]), "{err}");
    for id in before.iter().take(3).chain(&before[4..]) {
        assert!(!warnings[0].contains(id.as_str()), "{id} is not vanished: {err}");
    }

    // Said once: the next pass is quiet.
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("a backup seen before is gone"), "{}", stderr(&o));
}

/// `notify.url`: a healthchecks-style ping after each pass (`/fail` for a failed
/// one), or a POST of the pass report; the URL's token never shows, and a ping that
/// fails never fails the pass.
#[tokio::test]
async fn each_pass_is_told_to_the_notify_url_and_its_token_never_shows() {
    let sim = Simulator::start(
        vec![nightly("acme", 6, 0), nightly("good", 3, 0)],
        Default::default(),
        0,
    )
    .await
    .unwrap();
    let hc = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ping/tok-SECRET123"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&hc)
        .await;
    Mock::given(method("GET"))
        .and(path("/ping/tok-SECRET123/fail"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&hc)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook/tok-SECRET123"))
        .and(body_partial_json(
            serde_json::json!({"portal": "acme", "outcome": "success", "deleted": 3}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&hc)
        .await;
    let ping = format!("url = \"{}/ping/tok-SECRET123\"\n", hc.uri());
    // `gone` is no portal of the simulator: its pass fails.
    let setup = Setup::new(&format!(
        "{}[portals.acme.notify]\nurl = \"{}/hook/tok-SECRET123\"\nformat = \"json\"\n\
         {}[portals.good.notify]\n{ping}\
         [portals.gone]\nurl = \"{}\"\napi_key_file = \"KEYFILE\"\nmax_retries = 0\n\
         [portals.gone.retention]\nkeep_last = 1\n[portals.gone.notify]\n{ping}",
        entry("acme", &sim, "keep_last = 3\n", ""),
        hc.uri(),
        entry("good", &sim, "keep_last = 3\n", ""),
        sim.url("gone"),
    ));
    let o = setup.cli(&["--log-level", "debug", "once"]).await;
    assert_eq!(code(&o), 1, "gone fails: {}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains("SECRET123"), "{all}");
    hc.verify().await;

    // The effective config shows the URL as a secret.
    let o = setup.cli(&["check-config", "--print"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("url = \"***\""), "{}", stdout(&o));
    assert!(!stdout(&o).contains("SECRET123"));

    // A receiver that cannot be reached: said in the log, the pass still succeeds.
    let setup = Setup::new(&format!(
        "{}[portals.acme.notify]\nurl = \"http://127.0.0.1:9/ping/tok-SECRET123\"\n",
        entry("acme", &sim, "keep_last = 3\n", "")
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the notification after the pass failed"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("SECRET123"), "{}", stderr(&o));
}

/// Signals that cannot be read cost the signal, never the pass, and never a
/// deletion the rules alone would not make: a folder listing answered 500, a key
/// endpoint an old server does not know (404), file names without a start time.
#[tokio::test]
async fn unreadable_signals_cost_the_signal_never_the_pass() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 8), daily("2026-11-22", 5)).await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/files/4"))
        .respond_with(error_body(500, "The folder cannot be read"))
        .with_priority(1)
        // `once`, then `plan`: one listing each.
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/keys/@self"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    for n in 6..=8 {
        expect_delete(&server, n, 1).await;
    }
    for n in 1..=5 {
        expect_delete(&server, n, 0).await;
    }
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 5\nstale_after = \"off\"\nmax_delete_fraction = 1.0",
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The next pass does not ask an old server for its key again the same day.
    let o = setup.cli(&["plan", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        plan["portals"][0]["health"]["size_note"],
        "sizes unknown: the folder listing failed (HTTP 500)"
    );
    assert_eq!(plan["portals"][0]["backups"][0]["health"], "unknown");
    let keys = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/2.0/keys/@self")
        .count();
    assert_eq!(keys, 1, "the key is read once a day");
}

/// The daemon's health metrics: missed runs counted once however many passes see
/// them, the key's expiry, a zone that differs from the portal's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_counts_each_missed_run_once_and_shows_the_keys_expiry() {
    let sim = Simulator::start(vec![nightly("acme", 8, 3)], Default::default(), 0)
        .await
        .unwrap();
    let expires = Utc::now() + chrono::TimeDelta::days(10);
    sim.set_knobs("acme", |k| {
        k.key_expires = Some(Some(expires));
        k.timezone = "Europe/Berlin".into();
    });
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("three passes", Duration::from_secs(15), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_runs_total{outcome="success",portal="acme"}"#,
        )
        .unwrap_or(0.0)
            >= 3.0
    })
    .await;
    let m = metrics(addr).await;
    let (_, status) = get(addr, "/status").await;
    let status: Value = serde_json::from_str(&status).unwrap();
    let health = &status["portals"][0]["last_pass"]["health"];
    let missed = health["missed_runs"].as_array().unwrap().len();
    assert!(missed >= 2, "{health}");
    assert_eq!(
        metric(&m, r#"docspace_retention_expected_runs_missed_total{portal="acme"}"#),
        Some(missed as f64),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            r#"docspace_retention_api_key_expiry_timestamp_seconds{portal="acme"}"#
        ),
        Some(expires.timestamp() as f64)
    );
    assert_eq!(
        metric(&m, r#"docspace_retention_timezone_mismatch{portal="acme"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, r#"docspace_retention_newest_backup_suspect{portal="acme"}"#),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, r#"docspace_retention_backups_vanished_total{portal="acme"}"#),
        Some(0.0)
    );
    assert!(metric(&m, r#"docspace_retention_backup_size_bytes{portal="acme"}"#).unwrap() > 40e6);
    assert_eq!(health["timezone_mismatch"], "Europe/Berlin");
    assert_eq!(health["newest"], "healthy");
    // The key was read once, not once a pass.
    assert_eq!(sim.requests("acme", SimEndpoint::GetKey, 200), 1);
    handle.shutdown();
}
