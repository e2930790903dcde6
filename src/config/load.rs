//! Reading the layers (built-in defaults, the file, `conf.d/*.toml` in name order,
//! `DOCSPACE_RETENTION_*` variables, flags), merging them, and handing the merged
//! table to validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Provider;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use super::raw;
use super::settings::{CONFIG_PATH_VAR, Config, ConfigError, ConfigErrors, ENV_PREFIX, LoadOptions};
use super::validate;

/// Loads and validates the config; every problem is reported at once.
pub fn load(opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    load_layers(opts, None)
}

/// Loads the config as it would be with the retention tables of the fragment at
/// `fragment` merged over its files (`plan --what-if`, docs/reference.md, "What if"):
/// only `[defaults.retention]`, `[templates.NAME.retention]` and
/// `[portals.NAME.retention]` of portals the config defines; anything else is an error
/// naming the key.
pub fn load_with_fragment(opts: &LoadOptions, fragment: &Path) -> Result<Config, ConfigErrors> {
    load_layers(opts, Some(fragment))
}

fn load_layers(opts: &LoadOptions, fragment: Option<&Path>) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    match read_toml(&opts.path) {
        Ok(Some(text)) => files.push((opts.path.clone(), text)),
        Ok(None) if !opts.file_required => {}
        Ok(None) => errors.push(ConfigError::new(
            opts.path.display().to_string(),
            format!("config file not found (pass --config PATH or set {CONFIG_PATH_VAR})"),
        )),
        Err(e) => errors.push(e),
    }
    let main = files.len();
    for file in conf_d_files(&opts.path, &mut errors) {
        match read_toml(&file) {
            Ok(Some(text)) => files.push((file, text)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let fragment = fragment.and_then(|path| match read_toml(path) {
        Ok(Some(text)) => Some((path.to_path_buf(), text)),
        Ok(None) => {
            errors.push(ConfigError::new(
                path.display().to_string(),
                "what-if fragment not found",
            ));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    });
    merge_and_validate(files, main, fragment, errors, opts)
}

/// Loads a config from TOML text instead of files (the fuzz target's entry point).
pub fn load_str(text: &str, opts: &LoadOptions) -> Result<Config, ConfigErrors> {
    let files = vec![(opts.path.clone(), text.to_string())];
    merge_and_validate(files, 1, None, Vec::new(), opts)
}

/// Merges the files (in order; the first `main` are not from conf.d/), a what-if
/// fragment, the environment and the flags, then validates.
fn merge_and_validate(
    files: Vec<(PathBuf, String)>,
    main: usize,
    fragment: Option<(PathBuf, String)>,
    mut errors: Vec<ConfigError>,
    opts: &LoadOptions,
) -> Result<Config, ConfigErrors> {
    // The files are merged here, in place, into one table: figment's own merge
    // rebuilds the whole accumulated table for every provider, which is quadratic in
    // the number of conf.d files (10 s for 10,000 one-portal files).
    let mut merged = figment::value::Dict::new();
    let mut sources = Vec::new();
    // Which files define each portal: one portal, one definition in conf.d/.
    let mut origins: BTreeMap<String, Vec<(PathBuf, bool)>> = BTreeMap::new();
    for (i, (path, text)) in files.into_iter().enumerate() {
        match Toml::string(&text).data() {
            Ok(mut by_profile) => {
                if let Some(mut dict) = by_profile.remove(&figment::Profile::Default) {
                    if i >= main {
                        // conf.d/ defines portals only: one portal's file must not change
                        // the fleet's defaults, server or daemon.
                        let others: Vec<String> = dict.keys().filter(|k| *k != "portals").cloned().collect();
                        for key in others {
                            dict.remove(&key);
                            errors.push(ConfigError::new(
                                path.display().to_string(),
                                format!(
                                    "[{key}] in conf.d/: files there define portals only ([portals.NAME]); \
                                     put [{key}] in the main config file"
                                ),
                            ));
                        }
                    }
                    if let Some(figment::value::Value::Dict(_, portals)) = dict.get("portals") {
                        for name in portals.keys() {
                            origins.entry(name.clone()).or_default().push((path.clone(), i >= main));
                        }
                    }
                    merge_tables(&mut merged, dict);
                }
            }
            // The syntax error as `check_toml` tells it: never the text of the line.
            Err(e) => errors.push(match check_toml(&path, &text) {
                Err(syntax) => syntax,
                Ok(()) => ConfigError::new(path.display().to_string(), e.to_string()),
            }),
        }
        sources.push(path);
    }
    for (name, files) in &origins {
        let in_conf_d: Vec<String> = files
            .iter()
            .filter(|(_, conf_d)| *conf_d)
            .map(|(p, _)| p.display().to_string())
            .collect();
        if in_conf_d.len() > 1 {
            errors.push(ConfigError::new(
                format!("portals.{name}"),
                format!(
                    "defined in {}: one portal, one definition (put it in one file)",
                    join_and(&in_conf_d)
                ),
            ));
        }
    }
    // A what-if fragment changes the files' retention tables, as an edit would.
    if let Some((path, text)) = fragment {
        match Toml::string(&text).data() {
            Ok(mut by_profile) => {
                let dict = by_profile.remove(&figment::Profile::Default).unwrap_or_default();
                let templates: Vec<String> = match merged.get("templates") {
                    Some(figment::value::Value::Dict(_, t)) => t.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                let dict = retention_only(dict, &origins, &templates, &mut errors);
                merge_tables(&mut merged, dict);
            }
            Err(e) => errors.push(match check_toml(&path, &text) {
                Err(syntax) => syntax,
                Ok(()) => ConfigError::new(path.display().to_string(), e.to_string()),
            }),
        }
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
            errors.push(ConfigError::new(
                name.clone(),
                "environment variable names no config key",
            ));
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

    apply_templates(&mut merged, &mut errors);

    // Deserialized straight from the merged table (no copy of the whole tree).
    let tree = figment::value::Value::from(merged);
    let raw: raw::RawConfig = match raw::RawConfig::deserialize(&tree) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(ConfigError::new("config", e.to_string()));
            raw::RawConfig::default()
        }
    };
    drop(tree);
    let defined_in = |name: &str| origins.get(name).and_then(|f| f.last()).map(|(p, _)| p.clone());
    let mut result = validate::validate(&raw, opts, &defined_in);
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

/// The retention tables of a what-if fragment; every other key is an error naming it
/// (and left out), and so is a portal or template the config does not define.
fn retention_only(
    mut dict: figment::value::Dict,
    defined: &BTreeMap<String, Vec<(PathBuf, bool)>>,
    templates: &[String],
    errors: &mut Vec<ConfigError>,
) -> figment::value::Dict {
    use figment::value::{Dict, Value};
    // The command names the fragment above the errors.
    let mut wrong = |key: String, message: String| errors.push(ConfigError::new(key, message));
    // `(table, names)`: `defaults` holds the retention table itself; the others hold
    // named tables that each hold one.
    let mut kept = Dict::new();
    for (key, value) in std::mem::take(&mut dict) {
        let named = match key.as_str() {
            "defaults" => false,
            "portals" | "templates" => true,
            _ => {
                wrong(
                    key,
                    "a what-if fragment changes retention only: [defaults.retention], \
                     [templates.NAME.retention] or [portals.NAME.retention]"
                        .into(),
                );
                continue;
            }
        };
        let Value::Dict(tag, inner) = value else {
            wrong(key, format!("expected a table, found {}", raw::describe(&value)));
            continue;
        };
        let mut out = Dict::new();
        if named {
            for (name, table) in inner {
                let at = format!("{key}.{name}");
                if key == "portals" && !defined.contains_key(&name) {
                    wrong(at, "no such portal in the config".into());
                    continue;
                }
                if key == "templates" && !templates.contains(&name) {
                    wrong(at, "no such template in the config".into());
                    continue;
                }
                let Value::Dict(t, table) = table else {
                    wrong(at, format!("expected a table, found {}", raw::describe(&table)));
                    continue;
                };
                let table = only_retention(table, &at, &mut wrong);
                out.insert(name, Value::Dict(t, table));
            }
        } else {
            out = only_retention(inner, &key, &mut wrong);
        }
        kept.insert(key, Value::Dict(tag, out));
    }
    kept
}

/// The `retention` key of a table; any other key is reported.
fn only_retention(
    table: figment::value::Dict,
    at: &str,
    wrong: &mut impl FnMut(String, String),
) -> figment::value::Dict {
    table
        .into_iter()
        .filter(|(key, _)| {
            let ok = key == "retention";
            if !ok {
                wrong(
                    format!("{at}.{key}"),
                    "a what-if fragment changes retention only".into(),
                );
            }
            ok
        })
        .collect()
}

/// Merges `other` into `into`: tables recursively, anything else replaced (later
/// files win), as figment's `merge` does.
fn merge_tables(into: &mut figment::value::Dict, other: figment::value::Dict) {
    use figment::value::Value;
    for (key, value) in other {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => merge_tables(existing, incoming),
            // A hold is never lifted by a later file: `protect` lists add up.
            (Some(Value::Array(_, existing)), Value::Array(_, incoming)) if key == "protect" => {
                existing.extend(incoming);
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Keys a template cannot set: what makes a portal that portal.
const NOT_IN_TEMPLATES: [&str; 6] = ["url", "api_key_file", "api_key_env", "api_key", "login", "template"];

/// `template = "NAME"` in a portal: `[templates.NAME]` under the portal's own keys
/// (they win; `protect` lists add up), over `[defaults]` (docs/reference.md,
/// "Templates"). The templates table is gone afterwards.
fn apply_templates(merged: &mut figment::value::Dict, errors: &mut Vec<ConfigError>) {
    use figment::value::Value;
    let templates = match merged.remove("templates") {
        None => figment::value::Dict::new(),
        Some(Value::Dict(_, t)) => t,
        Some(other) => {
            errors.push(ConfigError::new(
                "templates",
                format!("expected a table of templates, found {}", raw::describe(&other)),
            ));
            figment::value::Dict::new()
        }
    };
    for (name, template) in &templates {
        match template {
            Value::Dict(_, keys) => {
                for key in keys.keys().filter(|k| NOT_IN_TEMPLATES.contains(&k.as_str())) {
                    errors.push(ConfigError::new(
                        format!("templates.{name}.{key}"),
                        "not allowed in a template: the url and the credentials belong to each portal",
                    ));
                }
            }
            other => errors.push(ConfigError::new(
                format!("templates.{name}"),
                format!("expected a table, found {}", raw::describe(other)),
            )),
        }
    }
    let Some(Value::Dict(_, portals)) = merged.get_mut("portals") else {
        return;
    };
    for (portal, table) in portals.iter_mut() {
        let Value::Dict(_, own) = table else { continue };
        let Some(chosen) = own.remove("template") else { continue };
        let Value::String(_, chosen) = chosen else {
            errors.push(ConfigError::new(
                format!("portals.{portal}.template"),
                format!(
                    "expected the name of a [templates.NAME] table, found {}",
                    raw::describe(&chosen)
                ),
            ));
            continue;
        };
        let Some(Value::Dict(_, template)) = templates.get(&chosen) else {
            let known: Vec<&str> = templates.keys().map(String::as_str).collect();
            errors.push(ConfigError::new(
                format!("portals.{portal}.template"),
                format!(
                    "no template {chosen:?} (defined: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
            continue;
        };
        let mut result = template.clone();
        for key in NOT_IN_TEMPLATES {
            result.remove(key);
        }
        merge_tables(&mut result, std::mem::take(own));
        *own = result;
    }
}

/// A file's text, `None` when it does not exist.
fn read_toml(path: &Path) -> Result<Option<String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::new(
                path.display().to_string(),
                format!("cannot read: {e}"),
            ));
        }
    };
    Ok(Some(text))
}

/// A TOML syntax error as file, line, column and key: never the text of the line,
/// which may hold a credential (an unquoted `api_key = sk-…` is a syntax error).
fn check_toml(path: &Path, text: &str) -> Result<(), ConfigError> {
    let Err(e) = text.parse::<toml::Table>() else {
        return Ok(());
    };
    let at = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let key = key_at(text, line).map(|k| format!(" (key {k})")).unwrap_or_default();
    let message = e.message().trim().replace('\n', "; ");
    Err(ConfigError::new(
        path.display().to_string(),
        format!("invalid TOML at line {line}, column {column}{key}: {message}"),
    ))
}

/// The dotted key being written at `line` (1-based): the table header above it and
/// the key before the `=`, when they look like keys.
fn key_at(text: &str, line: usize) -> Option<String> {
    let is_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | ' '))
    };
    let mut table = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().take(line.saturating_sub(1)) {
        let t = l.trim();
        if let Some(inner) = t.strip_prefix('[').and_then(|t| t.split(']').next()) {
            let inner = inner.trim_start_matches('[').trim();
            table = if is_key(inner) {
                inner.to_string()
            } else {
                String::new()
            };
        }
    }
    let current = lines.get(line.saturating_sub(1))?.trim();
    let own = current.split_once('=').map(|(k, _)| k.trim()).filter(|k| is_key(k));
    match (table.is_empty(), own) {
        (true, Some(k)) => Some(k.to_string()),
        (false, Some(k)) => Some(format!("{table}.{k}")),
        (false, None) => Some(table),
        (true, None) => None,
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `conf.d/*.toml` beside the config file, in name order.
fn conf_d_files(config: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let dir = config.parent().unwrap_or(Path::new(".")).join("conf.d");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(ConfigError::new(dir.display().to_string(), format!("cannot list: {e}")));
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
        .filter(|(name, _)| {
            name.starts_with(ENV_PREFIX) && name != CONFIG_PATH_VAR && name != super::settings::CREDENTIALS_DIR_VAR
        })
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
