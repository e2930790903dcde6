//! What the product remembers between passes (docs/reference.md, "State"), and what
//! it does with it: a vanished schedule keeps the stale guard on, a server upgrade
//! makes one pass only plan, grace makes deletions wait, max_age clears. Each is two
//! or more passes of the real binary with a change in between.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use docspace_retention::simulator::{Fault, SimEndpoint, SimOptions, Simulator, realistic_portal};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::harness::*;

/// A config for the simulator's `acme`, with a policy that would delete. The admin
/// server takes any free port: `run` binds before it opens the state, and the
/// default 9464 belongs to the demo's test.
fn config(sim: &Simulator, retention: &str) -> Setup {
    Setup::new(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\nmax_delete_fraction = 1.0\n{retention}\n",
        sim_portal("acme", sim)
    ))
}

/// The portal's backups end `days_ago` days before today (a portal whose backups
/// stopped), 20 nightly ones.
fn stopped_portal(days_ago: i64) -> docspace_retention::simulator::SimPortal {
    realistic_portal("acme", KEY, Utc::now() - TimeDelta::days(days_ago), 20)
}

fn once_line(o: &std::process::Output) -> String {
    stdout(o).lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_schedule_the_server_deleted_keeps_the_stale_guard_on() {
    // Backups stopped five days ago; the schedule was daily.
    let sim = Simulator::start(vec![stopped_portal(5)], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = config(&sim, "keep_last = 3");
    // Pass 1 sees the schedule (stale: nothing deleted) and remembers it.
    let o = setup.cli(&["once"]).await;
    assert!(once_line(&o).contains("deleted 0"), "{}", stdout(&o));
    // The server deletes the schedule. Without the memory "auto" would switch the
    // guard off and the pass would delete 20 backups of a portal whose backups stopped.
    sim.set_schedule("acme", None);
    let before = sim.backups("acme").len();
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sim.backups("acme").len(), before, "{}", stdout(&o));
    assert_eq!(
        stderr(&o).matches("backup schedule is gone").count(),
        1,
        "{}",
        stderr(&o)
    );
    // One warning: the next pass does not repeat it.
    let o = setup.cli(&["once"]).await;
    assert_eq!(
        stderr(&o).matches("backup schedule is gone").count(),
        0,
        "{}",
        stderr(&o)
    );
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let portal = &plan["portals"][0];
    assert_eq!(portal["guards"][0]["guard"], "stale", "{plan}");
    assert_eq!(portal["guards"][0]["blocked"], json!(before - 3), "{plan}");
    assert!(
        portal["backups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["action"] == "keep")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_metrics_remember_the_period_and_say_since_when_it_is_missing() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    let period = r#"docspace_retention_schedule_period_seconds{portal="acme"}"#;
    let missing = r#"docspace_retention_schedule_missing_since_timestamp_seconds{portal="acme"}"#;
    eventually("a pass", Duration::from_secs(10), || async {
        metric(&metrics(addr).await, period) == Some(86_400.0)
    })
    .await;
    assert_eq!(metric(&metrics(addr).await, missing), Some(0.0));
    assert_eq!(
        metric(
            &metrics(addr).await,
            r#"docspace_retention_server_info{portal="acme",version="3.7.2.1733"}"#
        ),
        Some(1.0)
    );
    sim.set_schedule("acme", None);
    sim.set_version("acme", None);
    eventually("the schedule missing", Duration::from_secs(10), || async {
        metric(&metrics(addr).await, missing).unwrap_or(0.0) > 0.0
    })
    .await;
    let text = metrics(addr).await;
    // A dry run stores nothing, so the daemon remembers no schedule: 0, never seen.
    assert_eq!(metric(&text, period), Some(0.0));
    assert_eq!(
        metric(&text, r#"docspace_retention_schedule_present{portal="acme"}"#),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &text,
            r#"docspace_retention_server_info{portal="acme",version="unknown"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("version=\"3.7.2.1733\""), "one series per portal");
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test]
async fn the_first_pass_after_an_upgrade_only_plans() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    sim.set_version("acme", Some("3.6.1.1200"));
    let setup = config(&sim, "keep_last = 3");
    let o = setup.cli(&["once"]).await;
    assert!(once_line(&o).contains("deleted 7"), "{}", stdout(&o));
    // Upgraded; new backups arrive.
    sim.set_version("acme", Some("3.7.2.1733"));
    let mut fresh = realistic_portal("acme", KEY, Utc::now() + TimeDelta::seconds(1), 1).backups;
    for (i, b) in fresh.iter_mut().enumerate() {
        b.id = docspace_retention::simulator::sim_id("acme", 900 + i as u64);
        b.created_on = Utc::now() - TimeDelta::minutes(10 + i as i64);
        // Its name says it started five minutes before (as long as the others took).
        b.file_name = format!(
            "acme_{}.tar.gz",
            (b.created_on - TimeDelta::minutes(5)).format("%Y-%m-%d_%H-%M-%S")
        );
        sim.add_backup("acme", b.clone());
    }
    let before = sim.backups("acme").len();
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let reasons: Vec<String> = plan["portals"][0]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        reasons.contains(&"DocSpace 3.6.1.1200 → 3.7.2.1733: first pass after a server change only plans".to_string()),
        "{reasons:?}"
    );
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        sim.backups("acme").len(),
        before,
        "the first pass after the upgrade deleted"
    );
    assert!(once_line(&o).contains("blocked by guards"), "{}", stdout(&o));
    // The next pass deletes again; an unreadable version is no change.
    sim.inject("acme", SimEndpoint::GetVersion, Fault::Status(500));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sim.backups("acme").len(), 3);
}

#[tokio::test]
async fn schedule_delete_refuses_an_old_or_unknown_server_unless_forced() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = config(&sim, "keep_last = 3");
    for version in [Some("3.0.4.512"), None] {
        sim.set_version("acme", version);
        let o = setup.cli(&["schedule", "delete", "--portal", "acme", "--yes"]).await;
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains("refusing to delete the schedule"), "{}", stderr(&o));
        assert_eq!(sim.requests("acme", SimEndpoint::DeleteSchedule, 200), 0);
    }
    assert!(sim.schedule("acme").is_some());
    let o = setup
        .cli(&["schedule", "delete", "--portal", "acme", "--yes", "--force"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(sim.schedule("acme").is_none());
}

#[tokio::test]
async fn grace_makes_a_deletion_wait_from_the_first_real_pass_that_planned_it() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = config(&sim, "keep_last = 3\ndelete_grace = \"3s\"");
    // A dry run plans, but starts no clock and stores nothing.
    let o = setup.cli(&["--dry-run", "once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!setup.state().join("state.db").exists());
    let o = setup.cli(&["once"]).await;
    assert!(
        once_line(&o).contains("deleted 0, blocked by guards 7"),
        "{}",
        stdout(&o)
    );
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let waiting = plan["portals"][0]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["reasons"][0]
                .as_str()
                .unwrap()
                .starts_with("grace: deletable after 20")
        })
        .count();
    assert_eq!(waiting, 7, "{plan}");
    assert_eq!(sim.backups("acme").len(), 10);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let o = setup.cli(&["once"]).await;
    assert!(once_line(&o).contains("deleted 7"), "{}", stdout(&o));
}

#[tokio::test]
async fn max_age_clears_a_portal_whose_every_backup_is_too_old_with_one_call() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    let old = daily("2026-06-30", 4);
    serve_history_times(&server, old, 2, Vec::new()).await;
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(1)
        .named("one clear")
        .mount(&server)
        .await;
    for n in 1..=4 {
        expect_delete(&server, n, 0).await;
    }
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "max_age = \"30d\"\nmin_keep = 0\nclear_history = true\nstale_after = \"off\"\nmax_delete_fraction = 1.0",
    ));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("clear_history: a clear also removes records the history does not list"),
        "{}",
        stderr(&o)
    );
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        once_line(&o).contains("history clear of 4 records: deleted"),
        "{}",
        stdout(&o)
    );
    let audit = setup.audit();
    assert_eq!(audit[0]["action"], "clear_history");
    assert_eq!(audit[1]["outcome"], "deleted");
}

#[tokio::test]
async fn the_state_database_is_never_recreated_and_its_failures_delete_nothing() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = config(&sim, "keep_last = 3");
    std::fs::create_dir_all(setup.state()).unwrap();
    let db = setup.state().join("state.db");
    std::fs::write(&db, "somebody's notes, not a database").unwrap();
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains(&db.display().to_string()), "{}", stderr(&o));
    // The daemon stops with 65, which the unit does not restart on.
    let o = setup.cli(&["run"]).await;
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains(&db.display().to_string()), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("state unusable; restarting will not help"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "somebody's notes, not a database"
    );
    assert_eq!(sim.backups("acme").len(), 10);

    // Another process holds the database: the pass waits its busy timeout, then fails
    // without deleting.
    std::fs::remove_file(&db).unwrap();
    let o = setup.cli(&["plan"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!db.exists(), "plan created the state database");
    let o = setup.cli(&["--dry-run", "once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!db.exists(), "a dry run created the state database");
    drop(docspace_retention::state::StateDb::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO portal (name) VALUES ('other');")
        .unwrap();
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        once_line(&o).contains("database is locked: nothing was deleted"),
        "{}",
        stdout(&o)
    );
    assert_eq!(sim.backups("acme").len(), 10);
    conn.execute_batch("ROLLBACK;").unwrap();
    drop(conn);
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sim.backups("acme").len(), 3);
}
