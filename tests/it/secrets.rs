//! Secret hygiene: an API key and a password travel through every path the product
//! has (trace logs of a full pass, errors, `check-config --print`, `/status`,
//! `/metrics`, the audit log, log files) and appear in none of them.

use crate::harness::*;

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use docspace_retention::simulator::{SimOptions, Simulator, realistic_portal};

const API_KEY: &str = "sk-SECRET-api-key-7f2b9e";
const PASSWORD: &str = "SECRET-password-c81d";
const TOKEN: &str = "SECRET-session-token-aa01";

fn assert_clean(what: &str, text: &str) {
    for secret in [API_KEY, PASSWORD, TOKEN] {
        assert!(!text.contains(secret), "{what} contains a secret:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_appear_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("password");
    std::fs::write(&pw_file, PASSWORD).unwrap();
    let sim = Simulator::start(
        vec![
            realistic_portal("acme", API_KEY, Utc::now(), 9),
            realistic_portal("refused", "sk-the-key-it-wants", Utc::now(), 9),
        ],
        SimOptions::default(),
        0,
    )
    .await
    .unwrap();
    // A login portal (wiremock) and a portal whose key is refused.
    let login = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/2.0/authentication"))
        .and(body_json(
            json!({"userName": "owner@acme.example", "password": PASSWORD}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"response": {"token": TOKEN, "expires": "2099-01-01T00:00:00Z"}, "count": 1})),
        )
        .mount(&login)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": {"message": "Access denied"}, "status": 1, "statusCode": 403})),
        )
        .mount(&login)
        .await;
    let state = dir.path().join("state");
    let logs = dir.path().join("logs");
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[daemon]
state_dir = "{state}"
[log]
level = "trace"
directory = "{logs}"
[defaults]
schedule = "* * * * * *"
max_retries = 0
[defaults.retention]
keep_last = 3
max_deletions_per_run = 100
max_delete_fraction = 1.0
[portals.acme]
url = "{acme}"
api_key = "{API_KEY}"
[portals.refused]
url = "{refused}"
api_key = "{API_KEY}-wrong"
[portals.owner]
url = "{login}"
[portals.owner.login]
user = "owner@acme.example"
password_file = "{pw}"
"#,
            state = state.display(),
            logs = logs.display(),
            acme = sim.url("acme"),
            refused = sim.url("refused"),
            login = login.uri(),
            pw = pw_file.display()
        ),
    )
    .unwrap();

    // check-config, plain and --print.
    for args in [vec!["check-config"], vec!["check-config", "--print"]] {
        let mut cmd = binary();
        cmd.arg("--config").arg(&config).args(&args);
        let o = output(cmd).await;
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert_clean("check-config stdout", &String::from_utf8_lossy(&o.stdout));
        assert_clean("check-config stderr", &String::from_utf8_lossy(&o.stderr));
    }

    // A full pass of every portal at trace level, to stderr.
    let mut cmd = binary();
    cmd.arg("--config").arg(&config).args(["once", "--log-level", "trace"]);
    let o = output(cmd).await;
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "two portals fail: {out}");
    assert!(err.contains("TRACE"), "trace logging was on");
    assert!(out.contains("refused: FAILED") && out.contains("401"), "{out}");
    assert!(out.contains("owner: FAILED") && out.contains("403"), "{out}");
    assert!(out.contains("acme: ok: kept 3, deleted"), "{out}");
    assert_clean("once stdout", &out);
    assert_clean("once stderr", &err);

    // The daemon: /status, /metrics, log files at trace level.
    let mut child = binary().arg("--config").arg(&config).arg("run").spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut status = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = reqwest::get(format!("{base}/status")).await {
            status = r.text().await.unwrap();
            if status.contains("\"last_pass\":{") && status.matches("\"outcome\"").count() == 3 {
                break;
            }
        }
    }
    assert!(status.contains("Unauthorized"), "{status}");
    assert_clean("/status", &status);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_clean("/metrics", &metrics);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(code.code(), Some(0));
    for entry in std::fs::read_dir(&logs).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.contains("TRACE"));
        assert_clean("log file", &text);
    }
    let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 14);
    assert_clean("audit log", &audit);

    // Config errors that involve a secret never echo it.
    std::fs::write(
        &config,
        format!("[portals.x]\nurl = \"https://admin:{PASSWORD}@host.example\"\napi_key = \"{API_KEY} with space\"\n[portals.x.retention]\nkeep_last = 1\n"),
    )
    .unwrap();
    let mut cmd = binary();
    cmd.arg("--config").arg(&config).arg("check-config");
    let o = output(cmd).await;
    assert_eq!(o.status.code(), Some(78));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("portals.x.url") && err.contains("portals.x.api_key"),
        "{err}"
    );
    assert_clean("config errors", &err);
}

/// An API key pasted where it does not belong: every message about the mistake names
/// the place (file, line, column, key), never the key.
#[tokio::test]
async fn a_pasted_key_is_never_echoed() {
    let setup = Setup::empty();
    let check = |text: String| {
        setup.write_raw(&text);
        async {
            let o = setup.cli(&["check-config"]).await;
            assert_eq!(code(&o), 78, "{}", stderr(&o));
            let err = stderr(&o);
            assert_clean("a config error", &err);
            assert!(!err.contains("SECRET"), "{err}");
            err
        }
    };
    let portal = |line: &str| {
        format!("[portals.x]\nurl = \"https://x.example\"\n{line}\n[portals.x.retention]\nkeep_last = 1\n")
    };

    // A TOML syntax error: the line's text is never shown.
    let err = check(portal(&format!("api_key = {API_KEY}"))).await;
    assert!(
        err.contains(&format!(
            "{}: invalid TOML at line 3, column 11 (key portals.x.api_key): invalid string; expected `\"`, `'`",
            setup.config().display()
        )),
        "{err}"
    );
    let err = check(format!("[portals.x]\n{API_KEY}\n")).await;
    assert!(
        err.contains("invalid TOML at line 2, column 25 (key portals.x)"),
        "{err}"
    );
    // A key under the wrong key, as a value of the wrong type, in a URL.
    for line in [
        format!("api_key_file = \"{API_KEY}\""),
        format!("api_key_env = \"{API_KEY}\""),
        format!("api_key = \"x\"\ntimezone = \"{API_KEY}\""),
        format!("api_key = \"x\"\nschedule = [\"{API_KEY}\"]"),
    ] {
        check(portal(&line)).await;
    }
    check(format!(
        "[portals.x]\nurl = \"{API_KEY}\"\napi_key = \"x\"\n[portals.x.retention]\nkeep_daily = \"{API_KEY}\"\n"
    ))
    .await;
    check(format!(
        "[portals.x]\nurl = \"https://{API_KEY}@x.example\"\napi_key = \"x\"\n[portals.x.retention]\nkeep_last = 1\n"
    ))
    .await;
    // An environment variable holding a key for the wrong key.
    setup.write_raw(&portal("api_key_file = \"/nonexistent\""));
    let o = run_binary(
        vec![
            "--config".into(),
            setup.config().display().to_string(),
            "check-config".into(),
        ],
        vec![("DOCSPACE_RETENTION_PORTALS__X__API_KEY_FILE".into(), API_KEY.into())],
    )
    .await;
    assert_eq!(code(&o), 78);
    assert_clean("an environment error", &stderr(&o));

    // The command line: a key given as the key file's name.
    let o = run_binary(
        vec![
            "history".into(),
            "list".into(),
            "--url".into(),
            "https://x.example".into(),
            "--api-key-file".into(),
            API_KEY.into(),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--api-key-file: file not found"), "{}", stderr(&o));
    assert_clean("a command line error", &stderr(&o));
}
