//! End-to-end: the built binary, each command and exit code, against wiremock.

use crate::harness::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn today() -> String {
    last_full_morning().to_string()
}

const POLICY: &str = "keep_last = 5\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";

async fn portal_with_history(days: usize) -> MockServer {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(30))).await;
    serve_history(&server, daily(&today(), days), daily(&today(), 5)).await;
    server
}

#[tokio::test]
async fn check_config_accepts_a_good_config_and_prints_it_redacted() {
    let server = MockServer::start().await;
    let setup = Setup::new(
        &portal("acme", &server, POLICY).replace("api_key_file = \"KEYFILE\"", "api_key = \"sk-inline-secret\""),
    );
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("configuration OK: 1 portal from 1 file (--print shows them)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("warning: portals.acme.api_key: an API key in the config file is discouraged"));
    let o = setup.cli(&["check-config", "--print"]).await;
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("api_key = \"***\""), "{}", stdout(&o));
    assert!(!stdout(&o).contains("sk-inline-secret") && !stderr(&o).contains("sk-inline-secret"));
}

#[tokio::test]
async fn check_config_reports_every_error_with_exit_78() {
    let setup = Setup::new(
        "[portals.acme]\nurl = \"nope\"\nschedule = \"* * * * *\"\n[portals.acme.retention]\nkeep_daily = -3\n",
    );
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    let err = stderr(&o);
    assert!(err.starts_with("invalid configuration (4 errors):"), "{err}");
    for key in [
        "portals.acme.url",
        "portals.acme.schedule",
        "portals.acme.retention.keep_daily",
        "portals.acme: no credential",
    ] {
        assert!(err.contains(key), "{err} lacks {key}");
    }
    // A missing file is a config error too.
    let o = run_binary(
        vec!["--config".into(), "/nonexistent/c.toml".into(), "check-config".into()],
        Vec::new(),
    )
    .await;
    assert_eq!(code(&o), 78);
    assert!(stderr(&o).contains("/nonexistent/c.toml: config file not found"));
}

#[tokio::test]
async fn the_example_config_is_accepted() {
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), "sk-example").unwrap();
    let args = vec![
        "--config".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/docspace-retention.toml").into(),
        "check-config".into(),
    ];
    let env = vec![(
        "DOCSPACE_RETENTION_PORTALS__ACME__API_KEY_FILE".to_string(),
        key.path().display().to_string(),
    )];
    let o = run_binary(args, env).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[tokio::test]
async fn config_path_comes_from_the_environment_variable() {
    let server = MockServer::start().await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let env = vec![(
        "DOCSPACE_RETENTION_CONFIG".to_string(),
        setup.config().display().to_string(),
    )];
    let o = run_binary(vec!["check-config".into()], env).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[tokio::test]
async fn plan_json_is_the_spec_shape_and_deletes_nothing() {
    let server = portal_with_history(8).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["plan", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["generated_at"].as_str().unwrap().ends_with('Z'));
    let p = &v["portals"][0];
    assert_eq!(p["portal"], "acme");
    assert_eq!(p["outcome"], "planned");
    assert_eq!(p["error"], Value::Null);
    assert_eq!(
        p["schedule"],
        json!({"present": true, "storage_type": "Documents", "period": "EveryDay", "hour": 3,
               "backups_stored": 30, "last_backup_time": "2026-11-22T03:00:00Z"})
    );
    let backups = p["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 8);
    assert_eq!(
        backups[0],
        json!({"id": id(1), "file_name": format!("acme_{}T03-00-00.tar.gz", today()), "storage_type": "Documents",
               "created_on": format!("{}T03:00:00Z", today()), "action": "keep", "reasons": ["last snapshot"],
               "health": "unknown", "size_bytes": null, "duration_secs": null})
    );
    assert_eq!(backups[7]["action"], "delete");
    // Every deletion says why (the SPEC's example still shows `[]`: docs/reference.md).
    assert_eq!(backups[7]["reasons"], json!(["no keep rule: beyond keep_last 5"]));
    assert_eq!(p["guards"], json!([]));
    // The sentinel: the folder lists no size and the names no start time, so nothing
    // is judged; the schedule's nights are all there.
    assert_eq!(p["health"]["suspects"], 0);
    assert_eq!(p["health"]["missed_runs"], json!([]));
}

#[tokio::test]
async fn plan_at_evaluates_another_instant_and_shows_guards() {
    let server = portal_with_history(8).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    // A week later the newest backup is stale (EveryDay schedule: 2 days).
    let later = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let o = setup.cli(&["plan", "--json", "--at", &later]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["portals"][0]["guards"], json!([{"guard": "stale", "blocked": 3}]));
    let o = setup.cli(&["plan", "--at", "next tuesday"]).await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected an RFC 3339 instant"));
}

#[tokio::test]
async fn plan_table_for_people() {
    let server = portal_with_history(8).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["plan"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("acme: 8 backups (8 managed): keep 5, delete 3; schedule EveryDay at hour 3"),
        "{out}"
    );
    assert!(out.contains("PORTAL  BACKUP"), "{out}");
    assert!(
        out.contains(&format!(
            "acme    {}  {}T03:00:00Z  keep    unknown  last snapshot",
            id(1),
            today()
        )),
        "{out}"
    );
}

#[tokio::test]
async fn plan_with_a_failing_portal_exits_1_and_plans_the_others() {
    let good = portal_with_history(8).await;
    let bad = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&bad)
        .await;
    let setup = Setup::new(&format!(
        "{}{}",
        portal("good", &good, POLICY),
        portal("bad", &bad, POLICY)
    ));
    let o = setup.cli(&["plan", "--json"]).await;
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (b, g) = (&v["portals"][0], &v["portals"][1]);
    assert_eq!(
        (b["portal"].as_str(), b["outcome"].as_str()),
        (Some("bad"), Some("failed"))
    );
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized: API key rejected")
    );
    assert_eq!(b["backups"], json!([]));
    assert_eq!(g["outcome"], "planned");
    let o = setup.cli(&["plan", "--portal", "nope"]).await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no portal named \"nope\""));
}

#[tokio::test]
async fn once_deletes_and_one_failing_portal_does_not_stop_the_others() {
    let good = portal_with_history(8).await;
    for n in 6..=8 {
        expect_delete(&good, n, 1).await;
    }
    let bad = MockServer::start().await;
    Mock::given(method("GET")).respond_with(html(503)).mount(&bad).await;
    forbid_deletes(&bad).await;
    let setup = Setup::new(&format!(
        "{}{}",
        portal("bad", &bad, POLICY),
        portal("good", &good, POLICY)
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("bad: FAILED"), "{out}");
    assert!(out.contains("good: ok: kept 5, deleted 3"), "{out}");
    assert_eq!(setup.audit().len(), 6);
    // Only the good portal: exit 0.
    let good_only = portal_with_history(5).await;
    setup.write(&portal("good", &good_only, POLICY));
    let o = setup.cli(&["once", "--portal", "good"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[tokio::test]
async fn once_with_dry_run_flag_sends_no_delete() {
    let server = portal_with_history(8).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once", "--dry-run"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("would delete 3 (dry run)"), "{}", stdout(&o));
    assert!(setup.audit().iter().all(|l| l["dry_run"] == true));
}

#[tokio::test]
async fn schedule_show_and_delete() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(200).set_body_json(schedule(1, Some(4))))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .with_priority(2)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));

    let o = setup.cli(&["schedule", "show", "--portal", "acme", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schedule"]["period"], "EveryWeek");
    assert_eq!(v["schedule"]["storage_params"], json!({"folderId": "4"}));

    // Without --yes: a warning, what it would do, and no DELETE.
    let delete = Mock::given(method("DELETE"))
        .and(path(DELETE_SCHEDULE))
        .and(query_param("Dump", "false"))
        .respond_with(ok_true())
        .expect(0)
        .mount_as_scoped(&server)
        .await;
    let o = setup.cli(&["schedule", "delete", "--portal", "acme"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("older than 3.1"), "{}", stderr(&o));
    assert!(stdout(&o).contains("would delete the backup schedule of acme"));
    drop(delete);

    Mock::given(method("DELETE"))
        .and(path(DELETE_SCHEDULE))
        .respond_with(ok_true())
        .expect(1)
        .mount(&server)
        .await;
    // A server from 3.1.0 on: its cleaner leaves scheduled backups alone.
    serve_version(&server).await;
    let o = setup.cli(&["schedule", "delete", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("acme: backup schedule deleted"));
    let audit = setup.audit();
    assert_eq!(audit.len(), 2);
    assert_eq!(
        (audit[0]["action"].as_str(), audit[0]["phase"].as_str()),
        (Some("delete_schedule"), Some("intent"))
    );
    assert_eq!(
        (audit[1]["outcome"].as_str(), audit[1]["http_status"].as_u64()),
        (Some("deleted"), Some(200))
    );
}

#[tokio::test]
async fn history_list_and_clear() {
    let server = MockServer::start().await;
    let mut unordered = daily("2026-11-22", 3);
    unordered.rotate_left(1);
    serve_history(&server, unordered.clone(), Vec::new()).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));

    let o = setup.cli(&["history", "list", "--portal", "acme", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<&str> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id(1), id(2), id(3)]);
    assert_eq!(v["backups"][0]["expires_on"], Value::Null);

    let server = MockServer::start().await;
    serve_history(&server, unordered.clone(), Vec::new()).await;
    Mock::given(method("DELETE"))
        .respond_with(ok_true())
        .expect(0)
        .named("no delete without --yes")
        .mount(&server)
        .await;
    setup.write(&portal("acme", &server, POLICY));
    let o = setup.cli(&["history", "clear", "--portal", "acme"]).await;
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("would delete all 3 backups of acme"));
    drop(server);

    // The command reads the history, the executor reads it again before clearing
    // (it must still be what was decided on), then once more to verify.
    let server = MockServer::start().await;
    serve_history_times(&server, unordered, 2, Vec::new()).await;
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .and(query_param("Dump", "false"))
        .respond_with(ok_true())
        .expect(1)
        .mount(&server)
        .await;
    setup.write(&portal("acme", &server, POLICY));
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let audit = setup.audit();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["action"], "clear_history");
    assert_eq!(audit[1]["outcome"], "deleted");
}

#[tokio::test]
async fn history_clear_that_leaves_records_fails() {
    // deletebackuphistory answers true even when files could not be deleted.
    let server = MockServer::start().await;
    serve_history_times(&server, daily("2026-11-22", 3), 2, daily("2026-11-22", 1)).await;
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("1 records remain"), "{}", stderr(&o));
    assert_eq!(setup.audit()[1]["outcome"], "failed");
}

#[tokio::test]
async fn backup_delete() {
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 2)).await;
    expect_delete(&server, 3, 1).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let absent = "deadbeef-0000-4000-8000-000000000000";
    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &id(3), absent, "--yes"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("{absent}: not in the history")), "{out}");
    assert!(out.contains(&format!("{}: deleted", id(3))), "{out}");
    assert_eq!(setup.audit().len(), 2);

    let o = setup.cli(&["backup", "delete", "--portal", "acme", "../etc"]).await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected a backup id"));
}

#[tokio::test]
async fn backup_delete_without_yes_changes_nothing() {
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["backup", "delete", "--portal", "acme", &id(2)]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("would delete 1 backup of acme"));
    assert!(setup.audit().is_empty());
}

#[tokio::test]
async fn operator_commands_take_an_ad_hoc_url() {
    let server = MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 2), Vec::new()).await;
    let setup = Setup::new("");
    let args = vec![
        "--config".into(),
        setup.dir.path().join("absent.toml").display().to_string(),
        "history".into(),
        "list".into(),
        "--url".into(),
        server.uri(),
        "--api-key-file".into(),
        setup.key_file().display().to_string(),
    ];
    // An explicitly named config file must exist...
    let o = run_binary(args.clone(), Vec::new()).await;
    assert_eq!(code(&o), 78);
    // ...but without --config none is needed.
    let o = run_binary(args[2..].to_vec(), Vec::new()).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Named by its canonical URL (locks and audit too), never by its bare host.
    let name = docspace_retention::identity::adhoc_name(&server.uri().parse().unwrap());
    assert!(name.starts_with(&format!("url-127.0.0.1_{}_", server.address().port())));
    assert!(stdout(&o).starts_with(&format!("{name}: 2 backups")), "{}", stdout(&o));
    let o = run_binary(
        vec!["history".into(), "list".into(), "--url".into(), server.uri()],
        Vec::new(),
    )
    .await;
    assert_eq!(code(&o), 2);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    for args in [
        vec!["frobnicate"],
        vec!["history", "list"],
        vec!["plan", "--log-format", "xml"],
        vec![],
    ] {
        let o = run_binary(args.iter().map(|s| s.to_string()).collect(), Vec::new()).await;
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
    let o = run_binary(vec!["--help".into()], Vec::new()).await;
    assert_eq!(code(&o), 0);
}

#[tokio::test]
async fn secrets_stay_out_of_output_even_at_trace_level() {
    let server = portal_with_history(8).await;
    for n in 6..=8 {
        expect_delete(&server, n, 1).await;
    }
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once", "--log-level", "trace"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TRACE") || stderr(&o).contains("DEBUG"),
        "trace logging was not on"
    );
    assert!(!stdout(&o).contains(KEY) && !stderr(&o).contains(KEY));
    let audit = std::fs::read_to_string(setup.state().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(KEY));
}

#[tokio::test]
async fn version_names_the_commit_and_cargo_sets_no_config_variables() {
    let o = run_binary(vec!["--version".into()], Vec::new()).await;
    let out = stdout(&o);
    assert!(out.starts_with("docspace-retention 0.1.0 ("), "{out}");
    // Regression: build.rs once exported DOCSPACE_RETENTION_GIT_COMMIT, which cargo
    // passes to `cargo run`/`cargo test` processes, where it is an unknown config key.
    let prefixed: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("DOCSPACE_RETENTION_") && !k.starts_with("DOCSPACE_RETENTION_CONFIG"))
        .collect();
    assert!(prefixed.is_empty(), "cargo exported {prefixed:?}");
}

#[tokio::test]
async fn completions_and_man_page() {
    let o = run_binary(vec!["completions".into(), "bash".into()], Vec::new()).await;
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("docspace-retention"));
    let o = run_binary(vec!["man".into()], Vec::new()).await;
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(".TH docspace-retention 1"));
}
