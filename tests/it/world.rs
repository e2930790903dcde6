//! Safe against the real server and the real operator (docs/reference.md, "Gates"):
//! one portal whatever its spelling, protect united, hidden records, the server's
//! clock and version, lost memory. Through the real binary.

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::harness::*;

const POLICY: &str = "keep_last = 2\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0\nmin_keep = 0";

fn action_of(plan: &Value, n: usize) -> (String, Vec<String>) {
    let backup = plan["portals"][0]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id(n))
        .unwrap_or_else(|| panic!("backup {n} in {plan}"));
    let reasons = backup["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    (backup["action"].as_str().unwrap().to_string(), reasons)
}

// ----- protect is additive; conf.d defines portals only -----

#[tokio::test]
async fn protect_of_the_defaults_and_of_a_portal_are_united() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history(&server, daily("2026-11-22", 8), daily("2026-11-22", 8)).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&format!(
        "[defaults.retention]\nprotect = [\"{}\"]\n{}",
        id(5),
        portal("acme", &server, &format!("{POLICY}\nprotect = [\"{}\"]", id(7)))
    ));
    let o = setup.cli(&["plan", "--json", "--at", "2026-11-22T12:00:00Z"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    for n in [5, 7] {
        assert_eq!(
            action_of(&plan, n),
            ("keep".to_string(), vec!["protected".to_string()]),
            "{n}"
        );
    }
    assert_eq!(action_of(&plan, 6).0, "delete");
    // The fleet-wide hold binds the operator command too.
    let o = setup
        .cli(&["backup", "delete", "--portal", "acme", &id(5), "--yes"])
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("refusing to delete protected backup {}", id(5))),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn a_conf_d_file_with_fleet_tables_is_a_config_error_naming_it() {
    let setup = Setup::new("");
    setup.conf_d(
        "beta.toml",
        "[defaults.retention]\nmin_keep = 0\n[server]\nlisten = \"127.0.0.1:1\"\n\
         [portals.beta]\nurl = \"https://beta.example.com\"\napi_key_file = \"KEYFILE\"\n\
         [portals.beta.retention]\nkeep_last = 3\n",
    );
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78, "{}", stdout(&o));
    let file = setup.dir.path().join("conf.d").join("beta.toml");
    for table in ["defaults", "server"] {
        assert!(
            stderr(&o).contains(&format!(
                "{}: [{table}] in conf.d/: files there define portals only",
                file.display()
            )),
            "{}",
            stderr(&o)
        );
    }
}

// ----- a clear never takes what the list cannot show -----

/// The protected backup 99 is on storage the server cannot reach now: the history
/// leaves it out, and `deletebackuphistory` would remove it with the rest.
#[tokio::test]
async fn a_portal_with_protect_ids_is_never_cleared_by_the_command() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 3)).await;
    let clears = Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(0)
        .named("no clear")
        .mount_as_scoped(&server)
        .await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        &format!("{POLICY}\nprotect = [\"{}\"]", id(99)),
    ));
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!(
            "acme: refusing to clear the history: the portal protects backup {}, and a clear also removes records \
             the history does not list (give --force-protected to clear anyway)",
            id(99)
        )),
        "{}",
        stderr(&o)
    );
    drop(clears);
    // --force-protected is the only way.
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(1)
        .named("the forced clear")
        .mount(&server)
        .await;
    let o = setup
        .cli(&["history", "clear", "--portal", "acme", "--yes", "--force-protected"])
        .await;
    // The mock's history still lists the three after the clear: a failed clear, sent once.
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stderr(&o).contains("3 records remain"), "{}", stderr(&o));
}

#[tokio::test]
async fn a_pass_deletes_per_id_instead_of_clearing_a_portal_with_protect_ids() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history_times(&server, daily("2026-06-30", 4), 2, Vec::new()).await;
    Mock::given(method("DELETE"))
        .and(path(DELETE_HISTORY))
        .respond_with(ok_true())
        .expect(0)
        .named("no clear")
        .mount(&server)
        .await;
    for n in 1..=4 {
        expect_delete(&server, n, 1).await;
    }
    let setup = Setup::new(&portal(
        "acme",
        &server,
        &format!(
            "max_age = \"30d\"\nmin_keep = 0\nclear_history = true\nstale_after = \"off\"\n\
             max_delete_fraction = 1.0\nprotect = [\"{}\"]",
            id(99)
        ),
    ));
    let o = setup.cli(&["plan"]).await;
    assert!(
        stdout(&o).contains("every record is to be deleted, one by one: the portal protects backups"),
        "{}",
        stdout(&o)
    );
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("deleted 4"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("clear_history: not clearing, the portal protects backups"),
        "{}",
        stderr(&o)
    );
    assert!(setup.audit().iter().all(|l| l["action"] == "delete_backup"));
}

// ----- an unreadable answer is not an empty one -----

#[tokio::test]
async fn a_history_answer_without_a_list_never_settles_a_deletion_as_deleted() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(envelope(Value::Array(daily(&last_full_morning().to_string(), 3)))),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    // Every later read answers with no list at all.
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .with_priority(2)
        .mount(&server)
        .await;
    // The DELETE answers 500 and did nothing.
    Mock::given(method("DELETE"))
        .and(path(delete_path(&id(3))))
        .respond_with(error_body(500, "Internal error"))
        .expect(1)
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stderr(&o).contains("cannot verify deletions"), "{}", stderr(&o));
    let audit = setup.audit();
    assert!(audit.iter().all(|l| l["outcome"] != "deleted"), "{audit:?}");
    assert_eq!(audit.len(), 1, "the intent, unsettled: {audit:?}");
    // The next change settles it by reading, and the read still has no list: nothing
    // is settled, nothing is sent.
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(setup.audit().iter().all(|l| l["outcome"] != "deleted"));
}

// ----- writes that may have happened are not repeated -----

#[tokio::test]
async fn a_clear_or_schedule_deletion_answered_504_is_settled_by_reading_never_sent_again() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history_times(&server, daily("2026-11-22", 3), 2, Vec::new()).await;
    for (what, at) in [
        ("the clear", DELETE_HISTORY),
        ("the schedule deletion", DELETE_SCHEDULE),
    ] {
        Mock::given(method("DELETE"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(504).set_body_string("<html>Gateway Time-out</html>"))
            .expect(1)
            .named(what)
            .mount(&server)
            .await;
    }
    // Retries allowed: a read would be retried, a change is not.
    let setup = Setup::new(&portal("acme", &server, POLICY).replace("max_retries = 0", "max_retries = 3"));
    let o = setup.cli(&["history", "clear", "--portal", "acme", "--yes"]).await;
    // The history read again is empty: the clear happened behind the 504.
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("acme: backup history cleared (3 backups)"),
        "{}",
        stdout(&o)
    );
    // The schedule read again is still there: failed, and not sent a second time.
    let o = setup.cli(&["schedule", "delete", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let audit = setup.audit();
    assert_eq!(audit.len(), 4, "{audit:?}");
    assert_eq!(audit[1]["outcome"], "deleted");
    assert_eq!(audit[3]["outcome"], "failed");
}

// ----- lost memory fails closed -----

/// A fresh state directory and a portal whose schedule the server deleted: nothing
/// says how long ago backups stopped, so nothing is deleted until a schedule is seen
/// or `stale_after` is a duration.
#[tokio::test]
async fn a_portal_without_schedule_and_without_memory_deletes_nothing() {
    let server = wiremock::MockServer::start().await;
    let fresh = daily(&last_full_morning().to_string(), 20);
    serve_version(&server).await;
    let no_schedule = Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(200).set_body_json(no_value()))
        .mount_as_scoped(&server)
        .await;
    serve_history(&server, fresh.clone(), fresh.clone()).await;
    let deletes = Mock::given(method("DELETE"))
        .respond_with(ok_true())
        .expect(0)
        .named("no DELETE while nothing is remembered")
        .mount_as_scoped(&server)
        .await;
    let policy = "keep_last = 5\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";
    let setup = Setup::new(&portal("acme", &server, policy));
    for _ in 0..2 {
        let o = setup.cli(&["once"]).await;
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stdout(&o).contains("deleted 0"), "{}", stdout(&o));
    }
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        action_of(&plan, 20),
        (
            "keep".to_string(),
            vec![
                "stale: no schedule and no remembered period (set stale_after to a duration to manage a portal \
                 without a schedule)"
                    .to_string()
            ]
        )
    );
    drop(deletes);
    // A duration in the config manages it.
    setup.write(&portal("acme", &server, &format!("{policy}\nstale_after = \"3d\"")));
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(action_of(&plan, 20).0, "delete");
    // So does a schedule seen again, with the config back on auto.
    drop(no_schedule);
    let server = wiremock::MockServer::start().await;
    serve_version(&server).await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, fresh.clone(), fresh[..5].to_vec()).await;
    setup.write(&portal("acme", &server, policy));
    for n in 6..=20 {
        expect_delete(&server, n, 1).await;
    }
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("deleted 15"), "{}", stdout(&o));
}

// ----- the server's clock -----

/// A server whose clock is a year behind: its "fresh" backups are a year old to us.
/// That pass deletes nothing, and says why.
#[tokio::test]
async fn a_server_clock_far_from_ours_stops_deletions_for_the_pass() {
    let server = wiremock::MockServer::start().await;
    let behind = chrono::Utc::now() - chrono::TimeDelta::days(365);
    let date = httpdate::fmt_http_date(behind.into());
    let last = (behind - chrono::TimeDelta::hours(7)).date_naive().to_string();
    let answer = |body: Value| {
        ResponseTemplate::new(200)
            .set_body_json(body)
            .insert_header("Date", date.as_str())
    };
    for (at, body) in [
        (SCHEDULE, schedule(0, None)),
        (HISTORY, envelope(Value::Array(daily(&last, 10)))),
        (VERSION, envelope(serde_json::json!({"docSpace": "3.7.2.1733"}))),
    ] {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(answer(body))
            .mount(&server)
            .await;
    }
    forbid_deletes(&server).await;
    let policy = "keep_daily = 3\nmax_age = \"30d\"\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";
    let setup = Setup::new(&portal("acme", &server, policy));
    let o = setup.cli(&["plan", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let (action, reasons) = action_of(&plan, 10);
    assert_eq!(action, "keep");
    let skew = reasons.last().unwrap();
    assert!(skew.starts_with("clock_skew: the server's clock is 315"), "{reasons:?}");
    assert!(
        skew.ends_with("s behind ours (more than 300s): its dates cannot be trusted this pass"),
        "{skew}"
    );
    assert_eq!(plan["portals"][0]["guards"][0]["guard"], "clock_skew");
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("deleted 0"), "{}", stdout(&o));
}

/// A record whose file name says it started more than a day after it finished: one
/// of the clocks was wrong, and it is kept whatever the rules say.
#[tokio::test]
async fn a_record_that_started_after_it_finished_is_doubtful_and_kept() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    let today = last_full_morning();
    let mut history = daily(&today.to_string(), 6);
    // Backup 6 finished six days ago by createdOn, but its name says it started today.
    history[5]["fileName"] = Value::from(format!("acme_{today}_03-00-00.tar.gz"));
    let after = vec![history[0].clone(), history[1].clone(), history[5].clone()];
    serve_history_times(&server, history, 2, after).await;
    for n in 3..=5 {
        expect_delete(&server, n, 1).await;
    }
    expect_delete(&server, 6, 0).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        &POLICY.replace("min_keep = 0", "min_keep = 1"),
    ));
    let o = setup.cli(&["plan", "--json"]).await;
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        action_of(&plan, 6),
        (
            "keep".to_string(),
            vec![format!(
                "future: its file name says it started at {today} 03:00:00, more than a day after it finished"
            )]
        )
    );
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("deleted 3"), "{}", stdout(&o));
}

// ----- Dump and version -----

async fn serve_version_string(server: &wiremock::MockServer, version: &str) {
    Mock::given(method("GET"))
        .and(path(VERSION))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(serde_json::json!({"docSpace": version}))))
        .mount(server)
        .await;
}

/// Before 3.1.0 the server ignores `Dump`: `deletebackuphistory?Dump=true` clears the
/// portal's own history. A version that is not known to be 3.1.0 or later refuses.
#[tokio::test]
async fn the_dump_is_never_changed_on_a_server_that_may_not_know_it() {
    for version in ["3.0.4.512", "3.1.0", "0.0.0.0", "${VERSION}"] {
        let server = wiremock::MockServer::start().await;
        // The same answers for the portal and the dump (Dump=true or false).
        Mock::given(method("GET"))
            .and(path(SCHEDULE))
            .respond_with(ResponseTemplate::new(200).set_body_json(schedule(0, None)))
            .mount(&server)
            .await;
        serve_version_string(&server, version).await;
        let fresh = daily(&last_full_morning().to_string(), 3);
        serve_history(&server, fresh.clone(), fresh).await;
        forbid_deletes(&server).await;
        let setup = Setup::new(&portal("acme", &server, POLICY));
        let o = setup
            .cli(&["history", "clear", "--portal", "acme", "--dump", "--yes"])
            .await;
        assert_eq!(code(&o), 1, "{version}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("acme: refusing to change the dump: the server's DocSpace version is "),
            "{version}: {}",
            stderr(&o)
        );
        // A dump = true portal's pass, the same.
        setup.write(&portal("acme", &server, POLICY).replace("max_retries = 0", "max_retries = 0\ndump = true"));
        let o = setup.cli(&["once"]).await;
        assert_eq!(code(&o), 1, "{version}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("refusing to change the dump"),
            "{version}: {}",
            stderr(&o)
        );
        assert!(setup.audit().is_empty(), "{version}");
    }
}

/// `3.1.0` is what a build from source reports: unknown, so deleting the schedule
/// (which before 3.1 makes the server's cleaner delete every scheduled backup) needs
/// `--force`.
#[tokio::test]
async fn a_build_default_version_is_unknown_and_schedule_delete_needs_force() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version_string(&server, "3.1.0").await;
    let deletes = Mock::given(method("DELETE"))
        .and(path(DELETE_SCHEDULE))
        .respond_with(ok_true())
        .expect(1)
        .named("the forced schedule deletion")
        .mount_as_scoped(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["schedule", "delete", "--portal", "acme", "--yes"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("refusing to delete the schedule: the server's DocSpace version is unknown"),
        "{}",
        stderr(&o)
    );
    let o = setup
        .cli(&["schedule", "delete", "--portal", "acme", "--yes", "--force"])
        .await;
    // The schedule read again is still there (the mock does not change): failed, sent once.
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    drop(deletes);
}

// ----- one portal, whatever its spelling -----

/// `[portals.acme]` is `http://127.0.0.1:PORT/p/acme`; the same portal spelled
/// `http://LocalHost:PORT/P/acme/` is acme: its protect, dry run and lock, or a refusal.
#[tokio::test]
async fn an_alias_url_of_a_configured_portal_is_that_portal() {
    let server = wiremock::MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ok_true())
        .expect(0)
        .named("any request")
        .mount(&server)
        .await;
    let port = server.address().port();
    let setup = Setup::new(&format!(
        "[portals.acme]\nurl = \"http://127.0.0.1:{port}/p/acme\"\napi_key_file = \"KEYFILE\"\ndry_run = true\n\
         [portals.acme.retention]\n{POLICY}\nprotect = [\"{}\"]\n",
        id(1)
    ));
    let key = setup.key_file().display().to_string();
    for alias in [
        format!("http://LocalHost:{port}/p/acme/"),
        format!("http://localhost:{port}//P/Acme"),
        format!("http://[::1]:{port}/p/acme"),
    ] {
        for command in [
            vec![
                "backup",
                "delete",
                "--url",
                &alias,
                "--api-key-file",
                &key,
                &id(1),
                "--yes",
            ],
            vec!["history", "clear", "--url", &alias, "--api-key-file", &key, "--yes"],
        ] {
            let o = setup.cli(&command).await;
            assert_eq!(code(&o), 2, "{alias} {command:?}: {}", stdout(&o));
            assert!(
                stderr(&o).contains("--url is portal acme of the config: use --portal acme"),
                "{alias}: {}",
                stderr(&o)
            );
        }
    }
    assert!(!setup.state().join("locks").join("localhost.lock").exists());
}

/// An ad-hoc target that is no configured portal: the global --dry-run and the
/// fleet-wide protect bind it, and its lock and audit lines are named by its
/// canonical URL, not by a host that could be a portal's name.
#[tokio::test]
async fn an_adhoc_url_honours_dry_run_and_the_fleet_wide_protect() {
    let server = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex("/other/api/2.0/backup/getbackuphistory"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 3)))))
        .mount(&server)
        .await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&format!(
        "[defaults.retention]\nprotect = [\"{}\"]\n{}",
        id(2),
        portal("acme", &server, POLICY)
    ));
    let url = format!("http://LOCALHOST:{}/other/", server.address().port());
    let key = setup.key_file().display().to_string();
    let o = setup
        .cli(&[
            "backup",
            "delete",
            "--url",
            &url,
            "--api-key-file",
            &key,
            &id(2),
            "--yes",
        ])
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!("refusing to delete protected backup {}", id(2))),
        "{}",
        stderr(&o)
    );
    let o = setup
        .cli(&[
            "--dry-run",
            "backup",
            "delete",
            "--url",
            &url,
            "--api-key-file",
            &key,
            &id(3),
            "--yes",
        ])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("dry run: would delete"), "{}", stdout(&o));
    let name = docspace_retention::identity::adhoc_name(&url.parse().unwrap());
    assert!(
        name.starts_with(&format!("url-127.0.0.1_{}_other_", server.address().port())),
        "{name}"
    );
    assert!(
        setup.audit().iter().all(|l| l["portal"] == name.as_str()),
        "{:?}",
        setup.audit()
    );
    assert!(setup.state().join("locks").join(format!("{name}.lock")).exists());
}

#[tokio::test]
async fn two_spellings_of_one_portal_in_the_config_are_a_config_error() {
    let setup = Setup::new(
        "[portals.acme]\nurl = \"http://127.0.0.1:8080/p/acme\"\napi_key_file = \"KEYFILE\"\n\
         [portals.acme.retention]\nkeep_last = 3\n\
         [portals.acme2]\nurl = \"http://LocalHost:8080/P/acme/\"\napi_key_file = \"KEYFILE\"\n\
         [portals.acme2.retention]\nkeep_last = 3\n",
    );
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!(
            "portals.acme (in {0}) and portals.acme2 (in {0}) have the same url and dump: one portal, one definition",
            setup.config().display()
        )),
        "{}",
        stderr(&o)
    );
}

/// Two entries whose URLs differ, but whose server says they are one tenant (a
/// second route to the same portal): the second is refused for the pass, and never
/// two passes change one history.
#[tokio::test]
async fn two_entries_the_server_names_one_tenant_are_one_portal() {
    let server = wiremock::MockServer::start().await;
    let fresh = daily(&last_full_morning().to_string(), 3);
    for prefix in ["a", "b"] {
        let at = |api: &str| wiremock::matchers::path(format!("/{prefix}{api}"));
        Mock::given(method("GET"))
            .and(at("/api/2.0/settings"))
            .respond_with(ResponseTemplate::new(200).set_body_json(envelope(
                serde_json::json!({"tenantAlias": "Acme", "standalone": false}),
            )))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(at(SCHEDULE))
            .respond_with(ResponseTemplate::new(200).set_body_json(schedule(0, None)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(at(HISTORY))
            .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(fresh.clone()))))
            .mount(&server)
            .await;
    }
    // One of the two passes deletes backup 3 (the mock still lists it: a failure).
    Mock::given(method("DELETE"))
        .respond_with(ok_true())
        .expect(1)
        .named("one DELETE of one pass")
        .mount(&server)
        .await;
    let entry = |name: &str, prefix: &str| {
        format!(
            "[portals.{name}]\nurl = \"{}/{prefix}\"\napi_key_file = \"KEYFILE\"\n[portals.{name}.retention]\n{POLICY}\n",
            server.uri()
        )
    };
    // One pass at a time, in name order: acme claims the tenant first.
    let setup = Setup::empty();
    setup.write_raw(&format!(
        "[daemon]\nstate_dir = \"STATE\"\nmax_concurrent_portals = 1\n[log]\nlevel = \"warn\"\n{}{}",
        entry("acme", "a"),
        entry("acme-b", "b")
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains(
            "refused: the server says this is the same portal as portals.acme (tenantAlias \"acme\", cloud): one \
             portal, one definition"
        ),
        "{}",
        stdout(&o)
    );
}

// ----- gates are read at the moment of the change -----

/// A reload that protects every backup still there binds the DELETEs of the pass
/// already running: at most the one in flight when the reload lands still goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_pass_binds_its_next_delete() {
    use docspace_retention::simulator::{SimOptions, Simulator, realistic_portal};
    use std::time::Duration;
    let mut acme = realistic_portal("acme", KEY, chrono::Utc::now(), 24);
    acme.schedule.as_mut().unwrap().backups_stored = Some(60);
    let total = acme.backups.len();
    let slow = SimOptions {
        latency: Duration::from_millis(250),
        ..SimOptions::default()
    };
    let sim = Simulator::start(vec![acme], slow, 0).await.unwrap();
    let setup = Setup::daemon(&sim_portal("acme", &sim));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("the pass deletes", Duration::from_secs(20), || async {
        sim.backups("acme").len() <= total - 2
    })
    .await;
    let ids: Vec<String> = sim.backups("acme").iter().map(|b| format!("\"{}\"", b.id)).collect();
    setup.write_daemon(&format!(
        "{}[portals.acme.retention]\nprotect = [{}]\n",
        sim_portal("acme", &sim),
        ids.join(", ")
    ));
    handle.reload();
    eventually("the reload", Duration::from_secs(10), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_config_reloads_total{outcome="success"}"#,
        ) == Some(1.0)
    })
    .await;
    let at_reload = sim.backups("acme").len();
    assert!(at_reload > 3, "the pass ended before the reload: {at_reload} left");
    // The running pass had about 5 s of deletions left: give it all of them.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let left = sim.backups("acme").len();
    assert!(
        at_reload - left <= 1,
        "{} deleted after the reload protected them",
        at_reload - left
    );
    handle.shutdown();
    handle.wait().await;
}

// ----- output never aborts work -----

/// `once | head -1`: the reader goes away before the first line. The passes go on,
/// every deletion gets its result line, and the exit code is the passes'.
#[tokio::test]
async fn a_closed_stdout_ends_the_printing_not_the_passes() {
    use std::process::Stdio;
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    let fresh = daily(&last_full_morning().to_string(), 5);
    serve_history(&server, fresh.clone(), fresh[..2].to_vec()).await;
    for n in 3..=5 {
        expect_delete(&server, n, 1).await;
    }
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let mut cmd = binary();
    cmd.arg("--config").arg(setup.config()).arg("once");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let audit = setup.audit();
    assert_eq!(
        audit.iter().filter(|l| l["outcome"] == "deleted").count(),
        3,
        "{audit:?}"
    );
}

// ----- secrets by position; no core dumps -----

/// A password pasted where its file's name belongs is never echoed; the key path and
/// "file not found" say what is wrong.
#[tokio::test]
async fn a_secret_given_as_a_file_name_is_never_echoed() {
    let password = "correct-horse-Battery-9";
    let setup = Setup::new(&format!(
        "[portals.acme]\nurl = \"https://acme.example.com\"\n[portals.acme.login]\nuser = \"admin@acme.example\"\n\
         password_file = \"{password}\"\n[portals.acme.retention]\nkeep_last = 3\n\
         [portals.beta]\nurl = \"https://beta.example.com\"\napi_key_file = \"{password}\"\n\
         [portals.beta.retention]\nkeep_last = 3\n"
    ));
    for args in [vec!["check-config"], vec!["plan"], vec!["check-config", "--print"]] {
        let o = setup.cli(&args).await;
        assert_eq!(code(&o), 78, "{args:?}");
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains(password), "{args:?} echoed it: {all}");
        assert!(
            all.contains("portals.acme.login.password_file: file not found"),
            "{all}"
        );
        assert!(all.contains("portals.beta.api_key_file: file not found"), "{all}");
    }
    let o = run_binary(
        vec![
            "history".into(),
            "list".into(),
            "--url".into(),
            "https://x.example".into(),
            "--api-key-file".into(),
            password.into(),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(!stderr(&o).contains(password), "{}", stderr(&o));
    assert!(stderr(&o).contains("--api-key-file: file not found"), "{}", stderr(&o));
}

/// Keys live in the daemon's memory: it runs with no core file size.
#[tokio::test]
async fn the_process_makes_no_core_dump() {
    let setup = Setup::daemon("[portals.acme]\nurl = \"http://127.0.0.1:9/\"\n");
    setup.fixed_port();
    let mut child = binary()
        .arg("--config")
        .arg(setup.config())
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let limits = format!("/proc/{}/limits", child.id());
    let mut core = String::new();
    for _ in 0..100 {
        core = std::fs::read_to_string(&limits)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if core == "Max core file size 0 0 bytes" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(core, "Max core file size 0 0 bytes");
}

// ----- open intents survive rotation -----

/// Ten backups, `keep_last = 3`, and a `once` killed with its batch's seven intents
/// open (two of them sent).
async fn acme_killed_mid_batch() -> (docspace_retention::simulator::Simulator, Setup) {
    use docspace_retention::simulator::{SimOptions, Simulator};
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::new(&format!(
        "{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\nkeep_last = 3\nmax_deletions_per_run = 100\n\
         max_delete_fraction = 1.0\n",
        sim_portal("acme", &sim)
    ));
    once_killed_mid_batch(&setup, &sim, "acme").await;
    (sim, setup)
}

/// A `once` killed with seven intents open; then logrotate moves the audit log
/// (renamed, or copied and truncated) before the next run, which still settles them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_deletions_are_settled_across_a_rotation_of_the_audit_log() {
    for copytruncate in [false, true] {
        let (sim, setup) = acme_killed_mid_batch().await;
        let log = setup.state().join("audit.jsonl");
        let rotated = setup.state().join("audit.jsonl.1");
        if copytruncate {
            std::fs::copy(&log, &rotated).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&log)
                .unwrap()
                .set_len(0)
                .unwrap();
        } else {
            std::fs::rename(&log, &rotated).unwrap();
        }
        let o = setup.cli(&["once"]).await;
        assert_eq!(code(&o), 0, "copytruncate {copytruncate}: {}", stderr(&o));
        let recovered: Vec<Value> = setup.audit().into_iter().filter(|l| l["recovered"] == true).collect();
        assert_eq!(recovered.len(), 7, "copytruncate {copytruncate}: {recovered:?}");
        let deleted = recovered.iter().filter(|l| l["outcome"] == "deleted").count();
        assert_eq!(deleted, 2, "copytruncate {copytruncate}: {recovered:?}");
        assert_eq!(sim.backups("acme").len(), 3);
    }
}

// ----- smaller ones -----

/// An unpaid portal answers 402 with an empty body on every backup call.
#[tokio::test]
async fn an_unpaid_portal_fails_its_pass_saying_so() {
    let server = wiremock::MockServer::start().await;
    serve_version(&server).await;
    Mock::given(wiremock::matchers::path_regex("^/api/2.0/backup/"))
        .respond_with(ResponseTemplate::new(402))
        .mount(&server)
        .await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("portal unpaid (402)"), "{}", stdout(&o));
}

/// The logrotate file the package ships, run for real between a `kill -9` and the next
/// run: the interrupted deletions are still settled (the newest rotation stays plain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_logrotate_config_keeps_interrupted_deletions_settleable() {
    let (_sim, setup) = acme_killed_mid_batch().await;

    // The package's file, pointed at this state directory, forced once.
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/logrotate")).unwrap();
    let log = setup.state().join("audit.jsonl");
    let conf = setup.dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        shipped.replace(
            "/var/lib/private/docspace-retention/audit.jsonl",
            &log.display().to_string(),
        ),
    )
    .unwrap();
    let status = std::process::Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(setup.dir.path().join("logrotate.state"))
        .arg(&conf)
        .status()
        .expect("logrotate (.ci/run installs it)");
    assert!(status.success());
    assert!(!log.exists(), "rotated away (nocreate)");

    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let recovered: Vec<Value> = setup.audit().into_iter().filter(|l| l["recovered"] == true).collect();
    assert_eq!(recovered.len(), 7, "{recovered:?}");
}
