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
    for level in ["debug", "warn,docspace_retention=trace", "INFO"] {
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
    std::fs::set_permissions(setup.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = binary();
    cmd.current_dir("/")
        .arg("--config")
        .arg(setup.config())
        .arg("check-config");
    let o = output(cmd).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "warning: portals.acme.api_key_file: the file is readable by its group or by others; chmod 600 it"
        ),
        "{}",
        stderr(&o)
    );
    std::fs::set_permissions(setup.key_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = binary();
    cmd.current_dir("/")
        .arg("--config")
        .arg(setup.config())
        .arg("check-config");
    let o = output(cmd).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("readable by its group"), "{}", stderr(&o));
}
