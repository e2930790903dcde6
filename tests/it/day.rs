//! The operator's day (docs/reference.md): strict config, errors that point to the
//! fix, through the real binary.

use crate::harness::*;

fn portal_with(extra: &str, retention: &str) -> String {
    format!(
        "[portals.acme]\nurl = \"https://acme.example.com\"\napi_key_file = \"KEYFILE\"\n{extra}\n\
         [portals.acme.retention]\n{retention}\n"
    )
}

#[tokio::test]
async fn a_log_level_that_is_no_level_is_refused_not_silenced() {
    let setup = Setup::new(&portal_with("", "keep_last = 3"));
    let o = setup.cli(&["--log-level", "verbose", "check-config"]).await;
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("log.level (--log-level): expected error, warn, info"),
        "{}",
        stderr(&o)
    );
    setup.write_raw(&format!(
        "[daemon]\nstate_dir = \"STATE\"\n[log]\nlevel = \"inof\"\n{}",
        portal_with("", "keep_last = 3")
    ));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("found \"inof\" (did you mean info?)"),
        "{}",
        stderr(&o)
    );
    // Levels and target directives still work.
    for level in [
        "debug",
        "warn,docspace_retention=trace",
        "INFO",
        "info,docspace_retention",
    ] {
        let o = setup.cli(&["--log-level", level, "check-config"]).await;
        assert_eq!(code(&o), 0, "{level}: {}", stderr(&o));
    }
}

#[tokio::test]
async fn config_mistakes_say_how_to_fix_them() {
    for (extra, retention, expected) in [
        (
            "schedule = \"0 0 0 30 2 *\"",
            "keep_last = 3",
            "portals.acme.schedule: \"0 0 0 30 2 *\" never runs",
        ),
        (
            "keep_daily = 7",
            "keep_last = 3",
            "portals.acme.keep_daily: unknown key: keep_daily belongs under [portals.acme.retention]",
        ),
        (
            "timezone = \"Europe/Berlinn\"",
            "keep_last = 3",
            "unknown time zone \"Europe/Berlinn\" (did you mean Europe/Berlin?)",
        ),
    ] {
        let setup = Setup::new(&portal_with(extra, retention));
        let o = setup.cli(&["check-config"]).await;
        assert_eq!(code(&o), 78, "{extra}");
        assert!(stderr(&o).contains(expected), "{extra}: {}", stderr(&o));
    }
}

/// Under systemd the working directory is `/`: a relative key file is found beside
/// the config file that names it. A key others can read is worth a warning.
#[tokio::test]
async fn relative_paths_are_relative_to_the_config_file_and_open_keys_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(&portal_with("", "keep_last = 3").replace("KEYFILE", "key"));
    // check-config from `/`, as systemd runs it.
    let check_from_root = || {
        let mut cmd = binary();
        cmd.current_dir("/")
            .arg("--config")
            .arg(setup.config())
            .arg("check-config");
        output(cmd)
    };
    std::fs::set_permissions(setup.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = check_from_root().await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: portals.acme.api_key_file: the file is readable by its group or by others; chmod 600 it"
        ),
        "{}",
        stderr(&o)
    );
    std::fs::set_permissions(setup.key_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = check_from_root().await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("readable by its group"), "{}", stderr(&o));
}

/// A command run as root never breaks the service: what it creates in the state
/// directory belongs to the directory's owner (here uid 65534, as the service's
/// dynamic user would be), who then runs passes as before.
#[tokio::test]
async fn files_a_root_command_creates_belong_to_the_state_directory_owner() {
    use docspace_retention::simulator::{SimOptions, Simulator};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if effective_uid() != 0 {
        eprintln!("skipped: needs root to run a command as root and another as uid 65534");
        return;
    }
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let setup = Setup::new(&format!(
        "{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\nkeep_last = 3\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0\n",
        sim_portal("acme", &sim)
    ));
    // The service's side: a state directory of uid 65534, a key it can read, and a
    // copy of the binary it can run.
    let service = 65534;
    std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(setup.state()).unwrap();
    std::os::unix::fs::chown(setup.state(), Some(service), Some(service)).unwrap();
    std::os::unix::fs::chown(setup.key_file(), Some(service), Some(service)).unwrap();
    std::fs::set_permissions(setup.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let bin = setup.dir.path().join("docspace-retention");
    std::fs::copy(env!("CARGO_BIN_EXE_docspace-retention"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Root, as an operator would from a shell: a dry run and a plan.
    for args in [vec!["once", "--dry-run"], vec!["plan"]] {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("--config").arg(setup.config()).args(&args);
        let o = output(cmd).await;
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    }
    let mut root_owned = Vec::new();
    for entry in walk(&setup.state()) {
        if std::fs::symlink_metadata(&entry).unwrap().uid() != service {
            root_owned.push(entry);
        }
    }
    assert!(root_owned.is_empty(), "left to root: {root_owned:?}");

    // The service's own pass, as uid 65534: it deletes as planned.
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&bin)
        .arg("--config")
        .arg(setup.config())
        .arg("once");
    let o = output(cmd).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(sim.backups("acme").len(), 3);
}

fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// The packaged layout: keys are systemd credentials, which exist only while the
/// service runs. From a shell, `--credentials-dir` (or its variable) stands in.
#[tokio::test]
async fn a_fleet_can_be_checked_from_a_shell_with_the_credentials_dir() {
    let setup = Setup::new(&format!(
        "{}{}",
        portal_with("", "keep_last = 3").replace("KEYFILE", "/run/credentials/docspace-retention.service/portals_acme"),
        portal_with("", "keep_last = 3")
            .replace("acme", "beta")
            .replace("KEYFILE", "/run/credentials/docspace-retention.service/portals_beta")
    ));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains(
            "portals.acme.api_key_file: file not found: a systemd credential, which exists only while the service \
             runs; from a shell give --credentials-dir DIR"
        ),
        "{}",
        stderr(&o)
    );
    // The package's folder: file NAME for credential portals_NAME (or the full name).
    let keys = setup.dir.path().join("credentials");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(setup.key_file(), keys.join("acme")).unwrap();
    std::fs::copy(setup.key_file(), keys.join("portals_beta")).unwrap();
    let dir = keys.display().to_string();
    let o = setup.cli(&["--credentials-dir", &dir, "check-config"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut all = vec![
        "--config".to_string(),
        setup.config().display().to_string(),
        "check-config".into(),
    ];
    let o = run_binary(
        all.clone(),
        vec![("DOCSPACE_RETENTION_CREDENTIALS_DIRECTORY".into(), dir.clone())],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Under systemd ($CREDENTIALS_DIRECTORY set) the named path is used as it is.
    all.insert(0, "--credentials-dir".into());
    all.insert(1, dir);
    let o = run_binary(
        all,
        vec![(
            "CREDENTIALS_DIRECTORY".into(),
            "/run/credentials/docspace-retention.service".into(),
        )],
    )
    .await;
    assert_eq!(code(&o), 78, "{}", stderr(&o));
}

/// `healthcheck` without `--url` asks where the config's `server.listen` says, and a
/// daemon that is not there is "connection refused", plainly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_follows_the_config_and_says_connection_refused() {
    use docspace_retention::simulator::{SimOptions, Simulator};
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let port = app.fixed_port();
    let handle = app.start_daemon().await;
    assert_eq!(handle.addr().port(), port);
    let o = app.cli(&["healthcheck"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    handle.shutdown();
    handle.wait().await;
    let o = app.cli(&["healthcheck"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!(
            "http://127.0.0.1:{port}/healthz: connection refused: no daemon listens there"
        )),
        "{}",
        stderr(&o)
    );
}

/// An https:// URL that reaches a plain-http server says what is likely wrong.
#[tokio::test]
async fn an_https_url_on_a_plain_http_server_says_so() {
    let server = wiremock::MockServer::start().await;
    let setup = Setup::new(
        &portal_with("", "keep_last = 3")
            .replace("https://acme.example.com", &server.uri().replace("http://", "https://")),
    );
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("is the portal plain http?"), "{}", stdout(&o));
}

/// Every deletion says why, in the plan and in the audit intent.
#[tokio::test]
async fn every_deletion_names_its_reason() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    let fresh = daily(&last_full_morning().to_string(), 3);
    serve_history(&server, fresh.clone(), fresh[..2].to_vec()).await;
    expect_delete(&server, 3, 1).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 2\nkeep_within = \"1d\"\nmin_keep = 1",
    ));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let audit = setup.audit();
    assert_eq!(audit[0]["phase"], "intent");
    assert_eq!(
        audit[0]["reasons"],
        serde_json::json!(["no keep rule: beyond keep_last 2, keep_within 1d"])
    );
}

#[tokio::test]
async fn one_backup_is_one_backup() {
    let server = wiremock::MockServer::start().await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 3)).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, "keep_last = 2"));
    let o = setup.cli(&["backup", "delete", "--portal", "acme", &id(3)]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("would delete 1 backup of acme; nothing was changed"),
        "{}",
        stdout(&o)
    );
}

/// Templates: `[templates.NAME]` under a portal's own keys, over `[defaults]`.
#[tokio::test]
async fn a_template_sits_between_the_defaults_and_the_portal() {
    let setup = Setup::new(&format!(
        "[defaults.retention]\nkeep_last = 1\nmin_keep = 2\n\
         [templates.gold]\nschedule = \"0 0 4 * * *\"\n[templates.gold.retention]\nkeep_daily = 14\nmin_keep = 5\n\
         protect = [\"{}\"]\n\
         [portals.acme]\nurl = \"https://acme.example.com\"\napi_key_file = \"KEYFILE\"\ntemplate = \"gold\"\n\
         [portals.acme.retention]\nmin_keep = 7\nprotect = [\"{}\"]\n",
        id(1),
        id(2)
    ));
    let o = setup.cli(&["check-config", "--print"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let printed = stdout(&o);
    let acme = &printed[printed.find("[portals.acme]").unwrap()..];
    for line in [
        "schedule = \"0 0 4 * * *\"",
        "keep_last = 1",
        "keep_daily = 14",
        "min_keep = 7",
    ] {
        assert!(acme.contains(line), "{line} in {acme}");
    }
    assert!(
        acme.contains(&id(1)) && acme.contains(&id(2)),
        "protect adds up: {acme}"
    );

    for (bad, expected) in [
        (
            "[templates.gold]\nurl = \"https://x.example.com\"\n",
            "templates.gold.url: not allowed in a template",
        ),
        ("", "portals.acme.template: no template \"silver\" (defined: none)"),
    ] {
        setup.write(&format!(
            "{bad}[portals.acme]\nurl = \"https://acme.example.com\"\napi_key_file = \"KEYFILE\"\ntemplate = \"{}\"\n\
             [portals.acme.retention]\nkeep_last = 3\n",
            if bad.is_empty() { "silver" } else { "gold" }
        ));
        let o = setup.cli(&["check-config"]).await;
        assert_eq!(code(&o), 78);
        assert!(stderr(&o).contains(expected), "{}", stderr(&o));
    }
}

/// `enabled = false`: configured, never read, planned or changed; shown as disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_portal_is_never_read_and_shows_as_disabled() {
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    let fresh = daily(&last_full_morning().to_string(), 2);
    serve_history(&server, fresh.clone(), fresh).await;
    // beta's server would fail every request, and its key is gone: it is not touched.
    let beta = "[portals.beta]\nurl = \"http://127.0.0.1:9/\"\napi_key_file = \"/nonexistent\"\nenabled = false\n";
    let setup = Setup::new(&format!("{}{beta}", portal("acme", &server, "keep_last = 2")));
    let o = setup.cli(&["once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stdout(&o).contains("beta"), "{}", stdout(&o));
    let o = setup.cli(&["plan", "--portal", "beta"]).await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("portal \"beta\" has enabled = false"),
        "{}",
        stderr(&o)
    );
    // Its URL, however spelled, is still beta: an ad-hoc command is refused.
    let key = setup.key_file().display().to_string();
    let o = setup
        .cli(&[
            "history",
            "clear",
            "--url",
            "http://LOCALHOST:9",
            "--api-key-file",
            &key,
            "--yes",
        ])
        .await;
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("--url is portal beta of the config, which has enabled = false"),
        "{}",
        stderr(&o)
    );
    // And a second name for it is still a second definition.
    setup.write(&format!(
        "{}{beta}[portals.beta2]\nurl = \"http://localhost:9\"\napi_key_file = \"KEYFILE\"\n\
         [portals.beta2.retention]\nkeep_last = 2\n",
        portal("acme", &server, "keep_last = 2")
    ));
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("portals.beta.url: portals.beta2 (in"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("have the same url and dump: one portal, one definition"),
        "{}",
        stderr(&o)
    );

    let app = Setup::daemon(&format!("{}{beta}", portal("acme", &server, "keep_last = 2")));
    let handle = app.start_daemon().await;
    let (_, status) = get(handle.addr(), "/status").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let beta = status["portals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["portal"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(beta["disabled"], true, "{status}");
    handle.shutdown();
    handle.wait().await;
}

/// A fleet reads well: failing portals first, then names in natural order, and one
/// line of totals (`--json`: `"totals"`); `--summary` leaves out the table.
#[tokio::test]
async fn a_fleet_reads_well() {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, ResponseTemplate};
    let server = wiremock::MockServer::start().await;
    let fresh = daily(&last_full_morning().to_string(), 4);
    for (api, body) in [
        ("getbackupschedule", schedule(0, None)),
        ("getbackuphistory", envelope(serde_json::Value::Array(fresh.clone()))),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(format!("^/(client2|client10)/api/2.0/backup/{api}$")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    forbid_deletes(&server).await;
    let entry = |name: &str| {
        format!(
            "[portals.{name}]\nurl = \"{}/{name}\"\napi_key_file = \"KEYFILE\"\n[portals.{name}.retention]\nkeep_last = 3\n",
            server.uri()
        )
    };
    let setup = Setup::new(&format!(
        "{}{}{}[portals.old]\nurl = \"http://127.0.0.1:9/\"\napi_key_file = \"KEYFILE\"\nenabled = false\n",
        entry("client10"),
        entry("client2"),
        entry("broken")
    ));
    let o = setup.cli(&["plan", "--summary"]).await;
    assert_eq!(code(&o), 1, "broken fails: {}", stdout(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("broken: FAILED"), "{lines:?}");
    assert!(lines[1].starts_with("client2: 4 backups"), "{lines:?}");
    assert!(lines[2].starts_with("client10: 4 backups"), "{lines:?}");
    assert_eq!(
        *lines.last().unwrap(),
        "fleet: 3 portals (2 ok, 1 failed, 1 disabled): kept 6, would delete 2, blocked by guards 0"
    );
    assert!(!stdout(&o).contains("ACTION"), "no table: {}", stdout(&o));

    let o = setup.cli(&["plan", "--json"]).await;
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        plan["totals"],
        serde_json::json!({"portals": 3, "failed": 1, "disabled": 1, "keep": 6, "delete": 2, "blocked": 0})
    );
    assert_eq!(plan["portals"][0]["portal"], "broken");

    let o = setup.cli(&["--dry-run", "once"]).await;
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("broken: FAILED"), "{lines:?}");
    assert!(lines[1].starts_with("client2: ok"), "{lines:?}");
    assert_eq!(
        *lines.last().unwrap(),
        "fleet: 3 portals (2 ok, 1 failed, 1 disabled): kept 6, would delete 2, blocked by guards 0"
    );
}

/// `GET /` lists failing portals first and says how many; pages count from 1, a page
/// past the end is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_puts_failing_portals_first_and_counts_pages_from_one() {
    use docspace_retention::simulator::{SimOptions, Simulator};
    use std::time::Duration;
    let sim = Simulator::start(
        vec![ten_backups("client2"), ten_backups("client10")],
        SimOptions::default(),
        0,
    )
    .await
    .unwrap();
    let app = Setup::daemon(&format!(
        "{}{}[portals.broken]\nurl = \"http://127.0.0.1:9/\"\n",
        sim_portal("client10", &sim),
        sim_portal("client2", &sim)
    ));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("every portal passed once", Duration::from_secs(15), || async {
        let (_, page) = get(addr, "/").await;
        page.contains("1 failing") && !page.contains("not yet")
    })
    .await;
    let (status, page) = get(addr, "/?page=1").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>docspace-retention: 3 portals, 1 failing</title>"),
        "{page}"
    );
    let at = |name: &str| page.find(&format!(r#"href="/portal/{name}""#)).unwrap();
    assert!(at("broken") < at("client2") && at("client2") < at("client10"), "{page}");
    for past in ["/?page=2", "/?page=0"] {
        assert_eq!(get(addr, past).await.0, 404, "{past}");
    }
    handle.shutdown();
    handle.wait().await;
}

/// The manual has what an operator looks up after the options: keys, exit codes, files.
#[tokio::test]
async fn the_man_page_is_a_manual() {
    let o = run_binary(vec!["man".into()], Vec::new()).await;
    assert_eq!(code(&o), 0);
    let page = stdout(&o);
    for part in [
        ".SH EXIT STATUS",
        "\\fB65\\fR",
        ".SH FILES",
        ".SH CONFIGURATION",
        "\\fBkeep_daily\\fR",
        "\\fBtemplate\\fR",
    ] {
        assert!(page.contains(part), "{part} missing");
    }
}

/// Every flag and argument of every command says what it does in `--help`.
#[test]
fn every_flag_has_help() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(
        &docspace_retention::cli::Cli::command(),
        "docspace-retention",
        &mut missing,
    );
    assert!(missing.is_empty(), "no help text: {missing:?}");
}

/// The daemon's log says what an operator needs once: not the scheduler library's
/// "Job creator created" per scheduler it makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_log_has_no_library_chatter() {
    use std::time::Duration;
    let setup = Setup::daemon("[portals.acme]\nurl = \"http://127.0.0.1:9/\"\n");
    let port = setup.fixed_port();
    setup.write_raw(
        &std::fs::read_to_string(setup.config())
            .unwrap()
            .replace("level = \"warn\"", "level = \"info\""),
    );
    let child = binary()
        .arg("--config")
        .arg(setup.config())
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("ready", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(addr).await.is_ok() && get(addr, "/readyz").await.0 == 200
    })
    .await;
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("daemon ready"), "{log}");
    assert!(!log.contains("Job creator created"), "{log}");
}

/// The server's `backupsStored` fighting the policy shows on `/status` and the page,
/// not only in `plan`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backups_stored_conflict_shows_on_status_and_the_page() {
    use std::time::Duration;
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(3))).await;
    serve_version(&server).await;
    let fresh = daily(&last_full_morning().to_string(), 6);
    serve_history(&server, fresh.clone(), fresh).await;
    let app = Setup::daemon(
        &portal("acme", &server, "keep_last = 5").replace("max_retries = 0\n", "max_retries = 0\ndry_run = true\n"),
    );
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass", Duration::from_secs(10), || async {
        get(addr, "/status").await.1.contains("last_pass\":{")
    })
    .await;
    let (_, status) = get(addr, "/status").await;
    assert!(
        status.contains("the schedule keeps only the newest 3 scheduled backups"),
        "{status}"
    );
    let (_, page) = get(addr, "/portal/acme").await;
    assert!(
        page.contains("warning: the schedule keeps only the newest 3 scheduled backups"),
        "{page}"
    );
    handle.shutdown();
    handle.wait().await;
}

/// Every `docspace-retention …` command that README.md and docs/*.md show (in code
/// blocks and inline) is one the binary accepts: no flag, command or value it would
/// refuse. (`.ci/run` and the tests above run the ones that can run here.)
#[test]
fn every_documented_command_parses() {
    use clap::Parser;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            files.push(entry.path());
        }
    }
    let mut checked = 0;
    let mut refused = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Code blocks whole, and inline `…` spans.
        let mut snippets: Vec<String> = Vec::new();
        let mut in_block = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                snippets.push(line.to_string());
            } else {
                snippets.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
            }
        }
        for snippet in snippets {
            let snippet = snippet.split(" #").next().unwrap_or_default();
            for part in snippet.split(['|', ';']).flat_map(|p| p.split("&&")) {
                let part = part.split('>').next().unwrap_or_default();
                let Ok(words) = shell_words::split(part.trim()) else {
                    continue;
                };
                // The program is the first word after variable assignments and sudo.
                let mut at = 0;
                while at < words.len() && (words[at].contains('=') || words[at] == "sudo") {
                    at += 1;
                }
                let is_ours = |w: &String| w == "docspace-retention" || w.ends_with("/docspace-retention");
                if !words.get(at).is_some_and(is_ours) {
                    continue;
                }
                let args = &words[at..];
                // Placeholders and synopses, not commands.
                if args.len() < 2
                    || args
                        .iter()
                        .any(|a| a.contains('…') || a.contains("...") || a.starts_with('<') || a.starts_with('['))
                {
                    continue;
                }
                checked += 1;
                if let Err(e) = docspace_retention::cli::Cli::try_parse_from(args)
                    && !matches!(
                        e.kind(),
                        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                    )
                {
                    refused.push(format!("{}: {} ({})", file.display(), args.join(" "), e.kind()));
                }
            }
        }
    }
    eprintln!("{checked} documented commands parsed");
    assert!(checked >= 10, "only {checked} documented commands found");
    assert!(
        refused.is_empty(),
        "documented commands the binary refuses:\n{}",
        refused.join("\n")
    );
}

/// Root acting in a state directory someone else owns never follows a symbolic link
/// there: the owner could point `locks/acme.lock` at one of root's files.
#[tokio::test]
async fn root_never_follows_a_symlink_in_a_state_directory_it_does_not_own() {
    use std::os::unix::fs::MetadataExt;
    if effective_uid() != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let server = wiremock::MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_version(&server).await;
    serve_history(&server, daily("2026-11-22", 3), daily("2026-11-22", 3)).await;
    let setup = Setup::new(&portal("acme", &server, "keep_last = 2"));
    std::fs::create_dir_all(setup.state().join("locks")).unwrap();
    std::os::unix::fs::chown(setup.state(), Some(65534), Some(65534)).unwrap();
    let roots = setup.dir.path().join("root-only");
    std::fs::write(&roots, "root's\n").unwrap();
    std::os::unix::fs::symlink(&roots, setup.state().join("locks").join("acme.lock")).unwrap();
    let o = setup.cli(&["--dry-run", "once"]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("is a symbolic link in a directory root does not own"),
        "{}",
        stdout(&o)
    );
    assert_eq!(std::fs::metadata(&roots).unwrap().uid(), 0);
    assert_eq!(std::fs::read_to_string(&roots).unwrap(), "root's\n");
}

/// docs/architecture.md's module map names exactly the modules `lib.rs` declares, a
/// directory (`name/`) for a module with parts and a file for one without: the map is
/// the tree.
#[test]
fn the_module_map_is_the_tree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    declared.sort();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let map = doc
        .split("## Module map")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let mut named: Vec<String> = Vec::new();
    for row in map.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap();
        for name in first.split('`').skip(1).step_by(2) {
            let (module, is_dir) = match name.strip_suffix('/') {
                Some(m) => (m, true),
                None => (name, false),
            };
            let (dir, file) = (root.join("src").join(module), root.join(format!("src/{module}.rs")));
            assert_eq!(
                dir.join("mod.rs").is_file(),
                is_dir,
                "{name}: a directory in the map is one in src/"
            );
            assert_eq!(file.is_file(), !is_dir, "{name}: a file in the map is one in src/");
            named.push(module.to_string());
        }
    }
    named.sort();
    assert_eq!(named, declared, "docs/architecture.md's module map and src/lib.rs");
}
