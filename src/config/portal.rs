//! A portal's settings, resolved key by key through `[defaults]` and the built-in
//! defaults: schedule, zone, limits, URL and exactly one credential.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::Url;

use super::check::{Checker, Inherit, join};
use super::policy::retention_policy;
use super::raw::*;
use super::settings::{CredentialSource, PortalConfig, defaults};
use crate::docspace::Credential;
use crate::retention::RetentionPolicy;
use crate::secret::Secret;

/// Checks a cron string the way the scheduler will read it: six fields, seconds first,
/// and a run within the next four years (`0 0 0 30 2 *` never runs: no pass, no alert).
pub fn check_cron(expr: &str) -> Result<(), String> {
    let cron = crate::cron::parse(expr)?;
    let now = chrono::Utc::now();
    match crate::cron::next_after(&cron, Tz::UTC, now) {
        Some(next) if next <= now + chrono::TimeDelta::days(4 * 366) => Ok(()),
        _ => Err(format!("{expr:?} never runs (no run in the next four years)")),
    }
}

/// "did you mean" for a mistyped zone: the closest IANA name, case aside.
fn zone_hint(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| (strsim::levenshtein(&tz.name().to_ascii_lowercase(), &lower), tz.name()))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| format!(" (did you mean {n}?)"))
        .unwrap_or_default()
}

/// The shortest time between two runs of `schedule` in `zone`; `None` when the
/// schedule does not parse.
fn shortest_interval(schedule: &str, zone: Tz) -> Option<u64> {
    crate::cron::shortest_interval(&crate::cron::parse(schedule).ok()?, zone)
}

/// Settings every portal has (all but url and credential), resolved through
/// `[defaults]` and the built-in defaults.
pub(super) struct Settings {
    schedule: String,
    timezone: Tz,
    jitter_secs: u64,
    dry_run: bool,
    dump: bool,
    request_timeout: Duration,
    max_retries: u32,
    requests_per_minute: u32,
    ca_file: Option<PathBuf>,
    pub(super) retention: RetentionPolicy,
    pub(super) health: crate::health::HealthPolicy,
    pub(super) notify: Option<crate::notify::Notify>,
}

pub(super) fn portal_settings(
    c: &mut Checker<'_>,
    prefix: &str,
    p: &RawPortal,
    d: &RawPortal,
    is_portal: bool,
) -> Settings {
    let at = Inherit {
        own: prefix,
        inherited: "defaults",
    };
    c.unknown(prefix, &p.unknown, PORTAL_KEYS);
    if !is_portal {
        // `[defaults]` is checked as itself: its unknown keys are reported once here.
        c.unknown("defaults", &d.unknown, PORTAL_KEYS);
    }

    let (path, schedule) = at.get(c, "schedule", &p.schedule, &d.schedule);
    let schedule = schedule.unwrap_or_else(|| defaults::SCHEDULE.into());
    let checked = match c.schedules.get(&schedule) {
        Some(checked) => checked.clone(),
        None => {
            let checked = check_cron(&schedule);
            c.schedules.insert(schedule.clone(), checked.clone());
            checked
        }
    };
    if let Err(e) = checked {
        c.err(path, e);
    }
    let (path, tz) = at.get(c, "timezone", &p.timezone, &d.timezone);
    let tz_name = tz.unwrap_or_else(|| defaults::TIMEZONE.into());
    let timezone = tz_name.parse::<Tz>().unwrap_or_else(|_| {
        c.err(
            path,
            format!(
                "unknown time zone {tz_name:?}{} (use an IANA name such as \"Europe/Berlin\")",
                zone_hint(&tz_name)
            ),
        );
        Tz::UTC
    });
    let (jitter_path, jitter_secs) = at.int(
        c,
        "jitter_secs",
        (&p.jitter_secs, &d.jitter_secs),
        0,
        (0, 86_400),
        "an integer from 0 to 86400 (seconds)",
    );
    if jitter_secs > 0 {
        let shortest = *c
            .intervals
            .entry((schedule.clone(), timezone))
            .or_insert_with(|| shortest_interval(&schedule, timezone));
        if let Some(shortest) = shortest.filter(|s| jitter_secs as u64 >= *s) {
            c.err(
                jitter_path,
                format!(
                    "{jitter_secs} is not shorter than the schedule's shortest interval ({shortest}s for {schedule:?}): \
                     a pass could start after the next tick; use less than {shortest}"
                ),
            );
        }
    }
    let dry_run = at.flag(c, "dry_run", &p.dry_run, &d.dry_run);
    let dump = at.flag(c, "dump", &p.dump, &d.dump);
    let (_, timeout) = at.int(
        c,
        "request_timeout_secs",
        (&p.request_timeout_secs, &d.request_timeout_secs),
        defaults::REQUEST_TIMEOUT_SECS,
        (1, 3600),
        "an integer from 1 to 3600 (seconds)",
    );
    let (_, max_retries) = at.int(
        c,
        "max_retries",
        (&p.max_retries, &d.max_retries),
        defaults::MAX_RETRIES,
        (0, 20),
        "an integer from 0 to 20",
    );
    let (_, rpm) = at.int(
        c,
        "requests_per_minute",
        (&p.requests_per_minute, &d.requests_per_minute),
        defaults::REQUESTS_PER_MINUTE,
        (1, 1_000_000),
        "an integer of at least 1",
    );
    let (path, ca) = at.get(c, "ca_file", &p.ca_file, &d.ca_file);
    let own = path.table != "defaults";
    let ca_file = ca.filter(|s| !s.is_empty()).map(|f| c.resolve(own, PathBuf::from(f)));
    if let Some(ca) = &ca_file {
        let checked = match c.ca_files.get(ca) {
            Some(checked) => checked.clone(),
            None => {
                let checked = crate::docspace::http_client(Some(ca)).map(|_| ());
                c.ca_files.insert(ca.clone(), checked.clone());
                checked
            }
        };
        if let Err(e) = checked {
            c.err(path, e);
        }
    }

    let own = c.table(join(prefix, "retention"), &p.retention);
    let inherited = c.table("defaults.retention", &d.retention);
    let retention = retention_policy(c, &join(prefix, "retention"), &own, &inherited, is_portal);
    let own = c.table(join(prefix, "health"), &p.health);
    let inherited = c.table("defaults.health", &d.health);
    let health = super::health::health_policy(c, &join(prefix, "health"), &own, &inherited, is_portal);
    let own = c.table(join(prefix, "notify"), &p.notify);
    let inherited = c.table("defaults.notify", &d.notify);
    let notify = super::health::notify(c, &join(prefix, "notify"), &own, &inherited, is_portal);
    Settings {
        schedule,
        timezone,
        jitter_secs: jitter_secs as u64,
        dry_run,
        dump,
        request_timeout: Duration::from_secs(timeout as u64),
        max_retries: max_retries as u32,
        requests_per_minute: rpm as u32,
        ca_file,
        retention,
        health,
        notify,
    }
}

pub(super) fn portal_config(c: &mut Checker<'_>, name: &str, p: &RawPortal, d: &RawPortal) -> Option<PortalConfig> {
    let prefix = format!("portals.{name}");
    let settings = portal_settings(c, &prefix, p, d, true);
    let at = Inherit {
        own: &prefix,
        inherited: "defaults",
    };
    let (url_path, url_text) = at.get(c, "url", &p.url, &d.url);
    let url = match url_text {
        None => {
            c.err(
                url_path,
                "missing: the portal's address, e.g. \"https://acme.onlyoffice.com\"",
            );
            None
        }
        Some(text) => check_url(c, url_path, &text),
    };
    let (credential, credential_source) = credential(c, &prefix, p, d)?;
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
        retention: c.shared_policy(settings.retention),
        health: settings.health,
        notify: settings.notify,
    })
}

pub(super) fn check_url<P>(c: &mut Checker<'_>, path: P, text: &str) -> Option<Url>
where
    P: Into<String> + Copy + std::fmt::Display,
{
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
            let named = PathBuf::from(c.get(&path, &src.api_key_file)?);
            let credential = named.starts_with("/run/credentials");
            let file = c.resolve(has_own, named);
            let key = read_secret_file(c, &path, &file, credential)?;
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
                .get(join(&path, "user"), &login.user)
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty());
            if user.is_none() && !matches!(login.user, Field::Invalid(_)) {
                c.err(
                    join(&path, "user"),
                    "missing: the portal owner's or admin's login (e-mail)",
                );
            }
            let pw_path = join(&path, "password_file");
            let named = c.get(&pw_path, &login.password_file).map(PathBuf::from);
            let credential = named.as_ref().is_some_and(|f| f.starts_with("/run/credentials"));
            let file = named.map(|f| c.resolve(has_own, f));
            if file.is_none() && !matches!(login.password_file, Field::Invalid(_)) {
                c.err(&pw_path, "missing: a file holding the password");
            }
            let password = read_secret_file(c, &pw_path, file.as_deref()?, credential)?;
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

/// A secret from a file, read once however many portals name the file (a fleet
/// often shares one key file through `[defaults]`).
/// `credential`: the config names it under `/run/credentials/` (a systemd credential).
fn read_secret_file(c: &mut Checker<'_>, path: &str, file: &Path, credential: bool) -> Option<Secret> {
    let read = match c.secret_files.get(file) {
        Some(read) => read.clone(),
        None => {
            // The file's name is never echoed: whatever was put where a file name
            // belongs may be the secret itself (a password pasted into
            // password_file). The key path says which file.
            let read = match std::fs::read_to_string(file) {
                Ok(text) if text.trim().is_empty() => Err("the file is empty".to_string()),
                Ok(text) => Ok(Secret::new(text.trim())),
                Err(e) if credential && e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                    "{}: a systemd credential, which exists only while the service runs; from a shell give \
                     --credentials-dir DIR (the folder of the key files, by default \
                     /etc/docspace-retention/credentials, the file named as the portal)",
                    unreadable_file(&e)
                )),
                Err(e) => Err(unreadable_file(&e)),
            };
            // As ssh and restic do: a key others can read is worth a warning, once per
            // file (not an error: a group-readable file is how some deployments hand
            // keys to a service user).
            use std::os::unix::fs::PermissionsExt;
            if read.is_ok() && std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o044 != 0) {
                c.warnings.push(format!(
                    "{path}: the file is readable by its group or by others; chmod 600 it"
                ));
            }
            c.secret_files.insert(file.to_path_buf(), read.clone());
            read
        }
    };
    read.map_err(|e| c.err(path, e)).ok()
}

/// Why a file named by a secret's key cannot be read, without its name.
pub fn unreadable_file(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "file not readable (permission denied)".to_string(),
        std::io::ErrorKind::IsADirectory => "a directory, not a file".to_string(),
        std::io::ErrorKind::InvalidData => "not a text file".to_string(),
        kind => format!("file cannot be read ({kind})"),
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
