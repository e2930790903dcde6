//! Retention passes through the real code paths against a wiremock DocSpace:
//! exact HTTP calls, audit lines and outcomes, and every trap of docs/docspace-api.md.

use std::time::Duration;

use crate::harness::*;
use chrono::{DateTime, Utc};
use docspace_retention::docspace::Clients;
use docspace_retention::pass::{PassReport, run_pass};
use docspace_retention::state::audit::Outcome;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn pass(setup: &Setup) -> PassReport {
    pass_at(&setup.load(), now()).await
}

const KEEP5: &str = "keep_last = 5\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";

#[tokio::test]
async fn a_pass_deletes_exactly_the_planned_backups_oldest_first_and_verifies() {
    let server = MockServer::start().await;
    let history = daily("2026-11-22", 8);
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, history.clone(), history[..5].to_vec()).await;
    for n in 1..=5 {
        expect_delete(&server, n, 0).await;
    }
    for n in 6..=8 {
        expect_delete(&server, n, 1).await;
    }
    let setup = Setup::new(&portal("acme", &server, KEEP5));

    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert_eq!(report.count(Outcome::Deleted), 3);
    assert_eq!(report.kept(), 5);

    // GET settings (who the server says it is), GET schedule, GET version
    // (anonymous), GET history, the health sentinel's GET key (once a day) and GET
    // folder (sizes), 3 DELETEs oldest first, the verifying GET history.
    let calls: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /api/2.0/settings".to_string(),
            format!("GET {SCHEDULE}"),
            format!("GET {VERSION}"),
            format!("GET {HISTORY}"),
            "GET /api/2.0/keys/@self".to_string(),
            "GET /api/2.0/files/4".to_string(),
            format!("DELETE {}", delete_path(&id(8))),
            format!("DELETE {}", delete_path(&id(7))),
            format!("DELETE {}", delete_path(&id(6))),
            format!("GET {HISTORY}"),
        ]
    );

    let audit = setup.audit();
    assert_eq!(audit.len(), 6);
    let phases: Vec<(&str, &str)> = audit
        .iter()
        .map(|l| (l["phase"].as_str().unwrap(), l["backup_id"].as_str().unwrap()))
        .collect();
    let (i8, i7, i6) = (id(8), id(7), id(6));
    assert_eq!(
        phases,
        [
            ("intent", &*i8),
            ("intent", &*i7),
            ("intent", &*i6),
            ("result", &*i8),
            ("result", &*i7),
            ("result", &*i6)
        ]
    );
    let result = &audit[3];
    assert_eq!(result["action"], "delete_backup");
    assert_eq!(result["portal"], "acme");
    assert_eq!(result["outcome"], "deleted");
    assert_eq!(result["http_status"], 200);
    assert_eq!(result["created_on"], "2026-11-15T03:00:00Z");
    assert_eq!(result["dry_run"], false);
    assert_eq!(result["file_name"], "acme_2026-11-15T03-00-00.tar.gz");
    assert!(audit[0]["outcome"].is_null());
    for key in [
        "ts",
        "portal",
        "action",
        "phase",
        "backup_id",
        "file_name",
        "created_on",
        "reasons",
        "dry_run",
        "outcome",
        "http_status",
        "error",
    ] {
        assert!(result.get(key).is_some(), "audit line lacks {key}");
    }
}

#[tokio::test]
async fn dry_run_sends_no_delete_but_audits_and_plans() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 8), daily("2026-11-22", 8)).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(
        &portal("acme", &server, &format!("{KEEP5}\n")).replace("max_retries = 0", "max_retries = 0\ndry_run = true"),
    );
    let report = pass(&setup).await;
    assert!(report.succeeded());
    assert_eq!(report.count(Outcome::DryRun), 3);
    let audit = setup.audit();
    assert_eq!(audit.len(), 6);
    assert!(audit.iter().all(|l| l["dry_run"] == true));
    assert_eq!(audit[1]["outcome"], "dry_run");
    // No verification read when nothing was sent: settings, schedule, version,
    // history, the key (once a day) and the schedule's folder (the backups' sizes).
    assert_eq!(server.received_requests().await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_stale_portal_is_guarded_and_sends_no_delete() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(30))).await; // EveryDay: stale after 2 days
    serve_history(&server, daily("2026-11-10", 8), Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(report.succeeded());
    let plan = &report.read.as_ref().unwrap().plan;
    assert_eq!(plan.guards.len(), 1);
    assert_eq!(plan.blocked_deletions(), 3);
    assert!(setup.audit().is_empty());
}

#[tokio::test]
async fn min_keep_and_limits_guard_the_pass() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 10), daily("2026-11-22", 8)).await;
    // keep_last 1 wants 9 deletions; max 2 per run: the two oldest only.
    for n in 1..=8 {
        expect_delete(&server, n, 0).await;
    }
    expect_delete(&server, 9, 1).await;
    expect_delete(&server, 10, 1).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 1\nmax_deletions_per_run = 2\nmax_delete_fraction = 1.0",
    ));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert_eq!(report.count(Outcome::Deleted), 2);
    assert_eq!(report.blocked(), 7);
}

#[tokio::test]
async fn a_500_on_delete_whose_record_is_gone_counts_as_deleted() {
    // docs/docspace-api.md, "Delete order": record removed, file delete failed, answer 500.
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 6), daily("2026-11-22", 5)).await;
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(6))))
        .respond_with(error_body(500, "Could not delete file"))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert_eq!(report.count(Outcome::Deleted), 1);
    let result = setup.audit().pop().unwrap();
    assert_eq!(
        (result["outcome"].as_str(), result["http_status"].as_u64()),
        (Some("deleted"), Some(500))
    );
}

#[tokio::test]
async fn a_500_whose_record_remains_is_a_failure_and_is_not_retried() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 6), daily("2026-11-22", 6)).await;
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(6))))
        .respond_with(error_body(500, "Unknown backup"))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, KEEP5).replace("max_retries = 0", "max_retries = 3"));
    let report = pass(&setup).await;
    assert!(!report.succeeded());
    assert_eq!(report.count(Outcome::Failed), 1);
    assert_eq!(report.error.as_deref(), Some("1 of 1 deletions failed"));
    let result = setup.audit().pop().unwrap();
    assert_eq!(result["outcome"], "failed");
    assert!(
        result["error"].as_str().unwrap().contains("500 server error"),
        "{result}"
    );
}

#[tokio::test]
async fn true_from_the_server_is_not_believed_when_the_record_remains() {
    // An id of another tenant answers true and deletes nothing.
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 6), daily("2026-11-22", 6)).await;
    expect_delete(&server, 6, 1).await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert_eq!(report.count(Outcome::Failed), 1);
    assert!(
        report.deletions[0]
            .error
            .as_deref()
            .unwrap()
            .contains("still in the history")
    );
}

#[tokio::test]
async fn a_404_for_a_record_that_is_gone_is_already_gone() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 6), daily("2026-11-22", 5)).await;
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(6))))
        .respond_with(error_body(404, "Not found"))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(report.succeeded());
    assert_eq!(report.count(Outcome::AlreadyGone), 1);
}

#[tokio::test]
async fn records_vanishing_during_the_pass_are_reported_not_fixed() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    // After the delete of 6, record 2 (kept) has vanished too.
    let after: Vec<Value> = daily("2026-11-22", 5)
        .into_iter()
        .filter(|r| r["id"] != json!(id(2)))
        .collect();
    serve_history(&server, daily("2026-11-22", 6), after).await;
    expect_delete(&server, 6, 1).await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(report.succeeded());
    assert_eq!(report.unexpectedly_missing, [id(2).parse().unwrap()]);
}

#[tokio::test]
async fn an_unverifiable_pass_fails_and_leaves_its_deletions_to_the_next_pass() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 7)))))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(html(502))
        .with_priority(2)
        .mount(&server)
        .await;
    expect_delete(&server, 7, 1).await;
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(6))))
        .respond_with(error_body(500, "boom"))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .starts_with("cannot verify deletions: get_history: 502 Bad Gateway")
    );
    // Not read back, not known: even the delete answered `true` is not "deleted"
    // (an id of another portal answers true too), and no result line is written.
    assert_eq!(report.count(Outcome::Deleted), 0);
    assert_eq!(report.count(Outcome::Failed), 2);
    assert!(
        report.deletions[0].error.as_deref().unwrap().starts_with("unverified"),
        "{:?}",
        report.deletions
    );
    let audit = setup.audit();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|l| l["phase"] == "intent"));
}

/// A read of the schedule or history answered with `response`: the pass fails with
/// a message containing `expected`, and no DELETE is sent.
async fn failing_read(endpoint: &str, response: ResponseTemplate, expected: &str) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(endpoint))
        .respond_with(response)
        .with_priority(1)
        .mount(&server)
        .await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 8), Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    let error = report.error.expect("the pass must fail");
    assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    assert!(!error.contains(KEY));
}

#[tokio::test]
async fn read_errors_say_what_happened_and_delete_nothing() {
    failing_read(
        HISTORY,
        ResponseTemplate::new(401),
        "get_history: 401 Unauthorized: API key rejected",
    )
    .await;
    failing_read(
        SCHEDULE,
        ResponseTemplate::new(402),
        "get_schedule: portal unpaid (402)",
    )
    .await;
    failing_read(
        HISTORY,
        error_body(403, "Access denied"),
        "403 Forbidden: needs owner or admin",
    )
    .await;
    failing_read(HISTORY, error_body(403, "Access denied"), "(server: \"Access denied\")").await;
    failing_read(
        HISTORY,
        html(502),
        "get_history: 502 Bad Gateway: the portal or its reverse proxy is unavailable (HTML error page",
    )
    .await;
    failing_read(
        HISTORY,
        error_body(500, "Object reference not set"),
        "get_history: 500 server error (server: \"Object reference not set\")",
    )
    .await;
    failing_read(
        HISTORY,
        ResponseTemplate::new(200).set_body_string("<html>login</html>"),
        "get_history: 200 with an unreadable body: body is not the DocSpace JSON envelope",
    )
    .await;
    failing_read(
        HISTORY,
        ResponseTemplate::new(200).set_body_json(envelope(json!({"a": 1}))),
        "expected a list of backup records",
    )
    .await;
    failing_read(
        HISTORY,
        ResponseTemplate::new(404),
        "404 Not Found (is the portal url right",
    )
    .await;
    failing_read(
        HISTORY,
        ResponseTemplate::new(301).insert_header("location", "https://elsewhere.example/"),
        "301 redirect to https://elsewhere.example/",
    )
    .await;
}

#[tokio::test]
async fn a_timeout_is_reported_as_such() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(no_value())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    forbid_deletes(&server).await;
    let setup = Setup::new(
        &portal("acme", &server, KEEP5).replace("max_retries = 0", "max_retries = 0\nrequest_timeout_secs = 1"),
    );
    let report = pass(&setup).await;
    assert_eq!(report.error.as_deref(), Some("get_schedule: timed out after 1s"));
}

#[tokio::test]
async fn the_real_wire_format_is_read() {
    // Dates with 7 fractional digits and Z, offsets, no zone; named and integer enums;
    // unknown enum numbers; a record without createdOn; the schedule with no response.
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    let history = vec![
        json!({"id": id(1), "fileName": "a", "storageType": "Documents", "createdOn": "2026-11-22T03:00:00.1234567Z", "expiresOn": "0001-01-01T00:00:00"}),
        json!({"id": id(2), "fileName": "b", "storageType": 0, "createdOn": "2026-11-21T05:00:00+02:00", "expiresOn": "0001-01-01T00:00:00"}),
        json!({"id": id(3), "fileName": "c", "storageType": 0, "createdOn": "2026-11-20T03:00:00", "expiresOn": "0001-01-01T00:00:00"}),
        json!({"id": id(4), "fileName": "d", "storageType": 17, "createdOn": "2026-11-19T03:00:00", "expiresOn": "0001-01-01T00:00:00"}),
        json!({"id": id(5), "fileName": "e", "storageType": 0, "expiresOn": "0001-01-01T00:00:00"}),
        json!({"id": id(6), "fileName": "f", "storageType": 4, "createdOn": "2026-11-18T03:00:00", "expiresOn": "2026-11-19T03:00:00"}),
        json!({"id": id(7), "fileName": "g", "storageType": 0, "createdOn": "2027-06-01T00:00:00", "expiresOn": "0001-01-01T00:00:00"}),
    ];
    serve_history(&server, history, Vec::new()).await;
    expect_delete(&server, 3, 1).await;
    // 6 is a temporary backup (DataStore, a real expiresOn): the server deletes it itself.
    for n in [1, 2, 4, 5, 6, 7] {
        expect_delete(&server, n, 0).await;
    }
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 2\nmin_keep = 0\nmax_delete_fraction = 1.0",
    ));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    let plan = &report.read.as_ref().unwrap().plan;
    assert_eq!(
        plan.entries[1].created().unwrap().to_rfc3339(),
        "2026-11-22T03:00:00.123456700+00:00"
    );
    assert_eq!(
        plan.entries[2].created().unwrap().to_rfc3339(),
        "2026-11-21T03:00:00+00:00"
    );
    assert_eq!((plan.managed, plan.temporary), (3, 1));
}

#[tokio::test]
async fn a_url_with_a_path_prefix_is_honoured() {
    let server = MockServer::start().await;
    let prefixed = |p: &str| format!("/docspace{p}");
    Mock::given(method("GET"))
        .and(path(prefixed(SCHEDULE)))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(prefixed(HISTORY)))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 2)))))
        .expect(1)
        .mount(&server)
        .await;
    let setup =
        Setup::new(&portal("acme", &server, KEEP5).replace(&server.uri(), &format!("{}/docspace/", server.uri())));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
}

fn login_portal(server: &MockServer) -> String {
    format!(
        "[portals.acme]\nurl = \"{}\"\nmax_retries = 0\n[portals.acme.login]\nuser = \"admin@acme.example\"\npassword_file = \"KEYFILE\"\n[portals.acme.retention]\n{KEEP5}\n",
        server.uri()
    )
}

#[tokio::test]
async fn login_with_user_and_password_caches_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.0/authentication"))
        .and(body_json(json!({"userName": "admin@acme.example", "password": KEY})))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(
            json!({"token": "session-token-1", "expires": "2099-01-01T00:00:00Z", "sms": false, "tfa": false}),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .and(header("authorization", "Bearer session-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .and(header("authorization", "Bearer session-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 3)))))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&login_portal(&server));
    assert!(pass(&setup).await.succeeded());
}

#[tokio::test]
async fn a_rejected_token_means_one_new_login() {
    let server = MockServer::start().await;
    let token = |t: &str| {
        ResponseTemplate::new(200).set_body_json(envelope(json!({"token": t, "expires": "2099-01-01T00:00:00Z"})))
    };
    Mock::given(method("POST"))
        .and(path("/api/2.0/authentication"))
        .respond_with(token("old"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/2.0/authentication"))
        .respond_with(token("new"))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .and(header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .and(header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 3)))))
        .mount(&server)
        .await;
    let setup = Setup::new(&login_portal(&server));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    let logins = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(logins, 2);
}

#[tokio::test]
async fn login_problems_are_explained() {
    for (answer, expected) in [
        (ResponseTemplate::new(401), "login as \"admin@acme.example\" rejected"),
        (
            ResponseTemplate::new(200).set_body_json(envelope(json!({"sms": false, "tfa": true}))),
            "needs two-factor authentication",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/2.0/authentication"))
            .respond_with(answer)
            .mount(&server)
            .await;
        // No backup call without a login (the anonymous settings read may come).
        Mock::given(method("GET"))
            .and(wiremock::matchers::path_regex("^/api/2.0/backup/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
            .expect(0)
            .mount(&server)
            .await;
        let setup = Setup::new(&login_portal(&server));
        let error = pass(&setup).await.error.unwrap();
        assert!(error.contains(expected), "{error}");
        assert!(!error.contains(KEY));
    }
}

#[tokio::test]
async fn retries_follow_retry_after_and_recover() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 3)))))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, KEEP5).replace("max_retries = 0", "max_retries = 2"));
    let started = std::time::Instant::now();
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn an_audit_log_that_cannot_be_written_stops_deletions() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 8), Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let config = setup.load();
    let portal = &config.portals[0];
    let client = Clients::new().unwrap().client(&portal.name, portal.endpoint()).unwrap();
    // Every write to /dev/full fails with "no space left on device".
    std::fs::create_dir_all(setup.state()).unwrap();
    std::os::unix::fs::symlink("/dev/full", setup.state().join("audit.jsonl")).unwrap();
    let broken =
        docspace_retention::state::StateDir::open(&setup.state(), docspace_retention::state::Access::Write).unwrap();
    let report = run_pass(portal, &client, &broken, now()).await;
    assert!(
        report.error.as_deref().unwrap().contains("cannot write the audit log"),
        "{:?}",
        report.error
    );
    assert!(report.deletions.is_empty());
}

#[tokio::test]
async fn an_id_listed_twice_is_deleted_with_one_call() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    let mut history = daily("2026-11-22", 6);
    // The server lists backup 6 twice (with two dates); both copies are old enough to go.
    let mut twin = history[5].clone();
    twin["createdOn"] = json!("2026-11-16T09:00:00");
    history.push(twin);
    serve_history(&server, history, daily("2026-11-22", 5)).await;
    expect_delete(&server, 6, 1).await;
    for n in 1..=5 {
        expect_delete(&server, n, 0).await;
    }
    let setup = Setup::new(&portal("acme", &server, KEEP5));
    let report = pass(&setup).await;
    assert!(report.succeeded(), "{:?}", report.error);
    assert_eq!(report.count(Outcome::Deleted), 1);
}
