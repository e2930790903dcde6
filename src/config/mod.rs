//! Configuration: load (figment layers), then validate into typed settings.
//!
//! Two steps, as in ripgrep and vector: [`raw`] reads whatever was written without
//! failing on a wrong type or an unknown key, and [`validate`] turns it into a
//! [`Config`] or into *every* problem at once, each with its key path. The layers are
//! merged in SPEC §3's order: built-in defaults, the file, `conf.d/*.toml` in name
//! order, `DOCSPACE_RETENTION_*` variables, command-line flags.

mod print;
mod raw;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use figment::Provider;
use figment::providers::{Format, Toml};
use reqwest::Url;
use serde::Deserialize;

use crate::docspace::{Credential, PortalEndpoint};
use crate::retention::RetentionPolicy;

pub use print::print_config;
pub use validate::check_cron;

/// Prefix of the environment variables that set config keys.
pub const ENV_PREFIX: &str = "DOCSPACE_RETENTION_";
/// The one prefixed variable that is not a key: it names the config file.
pub const CONFIG_PATH_VAR: &str = "DOCSPACE_RETENTION_CONFIG";
pub const DEFAULT_CONFIG_PATH: &str = "/etc/docspace-retention/config.toml";

/// Command-line flags that override config keys.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    /// `--dry-run`: every portal runs dry, whatever its config says.
    pub dry_run: bool,
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub path: PathBuf,
    /// The process environment (passed in so tests can supply their own).
    pub env: Vec<(String, String)>,
    pub overrides: Overrides,
    /// When false, a missing config file means built-in defaults (ad-hoc operator
    /// commands with `--url`, and the demo).
    pub file_required: bool,
    /// When true, a config without portals is an error.
    pub require_portals: bool,
}

impl LoadOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LoadOptions {
            path: path.into(),
            env: std::env::vars().collect(),
            overrides: Overrides::default(),
            file_required: true,
            require_portals: true,
        }
    }
}

/// One problem in the config, at a key path (or a file, for syntax errors).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found, in key order.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "invalid configuration ({n} error{}):", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub daemon: DaemonConfig,
    pub log: LogConfig,
    /// Sorted by name.
    pub portals: Vec<PortalConfig>,
    /// Things that work but deserve a look (logged at start).
    pub warnings: Vec<String>,
    /// The files that were read, in merge order.
    pub sources: Vec<PathBuf>,
}

impl Config {
    pub fn portal(&self, name: &str) -> Option<&PortalConfig> {
        self.portals.iter().find(|p| p.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
}

#[derive(Clone, Debug)]
pub struct DaemonConfig {
    pub max_concurrent_portals: usize,
    pub shutdown_grace: Duration,
    pub state_dir: PathBuf,
    /// This replica's share of the portals; `None` = all of them.
    pub shard: Option<crate::shard::Shard>,
}

impl Config {
    /// Keeps only the portals of this replica's shard (the daemon, `once`, `plan`).
    pub fn own_shard(mut self) -> Self {
        if let Some(shard) = self.daemon.shard {
            self.portals.retain(|p| shard.owns(&p.name));
        }
        self
    }
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    /// `None`: stderr only.
    pub directory: Option<PathBuf>,
}

/// Where a portal's credential came from (shown by `check-config --print`).
#[derive(Clone, Debug, PartialEq)]
pub enum CredentialSource {
    ApiKeyFile(PathBuf),
    ApiKeyEnv(String),
    ApiKeyInline,
    Login { user: String, password_file: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PortalConfig {
    pub name: String,
    pub url: Url,
    pub credential: Credential,
    pub credential_source: CredentialSource,
    pub ca_file: Option<PathBuf>,
    pub schedule: String,
    pub timezone: Tz,
    pub jitter_secs: u64,
    pub dry_run: bool,
    pub dump: bool,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub requests_per_minute: u32,
    pub retention: RetentionPolicy,
}

impl PortalConfig {
    pub fn endpoint(&self) -> PortalEndpoint {
        PortalEndpoint {
            url: self.url.clone(),
            credential: self.credential.clone(),
            request_timeout: self.request_timeout,
            max_retries: self.max_retries,
            requests_per_minute: self.requests_per_minute,
            dump: self.dump,
        }
    }
}

/// Built-in defaults (SPEC §3).
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:9464";
    pub const MAX_CONCURRENT_PORTALS: i64 = 8;
    pub const SHUTDOWN_GRACE_SECS: i64 = 30;
    pub const STATE_DIR: &str = "/var/lib/docspace-retention";
    pub const LOG_LEVEL: &str = "info";
    pub const LOG_FORMAT: &str = "text";
    pub const SCHEDULE: &str = "0 30 3 * * *";
    pub const TIMEZONE: &str = "UTC";
    pub const REQUEST_TIMEOUT_SECS: i64 = 30;
    pub const MAX_RETRIES: i64 = 3;
    pub const REQUESTS_PER_MINUTE: i64 = 600;
}

/// Loads and validates the config; every problem is reported at once.
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    match read_toml(&opts.path) {
        Ok(Some(text)) => files.push((opts.path.clone(), text)),
        Ok(None) if !opts.file_required => {}
        Ok(None) => errors.push(ConfigError {
            path: opts.path.display().to_string(),
            message: format!("config file not found (pass --config PATH or set {CONFIG_PATH_VAR})"),
        }),
        Err(e) => errors.push(e),
    }
    for file in conf_d_files(&opts.path, &mut errors) {
        match read_toml(&file) {
            Ok(Some(text)) => files.push((file, text)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    merge_and_validate(files, errors, opts)
}

/// Loads a config from TOML text instead of files (the fuzz target's entry point).
pub fn load_str(text: &str, opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    match check_toml(&opts.path, text) {
        Ok(()) => files.push((opts.path.clone(), text.to_string())),
        Err(e) => errors.push(e),
    }
    merge_and_validate(files, errors, opts)
}

/// Merges the files (in order), the environment and the flags, then validates.
fn merge_and_validate(
    files: Vec<(PathBuf, String)>,
    mut errors: Vec<ConfigError>,
    opts: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    // The files are merged here, in place, into one table: figment's own merge
    // rebuilds the whole accumulated table for every provider, which is quadratic in
    // the number of conf.d files (10 s for 10,000 one-portal files).
    let mut merged = figment::value::Dict::new();
    let mut sources = Vec::new();
    for (path, text) in files {
        match Toml::string(&text).data() {
            Ok(mut by_profile) => {
                if let Some(dict) = by_profile.remove(&figment::Profile::Default) {
                    merge_tables(&mut merged, dict);
                }
            }
            Err(e) => errors.push(ConfigError {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
        sources.push(path);
    }
    // Then the environment and the flags, later wins.
    let env_keys = env_keys(&opts.env);
    let mut overlay = |key: &str, value: figment::value::Value| {
        if let figment::value::Value::Dict(_, dict) = figment::util::nest(key, value) {
            merge_tables(&mut merged, dict);
        }
    };
    for (name, key, value) in &env_keys {
        if key.split('.').any(str::is_empty) {
            errors.push(ConfigError {
                path: name.clone(),
                message: "environment variable names no config key".into(),
            });
            continue;
        }
        overlay(key, value.parse().unwrap_or_else(|never| match never {}));
    }
    if let Some(level) = &opts.overrides.log_level {
        overlay("log.level", level.as_str().into());
    }
    if let Some(format) = &opts.overrides.log_format {
        overlay("log.format", format.as_str().into());
    }

    // Deserialized straight from the merged table (no copy of the whole tree).
    let tree = figment::value::Value::from(merged);
    let raw: raw::RawConfig = match raw::RawConfig::deserialize(&tree) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(ConfigError {
                path: "config".into(),
                message: e.to_string(),
            });
            raw::RawConfig::default()
        }
    };
    drop(tree);
    let mut result = validate::validate(&raw, opts);
    if let Err(ConfigErrors(found)) = &mut result {
        errors.append(found);
    }
    if !errors.is_empty() {
        errors.sort();
        errors.dedup();
        name_env_sources(&mut errors, &env_keys);
        return Err(ConfigErrors(errors));
    }
    let mut config = result.expect("no errors");
    if opts.overrides.dry_run {
        for p in &mut config.portals {
            p.dry_run = true;
        }
    }
    config.sources = sources;
    Ok(config)
}

/// Merges `other` into `into`: tables recursively, anything else replaced (later
/// files win), as figment's `merge` does.
fn merge_tables(into: &mut figment::value::Dict, other: figment::value::Dict) {
    use figment::value::Value;
    for (key, value) in other {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => merge_tables(existing, incoming),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// A file's text, `None` when it does not exist; a syntax error names file and line.
fn read_toml(path: &Path) -> Result<Option<String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError {
                path: path.display().to_string(),
                message: format!("cannot read: {e}"),
            });
        }
    };
    check_toml(path, &text)?;
    Ok(Some(text))
}

fn check_toml(path: &Path, text: &str) -> Result<(), ConfigError> {
    text.parse::<toml::Table>().map(|_| ()).map_err(|e| ConfigError {
        path: path.display().to_string(),
        message: format!("invalid TOML: {}", e.to_string().trim().replace('\n', " ")),
    })
}

/// `conf.d/*.toml` beside the config file, in name order.
fn conf_d_files(config: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let dir = config.parent().unwrap_or(Path::new(".")).join("conf.d");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(ConfigError {
                path: dir.display().to_string(),
                message: format!("cannot list: {e}"),
            });
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    files
}

/// `(variable, key path, value)` for every prefixed variable but the config path.
fn env_keys(env: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut keys: Vec<_> = env
        .iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name != CONFIG_PATH_VAR)
        .map(|(name, value)| {
            let key = name[ENV_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            (name.clone(), key, value.clone())
        })
        .collect();
    keys.sort();
    keys
}

/// Adds "(from environment variable X)" to errors about keys a variable set.
fn name_env_sources(errors: &mut [ConfigError], env_keys: &[(String, String, String)]) {
    for e in errors.iter_mut() {
        let vars: Vec<&str> = env_keys
            .iter()
            .filter(|(_, key, _)| {
                *key == e.path || key.starts_with(&format!("{}.", e.path)) || e.path.starts_with(&format!("{key}."))
            })
            .map(|(name, _, _)| name.as_str())
            .collect();
        if !vars.is_empty() {
            e.message = format!("{} (set by environment variable {})", e.message, vars.join(", "));
        }
    }
}

#[cfg(test)]
mod tests;
