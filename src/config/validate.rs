//! Semantic checks: raw config in, [`Config`] or every error (with key paths) out.
//! The server, daemon and log tables are checked here; portals in `portal.rs`, their
//! retention policies in `policy.rs`, with the helpers of `check.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::check::Checker;
use super::portal::{portal_config, portal_settings};
use super::raw::*;
use super::settings::{Config, ConfigErrors, DaemonConfig, LoadOptions, LogConfig, LogFormat, ServerConfig, defaults};

/// Validates `raw`; `defined_in` names the file that defined a portal (for errors
/// that name two places).
pub(super) fn validate(
    raw: &RawConfig,
    opts: &LoadOptions,
    defined_in: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Config, ConfigErrors> {
    let mut c = Checker {
        errors: Vec::new(),
        warnings: Vec::new(),
        opts,
        intervals: HashMap::new(),
        schedules: HashMap::new(),
        ca_files: HashMap::new(),
        secret_files: HashMap::new(),
        main_dir: opts.path.parent().map(PathBuf::from).unwrap_or_default(),
        portal_dir: None,
        policies: Vec::new(),
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

    let daemon = daemon_config(&mut c, raw);
    let log = log_config(&mut c, raw);
    let (signer, signing_key_file) = super::evidence::evidence(&mut c, raw);
    let picture_forecast = super::picture::forecast(&mut c, raw);
    let per_portal = super::metrics::per_portal(&mut c, raw);

    let defaults_table = c.table("defaults", &raw.defaults);
    // Check `[defaults]` on its own too, so its mistakes show even without portals.
    let fleet = portal_settings(&mut c, "defaults", &RawPortal::default(), &defaults_table, false);

    let mut portals = Vec::new();
    let mut disabled = Vec::new();
    let mut disabled_targets: Vec<(String, reqwest::Url, bool)> = Vec::new();
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
        // `enabled = false`: configured, never read, planned or changed (and not checked
        // beyond this: a retired portal's key may be gone).
        let enabled = match portal.enabled.is_missing() {
            true => c.get("defaults.enabled", &defaults_table.enabled),
            false => c.get(format!("{path}.enabled"), &portal.enabled),
        };
        if enabled == Some(false) {
            disabled.push(name.clone());
            let url = match &portal.url {
                Field::Set(u) => u.parse::<reqwest::Url>().ok(),
                _ => None,
            };
            let dump = match (&portal.dump, &defaults_table.dump) {
                (Field::Set(d), _) | (Field::Missing, Field::Set(d)) => *d,
                _ => false,
            };
            if let Some(url) = url {
                disabled_targets.push((name.clone(), url, dump));
            }
            continue;
        }
        c.portal_dir = defined_in(name).and_then(|f| f.parent().map(PathBuf::from));
        if let Some(p) = portal_config(&mut c, name, &portal, &defaults_table) {
            portals.push(p);
        }
    }
    // A disabled portal is still a definition: another name for it is refused too.
    let targets = portals.iter().map(|p| (p.name.as_str(), &p.url, p.dump)).chain(
        disabled_targets
            .iter()
            .map(|(name, url, dump)| (name.as_str(), url, *dump)),
    );
    same_portal_twice(&mut c, targets, defined_in);
    if opts.require_portals && raw_portals.len() == disabled.len() && !raw_portals.is_empty() {
        c.warnings
            .push("every portal has enabled = false: nothing will run".to_string());
    }
    if opts.require_portals && raw_portals.is_empty() {
        c.err(
            "portals",
            "no portal configured: add a [portals.NAME] table (or a file in conf.d/)",
        );
    }

    let metrics_per_portal = super::metrics::shown(&mut c, per_portal, portals.len());
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    Ok(Config {
        server: ServerConfig { listen },
        daemon,
        log,
        portals,
        default_protect: fleet.retention.protect,
        disabled,
        disabled_targets,
        evidence: super::settings::EvidenceConfig {
            signer,
            signing_key_file,
        },
        picture_forecast,
        metrics_per_portal,
        warnings: c.warnings,
        sources: Vec::new(),
    })
}

/// Two portals with the same `url` (by any spelling: crate::identity) and `dump` are
/// one portal defined twice: their passes would fight over the same backups behind
/// two locks, each deleting what the other protects.
fn same_portal_twice<'a>(
    c: &mut Checker<'_>,
    targets: impl Iterator<Item = (&'a str, &'a reqwest::Url, bool)>,
    defined_in: &dyn Fn(&str) -> Option<PathBuf>,
) {
    let place = |name: &str| match defined_in(name) {
        Some(file) => format!("portals.{name} (in {})", file.display()),
        None => format!("portals.{name}"),
    };
    let mut first: BTreeMap<(String, bool), &str> = BTreeMap::new();
    for (name, url, dump) in targets {
        let key = (crate::identity::canonical_url(url), dump);
        match first.get(&key) {
            Some(other) => c.err(
                format!("portals.{name}.url"),
                format!(
                    "{} and {} have the same url and dump: one portal, one definition",
                    place(other),
                    place(name)
                ),
            ),
            None => {
                first.insert(key, name);
            }
        }
    }
}

fn daemon_config(c: &mut Checker<'_>, raw: &RawConfig) -> DaemonConfig {
    let daemon = c.table("daemon", &raw.daemon);
    c.unknown("daemon", &daemon.unknown, DAEMON_KEYS);
    let max_concurrent_portals = c.int(
        "daemon.max_concurrent_portals",
        &daemon.max_concurrent_portals,
        defaults::MAX_CONCURRENT_PORTALS,
        (1, 100_000),
        "an integer of at least 1",
    );
    let shutdown_grace = c.int(
        "daemon.shutdown_grace_secs",
        &daemon.shutdown_grace_secs,
        defaults::SHUTDOWN_GRACE_SECS,
        (0, 86_400),
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
                .find_map(|k| c.opts.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
            match crate::shard::Shard::parse(text, shard_count, pod.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    c.err("daemon.shard", e);
                    None
                }
            }
        }
    };
    DaemonConfig {
        max_concurrent_portals: max_concurrent_portals as usize,
        shutdown_grace: Duration::from_secs(shutdown_grace as u64),
        state_dir: PathBuf::from(state_dir),
        shard,
    }
}

const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// A log level, or a filter of `target=level` directives. A bare word that is no level
/// is refused: the filter would read it as a target's name and silence everything
/// else (`"inof"`, `--log-level verbose`), errors included.
pub fn check_log_level(level: &str) -> Result<(), String> {
    let expected = "expected error, warn, info, debug, trace or directives such as \"info,docspace_retention=debug\"";
    for directive in level.split(',').map(str::trim) {
        // A bare target (`docspace_retention`, `hyper::client`): every level of it.
        if !directive.contains('=') && (directive.contains('_') || directive.contains("::")) {
            continue;
        }
        let word = directive.rsplit_once('=').map_or(directive, |(_, lvl)| lvl).trim();
        if !LEVELS.contains(&word.to_ascii_lowercase().as_str()) {
            let hint = LEVELS
                .iter()
                .map(|l| (strsim::levenshtein(l, &word.to_ascii_lowercase()), *l))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, l)| format!(" (did you mean {l}?)"))
                .unwrap_or_default();
            return Err(format!("{expected}, found {word:?}{hint}"));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(level)
        .map(|_| ())
        .map_err(|e| format!("{expected}: {e}"))
}

fn log_config(c: &mut Checker<'_>, raw: &RawConfig) -> LogConfig {
    let log = c.table("log", &raw.log);
    c.unknown("log", &log.unknown, LOG_KEYS);
    let level = c
        .get("log.level", &log.level)
        .unwrap_or_else(|| defaults::LOG_LEVEL.into());
    if let Err(e) = check_log_level(&level) {
        let path = match c.opts.overrides.log_level.is_some() {
            true => "log.level (--log-level)",
            false => "log.level",
        };
        c.err(path, e);
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
    let max_log_files = c.int(
        "log.max_log_files",
        &log.max_log_files,
        14,
        (1, 3650),
        "a number of daily files from 1 to 3650",
    ) as usize;
    LogConfig {
        level,
        format,
        directory,
        max_log_files,
    }
}
