//! Semantic checks: raw config in, [`Config`] or every error (with key paths) out.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::Url;

use super::raw::*;
use super::{
    Config, ConfigError, ConfigErrors, CredentialSource, DaemonConfig, LoadOptions, LogConfig, LogFormat, PortalConfig,
    ServerConfig, defaults,
};
use crate::calendar::CalDuration;
use crate::docspace::{Credential, StorageType, is_guid};
use crate::retention::{RetentionPolicy, StaleAfter};
use crate::secret::Secret;

/// Checks a cron string the way the scheduler will read it: six fields, seconds first.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "expected 6 fields with seconds first (sec min hour day month weekday), found {fields} in {expr:?}"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map(|_| ())
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

struct Checker<'a> {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    opts: &'a LoadOptions,
}

impl Checker<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, prefix: &str, unknown: &Unknown, known: &[&str]) {
        for key in unknown.keys() {
            let hint = known
                .iter()
                .map(|k| (strsim::levenshtein(k, key), *k))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, k)| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            self.err(path, format!("unknown key{hint}"));
        }
    }

    /// The value of a field: `None` when missing or of the wrong type (reported).
    fn get<T: Clone>(&mut self, path: &str, field: &Field<T>) -> Option<T> {
        match field {
            Field::Missing => None,
            Field::Set(v) => Some(v.clone()),
            Field::Invalid(message) => {
                self.err(path, message.clone());
                None
            }
        }
    }

    /// A table's contents (the default when absent or not a table).
    fn table<T: Clone + Default>(&mut self, path: &str, field: &Field<T>) -> T {
        self.get(path, field).unwrap_or_default()
    }

    fn int_in(&mut self, path: &str, value: Option<i64>, default: i64, min: i64, max: i64, what: &str) -> i64 {
        match value {
            None => default,
            Some(v) if (min..=max).contains(&v) => v,
            Some(v) => {
                self.err(path, format!("expected {what}, found {v}"));
                default
            }
        }
    }
}

/// A portal key resolved through inheritance: the portal's value if it has one, else
/// the `[defaults]` one; errors name the table the value came from.
struct Inherit<'a> {
    portal: &'a str,
    defaults: &'a str,
}

impl Inherit<'_> {
    fn pick<'f, T: Clone>(
        &self,
        c: &mut Checker<'_>,
        key: &str,
        own: &'f Field<T>,
        inherited: &'f Field<T>,
    ) -> (String, Option<T>) {
        let (path, field) = if own.is_missing() {
            (join(self.defaults, key), inherited)
        } else {
            (join(self.portal, key), own)
        };
        let v = c.get(&path, field);
        (path, v)
    }
}

fn join(prefix: &str, key: &str) -> String {
    format!("{prefix}.{key}")
}

pub(super) fn validate(raw: &RawConfig, opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    let mut c = Checker {
        errors: Vec::new(),
        warnings: Vec::new(),
        opts,
    };
    c.unknown("", &raw.unknown, TOP_KEYS);

    let server = c.table("server", &raw.server);
    c.unknown("server", &server.unknown, SERVER_KEYS);
    let listen_text = c
        .get("server.listen", &server.listen)
        .unwrap_or_else(|| defaults::LISTEN.into());
    let listen: SocketAddr = listen_text.parse().unwrap_or_else(|_| {
        c.err(
            "server.listen",
            format!("expected an address with a port such as \"127.0.0.1:9464\", found {listen_text:?}"),
        );
        defaults::LISTEN.parse().expect("valid default")
    });

    let daemon = c.table("daemon", &raw.daemon);
    c.unknown("daemon", &daemon.unknown, DAEMON_KEYS);
    let v = c.get("daemon.max_concurrent_portals", &daemon.max_concurrent_portals);
    let max_concurrent_portals = c.int_in(
        "daemon.max_concurrent_portals",
        v,
        defaults::MAX_CONCURRENT_PORTALS,
        1,
        100_000,
        "an integer of at least 1",
    );
    let v = c.get("daemon.shutdown_grace_secs", &daemon.shutdown_grace_secs);
    let shutdown_grace = c.int_in(
        "daemon.shutdown_grace_secs",
        v,
        defaults::SHUTDOWN_GRACE_SECS,
        0,
        86_400,
        "a non-negative integer (seconds)",
    );
    let state_dir = c
        .get("daemon.state_dir", &daemon.state_dir)
        .unwrap_or_else(|| defaults::STATE_DIR.into());
    if state_dir.trim().is_empty() {
        c.err("daemon.state_dir", "must not be empty (the audit log lives there)");
    }
    let shard_text = c.get("daemon.shard", &daemon.shard);
    let shard_count = c.get("daemon.shard_count", &daemon.shard_count);
    let shard = match shard_text.as_deref().map(str::trim) {
        None | Some("") | Some("off") => None,
        Some(text) => {
            let pod = ["POD_NAME", "HOSTNAME"]
                .iter()
                .find_map(|k| opts.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
            match crate::shard::Shard::parse(text, shard_count, pod.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    c.err("daemon.shard", e);
                    None
                }
            }
        }
    };

    let log = c.table("log", &raw.log);
    c.unknown("log", &log.unknown, LOG_KEYS);
    let level = c
        .get("log.level", &log.level)
        .unwrap_or_else(|| defaults::LOG_LEVEL.into());
    if tracing_subscriber::EnvFilter::builder().parse(&level).is_err() {
        c.err(
            "log.level",
            format!("expected trace, debug, info, warn, error or a filter directive, found {level:?}"),
        );
    }
    let format = match c
        .get("log.format", &log.format)
        .as_deref()
        .unwrap_or(defaults::LOG_FORMAT)
    {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            c.err("log.format", format!("expected \"text\" or \"json\", found {other:?}"));
            LogFormat::Text
        }
    };
    let directory = c
        .get("log.directory", &log.directory)
        .filter(|d| !d.trim().is_empty())
        .map(PathBuf::from);

    let defaults_table = c.table("defaults", &raw.defaults);
    // Check `[defaults]` on its own too, so its mistakes show even without portals.
    let defaults_only = RawPortal::default();
    let _ = portal_settings(&mut c, "defaults", &defaults_only, &defaults_table, false);

    let mut portals = Vec::new();
    let raw_portals = c.get("portals", &raw.portals).unwrap_or_default();
    for (name, field) in &raw_portals {
        let path = format!("portals.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            c.err(&path, "portal names may only contain a-z, 0-9, '_' and '-'");
        }
        let Some(portal) = c.get(&path, field) else {
            continue;
        };
        if let Some(p) = portal_config(&mut c, name, &portal, &defaults_table) {
            portals.push(p);
        }
    }
    if opts.require_portals && raw_portals.is_empty() {
        c.err(
            "portals",
            "no portal configured: add a [portals.NAME] table (or a file in conf.d/)",
        );
    }

    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    Ok(Config {
        server: ServerConfig { listen },
        daemon: DaemonConfig {
            max_concurrent_portals: max_concurrent_portals as usize,
            shutdown_grace: Duration::from_secs(shutdown_grace as u64),
            state_dir: PathBuf::from(state_dir),
            shard,
        },
        log: LogConfig {
            level,
            format,
            directory,
        },
        portals,
        warnings: c.warnings,
        sources: Vec::new(),
    })
}

/// Settings every portal has (all but url and credential), resolved through
/// `[defaults]` and the built-in defaults.
struct Settings {
    schedule: String,
    timezone: Tz,
    jitter_secs: u64,
    dry_run: bool,
    dump: bool,
    request_timeout: Duration,
    max_retries: u32,
    requests_per_minute: u32,
    ca_file: Option<PathBuf>,
    retention: RetentionPolicy,
}

fn portal_settings(c: &mut Checker<'_>, prefix: &str, p: &RawPortal, d: &RawPortal, is_portal: bool) -> Settings {
    let at = Inherit {
        portal: prefix,
        defaults: "defaults",
    };
    c.unknown(prefix, &p.unknown, PORTAL_KEYS);
    if !is_portal {
        // `[defaults]` is checked as itself: its unknown keys are reported once here.
        c.unknown("defaults", &d.unknown, PORTAL_KEYS);
    }

    let (path, schedule) = at.pick(c, "schedule", &p.schedule, &d.schedule);
    let schedule = schedule.unwrap_or_else(|| defaults::SCHEDULE.into());
    if let Err(e) = check_cron(&schedule) {
        c.err(path, e);
    }
    let (path, tz) = at.pick(c, "timezone", &p.timezone, &d.timezone);
    let tz_name = tz.unwrap_or_else(|| defaults::TIMEZONE.into());
    let timezone = tz_name.parse::<Tz>().unwrap_or_else(|_| {
        c.err(
            path,
            format!("unknown time zone {tz_name:?} (use an IANA name such as \"Europe/Berlin\")"),
        );
        Tz::UTC
    });
    let (path, v) = at.pick(c, "jitter_secs", &p.jitter_secs, &d.jitter_secs);
    let jitter_secs = c.int_in(&path, v, 0, 0, 86_400, "an integer from 0 to 86400 (seconds)") as u64;
    let dry_run = at.pick(c, "dry_run", &p.dry_run, &d.dry_run).1.unwrap_or(false);
    let dump = at.pick(c, "dump", &p.dump, &d.dump).1.unwrap_or(false);
    let (path, v) = at.pick(
        c,
        "request_timeout_secs",
        &p.request_timeout_secs,
        &d.request_timeout_secs,
    );
    let timeout = c.int_in(
        &path,
        v,
        defaults::REQUEST_TIMEOUT_SECS,
        1,
        3600,
        "an integer from 1 to 3600 (seconds)",
    );
    let (path, v) = at.pick(c, "max_retries", &p.max_retries, &d.max_retries);
    let max_retries = c.int_in(&path, v, defaults::MAX_RETRIES, 0, 20, "an integer from 0 to 20");
    let (path, v) = at.pick(c, "requests_per_minute", &p.requests_per_minute, &d.requests_per_minute);
    let rpm = c.int_in(
        &path,
        v,
        defaults::REQUESTS_PER_MINUTE,
        1,
        1_000_000,
        "an integer of at least 1",
    );
    let (path, ca) = at.pick(c, "ca_file", &p.ca_file, &d.ca_file);
    let ca_file = ca.filter(|s| !s.is_empty()).map(PathBuf::from);
    if let Some(ca) = &ca_file
        && let Err(e) = crate::docspace::http_client(Some(ca))
    {
        c.err(path, e);
    }

    let own = c.table(&join(prefix, "retention"), &p.retention);
    let inherited = c.table("defaults.retention", &d.retention);
    let retention = retention_policy(c, &join(prefix, "retention"), &own, &inherited, is_portal);
    Settings {
        schedule,
        timezone,
        jitter_secs,
        dry_run,
        dump,
        request_timeout: Duration::from_secs(timeout as u64),
        max_retries: max_retries as u32,
        requests_per_minute: rpm as u32,
        ca_file,
        retention,
    }
}

fn retention_policy(
    c: &mut Checker<'_>,
    prefix: &str,
    r: &RawRetention,
    d: &RawRetention,
    is_portal: bool,
) -> RetentionPolicy {
    let at = Inherit {
        portal: prefix,
        defaults: "defaults.retention",
    };
    let errors_before = c.errors.len();
    c.unknown(prefix, &r.unknown, RETENTION_KEYS);
    if !is_portal {
        c.unknown("defaults.retention", &d.unknown, RETENTION_KEYS);
    }
    let builtin = RetentionPolicy::default();
    let count = |c: &mut Checker<'_>, key: &str, own: &Field<i64>, inh: &Field<i64>| {
        let (path, v) = at.pick(c, key, own, inh);
        c.int_in(
            &path,
            v,
            0,
            -1,
            i64::from(u32::MAX),
            "-1 (unlimited) or a non-negative integer",
        )
    };
    let keep_last = count(c, "keep_last", &r.keep_last, &d.keep_last);
    let keep_hourly = count(c, "keep_hourly", &r.keep_hourly, &d.keep_hourly);
    let keep_daily = count(c, "keep_daily", &r.keep_daily, &d.keep_daily);
    let keep_weekly = count(c, "keep_weekly", &r.keep_weekly, &d.keep_weekly);
    let keep_monthly = count(c, "keep_monthly", &r.keep_monthly, &d.keep_monthly);
    let keep_yearly = count(c, "keep_yearly", &r.keep_yearly, &d.keep_yearly);
    let within = |c: &mut Checker<'_>, key: &str, own: &Field<String>, inh: &Field<String>| {
        let (path, v) = at.pick(c, key, own, inh);
        match v.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => match CalDuration::parse(text) {
                Ok(d) if d.is_zero() => None,
                Ok(d) => Some(d),
                Err(e) => {
                    c.err(
                        path,
                        format!("expected a duration in restic syntax (\"30d\", \"1y6m\", \"2d12h\"): {e}"),
                    );
                    None
                }
            },
        }
    };
    let keep_within = within(c, "keep_within", &r.keep_within, &d.keep_within);
    let keep_within_hourly = within(c, "keep_within_hourly", &r.keep_within_hourly, &d.keep_within_hourly);
    let keep_within_daily = within(c, "keep_within_daily", &r.keep_within_daily, &d.keep_within_daily);
    let keep_within_weekly = within(c, "keep_within_weekly", &r.keep_within_weekly, &d.keep_within_weekly);
    let keep_within_monthly = within(c, "keep_within_monthly", &r.keep_within_monthly, &d.keep_within_monthly);
    let keep_within_yearly = within(c, "keep_within_yearly", &r.keep_within_yearly, &d.keep_within_yearly);

    let (path, ids) = at.pick(c, "protect", &r.protect, &d.protect);
    let mut protect = BTreeSet::new();
    for id in ids.unwrap_or_default() {
        if is_guid(&id) {
            protect.insert(id.to_ascii_lowercase());
        } else {
            c.err(
                &path,
                format!("expected backup ids (GUIDs such as \"0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b\"), found {id:?}"),
            );
        }
    }
    let (path, names) = at.pick(c, "storage_types", &r.storage_types, &d.storage_types);
    let mut storage_types = Vec::new();
    for name in names.unwrap_or_default() {
        let t = StorageType::from_name(&name);
        if t.is_known() {
            if !storage_types.contains(&t) {
                storage_types.push(t);
            }
        } else {
            let known: Vec<&str> = StorageType::KNOWN.iter().map(|t| t.name()).collect();
            c.err(
                &path,
                format!("unknown storage type {name:?} (known: {})", known.join(", ")),
            );
        }
    }
    let (path, v) = at.pick(c, "min_keep", &r.min_keep, &d.min_keep);
    let min_keep = c.int_in(
        &path,
        v,
        builtin.min_keep as i64,
        0,
        i64::from(u32::MAX),
        "a non-negative integer",
    ) as u32;
    let (path, v) = at.pick(
        c,
        "max_deletions_per_run",
        &r.max_deletions_per_run,
        &d.max_deletions_per_run,
    );
    let max_deletions_per_run = c.int_in(
        &path,
        v,
        builtin.max_deletions_per_run as i64,
        0,
        i64::from(u32::MAX),
        "a non-negative integer",
    ) as u32;
    let (path, v) = at.pick(c, "max_delete_fraction", &r.max_delete_fraction, &d.max_delete_fraction);
    let max_delete_fraction = match v {
        None => builtin.max_delete_fraction,
        Some(f) if (0.0..=1.0).contains(&f) => f,
        Some(f) => {
            c.err(path, format!("expected a fraction from 0.0 to 1.0, found {f}"));
            builtin.max_delete_fraction
        }
    };
    let (path, v) = at.pick(c, "stale_after", &r.stale_after, &d.stale_after);
    let stale_after = match v.as_deref().map(str::trim) {
        None | Some("auto") => StaleAfter::Auto,
        Some("off") => StaleAfter::Off,
        Some(text) => match CalDuration::parse(text) {
            Ok(d) if !d.is_zero() => StaleAfter::After(d),
            Ok(_) => {
                c.err(
                    path,
                    "a zero duration would block every deletion; use \"off\" to disable the guard",
                );
                StaleAfter::Auto
            }
            Err(e) => {
                c.err(
                    path,
                    format!("expected \"auto\", \"off\" or a duration such as \"3d\": {e}"),
                );
                StaleAfter::Auto
            }
        },
    };
    let (path, v) = at.pick(
        c,
        "future_tolerance_secs",
        &r.future_tolerance_secs,
        &d.future_tolerance_secs,
    );
    let future_tolerance_secs = c.int_in(
        &path,
        v,
        builtin.future_tolerance_secs as i64,
        0,
        10 * 365 * 86_400,
        "a non-negative integer (seconds, at most 10 years)",
    ) as u64;
    let clear_history = at
        .pick(c, "clear_history", &r.clear_history, &d.clear_history)
        .1
        .unwrap_or(false);

    let policy = RetentionPolicy {
        keep_last,
        keep_hourly,
        keep_daily,
        keep_weekly,
        keep_monthly,
        keep_yearly,
        keep_within,
        keep_within_hourly,
        keep_within_daily,
        keep_within_weekly,
        keep_within_monthly,
        keep_within_yearly,
        protect,
        storage_types,
        min_keep,
        max_deletions_per_run,
        max_delete_fraction,
        stale_after,
        future_tolerance_secs,
        clear_history,
    };
    // An all-off policy is only reported when no retention key had an error (a
    // refused keep_* value would otherwise show up twice).
    if is_portal && !policy.has_rules() && c.errors.len() == errors_before {
        c.err(
            prefix,
            "every keep_* rule is off, which would delete every backup: set at least one of \
             keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly or keep_within*",
        );
    }
    policy
}

fn portal_config(c: &mut Checker<'_>, name: &str, p: &RawPortal, d: &RawPortal) -> Option<PortalConfig> {
    let prefix = format!("portals.{name}");
    let settings = portal_settings(c, &prefix, p, d, true);
    let at = Inherit {
        portal: &prefix,
        defaults: "defaults",
    };

    let (url_path, url_text) = at.pick(c, "url", &p.url, &d.url);
    let url = match url_text {
        None => {
            c.err(
                &url_path,
                "missing: the portal's address, e.g. \"https://acme.onlyoffice.com\"",
            );
            None
        }
        Some(text) => check_url(c, &url_path, &text),
    };
    let credential = credential(c, &prefix, p, d);
    let (credential, credential_source) = credential?;
    Some(PortalConfig {
        name: name.to_string(),
        url: url?,
        credential,
        credential_source,
        ca_file: settings.ca_file,
        schedule: settings.schedule,
        timezone: settings.timezone,
        jitter_secs: settings.jitter_secs,
        dry_run: settings.dry_run,
        dump: settings.dump,
        request_timeout: settings.request_timeout,
        max_retries: settings.max_retries,
        requests_per_minute: settings.requests_per_minute,
        retention: settings.retention,
    })
}

fn check_url(c: &mut Checker<'_>, path: &str, text: &str) -> Option<Url> {
    let url = match Url::parse(text.trim()) {
        Ok(u) => u,
        Err(e) => {
            c.err(path, format!("not a URL ({e}): {text:?}"));
            return None;
        }
    };
    let mut ok = true;
    if !matches!(url.scheme(), "https" | "http") {
        c.err(
            path,
            format!("expected an http:// or https:// URL, found scheme {:?}", url.scheme()),
        );
        ok = false;
    }
    if url.host_str().is_none_or(str::is_empty) {
        c.err(path, "the URL has no host");
        ok = false;
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Do not echo the URL: it holds a credential.
        c.err(
            path,
            "the URL must not contain a user name or password; use api_key_file or [login]",
        );
        return None;
    }
    if url.query().is_some() || url.fragment().is_some() {
        c.err(path, "the URL must not have a query or fragment");
        ok = false;
    }
    if ok && url.scheme() == "http" {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if !loopback {
            c.warnings.push(format!(
                "{path}: plain http:// sends the API key unencrypted to {}",
                url.host_str().unwrap_or("")
            ));
        }
    }
    ok.then_some(url)
}

/// Exactly one credential source: the portal's own, or else the one in `[defaults]`.
fn credential(
    c: &mut Checker<'_>,
    prefix: &str,
    p: &RawPortal,
    d: &RawPortal,
) -> Option<(Credential, CredentialSource)> {
    let has_own =
        !(p.api_key_file.is_missing() && p.api_key_env.is_missing() && p.api_key.is_missing() && p.login.is_missing());
    let (table, src) = if has_own {
        (prefix.to_string(), p)
    } else {
        ("defaults".to_string(), d)
    };
    let set: Vec<&str> = [
        ("api_key_file", src.api_key_file.is_missing()),
        ("api_key_env", src.api_key_env.is_missing()),
        ("api_key", src.api_key.is_missing()),
        ("login", src.login.is_missing()),
    ]
    .into_iter()
    .filter(|(_, missing)| !missing)
    .map(|(k, _)| k)
    .collect();
    match set.as_slice() {
        [] => {
            c.err(
                prefix,
                "no credential: set one of api_key_file, api_key_env, api_key or a [login] table",
            );
            return None;
        }
        [_] => {}
        many => {
            c.err(
                &table,
                format!("more than one credential source ({}): set exactly one", many.join(", ")),
            );
            return None;
        }
    }
    match set[0] {
        "api_key_file" => {
            let path = join(&table, "api_key_file");
            let file = PathBuf::from(c.get(&path, &src.api_key_file)?);
            let key = read_secret_file(c, &path, &file)?;
            check_header_safe(c, &path, &key)?;
            Some((Credential::ApiKey(key), CredentialSource::ApiKeyFile(file)))
        }
        "api_key_env" => {
            let path = join(&table, "api_key_env");
            let var = c.get(&path, &src.api_key_env)?;
            let value = c
                .opts
                .env
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.trim().to_string());
            match value {
                Some(v) if !v.is_empty() => {
                    let key = Secret::new(v);
                    check_header_safe(c, &path, &key)?;
                    Some((Credential::ApiKey(key), CredentialSource::ApiKeyEnv(var)))
                }
                Some(_) => {
                    c.err(&path, format!("environment variable {var} is empty"));
                    None
                }
                None => {
                    c.err(&path, format!("environment variable {var} is not set"));
                    None
                }
            }
        }
        "api_key" => {
            let path = join(&table, "api_key");
            let key = Secret::new(c.get(&path, &src.api_key)?.trim());
            if key.is_empty() {
                c.err(&path, "is empty");
                return None;
            }
            check_header_safe(c, &path, &key)?;
            c.warnings.push(format!(
                "{path}: an API key in the config file is discouraged; use api_key_file"
            ));
            Some((Credential::ApiKey(key), CredentialSource::ApiKeyInline))
        }
        _ => {
            let path = join(&table, "login");
            let login = c.get(&path, &src.login)?;
            c.unknown(&path, &login.unknown, LOGIN_KEYS);
            let user = c
                .get(&join(&path, "user"), &login.user)
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty());
            if user.is_none() && !matches!(login.user, Field::Invalid(_)) {
                c.err(
                    join(&path, "user"),
                    "missing: the portal owner's or admin's login (e-mail)",
                );
            }
            let pw_path = join(&path, "password_file");
            let file = c.get(&pw_path, &login.password_file).map(PathBuf::from);
            if file.is_none() && !matches!(login.password_file, Field::Invalid(_)) {
                c.err(&pw_path, "missing: a file holding the password");
            }
            let password = read_secret_file(c, &pw_path, file.as_deref()?)?;
            Some((
                Credential::Login {
                    user: user.clone()?,
                    password,
                },
                CredentialSource::Login {
                    user: user?,
                    password_file: file?,
                },
            ))
        }
    }
}

fn read_secret_file(c: &mut Checker<'_>, path: &str, file: &Path) -> Option<Secret> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let value = text.trim();
            if value.is_empty() {
                c.err(path, format!("{} is empty", file.display()));
                None
            } else {
                Some(Secret::new(value))
            }
        }
        Err(e) => {
            c.err(path, format!("cannot read {}: {e}", file.display()));
            None
        }
    }
}

/// A credential must fit in an HTTP header; the message never shows it.
fn check_header_safe(c: &mut Checker<'_>, path: &str, key: &Secret) -> Option<()> {
    if key.expose().bytes().all(|b| b.is_ascii_graphic()) {
        Some(())
    } else {
        c.err(
            path,
            "the credential contains spaces or characters that cannot be sent in an HTTP header",
        );
        None
    }
}
