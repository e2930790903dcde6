//! Fault injection: every fault a portal, its proxy or the network produces, on every
//! endpoint, with the exact outcome, and never a deletion outside the plan.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use chrono::{TimeDelta, Utc};
use docspace_retention::pass::{PassReport, run_pass};
use docspace_retention::simulator::{
    Fault, SimBackup, SimEndpoint, SimOptions, SimPortal, Simulator, realistic_portal, sim_id,
};
use docspace_retention::state::audit::Outcome;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const POLICY: &str = "keep_last = 3\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";

fn portal_with_ten() -> SimPortal {
    realistic_portal("acme", KEY, Utc::now(), 9)
}

/// The three newest backups: what the plan keeps.
fn planned_keep(p: &SimPortal) -> Vec<String> {
    let mut b = p.backups.clone();
    b.sort_by_key(|x| std::cmp::Reverse(x.created_on));
    b.iter().take(3).map(|b| b.id.clone()).collect()
}

async fn pass_against(sim: &Simulator, timeout_secs: u64, retries: u32) -> (PassReport, tempfile::TempDir) {
    let setup = Setup::new(&format!(
        "[portals.acme]\nurl = \"{}\"\napi_key_file = \"KEYFILE\"\nrequest_timeout_secs = {timeout_secs}\nmax_retries = {retries}\n[portals.acme.retention]\n{POLICY}\n",
        sim.url("acme")
    ));
    let report = first_portal_pass(&setup.load()).await;
    (report, setup.dir)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Retried (or harmless) and the pass did everything: 7 deleted.
    Recovered,
    /// The read failed: nothing deleted, the error names the problem.
    ReadFailed(&'static str),
    /// One deletion failed, the other six went through.
    OneDeletionFailed(&'static str),
    /// Deletions were sent but could not be verified.
    Unverified,
}

async fn scenario(endpoint: SimEndpoint, faults: Vec<Fault>, expect: Expect) {
    let portal = portal_with_ten();
    let keep = planned_keep(&portal);
    let sim = Simulator::start(vec![portal], SimOptions::default(), 0).await.unwrap();
    for f in faults.clone() {
        sim.inject("acme", endpoint, f);
    }
    let (report, _dir) = pass_against(&sim, 1, 2).await;
    let left: Vec<String> = sim.backups("acme").iter().map(|b| b.id.clone()).collect();
    let case = format!("{endpoint:?} {faults:?}");
    // Never a deletion outside the plan.
    for id in &keep {
        assert!(left.contains(id), "{case}: kept backup {id} was deleted");
    }
    match expect {
        Expect::Recovered => {
            assert!(report.succeeded(), "{case}: {:?}", report.error);
            assert_eq!(report.count(Outcome::Deleted), 7, "{case}");
            assert_eq!(left.len(), 3, "{case}");
        }
        Expect::ReadFailed(message) => {
            let error = report.error.clone().unwrap_or_default();
            assert!(error.contains(message), "{case}: {error:?} lacks {message:?}");
            assert!(report.deletions.is_empty(), "{case}");
            assert_eq!(left.len(), 10, "{case}");
        }
        Expect::OneDeletionFailed(message) => {
            assert_eq!(
                (report.count(Outcome::Deleted), report.count(Outcome::Failed)),
                (6, 1),
                "{case}"
            );
            let failed = report.deletions.iter().find(|d| d.outcome == Outcome::Failed).unwrap();
            assert!(failed.error.as_deref().unwrap().contains(message), "{case}: {failed:?}");
            assert_eq!(report.error.as_deref(), Some("1 of 7 deletions failed"), "{case}");
            assert_eq!(left.len(), 4, "{case}");
        }
        Expect::Unverified => {
            assert!(
                report.error.as_deref().unwrap().starts_with("cannot verify deletions"),
                "{case}: {:?}",
                report.error
            );
            // Sent but not read back: not known, so not counted; the next pass settles.
            assert_eq!(report.count(Outcome::Deleted), 0, "{case}");
            assert_eq!(report.count(Outcome::Failed), 7, "{case}");
            assert_eq!(left.len(), 3, "{case}");
        }
    }
}

/// Every fault on every endpoint, and what the pass must make of it. Transient
/// faults are retried; a 500 and a broken body are final (for a delete, the record
/// stays and that deletion fails); the verifying read is the second history read.
fn fault_table() -> Vec<(SimEndpoint, Vec<Fault>, Expect)> {
    use Expect::*;
    use SimEndpoint::*;
    let transient = || {
        vec![
            Fault::RateLimited { retry_after_secs: 1 },
            Fault::Html(503),
            Fault::Stall(Duration::from_secs(5)),
            Fault::Reset,
        ]
    };
    let verifying = |f: Fault| vec![Fault::Stall(Duration::ZERO), f];
    let mut table = Vec::new();
    for endpoint in [GetSchedule, GetHistory, DeleteBackup] {
        for fault in transient() {
            table.push((endpoint, vec![fault], Recovered));
        }
    }
    table.extend([
        (
            GetSchedule,
            vec![Fault::Status(500)],
            ReadFailed("get_schedule: 500 server error (server: \"Injected fault\")"),
        ),
        (
            GetSchedule,
            vec![Fault::BrokenJson],
            ReadFailed("get_schedule: 200 with an unreadable body"),
        ),
        (
            GetHistory,
            vec![Fault::Status(500)],
            ReadFailed("get_history: 500 server error"),
        ),
        (
            GetHistory,
            vec![Fault::BrokenJson],
            ReadFailed("get_history: 200 with an unreadable body"),
        ),
        (
            DeleteBackup,
            vec![Fault::Status(500)],
            OneDeletionFailed("delete_backup: 500 server error"),
        ),
        (
            DeleteBackup,
            vec![Fault::BrokenJson],
            OneDeletionFailed("delete_backup: 200 with an unreadable body"),
        ),
        // The server removed the record, then failed on the file: counts as deleted.
        (DeleteBackup, vec![Fault::SucceedThen500], Recovered),
        (GetHistory, verifying(Fault::Status(500)), Unverified),
        (GetHistory, verifying(Fault::BrokenJson), Unverified),
        (GetHistory, verifying(Fault::Html(502)), Recovered),
        (GetHistory, verifying(Fault::Reset), Recovered),
        (
            GetHistory,
            verifying(Fault::RateLimited { retry_after_secs: 1 }),
            Recovered,
        ),
    ]);
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_endpoint() {
    // Each row has its own simulator and state: run them side by side.
    let rows = fault_table();
    assert_eq!(rows.len(), 24);
    futures::future::join_all(
        rows.into_iter()
            .map(|(endpoint, faults, expect)| scenario(endpoint, faults, expect)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_give_up_after_max_retries() {
    let portal = portal_with_ten();
    let sim = Simulator::start(vec![portal], SimOptions::default(), 0).await.unwrap();
    for _ in 0..3 {
        sim.inject("acme", SimEndpoint::GetHistory, Fault::Html(502));
    }
    let (report, _dir) = pass_against(&sim, 1, 2).await;
    assert_eq!(
        sim.requests("acme", SimEndpoint::GetHistory, 502),
        3,
        "one try and two retries"
    );
    assert!(report.error.unwrap().contains("get_history: 502 Bad Gateway"));
    assert_eq!(sim.backups("acme").len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_records_are_kept_and_counted() {
    let mut portal = portal_with_ten();
    let keep = planned_keep(&portal);
    let now = Utc::now();
    portal.backups.push(SimBackup {
        id: sim_id("acme", 900),
        file_name: "unknown-type.tar.gz".into(),
        storage_type: 42,
        created_on: now - TimeDelta::days(30),
    });
    portal.backups.push(SimBackup {
        id: sim_id("acme", 901),
        file_name: "from-the-future.tar.gz".into(),
        storage_type: 0,
        created_on: now + TimeDelta::days(3),
    });
    portal.schedule.as_mut().unwrap().period = 7; // an unknown period
    let sim = Simulator::start(
        vec![portal],
        SimOptions {
            postgres_dates: true,
            ..SimOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    let (report, _dir) = pass_against(&sim, 5, 0).await;
    assert!(report.succeeded(), "{:?}", report.error);
    let plan = &report.read.as_ref().unwrap().plan;
    assert_eq!(
        plan.doubtful_count(docspace_retention::retention::Doubt::Unparseable),
        1
    );
    assert_eq!(plan.doubtful_count(docspace_retention::retention::Doubt::Future), 1);
    assert_eq!(report.count(Outcome::Deleted), 7);
    let left: Vec<String> = sim.backups("acme").iter().map(|b| b.id.clone()).collect();
    let mut expected = keep;
    expected.extend([sim_id("acme", 900), sim_id("acme", 901)]);
    for id in &expected {
        assert!(left.contains(id), "{id} must stay");
    }
    assert_eq!(left.len(), expected.len());
}

// ----- exact retry behaviour, with wiremock counting calls -----

async fn client_pass(server: &MockServer, retries: u32) -> PassReport {
    let setup =
        Setup::new(&portal("acme", server, POLICY).replace("max_retries = 0", &format!("max_retries = {retries}")));
    first_portal_pass(&setup.load()).await
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for status in [400u16, 401, 402, 403, 404, 500] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(SCHEDULE))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        forbid_deletes(&server).await;
        let report = client_pass(&server, 3).await;
        assert!(!report.succeeded(), "{status}");
    }
}

#[tokio::test]
async fn gateway_errors_are_retried_exactly_max_retries_times() {
    for status in [502u16, 503, 504] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(SCHEDULE))
            .respond_with(html(status))
            .expect(4)
            .mount(&server)
            .await;
        let report = client_pass(&server, 3).await;
        assert!(report.error.unwrap().contains(&status.to_string()));
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured_and_a_long_one_is_not_waited_for() {
    let server = MockServer::start().await;
    let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", soon.as_str()))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    serve_schedule(&server, no_value()).await;
    serve_history(&server, daily("2026-11-22", 2), Vec::new()).await;
    let started = std::time::Instant::now();
    let report = client_pass(&server, 1).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A day-long Retry-After (the server's daily write limit) fails at once.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "86400"))
        .expect(1)
        .mount(&server)
        .await;
    let report = client_pass(&server, 3).await;
    assert!(
        report
            .error
            .unwrap()
            .contains("429 Too Many Requests: rate limited by the server (retry after 86400s)")
    );
}

#[tokio::test]
async fn the_request_budget_spaces_requests() {
    // 60 requests per minute: a burst of one, then one per second.
    let server = MockServer::start().await;
    serve_schedule(&server, no_value()).await;
    serve_history(&server, daily("2026-11-22", 5), daily("2026-11-22", 3)).await;
    expect_delete(&server, 4, 1).await;
    expect_delete(&server, 5, 1).await;
    // No schedule: the stale guard would hold every deletion unless it is off.
    let setup = Setup::new(
        &portal("acme", &server, &format!("{POLICY}\nstale_after = \"off\""))
            .replace("max_retries = 0", "requests_per_minute = 60"),
    );
    let config = setup.load();
    let (portal, client, audit) = first_portal(&config);
    let started = std::time::Instant::now();
    let report = run_pass(portal, &client, &audit, Utc::now()).await;
    assert!(report.succeeded());
    // 5 requests: the first at once, then four more a second apart.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(3900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_stuck_portal_hits_the_pass_deadline() {
    let setup_for = |sim: &Simulator| {
        let setup = Setup::new(&format!(
            "[portals.acme]\nurl = \"{}\"\napi_key_file = \"KEYFILE\"\nrequest_timeout_secs = 30\nmax_retries = 0\n[portals.acme.retention]\n{POLICY}\n",
            sim.url("acme")
        ));
        let config = setup.load();
        (setup, config)
    };
    // Default limit: ten worst-case calls, at least a minute.
    let sim = Simulator::start(vec![portal_with_ten()], SimOptions::default(), 0)
        .await
        .unwrap();
    let (_s, config) = setup_for(&sim);
    assert_eq!(
        docspace_retention::pass::pass_deadline(&config.portals[0]),
        Duration::from_secs(300)
    );

    // A stuck read is cut off at the deadline.
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(20)));
    let (portal, client, audit) = first_portal(&config);
    let started = std::time::Instant::now();
    let report =
        docspace_retention::pass::run_pass_within(portal, &client, &audit, Utc::now(), Duration::from_secs(1)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        report.error.as_deref(),
        Some("pass deadline of 1s exceeded while reading the portal")
    );
    assert_eq!(sim.backups("acme").len(), 10);

    // A slow portal: deletions stop at the deadline; those sent are verified.
    let slow = Simulator::start(
        vec![portal_with_ten()],
        SimOptions {
            latency: Duration::from_millis(2000),
            ..SimOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    let (slow_setup, config) = setup_for(&slow);
    let (portal, client, audit) = first_portal(&config);
    let report =
        docspace_retention::pass::run_pass_within(portal, &client, &audit, Utc::now(), Duration::from_millis(15000))
            .await;
    // Reads answered at 2, 4, 6, 8, 10 and 12 s (settings, schedule, version, history,
    // the key and the backups' folder), deletes sent at 12 s and 14 s; the third would
    // start at 16 s, after the 15 s deadline. A second either
    // side: the lock, the state store and a loaded CI machine (the 600-portal daemon
    // test runs beside this one) take their time.
    assert_eq!(report.count(Outcome::Deleted), 2, "{:?}", report.deletions);
    assert_eq!(
        report.error.as_deref(),
        Some("pass deadline exceeded: 5 deletions left for the next pass")
    );
    assert_eq!(slow.backups("acme").len(), 8);
    // The batch's seven intents went to disk before its first DELETE; the five it did
    // not send are answered, so nothing is left for recovery to settle.
    let lines = slow_setup.audit();
    let of = |phase: &str| lines.iter().filter(|l| l["phase"] == phase).count();
    assert_eq!((of("intent"), of("result")), (7, 7), "{lines:#?}");
    let not_sent: Vec<&Value> = lines
        .iter()
        .filter(|l| l["error"] == "not sent: pass deadline exceeded: 5 deletions left for the next pass")
        .collect();
    assert_eq!(not_sent.len(), 5, "{lines:#?}");
    assert!(
        not_sent
            .iter()
            .all(|l| l["outcome"] == "failed" && l["phase"] == "result")
    );
    let lock = std::fs::read_to_string(slow_setup.state().join("locks/acme.lock")).unwrap();
    assert_eq!(lock, "", "the batch is closed");
}

/// A reload during a pass binds the DELETEs still to come: a `dry_run` it sets stops
/// the batch (its unsent intents answered "not sent", no error), a `protect` it adds
/// spares that backup while the others go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_pass_binds_the_deletions_still_to_come() {
    use docspace_retention::executor::{Gates, LiveGates};
    use docspace_retention::wire::BackupId;
    for reload in ["dry_run", "protect"] {
        let p = portal_with_ten();
        let keep = planned_keep(&p);
        // The plan's deletions, in the order they are sent: oldest first.
        let mut order = p.backups.clone();
        order.sort_by_key(|b| b.created_on);
        order.retain(|b| !keep.contains(&b.id));
        assert_eq!(order.len(), 7);
        let sim = Simulator::start(vec![p], SimOptions::default(), 0).await.unwrap();
        // The second DELETE takes a while: the reload comes while it is out.
        for stall in [Duration::ZERO, Duration::from_millis(800)] {
            sim.inject("acme", SimEndpoint::DeleteBackup, Fault::Stall(stall));
        }
        let setup = Setup::new(&format!(
            "[portals.acme]\nurl = \"{}\"\napi_key_file = \"KEYFILE\"\n[portals.acme.retention]\n{POLICY}\n",
            sim.url("acme")
        ));
        let config = setup.load();
        let (portal, client, state) = first_portal(&config);
        let live = std::sync::Arc::new(LiveGates::new(Gates::of(portal)));
        let gates = Gates::of(portal).following(std::sync::Arc::clone(&live));
        let pass = docspace_retention::pass::run_pass_gated(portal, &client, &state, Utc::now(), gates);
        let spared = BackupId::parse(&order[3].id).unwrap();
        let reloaded = async {
            eventually("the first deletion", Duration::from_secs(10), || async {
                sim.backups("acme").len() == 9
            })
            .await;
            let mut now = Gates::of(portal);
            match reload {
                "dry_run" => now.dry_run = true,
                _ => {
                    now.protect.insert(spared);
                }
            }
            live.set(now);
        };
        let (report, ()) = tokio::join!(pass, reloaded);
        assert_eq!(report.error, None, "{reload}");
        let audit = setup.audit();
        let not_sent: Vec<&Value> = audit
            .iter()
            .filter(|l| l["error"].as_str().is_some_and(|e| e.starts_with("not sent: ")))
            .collect();
        let left: Vec<String> = sim.backups("acme").iter().map(|b| b.id.clone()).collect();
        match reload {
            "dry_run" => {
                // The first two were sent; the five after the reload were not.
                assert_eq!(report.count(Outcome::Deleted), 2);
                assert_eq!(left.len(), 8);
                assert_eq!(not_sent.len(), 5, "{audit:#?}");
                assert!(
                    not_sent
                        .iter()
                        .all(|l| l["error"] == "not sent: dry_run was set by a reload during the pass")
                );
            }
            _ => {
                assert_eq!(report.count(Outcome::Deleted), 6);
                assert_eq!(left.len(), 4);
                assert!(left.contains(&spared.to_string()), "{left:?}");
                assert_eq!(not_sent.len(), 1, "{audit:#?}");
                assert_eq!(not_sent[0]["backup_id"], spared.to_string());
                assert_eq!(not_sent[0]["error"], "not sent: protected by a reload during the pass");
            }
        }
    }
}
