//! Every path is gated (docs/reference.md, "Gates"): dry run, protect, one writer per
//! portal, one definition per portal, distinct and temporary backups, interrupted
//! changes settled first, bounded input. Through the real binary wherever a user
//! would use the binary; the daemon in-process where a reload is the point.

use std::fs::File;
use std::time::Duration;

use chrono::Utc;
use docspace_retention::daemon;
use docspace_retention::simulator::{Fault, SimBackup, SimEndpoint, SimOptions, Simulator, sim_id};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::*;

const POLICY: &str = "keep_last = 2\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";

/// No request of any kind may reach the server.
async fn forbid_everything(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ok_true())
        .expect(0)
        .named("any request")
        .mount(server)
        .await;
}

fn dry_run_lines(audit: &[Value], action: &str) -> usize {
    audit
        .iter()
        .filter(|l| l["action"] == action && l["dry_run"] == true)
        .filter(|l| l["phase"] == "intent" || l["outcome"] == "dry_run")
        .count()
}

// ----- 1. dry run everywhere -----

#[tokio::test]
async fn dry_run_reaches_every_operator_command() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 3)).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));

    // The global flag, with and without --yes: "would", audited as dry run, no DELETE.
    for yes in [true, false] {
        let mut args = vec!["--dry-run", "backup", "delete", "--portal", "acme"];
        let (one, two) = (id(3), id(2));
        args.extend([one.as_str(), two.as_str()]);
        if yes {
            args.push("--yes");
        }
        let o = setup.cli(&args).await;
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("{}: dry run: would delete; nothing was changed", id(3))),
            "{}",
            stdout(&o)
        );
    }
    assert_eq!(dry_run_lines(&setup.audit(), "delete_backup"), 8);
    let o = setup
        .cli(&["--dry-run", "history", "clear", "--portal", "acme", "--yes"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("acme: dry run: would delete all 3 backups"),
        "{}",
        stdout(&o)
    );
    assert_eq!(dry_run_lines(&setup.audit(), "clear_history"), 2);
    let o = setup
        .cli(&["--dry-run", "schedule", "delete", "--portal", "acme", "--yes"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("acme: dry run: would delete the backup schedule"),
        "{}",
        stdout(&o)
    );
    assert_eq!(dry_run_lines(&setup.audit(), "delete_schedule"), 2);

    // The portal's own `dry_run = true` holds the same way.
    setup.write(&portal("acme", &server, POLICY).replace("max_retries = 0", "max_retries = 0\ndry_run = true"));
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("dry run: would delete all 3 backups"),
        "{}",
        stdout(&o)
    );
    assert!(setup.audit().iter().all(|l| l["dry_run"] == true));
}

// ----- 2. protected means protected -----

#[tokio::test]
async fn protected_backups_are_refused_unless_forced() {
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 2)).await;
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(0)
        .named("no clear while a protected backup is there")
        .mount(&server)
        .await;
    let protected = format!("{POLICY}\nprotect = [\"{}\"]", id(3).to_uppercase());
    let setup = Setup::new(&portal("acme", &server, &protected));

    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &id(3), "--yes"])
        .await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!("refusing to delete protected backup {}", id(3))),
        "{}",
        stderr(&o)
    );
    // A protected id in a list refuses the whole list.
    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &id(1), &id(3), "--yes"])
        .await;
    assert_eq!(code(&o), 1);
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!(
            "refusing to clear the history: it holds protected backup {}",
            id(3)
        )),
        "{}",
        stderr(&o)
    );
    assert!(setup.audit().is_empty());
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.method.as_str() == "GET"), "{requests:?}");

    // --force-protected deletes it, and the audit says so.
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 2)).await;
    expect_delete(&server, 3, 1).await;
    setup.write(&portal("acme", &server, &protected));
    let o = setup
        .cli(&[
            "backup",
            "delete",
            "--portal",
            "acme",
            &id(3),
            "--yes",
            "--force-protected",
        ])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let audit = setup.audit();
    assert_eq!(
        audit[0]["reasons"][0],
        "operator request (protected; --force-protected)"
    );
    assert_eq!(audit[1]["outcome"], "deleted");
}

// ----- 3. one writer per portal -----

/// Holds the portal's lock as another process would.
fn hold_lock(setup: &Setup, portal: &str) -> File {
    let dir = setup.state().join("locks");
    std::fs::create_dir_all(&dir).unwrap();
    let file = File::create(dir.join(format!("{portal}.lock"))).unwrap();
    file.try_lock().unwrap();
    file
}

#[tokio::test]
async fn a_locked_portal_is_left_alone_by_once_and_operator_commands() {
    let server = MockServer::start().await;
    forbid_everything(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let lock = hold_lock(&setup, "acme");
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("acme: FAILED: kept 0, deleted 0: locked by another process"),
        "{}",
        stdout(&o)
    );
    drop(server);

    // Operator changes read first (a preview needs no lock), then stop at the lock.
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), Vec::new()).await;
    forbid_deletes(&server).await;
    setup.write(&portal("acme", &server, POLICY));
    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &id(3), "--yes"])
        .await;
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("acme: locked by another process"), "{}", stderr(&o));
    drop(lock);
    assert!(setup.audit().is_empty());
}

#[tokio::test]
async fn once_with_the_same_portal_twice_is_one_pass() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .expect(1)
        .mount(&server)
        .await;
    serve_history(&server, daily("2026-11-22", 2), daily("2026-11-22", 2)).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once", "--portal", "acme", "--portal", "acme"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // One pass line, and the fleet's totals of one portal.
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(
        stdout(&o).lines().nth(1).unwrap().starts_with("fleet: 1 portal (1 ok"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_tick_that_finds_the_lock_taken_is_skipped_and_counted() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&sim_portal("acme", &sim));
    let lock = hold_lock(&setup, "acme");
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    let skipped = r#"docspace_retention_runs_total{outcome="skipped",portal="acme"}"#;
    eventually("two skipped ticks", Duration::from_secs(10), || async {
        metric(&metrics(addr).await, skipped).unwrap_or(0.0) >= 2.0
    })
    .await;
    assert_eq!(sim.total_requests("acme"), 0);
    assert_eq!(sim.backups("acme").len(), 10);
    drop(lock);
    eventually("a pass once the lock is free", Duration::from_secs(10), || async {
        sim.backups("acme").len() == 3
    })
    .await;
    handle.shutdown();
    handle.wait().await;
}

// ----- 4. one portal, one definition -----

#[tokio::test]
async fn a_portal_defined_twice_is_a_config_error_naming_both_places() {
    let setup = Setup::empty();
    setup.write_raw("[defaults.retention]\nkeep_last = 3\n");
    let acme = "[portals.acme]\nurl = \"https://acme.example\"\napi_key_file = \"KEYFILE\"\n";
    setup.conf_d("10-acme.toml", acme);
    setup.conf_d("20-acme.toml", acme);
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    let conf_d = setup.dir.path().join("conf.d");
    assert!(
        stderr(&o).contains(&format!(
            "portals.acme: defined in {} and {}",
            conf_d.join("10-acme.toml").display(),
            conf_d.join("20-acme.toml").display()
        )),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(conf_d.join("20-acme.toml")).unwrap();
    setup.conf_d("20-alias.toml", &acme.replace("portals.acme", "portals.alias"));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("portals.alias.url: portals.acme (in ")
            && stderr(&o).contains("have the same url and dump: one portal, one definition"),
        "{}",
        stderr(&o)
    );
}

// ----- 5. distinct backups, 7. temporary backups -----

#[tokio::test]
async fn a_twin_listing_cannot_take_a_backup_min_keep_saved() {
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    let mut history = daily("2026-11-22", 2);
    // Backup 2 listed twice, the second time in capitals and a little older.
    let mut twin = history[1].clone();
    twin["id"] = json!(id(2).to_uppercase());
    twin["createdOn"] = json!("2026-11-20T03:00:00");
    history.push(twin);
    serve_history(&server, history.clone(), history).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 1\nmin_keep = 2\nmax_delete_fraction = 1.0",
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("acme: ok: kept 2, deleted 0, blocked by guards 1"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn temporary_backups_never_make_durable_ones_look_redundant() {
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    let today = last_full_morning();
    let mut history = daily(&today.to_string(), 3);
    for n in [10, 11] {
        let created = format!("{today}T0{}:00:00", n - 5);
        let mut temp = record(n, &created);
        temp["storageType"] = json!(4);
        temp["expiresOn"] = json!(format!("{}T0{}:00:00", today.succ_opt().unwrap(), n - 5));
        history.push(temp);
    }
    serve_history(&server, history.clone(), history).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 3\nmin_keep = 3\nmax_delete_fraction = 1.0",
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("acme: ok: kept 5, deleted 0"), "{}", stdout(&o));
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let temp = plan["portals"][0]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id(10))
        .unwrap();
    assert_eq!(temp["action"], "keep");
    assert!(
        temp["reasons"][0].as_str().unwrap().starts_with("temporary: expires "),
        "{temp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_count_distinct_and_temporary_backups() {
    let mut portal = ten_backups("acme");
    let twin = portal.backups[0].clone();
    portal.backups.push(SimBackup {
        id: twin.id.to_uppercase(),
        ..twin
    });
    portal.backups.push(SimBackup {
        id: sim_id("acme", 99),
        file_name: "download.tar.gz".into(),
        storage_type: 4,
        created_on: Utc::now() - chrono::TimeDelta::hours(1),
    });
    let sim = Simulator::start(vec![portal], SimOptions::default(), 0).await.unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass", Duration::from_secs(10), || async {
        metric(&metrics(addr).await, r#"docspace_retention_backups{portal="acme"}"#).is_some()
    })
    .await;
    let text = metrics(addr).await;
    assert_eq!(
        metric(&text, r#"docspace_retention_backups{portal="acme"}"#),
        Some(10.0)
    );
    assert_eq!(
        metric(&text, r#"docspace_retention_temporary_backups{portal="acme"}"#),
        Some(1.0)
    );
    handle.shutdown();
    handle.wait().await;
}

// ----- 6. reload never orphans a pass -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_portal_waiting_for_a_slot_never_runs() {
    let sim = Simulator::start(
        vec![ten_backups("hog"), ten_backups("waiter")],
        SimOptions::default(),
        0,
    )
    .await
    .unwrap();
    // The hog's first read stalls and holds the only concurrency slot.
    sim.inject("hog", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(6)));
    let one_slot = |portals: &str| {
        daemon_config(portals).replace(
            "shutdown_grace_secs = 20",
            "shutdown_grace_secs = 20\nmax_concurrent_portals = 1",
        )
    };
    let setup = Setup::empty();
    setup.write_raw(&one_slot(&sim_portal("hog", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("the hog holds the slot", Duration::from_secs(5), || async {
        handle.observer().status_json(true)["portals"][0]["running"] == true
    })
    .await;
    // The waiter joins, ticks, and waits for the slot behind the hog…
    let both = format!("{}{}", sim_portal("hog", &sim), sim_portal("waiter", &sim));
    setup.write_raw(&one_slot(&both));
    handle.reload();
    let next = r#"docspace_retention_next_run_timestamp_seconds{portal="waiter"}"#;
    eventually("the waiter is scheduled", Duration::from_secs(5), || async {
        metric(&metrics(addr).await, next).is_some()
    })
    .await;
    let first = metric(&metrics(addr).await, next);
    eventually("the waiter ticked", Duration::from_secs(5), || async {
        metric(&metrics(addr).await, next) != first
    })
    .await;
    // …and is removed while it waits.
    setup.write_raw(&one_slot(&sim_portal("hog", &sim)));
    handle.reload();
    eventually("the hog's pass finished", Duration::from_secs(10), || async {
        sim.backups("hog").len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.total_requests("waiter"), 0, "a removed portal's waiting pass ran");
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_portal_sleeping_its_jitter_never_runs() {
    // A name whose stable jitter in [0, 9) is at least 6 s.
    let name = (0..)
        .map(|i| format!("jit{i}"))
        .find(|n| docspace_retention::shard::jitter_secs(n, 9) >= 6)
        .unwrap();
    let sim = Simulator::start(vec![ten_backups(&name)], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&format!(
        "{}schedule = \"*/10 * * * * *\"\njitter_secs = 9\n",
        sim_portal(&name, &sim)
    ));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    let series = format!("docspace_retention_next_run_timestamp_seconds{{portal=\"{name}\"}}");
    let first = metric(&metrics(addr).await, &series).unwrap();
    // The tick has fired (the next run moved on): the pass sleeps its jitter now.
    eventually("a tick", Duration::from_secs(12), || async {
        metric(&metrics(addr).await, &series) != Some(first)
    })
    .await;
    setup.write_daemon("");
    std::fs::write(
        setup.config(),
        std::fs::read_to_string(setup.config()).unwrap() + "[portals.other]\nurl = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    handle.reload();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(sim.total_requests(&name), 0, "a removed portal's sleeping pass ran");
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_removed_and_added_back_never_runs_two_passes() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(5)));
    let setup = Setup::daemon(&sim_portal("acme", &sim));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("the pass runs", Duration::from_secs(5), || async {
        handle.observer().status_json(true)["portals"][0]["running"] == true
    })
    .await;
    setup.write_daemon("[portals.other]\nurl = \"http://127.0.0.1:1\"\n");
    handle.reload();
    tokio::time::sleep(Duration::from_millis(500)).await;
    setup.write_daemon(&sim_portal("acme", &sim));
    handle.reload();
    let skipped = r#"docspace_retention_runs_total{outcome="skipped",portal="acme"}"#;
    eventually(
        "the re-added portal's ticks are skipped",
        Duration::from_secs(4),
        || async { metric(&metrics(addr).await, skipped).unwrap_or(0.0) >= 1.0 },
    )
    .await;
    // One pass: one schedule read while the first pass's history read still stalls.
    assert_eq!(sim.requests("acme", SimEndpoint::GetSchedule, 200), 1);
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_pass_does_not_leave_its_portal_running() {
    use futures::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&sim_portal("acme", &sim));
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let real = daemon::real_pass();
    let seen = std::sync::Arc::clone(&calls);
    let pass: daemon::PassFn = std::sync::Arc::new(move |config, client, state, live| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            async { panic!("a bug in the pass") }.boxed()
        } else {
            real(config, client, state, live)
        }
    });
    let handle = setup
        .start_daemon_with(daemon::Options {
            pass,
            ..daemon::Options::default()
        })
        .await;
    let addr = handle.addr();
    eventually("a pass after the panic", Duration::from_secs(10), || async {
        sim.backups("acme").len() == 3
    })
    .await;
    let text = metrics(addr).await;
    assert_eq!(
        metric(
            &text,
            r#"docspace_retention_runs_total{outcome="failure",portal="acme"}"#
        ),
        Some(1.0)
    );
    handle.shutdown();
    handle.wait().await;
}

// ----- 8. interrupted changes are settled first -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_batch_is_settled_by_the_next_pass() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::new(&format!(
        "{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\n{POLICY}\n",
        sim_portal("acme", &sim)
    ));
    // Two deletions go through; the third hangs until the process is killed.
    let status = once_killed_mid_batch(&setup, &sim, "acme").await;
    assert_eq!(status.code(), None, "killed by a signal");
    let intents: Vec<String> = setup
        .audit()
        .iter()
        .map(|l| l["backup_id"].as_str().unwrap().to_string())
        .collect();
    // keep_last = 2 of ten: the batch's eight intents went to disk before its first
    // DELETE, and no result was written.
    assert_eq!(intents.len(), 8, "no result was written");
    // The batch mark is still there, and no intent is older than it: recovery finds a
    // batch's lines by the mark's time.
    let mark: Value =
        serde_json::from_str(&std::fs::read_to_string(setup.state().join("locks/acme.lock")).unwrap()).unwrap();
    let since = chrono::DateTime::from_timestamp(mark["since"].as_i64().unwrap(), 0).unwrap();
    for line in setup.audit() {
        let ts: chrono::DateTime<Utc> = line["ts"].as_str().unwrap().parse().unwrap();
        assert!(ts >= since, "an intent dated before its batch mark: {line} < {since}");
    }
    let present: Vec<String> = sim.backups("acme").iter().map(|b| b.id.clone()).collect();
    assert_eq!(present.len(), 8);

    // The daemon's first pass settles the eight intents before it plans anything: the
    // two sent are gone (deleted), the hung one and the five never sent are there.
    setup.write_daemon(&sim_portal("acme", &sim));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("the interrupted intents settled", Duration::from_secs(10), || async {
        setup.audit().iter().filter(|l| l["recovered"] == true).count() == 8
    })
    .await;
    let audit = setup.audit();
    let recovered: Vec<&Value> = audit.iter().filter(|l| l["recovered"] == true).collect();
    for line in &recovered {
        let id = line["backup_id"].as_str().unwrap();
        assert!(intents.contains(&id.to_string()));
        assert_eq!(line["phase"], "result");
        match present.contains(&id.to_string()) {
            true => {
                assert_eq!(line["outcome"], "failed", "{line}");
                assert_eq!(line["error"], "interrupted", "{line}");
            }
            false => assert_eq!(line["outcome"], "deleted", "{line}"),
        }
    }
    // Recovery comes first: nothing else was written between the intents and it.
    assert!(audit[8..16].iter().all(|l| l["recovered"] == true), "{audit:?}");
    eventually("the counter", Duration::from_secs(5), || async {
        let text = metrics(addr).await;
        metric(
            &text,
            r#"docspace_retention_recovered_intents_total{outcome="deleted",portal="acme"}"#,
        ) == Some(2.0)
            && metric(
                &text,
                r#"docspace_retention_recovered_intents_total{outcome="failed",portal="acme"}"#,
            ) == Some(6.0)
    })
    .await;
    handle.shutdown();
    handle.wait().await;
}

/// `kill -9` at points of a batch spread over its whole length (the intents' flush,
/// any of the DELETEs, the verifying read, the results): the next `once` settles every
/// intent the killed one left, and the backups left are exactly those the plan keeps:
/// nothing outside the plan is deleted, and nothing planned is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_anywhere_in_a_batch_loses_nothing() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut state = seed | 1;
    for round in 0..6u64 {
        let sim = Simulator::start(
            vec![ten_backups("acme")],
            SimOptions {
                latency: Duration::from_millis(25),
                ..SimOptions::default()
            },
            0,
        )
        .await
        .unwrap();
        let setup = Setup::new(&format!(
            "{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\n{POLICY}\n",
            sim_portal("acme", &sim)
        ));
        let o = setup.cli(&["plan", "--json"]).await;
        let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let mut kept: Vec<String> = plan["portals"][0]["backups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["action"] == "keep")
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect();
        kept.sort();
        // A pass: seven reads and eight deletes at 25 ms, then the verifying read.
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(150 + (state >> 33) % 450 + round * 10);
        let child = spawn_once(&setup);
        tokio::time::sleep(after).await;
        kill_9(child).await;
        let o = setup.cli(&["once"]).await;
        let why = format!("seed {seed}, round {round}, killed after {after:?}");
        assert_eq!(code(&o), 0, "{why}: {}", stderr(&o));
        let audit = setup.audit();
        let (mut intents, mut results) = (Vec::new(), Vec::new());
        for line in &audit {
            let id = line["backup_id"].as_str().map(str::to_string);
            match line["phase"].as_str() {
                Some("intent") => intents.push(id),
                Some("result") => results.push(id),
                _ => {}
            }
        }
        intents.sort();
        results.sort();
        assert_eq!(
            intents, results,
            "{why}: every intent has exactly one result\n{audit:#?}"
        );
        let mut left: Vec<String> = sim.backups("acme").iter().map(|b| b.id.clone()).collect();
        left.sort();
        assert_eq!(left, kept, "{why}");
    }
}

// ----- 10. bounded input -----

#[tokio::test]
async fn a_body_over_16_mib_is_refused_and_nothing_is_deleted() {
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    let huge = format!("{{\"response\": [{}], \"count\": 1}}", " ".repeat(17 * 1024 * 1024));
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("get_history: 200 with a body over 16 MiB: refused, nothing read"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn server_text_is_printed_with_control_characters_escaped() {
    let server = MockServer::start().await;
    let mut history = daily("2026-11-22", 2);
    history[0]["fileName"] = json!("evil\u{1b}[2J\u{1b}[31mred\u{7}.tar.gz");
    history[1]["id"] = json!("not-a-guid\r\nFAKE LOG LINE");
    serve_schedule(&server, no_value()).await;
    serve_history(&server, history.clone(), history).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    for args in [
        vec!["history", "list", "--portal", "acme"],
        vec!["plan", "--portal", "acme"],
    ] {
        let o = setup.cli(&args).await;
        let out = stdout(&o);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\r'),
            "{out:?}"
        );
        assert!(!out.contains("\nFAKE LOG LINE"), "{out}");
        if args[0] == "history" {
            assert!(out.contains("evil\\u{1b}[2J\\u{1b}[31mred\\u{7}.tar.gz"), "{out}");
        }
        assert!(out.contains("not-a-guid\\r\\nFAKE LOG LINE"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_answered_beside_200_silent_connections_which_are_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    // 200 connections that never send a request (a slowloris, a broken scraper).
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The probes still answer within a second (the contract a liveness probe needs).
    for probe in ["/healthz", "/readyz"] {
        let mut next = tokio::net::TcpStream::connect(addr).await.unwrap();
        next.write_all(format!("GET {probe} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(1), next.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{probe} not answered within 1 s beside 200 idle connections"))
            .unwrap();
        assert!(
            std::str::from_utf8(&buf[..n]).unwrap().starts_with("HTTP/1.1 200"),
            "{probe}"
        );
    }
    // Silent connections are still dropped after 10 s.
    let mut buf = [0u8; 64];
    let mut closed = 0;
    for mut c in idle {
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(12), c.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 200, "the silent connections were dropped");
    handle.shutdown();
    handle.wait().await;
}

// ----- 11. the daemon's own health, logs, and config -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_scheduler() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let mut handle = setup
        .start_daemon_with(daemon::Options {
            heartbeat: Duration::from_secs(1),
            ..daemon::Options::default()
        })
        .await;
    let addr = handle.addr();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_string()));
    }
    handle.stop_scheduler().await;
    eventually("/healthz fails", Duration::from_secs(8), || async {
        get(addr, "/healthz").await.0 == 503
    })
    .await;
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test]
async fn jitter_as_long_as_the_schedule_is_a_config_error() {
    let server = MockServer::start().await;
    let setup = Setup::new(&portal("acme", &server, POLICY).replace(
        "max_retries = 0",
        "max_retries = 0\nschedule = \"0 * * * * *\"\njitter_secs = 60",
    ));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("portals.acme.jitter_secs: 60 is not shorter than the schedule's shortest interval (60s"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(error_body(403, "Access denied"))
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once", "--log-level", "debug"]).await;
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("retention pass failed"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_thousands_of_files_does_not_stop_the_watchdog() {
    use std::os::unix::net::UnixDatagram;
    let setup = Setup::daemon("");
    let text = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(
        setup.config(),
        text.replace("schedule = \"* * * * * *\"", "schedule = \"0 0 3 * * *\""),
    )
    .unwrap();
    for i in 0..2000 {
        setup.conf_d(
            &format!("p{i:05}.toml"),
            &format!("[portals.p{i}]\nurl = \"https://p{i}.example\"\n"),
        );
    }
    let port = setup.fixed_port();
    let socket_path = setup.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let child = binary()
        .args(["run", "--config"])
        .arg(setup.config())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "100000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Ready once; then a reload of every file; then ready again.
    let messages = tokio::task::spawn_blocking(move || {
        let mut seen: Vec<String> = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let ready = text.contains("READY=1");
            seen.push(text);
            let reloading = seen.iter().any(|m| m.contains("RELOADING=1"));
            match (ready, reloading) {
                (true, false) => {
                    std::process::Command::new("kill")
                        .args(["-HUP", &pid.to_string()])
                        .status()
                        .unwrap();
                }
                (true, true) => break,
                _ => {}
            }
        }
        seen
    })
    .await
    .unwrap();
    let _ = port;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    })
    .await;
    let reloading = messages
        .iter()
        .position(|m| m.contains("RELOADING=1"))
        .unwrap_or_else(|| panic!("no reload: {messages:?}"));
    let ready = reloading
        + messages[reloading..]
            .iter()
            .position(|m| m.contains("READY=1"))
            .unwrap();
    let pings = messages[reloading..ready]
        .iter()
        .filter(|m| m.contains("WATCHDOG=1"))
        .count();
    assert!(pings >= 1, "no watchdog ping while 2000 files were read: {messages:?}");
}

// ----- what an adversarial review found -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_that_could_not_be_read_back_are_settled_by_the_next_pass() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    // The first history read is served; the verifying read fails.
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::ZERO));
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Status(500));
    let setup = Setup::new(&format!(
        "{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\nkeep_last = 3\nmax_delete_fraction = 1.0\n",
        sim_portal("acme", &sim)
    ));
    let first = first_portal_pass(&setup.load()).await;
    assert_eq!(first.count(docspace_retention::state::audit::Outcome::Failed), 7);
    assert_eq!(setup.audit().len(), 7, "intents only");
    let second = first_portal_pass(&setup.load()).await;
    assert!(second.succeeded(), "{:?}", second.error);
    assert_eq!(second.recovered.len(), 7);
    let settled = setup.audit();
    let recovered: Vec<&Value> = settled.iter().filter(|l| l["recovered"] == true).collect();
    assert_eq!(recovered.len(), 7);
    assert!(recovered.iter().all(|l| l["outcome"] == "deleted"), "{recovered:?}");
}

#[tokio::test]
async fn a_configured_portal_reached_by_its_url_keeps_its_gates() {
    let server = MockServer::start().await;
    forbid_everything(&server).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        &format!("{POLICY}\nprotect = [\"{}\"]", id(1)),
    ));
    let o = setup
        .cli(&[
            "backup",
            "delete",
            "--url",
            &format!("{}/", server.uri()),
            "--api-key-file",
            &setup.key_file().display().to_string(),
            &id(1),
            "--yes",
        ])
        .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--url is portal acme of the config: use --portal acme"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn a_torn_batch_mark_does_not_block_the_portal() {
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    serve_history(&server, daily("2026-11-22", 2), daily("2026-11-22", 2)).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let locks = setup.state().join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    std::fs::write(locks.join("acme.lock"), "{\"audit_off").unwrap();
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(std::fs::read_to_string(locks.join("acme.lock")).unwrap(), "");
}

#[tokio::test]
async fn an_interrupted_change_to_the_dump_is_settled_against_the_dump() {
    // A `history clear --dump` was killed after its intent: the portal's next pass
    // reads the dump's history to settle it, then goes on with the portal.
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    serve_history(&server, daily("2026-11-22", 2), daily("2026-11-22", 2)).await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .and(wiremock::matchers::query_param("Dump", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!([]))))
        .with_priority(1)
        .expect(1)
        .named("the dump's history, read to settle")
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    std::fs::create_dir_all(setup.state().join("locks")).unwrap();
    let intent = json!({"ts": "2026-11-22T10:00:00Z", "portal": "acme", "action": "clear_history",
        "phase": "intent", "backup_id": null, "file_name": null, "created_on": null,
        "reasons": ["operator request: all 4 records"], "dry_run": false, "outcome": null,
        "http_status": null, "error": null});
    std::fs::write(setup.state().join("audit.jsonl"), format!("{intent}\n")).unwrap();
    std::fs::write(
        setup.state().join("locks").join("acme.lock"),
        "{\"audit_offset\":0,\"dump\":true}",
    )
    .unwrap();
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let audit = setup.audit();
    assert_eq!(audit[1]["recovered"], true);
    assert_eq!(audit[1]["outcome"], "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_moves_the_state_dir_is_refused() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    let text = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(setup.config(), text.replace("/state", "/elsewhere")).unwrap();
    handle.reload();
    let failures = r#"docspace_retention_config_reloads_total{outcome="failure"}"#;
    eventually("the reload refused", Duration::from_secs(5), || async {
        metric(&metrics(addr).await, failures) == Some(1.0)
    })
    .await;
    assert!(!setup.dir.path().join("elsewhere").exists());
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_asked_for_while_stopping_does_not_cut_the_drain() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(2)));
    let setup = Setup::daemon(&sim_portal("acme", &sim));
    let handle = setup.start_daemon().await;
    eventually("a pass in flight", Duration::from_secs(5), || async {
        handle.observer().status_json(true)["portals"][0]["running"] == true
    })
    .await;
    handle.shutdown();
    handle.reload();
    assert_eq!(handle.wait().await, daemon::Stopped::Gracefully);
    assert_eq!(sim.backups("acme").len(), 3, "the pass in flight finished");
}

#[tokio::test]
async fn a_key_typed_where_an_argument_goes_is_masked_in_usage_errors() {
    let o = run_binary(
        vec![
            "backup".into(),
            "delete".into(),
            "--portal".into(),
            "acme".into(),
            "sk-live-0123456789".into(),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("invalid value 'sk-***'"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("0123456789"), "{}", stderr(&o));
}
