use std::path::Path;

use super::*;
use crate::calendar::CalDuration;
use crate::retention::{Keep, Rule, StaleAfter};

/// A config directory with a key file, a config file and optional conf.d files.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "sk-file-secret\n").unwrap();
        // As a key file should be: readable by its owner only (else a warning).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = config.replace("KEYFILE", &dir.path().join("key").display().to_string());
        std::fs::write(dir.path().join("config.toml"), text).unwrap();
        Dir { dir }
    }

    fn conf_d(&self, name: &str, text: &str) -> &Self {
        let d = self.dir.path().join("conf.d");
        std::fs::create_dir_all(&d).unwrap();
        let text = text.replace("KEYFILE", &self.dir.path().join("key").display().to_string());
        std::fs::write(d.join(name), text).unwrap();
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self, env: &[(&str, &str)]) -> LoadOptions {
        LoadOptions {
            path: self.dir.path().join("config.toml"),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            overrides: Overrides::default(),
            file_required: true,
            require_portals: true,
        }
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        load(&self.opts(env))
    }
}

const GOOD: &str = r#"
[defaults]
timezone = "Europe/Berlin"
[defaults.retention]
keep_daily = 7
keep_weekly = 4
min_keep = 2

[portals.acme]
url = "https://acme.example.com/docspace/"
api_key_file = "KEYFILE"
[portals.acme.retention]
keep_daily = 30
"#;

fn errors(result: Result<Config, ConfigErrors>) -> Vec<String> {
    result
        .expect_err("the config should be refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_error(result: Result<Config, ConfigErrors>, expected: &str) {
    let errs = errors(result);
    assert!(
        errs.iter().any(|e| e.contains(expected)),
        "no error containing {expected:?} in {errs:#?}"
    );
}

#[test]
fn portals_inherit_defaults_and_merge_retention_key_by_key() {
    let dir = Dir::new(GOOD);
    let config = dir.load(&[]).unwrap();
    let p = config.portal("acme").unwrap();
    assert_eq!(p.timezone.name(), "Europe/Berlin");
    assert_eq!(p.retention.rule(Rule::Daily), Keep::Count(30)); // the portal's own
    assert_eq!(p.retention.rule(Rule::Weekly), Keep::Count(4)); // from [defaults.retention]
    assert_eq!(p.retention.min_keep, 2);
    assert_eq!(p.retention.max_deletions_per_run, 20); // built-in
    assert_eq!(p.retention.stale_after, StaleAfter::Auto);
    assert_eq!(p.schedule, "0 30 3 * * *");
    assert_eq!(p.url.as_str(), "https://acme.example.com/docspace/");
    assert_eq!(
        p.credential,
        crate::docspace::Credential::ApiKey(crate::secret::Secret::new("sk-file-secret"))
    );
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9464");
    assert_eq!(config.daemon.max_concurrent_portals, 8);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn one_portal_has_one_definition() {
    // The same [portals.NAME] in two conf.d files: both files are named.
    let dir = Dir::new("[defaults.retention]\nkeep_last = 3\n");
    let portal = "[portals.acme]\nurl = \"https://acme.example\"\napi_key_file = \"KEYFILE\"\n";
    dir.conf_d("acme.toml", portal);
    dir.conf_d("acme-copy.toml", "[portals.acme.retention]\nkeep_last = 9\n");
    let errs = dir.load(&[]).unwrap_err().0;
    let conf_d = dir.path().join("conf.d");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, "portals.acme");
    assert_eq!(
        errs[0].message,
        format!(
            "defined in {} and {}: one portal, one definition (put it in one file)",
            conf_d.join("acme-copy.toml").display(),
            conf_d.join("acme.toml").display()
        )
    );

    // Two names for one portal: the same url (a trailing slash aside) and dump.
    let dir = Dir::new("[defaults.retention]\nkeep_last = 3\n");
    let conf_d = dir.path().join("conf.d");
    dir.conf_d("a.toml", &portal.replace("acme]", "a]"));
    dir.conf_d(
        "b.toml",
        &portal.replace("acme]", "b]").replace("example\"", "example/\""),
    );
    let errs = dir.load(&[]).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].path, "portals.b.url");
    assert_eq!(
        errs[0].message,
        format!(
            "portals.a (in {}) and portals.b (in {}) have the same url and dump: one portal, one definition",
            conf_d.join("a.toml").display(),
            conf_d.join("b.toml").display()
        )
    );
    // The dump of the same server is another target.
    dir.conf_d("b.toml", &format!("{}dump = true\n", portal.replace("acme]", "b]")));
    assert!(dir.load(&[]).is_ok());
}

#[test]
fn jitter_must_be_shorter_than_the_schedule() {
    let bad = |schedule: &str, jitter: u64| {
        let dir = Dir::new(&GOOD.replace(
            "[portals.acme]\n",
            &format!("[portals.acme]\nschedule = \"{schedule}\"\njitter_secs = {jitter}\n"),
        ));
        dir.load(&[])
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(bad("0 30 3 * * *", 3600), None);
    assert_eq!(
        bad("0 */5 * * * *", 300),
        Some(vec![
            "portals.acme.jitter_secs: 300 is not shorter than the schedule's shortest interval (300s for \"0 */5 * * * *\"): \
             a pass could start after the next tick; use less than 300"
                .to_string()
        ])
    );
    // In Berlin a daily schedule's shortest interval is 23 hours (the spring switch).
    assert!(bad("0 30 3 * * *", 82_800).is_some());
    assert_eq!(bad("0 30 3 * * *", 82_799), None);
}

#[test]
fn precedence_is_file_then_conf_d_then_env_then_flags() {
    let dir = Dir::new(&format!("{GOOD}\n[log]\nlevel = \"warn\"\n"));
    assert_eq!(dir.load(&[]).unwrap().log.level, "warn");
    let daily = |c: &Config| c.portal("acme").unwrap().retention.rule(Rule::Daily);
    dir.conf_d("10-acme.toml", "[portals.acme.retention]\nkeep_daily = 40\n");
    assert_eq!(daily(&dir.load(&[]).unwrap()), Keep::Count(40));
    let env = [
        ("DOCSPACE_RETENTION_LOG__LEVEL", "debug"),
        ("DOCSPACE_RETENTION_PORTALS__ACME__RETENTION__KEEP_DAILY", "60"),
    ];
    let c = dir.load(&env).unwrap();
    assert_eq!((c.log.level.as_str(), daily(&c)), ("debug", Keep::Count(60)));
    let mut opts = dir.opts(&env);
    opts.overrides.log_level = Some("trace".into());
    assert_eq!(load(&opts).unwrap().log.level, "trace");
    // conf.d/ defines portals only: a fleet table there is an error naming the file.
    dir.conf_d("30-log.toml", "[log]\nlevel = \"error\"\n");
    let e = dir.load(&[]).unwrap_err().to_string();
    assert!(
        e.contains("30-log.toml: [log] in conf.d/: files there define portals only"),
        "{e}"
    );
}

#[test]
fn conf_d_adds_portals() {
    let dir = Dir::new(GOOD);
    dir.conf_d(
        "beta.toml",
        "[portals.beta]\nurl = \"https://beta.example.com\"\napi_key_file = \"KEYFILE\"\n",
    );
    dir.conf_d("notes.txt", "not toml, not read");
    let c = dir.load(&[]).unwrap();
    assert_eq!(
        c.portals.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["acme", "beta"]
    );
    assert_eq!(c.portal("beta").unwrap().retention.rule(Rule::Daily), Keep::Count(7));
    assert_eq!(c.sources.len(), 2);
}

#[test]
fn env_can_define_a_whole_portal_and_the_config_path_var_is_not_a_key() {
    let dir = Dir::new("[defaults.retention]\nkeep_last = 3\n");
    let env = [
        ("DOCSPACE_RETENTION_CONFIG", "/somewhere/else.toml"),
        ("DOCSPACE_RETENTION_PORTALS__MY_PORTAL__URL", "https://p.example.com"),
        ("DOCSPACE_RETENTION_PORTALS__MY_PORTAL__API_KEY_ENV", "P_KEY"),
        ("P_KEY", "12345"),
    ];
    let c = dir.load(&env).unwrap();
    let p = c.portal("my_portal").unwrap();
    assert_eq!(
        p.credential,
        crate::docspace::Credential::ApiKey(crate::secret::Secret::new("12345"))
    );
    assert_eq!(p.credential_source, CredentialSource::ApiKeyEnv("P_KEY".into()));
}

#[test]
fn unknown_keys_are_errors_with_hints() {
    let dir = Dir::new(&GOOD.replace("keep_daily = 30", "keep_dayly = 30\nfoo = 1"));
    let errs = errors(dir.load(&[]));
    assert!(
        errs.contains(&"portals.acme.retention.keep_dayly: unknown key (did you mean keep_daily?)".to_string()),
        "{errs:#?}"
    );
    assert!(
        errs.contains(&"portals.acme.retention.foo: unknown key".to_string()),
        "{errs:#?}"
    );
    assert_error(
        Dir::new(&format!("{GOOD}\n[server]\nlisten = \"127.0.0.1:1\"\nport = 3\n")).load(&[]),
        "server.port: unknown key",
    );
    assert_error(
        Dir::new(&format!("verbose = true\n{GOOD}")).load(&[]),
        "verbose: unknown key",
    );
    let typo_in_defaults = GOOD.replace("keep_weekly = 4", "keep_weekly = 4\nkeep_dialy = 1");
    let errs = errors(Dir::new(&typo_in_defaults).load(&[]));
    assert_eq!(
        errs,
        ["defaults.retention.keep_dialy: unknown key (did you mean keep_daily?)"]
    );
}

#[test]
fn unknown_environment_variables_are_errors_naming_the_variable() {
    let dir = Dir::new(GOOD);
    let errs = errors(dir.load(&[("DOCSPACE_RETENTION_PORTALS__ACME__URLL", "https://x")]));
    assert_eq!(
        errs,
        [
            "portals.acme.urll: unknown key (did you mean url?) (set by environment variable DOCSPACE_RETENTION_PORTALS__ACME__URLL)"
        ]
    );
    let errs = errors(dir.load(&[("DOCSPACE_RETENTION_VERBOSE", "1")]));
    assert_eq!(
        errs,
        ["verbose: unknown key (set by environment variable DOCSPACE_RETENTION_VERBOSE)"]
    );
    let errs = errors(dir.load(&[("DOCSPACE_RETENTION_DAEMON__MAX_CONCURRENT_PORTALS", "many")]));
    assert_eq!(
        errs,
        [
            "daemon.max_concurrent_portals: expected an integer, found string \"many\" (set by environment variable DOCSPACE_RETENTION_DAEMON__MAX_CONCURRENT_PORTALS)"
        ]
    );
}

#[test]
fn type_and_range_errors_name_the_key() {
    let bad = |from: &str, to: &str| Dir::new(&GOOD.replace(from, to)).load(&[]);
    assert_error(
        bad("keep_daily = 30", "keep_daily = \"30\""),
        "portals.acme.retention.keep_daily: expected an integer, found string \"30\"",
    );
    assert_error(
        bad("keep_daily = 30", "keep_daily = -2"),
        "portals.acme.retention.keep_daily: expected -1 (unlimited) or a non-negative integer, found -2",
    );
    assert_error(
        bad("keep_daily = 30", "keep_daily = 1.5"),
        "portals.acme.retention.keep_daily: expected an integer, found number 1.5",
    );
    assert_error(
        bad("keep_daily = 30", "max_delete_fraction = 1.5"),
        "portals.acme.retention.max_delete_fraction: expected a fraction from 0.0 to 1.0, found 1.5",
    );
    assert_error(
        bad("keep_daily = 30", "min_keep = -1"),
        "portals.acme.retention.min_keep: expected a non-negative integer, found -1",
    );
    assert_error(
        bad("keep_daily = 30", "max_deletions_per_run = true"),
        "portals.acme.retention.max_deletions_per_run: expected an integer, found boolean true",
    );
    assert_error(
        bad("keep_daily = 30", "keep_within = \"30 days\""),
        "portals.acme.retention.keep_within: expected a duration in restic syntax",
    );
    assert_error(
        bad("keep_daily = 30", "keep_within_daily = \"-3d\""),
        "portals.acme.retention.keep_within_daily: expected a duration",
    );
    assert_error(
        bad("keep_daily = 30", "stale_after = \"soon\""),
        "portals.acme.retention.stale_after: expected \"auto\", \"off\" or a duration",
    );
    assert_error(
        bad("keep_daily = 30", "stale_after = \"0d\""),
        "portals.acme.retention.stale_after: a zero duration",
    );
    assert_error(
        bad("keep_daily = 30", "storage_types = [\"Dropbox\"]"),
        "portals.acme.retention.storage_types: unknown storage type \"Dropbox\"",
    );
    assert_error(
        bad("keep_daily = 30", "storage_types = \"Documents\""),
        "portals.acme.retention.storage_types: expected a list of strings",
    );
    assert_error(
        bad("keep_daily = 30", "protect = [\"abc\"]"),
        "portals.acme.retention.protect: expected backup ids",
    );
    assert_error(
        bad("keep_daily = 30", "clear_history = \"yes\""),
        "portals.acme.retention.clear_history: expected true or false",
    );
    assert_error(
        bad("keep_daily = 30", "future_tolerance_secs = -5"),
        "portals.acme.retention.future_tolerance_secs",
    );
    assert_error(
        bad("[portals.acme.retention]", "jitter_secs = -1\n[portals.acme.retention]"),
        "portals.acme.jitter_secs: expected an integer from 0 to 86400",
    );
    assert_error(
        bad(
            "[portals.acme.retention]",
            "request_timeout_secs = 0\n[portals.acme.retention]",
        ),
        "portals.acme.request_timeout_secs",
    );
    assert_error(
        bad("[portals.acme.retention]", "retention = 5\n[portals.acme.x]"),
        "portals.acme.retention: expected a table, found number 5",
    );
}

#[test]
fn semantic_errors_name_the_key() {
    let bad = |from: &str, to: &str| Dir::new(&GOOD.replace(from, to)).load(&[]);
    assert_error(
        bad("timezone = \"Europe/Berlin\"", "timezone = \"Mars/Olympus\""),
        "defaults.timezone: unknown time zone \"Mars/Olympus\"",
    );
    assert_error(
        bad("timezone = \"Europe/Berlin\"", "schedule = \"30 3 * * *\""),
        "defaults.schedule: expected 6 fields with seconds first (sec min hour day month weekday), found 5",
    );
    assert_error(
        bad("timezone = \"Europe/Berlin\"", "schedule = \"0 99 3 * * *\""),
        "defaults.schedule: invalid cron expression",
    );
    assert_error(
        bad("https://acme.example.com/docspace/", "acme.example.com"),
        "portals.acme.url: not a URL",
    );
    assert_error(
        bad("https://acme.example.com/docspace/", "ftp://acme.example.com"),
        "portals.acme.url: expected an http:// or https:// URL",
    );
    assert_error(
        bad("https://acme.example.com/docspace/", "https://acme.example.com/?x=1"),
        "portals.acme.url: the URL must not have a query",
    );
    assert_error(
        bad("[portals.acme]", "[portals.Acme]"),
        "portals.Acme: portal names may only contain",
    );
    assert_error(
        Dir::new(&format!("{GOOD}\n[server]\nlisten = \"localhost\"\n")).load(&[]),
        "server.listen: expected an address with a port",
    );
    assert_error(
        Dir::new(&format!("{GOOD}\n[log]\nformat = \"xml\"\n")).load(&[]),
        "log.format: expected \"text\" or \"json\", found \"xml\"",
    );
    assert_error(
        Dir::new(&format!("{GOOD}\n[daemon]\nmax_concurrent_portals = 0\n")).load(&[]),
        "daemon.max_concurrent_portals: expected an integer of at least 1, found 0",
    );
    assert_error(
        Dir::new(&format!("{GOOD}\n[log]\nlevel = \"app=verbose\"\n")).load(&[]),
        "log.level",
    );
}

#[test]
fn a_url_with_credentials_is_refused_without_echoing_them() {
    let dir = Dir::new(&GOOD.replace(
        "https://acme.example.com/docspace/",
        "https://admin:hunter2@acme.example.com",
    ));
    let errs = errors(dir.load(&[]));
    assert!(
        errs.iter()
            .any(|e| { e.starts_with("portals.acme.url: the URL must not contain a user name or password") })
    );
    assert!(errs.iter().all(|e| !e.contains("hunter2")), "{errs:#?}");
}

#[test]
fn plain_http_to_a_remote_host_is_a_warning() {
    let c = Dir::new(&GOOD.replace("https://acme.example.com/docspace/", "http://acme.example.com"))
        .load(&[])
        .unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("unencrypted"));
    let c = Dir::new(&GOOD.replace("https://acme.example.com/docspace/", "http://127.0.0.1:8080"))
        .load(&[])
        .unwrap();
    assert!(c.warnings.is_empty());
}

#[test]
fn exactly_one_credential_source() {
    let none = GOOD.replace("api_key_file = \"KEYFILE\"\n", "");
    assert_error(
        Dir::new(&none).load(&[]),
        "portals.acme: no credential: set one of api_key_file, api_key_env, api_key or a [login] table",
    );
    let two = GOOD.replace(
        "api_key_file = \"KEYFILE\"",
        "api_key_file = \"KEYFILE\"\napi_key = \"sk-inline\"",
    );
    let errs = errors(Dir::new(&two).load(&[]));
    assert!(
        errs.contains(
            &"portals.acme: more than one credential source (api_key_file, api_key): set exactly one".to_string()
        ),
        "{errs:#?}"
    );
    assert!(errs.iter().all(|e| !e.contains("sk-inline")));
    // A portal's own source replaces the one in [defaults].
    let inherited = none.replace("[defaults]\n", "[defaults]\napi_key_env = \"ACME_KEY\"\n");
    let c = Dir::new(&inherited).load(&[("ACME_KEY", "sk-env")]).unwrap();
    assert_eq!(
        c.portal("acme").unwrap().credential_source,
        CredentialSource::ApiKeyEnv("ACME_KEY".into())
    );
    let own = GOOD.replace("[defaults]\n", "[defaults]\napi_key_env = \"ACME_KEY\"\n");
    let c = Dir::new(&own).load(&[]).unwrap();
    assert!(matches!(
        c.portal("acme").unwrap().credential_source,
        CredentialSource::ApiKeyFile(_)
    ));
}

#[test]
fn credential_files_and_variables_must_hold_a_key() {
    let missing = GOOD.replace("KEYFILE", "/nonexistent/key");
    assert_error(
        Dir::new(&missing).load(&[]),
        "portals.acme.api_key_file: file not found",
    );
    let dir = Dir::new(GOOD);
    std::fs::write(dir.path().join("key"), "\n").unwrap();
    assert_error(dir.load(&[]), "portals.acme.api_key_file:");
    std::fs::write(dir.path().join("key"), "sk with spaces").unwrap();
    let errs = errors(dir.load(&[]));
    assert!(
        errs.iter().any(|e| e.contains("cannot be sent in an HTTP header"))
            && errs.iter().all(|e| !e.contains("sk with"))
    );
    let env = GOOD.replace("api_key_file = \"KEYFILE\"", "api_key_env = \"ACME_KEY\"");
    assert_error(
        Dir::new(&env).load(&[]),
        "portals.acme.api_key_env: environment variable ACME_KEY is not set",
    );
    assert_error(
        Dir::new(&env).load(&[("ACME_KEY", " ")]),
        "portals.acme.api_key_env: environment variable ACME_KEY is empty",
    );
}

#[test]
fn login_credentials() {
    let login = GOOD.replace(
        "api_key_file = \"KEYFILE\"",
        "[portals.acme.login]\nuser = \"admin@acme.example.com\"\npassword_file = \"KEYFILE\"",
    );
    let c = Dir::new(&login).load(&[]).unwrap();
    let p = c.portal("acme").unwrap();
    assert_eq!(
        p.credential,
        crate::docspace::Credential::Login {
            user: "admin@acme.example.com".into(),
            password: crate::secret::Secret::new("sk-file-secret"),
        }
    );
    let no_user = login.replace("user = \"admin@acme.example.com\"\n", "usr = \"x\"\n");
    let errs = errors(Dir::new(&no_user).load(&[]));
    assert!(
        errs.contains(&"portals.acme.login.user: missing: the portal owner's or admin's login (e-mail)".to_string()),
        "{errs:#?}"
    );
    assert!(
        errs.contains(&"portals.acme.login.usr: unknown key (did you mean user?)".to_string()),
        "{errs:#?}"
    );
}

#[test]
fn an_all_off_policy_is_refused() {
    let all_off = "[portals.acme]\nurl = \"https://a.example.com\"\napi_key_file = \"KEYFILE\"\n";
    assert_error(
        Dir::new(all_off).load(&[]),
        "portals.acme.retention: every keep_* rule is off and there is no max_age, which would delete every backup",
    );
    let zero_window = format!("{all_off}[portals.acme.retention]\nkeep_within = \"0d\"\n");
    assert_error(Dir::new(&zero_window).load(&[]), "every keep_* rule is off");
    // max_age alone keeps what is younger: a policy.
    let max_age = format!("{all_off}[portals.acme.retention]\nmax_age = \"400d\"\n");
    let c = Dir::new(&max_age).load(&[]).unwrap();
    assert_eq!(c.portals[0].retention.max_age, CalDuration::parse("400d").ok());
}

#[test]
fn delete_grace_takes_days_hours_and_seconds_only() {
    let with = |grace: &str| {
        Dir::new(&GOOD.replace(
            "keep_daily = 30",
            &format!("keep_daily = 30\ndelete_grace = \"{grace}\""),
        ))
        .load(&[])
    };
    let secs = |grace: &str| with(grace).unwrap().portals[0].retention.delete_grace.as_secs();
    assert_eq!(secs("0s"), 0);
    assert_eq!(secs("24h"), 86_400);
    assert_eq!(secs("1d12h30s"), 129_630);
    for bad in ["30m", "1y", "", "24", "h", "-1d", "99999999999d"] {
        assert_error(with(bad), "portals.acme.retention.delete_grace");
    }
}

#[test]
fn every_error_is_reported_at_once_in_key_order() {
    let text = r#"
[daemon]
shutdown_grace_secs = -1
[defaults]
schedule = "* * * * *"
[portals.acme]
url = "nope"
api_key_file = "/nonexistent"
[portals.acme.retention]
keep_daily = "many"
[portals.beta]
url = "https://beta.example.com"
"#;
    let errs = errors(Dir::new(text).load(&[]));
    assert_eq!(errs.len(), 7, "{errs:#?}");
    let paths: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "daemon.shutdown_grace_secs",
            "defaults.schedule",
            "portals.acme.api_key_file",
            "portals.acme.retention.keep_daily",
            "portals.acme.url",
            "portals.beta",
            "portals.beta.retention",
        ],
        "{errs:#?}"
    );
}

#[test]
fn missing_files_and_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LoadOptions {
        path: dir.path().join("absent.toml"),
        env: Vec::new(),
        overrides: Overrides::default(),
        file_required: true,
        require_portals: true,
    };
    let errs = errors(load(&opts));
    assert!(
        errs[0].ends_with("absent.toml: config file not found (pass --config PATH or set DOCSPACE_RETENTION_CONFIG)"),
        "{errs:?}"
    );
    let d = Dir::new(GOOD);
    d.conf_d("broken.toml", "[portals.x\nurl = 1");
    let errs = errors(d.load(&[]));
    assert!(
        errs.iter().any(|e| e.contains("broken.toml: invalid TOML")),
        "{errs:#?}"
    );
    let empty = Dir::new("");
    assert_error(empty.load(&[]), "portals: no portal configured");
}

#[test]
fn dry_run_flag_forces_every_portal() {
    let dir = Dir::new(GOOD);
    let mut opts = dir.opts(&[]);
    opts.overrides.dry_run = true;
    assert!(load(&opts).unwrap().portals.iter().all(|p| p.dry_run));
}

#[test]
fn print_shows_the_merged_config_with_secrets_redacted_and_loads_again() {
    let text = GOOD.replace("api_key_file = \"KEYFILE\"", "api_key = \"sk-inline-secret\"");
    let dir = Dir::new(&text);
    let c = dir.load(&[]).unwrap();
    let printed = print_config(&c);
    assert!(printed.contains("api_key = \"***\""), "{printed}");
    assert!(!printed.contains("sk-inline-secret"));
    assert!(
        printed.contains("keep_daily = 30") && printed.contains("keep_weekly = 4"),
        "{printed}"
    );
    assert!(printed.contains("timezone = \"Europe/Berlin\""));
    // The printed config is itself a valid config with the same meaning.
    let again = Dir::new(&printed).load(&[]).unwrap();
    let (a, b) = (c.portal("acme").unwrap(), again.portal("acme").unwrap());
    assert_eq!(a.retention, b.retention);
    assert_eq!(
        (a.url.as_str(), a.schedule.as_str(), a.timezone),
        (b.url.as_str(), b.schedule.as_str(), b.timezone)
    );
    let file_key = Dir::new(GOOD);
    let printed = print_config(&file_key.load(&[]).unwrap());
    assert!(!printed.contains("sk-file-secret") && printed.contains("api_key_file = "));
}

#[test]
fn durations_and_stale_after_parse() {
    let dir = Dir::new(&GOOD.replace(
        "keep_daily = 30",
        "keep_daily = 30\nkeep_within = \"1y6m\"\nstale_after = \"3d\"",
    ));
    let p = dir.load(&[]).unwrap().portals.remove(0);
    assert_eq!(
        p.retention.rule(Rule::Within),
        Keep::Within(CalDuration {
            years: 1,
            months: 6,
            days: 0,
            hours: 0
        })
    );
    assert_eq!(p.retention.stale_after, StaleAfter::After(CalDuration::days(3)));
}

#[test]
fn the_picture_looks_ninety_days_ahead_unless_told_otherwise() {
    let config = Dir::new(GOOD).load(&[]).unwrap();
    assert_eq!(config.picture_forecast, Some(CalDuration::days(90)));
    assert!(print_config(&config).contains("[picture]\nforecast = \"90d\""));
    let off = Dir::new(&format!("[picture]\nforecast = \"0d\"\n{GOOD}"))
        .load(&[])
        .unwrap();
    assert_eq!(off.picture_forecast, None);
    let year = Dir::new(&format!("[picture]\nforecast = \"1y\"\n{GOOD}"))
        .load(&[])
        .unwrap();
    assert_eq!(year.picture_forecast, Some(CalDuration::parse("1y").unwrap()));
    for (bad, said) in [
        (
            "forecast = \"soon\"",
            "picture.forecast: expected a duration such as \"90d\"",
        ),
        ("forecast = \"6y\"", "picture.forecast: at most 1830d ahead, found 6y"),
        ("forecst = \"90d\"", "picture.forecst"),
    ] {
        assert_error(Dir::new(&format!("[picture]\n{bad}\n{GOOD}")).load(&[]), said);
    }
}

/// Portals with equal retention policies share one; a portal's own `protect` makes
/// its policy its own.
#[test]
fn equal_policies_are_shared_and_protect_keeps_them_apart() {
    let config = Dir::new(&format!(
        "{GOOD}[portals.beta]\nurl = \"https://beta.example.com\"\napi_key_file = \"KEYFILE\"\n\
         [portals.beta.retention]\nkeep_daily = 30\n\
         [portals.gamma]\nurl = \"https://gamma.example.com\"\napi_key_file = \"KEYFILE\"\n\
         [portals.gamma.retention]\nkeep_daily = 30\nprotect = [\"0c1f7e44-7a1d-4a53-9d0c-1b2c3d4e5f60\"]\n"
    ))
    .load(&[])
    .unwrap();
    let by = |name: &str| &config.portals.iter().find(|p| p.name == name).unwrap().retention;
    assert!(std::sync::Arc::ptr_eq(by("acme"), by("beta")));
    assert!(!std::sync::Arc::ptr_eq(by("acme"), by("gamma")));
    assert!(by("acme").protect.is_empty() && by("gamma").protect.len() == 1);
}

#[test]
fn metrics_show_every_portal_up_to_ten_thousand_then_the_failing_ones_unless_told() {
    use crate::observe::metrics::PerPortal;
    let config = Dir::new(GOOD).load(&[]).unwrap();
    assert_eq!(config.metrics_per_portal, PerPortal::All);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert!(print_config(&config).contains("[metrics]\nper_portal = \"all\""));
    for (text, shown) in [
        ("failing", PerPortal::Failing),
        ("none", PerPortal::None),
        ("all", PerPortal::All),
    ] {
        let c = Dir::new(&format!("[metrics]\nper_portal = \"{text}\"\n{GOOD}"))
            .load(&[])
            .unwrap();
        assert_eq!(c.metrics_per_portal, shown);
    }
    for (bad, said) in [
        (
            "per_portal = \"some\"",
            "metrics.per_portal: expected \"all\", \"failing\" or \"none\", found \"some\"",
        ),
        ("per_portal = 1", "metrics.per_portal"),
        ("per_portl = \"all\"", "metrics.per_portl"),
    ] {
        assert_error(Dir::new(&format!("[metrics]\n{bad}\n{GOOD}")).load(&[]), said);
    }
    // One portal over the line: the failing ones only, said once; set, no warning.
    let fleet = |extra: &str| {
        let mut text = format!("{extra}[defaults]\napi_key_file = \"KEYFILE\"\n[defaults.retention]\nkeep_daily = 7\n");
        for i in 0..=crate::config::METRICS_ALL_UP_TO {
            text.push_str(&format!("[portals.p{i}]\nurl = \"https://p{i}.example.com\"\n"));
        }
        Dir::new(&text).load(&[]).unwrap()
    };
    let big = fleet("");
    assert_eq!(big.metrics_per_portal, PerPortal::Failing);
    let said: Vec<&String> = big.warnings.iter().filter(|w| w.contains("per_portal")).collect();
    assert_eq!(said.len(), 1, "{:?}", big.warnings);
    assert!(said[0].starts_with("10001 portals: /metrics shows the series of failing portals only"));
    let chosen = fleet("[metrics]\nper_portal = \"all\"\n");
    assert_eq!(chosen.metrics_per_portal, PerPortal::All);
    assert!(!chosen.warnings.iter().any(|w| w.contains("per_portal")));
}

/// A what-if fragment: only retention tables, of portals the config defines; the
/// config after it is validated as a whole.
#[test]
fn a_what_if_fragment_changes_retention_only() {
    let dir = Dir::new(GOOD);
    let fragment = dir.path().join("change.toml");
    let load = |text: &str| {
        std::fs::write(&fragment, text).unwrap();
        load_with_fragment(&dir.opts(&[]), &fragment)
    };
    let after = load("[portals.acme.retention]\nkeep_daily = 3\n[defaults.retention]\nmin_keep = 1\n").unwrap();
    let acme = after.portal("acme").unwrap();
    assert_eq!(acme.retention.rule(Rule::Daily), Keep::Count(3));
    assert_eq!(
        (acme.retention.min_keep, acme.retention.rule(Rule::Weekly)),
        (1, Keep::Count(4))
    );
    // A hold is never lifted: protect lists add up.
    let held = "0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b";
    std::fs::write(
        dir.path().join("config.toml"),
        GOOD.replace("keep_daily = 30", &format!("keep_daily = 30\nprotect = [\"{held}\"]"))
            .replace("KEYFILE", &dir.path().join("key").display().to_string()),
    )
    .unwrap();
    let after = load("[portals.acme.retention]\nprotect = []\n").unwrap();
    assert_eq!(after.portal("acme").unwrap().retention.protect.len(), 1);
    assert_error(
        load("[portals.acme]\napi_key = \"x\"\n"),
        "portals.acme.api_key: a what-if fragment changes retention only",
    );
    assert_error(
        load("[portals.nobody.retention]\nkeep_last = 1\n"),
        "portals.nobody: no such portal in the config",
    );
    assert_error(
        load("[server]\nlisten = \"0.0.0.0:1\"\n"),
        "server: a what-if fragment changes retention only",
    );
    assert_error(
        load("[portals.acme.retention]\nkeep_daily = \"x\"\n"),
        "portals.acme.retention.keep_daily",
    );
}
