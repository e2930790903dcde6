//! Reading the layers (built-in defaults, the file, `conf.d/*.toml` in name order,
//! `DOCSPACE_RETENTION_*` variables, flags), merging them, and handing the merged
//! table to validation.

use std::path::{Path, PathBuf};

use figment::Provider;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use super::raw;
use super::settings::{CONFIG_PATH_VAR, Config, ConfigError, ConfigErrors, ENV_PREFIX, LoadOptions};
use super::validate;

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
