//! The two steps every key takes, in one place: read the raw field (reporting a wrong
//! type), then check its value (reporting it with the key path); and inheritance from
//! `[defaults]`.

use std::collections::HashMap;
use std::fmt;

use super::raw::{Field, Unknown};
use super::settings::{ConfigError, LoadOptions};

/// Collects errors and warnings while the config is checked.
pub(super) struct Checker<'a> {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
    pub opts: &'a LoadOptions,
    /// The shortest interval of each (schedule, zone) seen: a fleet shares a few.
    pub intervals: HashMap<(String, chrono_tz::Tz), Option<u64>>,
    /// Each schedule checked, and what the check said (a fleet of 10,000 portals
    /// shares a few schedules; parsing one takes ~20 µs).
    pub schedules: HashMap<String, Result<(), String>>,
    /// Each CA file checked, and what the check said.
    pub ca_files: HashMap<std::path::PathBuf, Result<(), String>>,
    /// Each secret file read, and what it held (or why it could not be read).
    pub secret_files: HashMap<std::path::PathBuf, Result<crate::secret::Secret, String>>,
    /// The main config file's directory: relative paths of `[defaults]` (and of the
    /// environment) are resolved against it.
    pub main_dir: std::path::PathBuf,
    /// The directory of the file that defines the portal being checked.
    pub portal_dir: Option<std::path::PathBuf>,
    /// The distinct retention policies made so far: portals with equal policies
    /// share one (a fleet of 100,000 portals has a few; each is 424 bytes).
    pub policies: Vec<std::sync::Arc<crate::retention::RetentionPolicy>>,
}

impl Checker<'_> {
    /// `policy`, shared with an equal one made before.
    pub fn shared_policy(
        &mut self,
        policy: crate::retention::RetentionPolicy,
    ) -> std::sync::Arc<crate::retention::RetentionPolicy> {
        if let Some(same) = self.policies.iter().find(|p| ***p == policy) {
            return std::sync::Arc::clone(same);
        }
        let policy = std::sync::Arc::new(policy);
        // A fleet with a policy per portal keeps only the latest few to compare with.
        if self.policies.len() == 32 {
            self.policies.remove(0);
        }
        self.policies.push(std::sync::Arc::clone(&policy));
        policy
    }
}

impl Checker<'_> {
    /// A key file named under `/run/credentials/<unit>/`, as a command from a shell
    /// reads it: systemd makes that directory only while the service runs. Unless
    /// `$CREDENTIALS_DIRECTORY` says the service's credentials are here, the file is
    /// read from `--credentials-dir` (`DOCSPACE_RETENTION_CREDENTIALS_DIRECTORY`), or
    /// from the package's `/etc/docspace-retention/credentials`, where the key of
    /// credential `portals_NAME` is the file `NAME`.
    /// A systemd credential's path as a command from a shell reads it.
    pub fn credential_path(&self, path: std::path::PathBuf) -> std::path::PathBuf {
        self.credential(path)
    }

    fn credential(&self, path: std::path::PathBuf) -> std::path::PathBuf {
        use super::settings::{CREDENTIALS_DIR_VAR, PACKAGE_CREDENTIALS_DIR};
        let env = |name: &str| {
            self.opts
                .env
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| std::path::PathBuf::from(v))
        };
        let Ok(rest) = path.strip_prefix("/run/credentials") else {
            return path;
        };
        let mut parts = rest.components();
        let (Some(_unit), Some(name)) = (parts.next(), parts.next().and_then(|c| c.as_os_str().to_str())) else {
            return path;
        };
        if parts.next().is_some() || path.exists() {
            return path;
        }
        if env("CREDENTIALS_DIRECTORY").is_some() {
            return path;
        }
        let dir = self
            .opts
            .overrides
            .credentials_dir
            .clone()
            .or_else(|| env(CREDENTIALS_DIR_VAR))
            .unwrap_or_else(|| PACKAGE_CREDENTIALS_DIR.into());
        let direct = dir.join(name);
        match name.strip_prefix("portals_") {
            Some(bare) if !direct.exists() => dir.join(bare),
            _ => direct,
        }
    }

    /// A path from the config as the process will open it: relative paths are relative
    /// to the file that names them (under systemd the working directory is `/`).
    /// `own`: it was set in the portal's own table, not inherited from `[defaults]`.
    pub fn resolve(&self, own: bool, path: std::path::PathBuf) -> std::path::PathBuf {
        if path.is_absolute() {
            return self.credential(path);
        }
        let base = match (own, &self.portal_dir) {
            (true, Some(dir)) => dir,
            _ => &self.main_dir,
        };
        base.join(path)
    }

    pub fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    pub fn unknown(&mut self, prefix: &str, unknown: &Unknown, known: &[&str]) {
        for key in unknown.keys() {
            // A retention key one table too high: say where it belongs.
            let portal_table =
                prefix == "defaults" || (prefix.starts_with("portals.") && !prefix.contains(".retention"));
            let retention_key = super::raw::RETENTION_KEYS.contains(&key.as_str())
                || crate::retention::RULES.iter().any(|r| r.key == key.as_str());
            if portal_table && retention_key {
                self.err(
                    format!("{prefix}.{key}"),
                    format!("unknown key: {key} belongs under [{prefix}.retention]"),
                );
                continue;
            }
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
    pub fn get<T: Clone>(&mut self, path: impl Into<String>, field: &Field<T>) -> Option<T> {
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
    pub fn table<T: Clone + Default>(&mut self, path: impl Into<String>, field: &Field<T>) -> T {
        self.get(path, field).unwrap_or_default()
    }

    /// An integer in `min..=max`, `default` when absent or refused (reported).
    pub fn int(
        &mut self,
        path: impl Into<String> + Copy,
        field: &Field<i64>,
        default: i64,
        (min, max): (i64, i64),
        what: &str,
    ) -> i64 {
        match self.get(path, field) {
            None => default,
            Some(v) if (min..=max).contains(&v) => v,
            Some(v) => {
                self.err(path, format!("expected {what}, found {v}"));
                default
            }
        }
    }
}

/// A key's path, written out only when an error names it: a fleet's config checks
/// some thirty keys a portal, and nearly all of them are fine.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyPath<'a> {
    pub table: &'a str,
    pub key: &'a str,
}

impl fmt::Display for KeyPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.key)
    }
}

impl From<KeyPath<'_>> for String {
    fn from(p: KeyPath<'_>) -> String {
        p.to_string()
    }
}

impl From<&KeyPath<'_>> for String {
    fn from(p: &KeyPath<'_>) -> String {
        p.to_string()
    }
}

/// A key resolved through inheritance: the own table's value if it has one, else the
/// inherited one; errors name the table the value came from.
pub(super) struct Inherit<'a> {
    pub own: &'a str,
    pub inherited: &'a str,
}

impl Inherit<'_> {
    /// The key path and field in effect for `key`.
    pub fn pick<'s, 'f, T>(
        &'s self,
        key: &'s str,
        own: &'f Field<T>,
        inherited: &'f Field<T>,
    ) -> (KeyPath<'s>, &'f Field<T>) {
        if own.is_missing() {
            (
                KeyPath {
                    table: self.inherited,
                    key,
                },
                inherited,
            )
        } else {
            (KeyPath { table: self.own, key }, own)
        }
    }

    pub fn get<'s, T: Clone>(
        &'s self,
        c: &mut Checker<'_>,
        key: &'s str,
        own: &Field<T>,
        inherited: &Field<T>,
    ) -> (KeyPath<'s>, Option<T>) {
        let (path, field) = self.pick(key, own, inherited);
        let v = c.get(path, field);
        (path, v)
    }

    pub fn int<'s>(
        &'s self,
        c: &mut Checker<'_>,
        key: &'s str,
        (own, inherited): (&Field<i64>, &Field<i64>),
        default: i64,
        range: (i64, i64),
        what: &str,
    ) -> (KeyPath<'s>, i64) {
        let (path, field) = self.pick(key, own, inherited);
        let v = c.int(path, field, default, range, what);
        (path, v)
    }

    pub fn flag(&self, c: &mut Checker<'_>, key: &str, own: &Field<bool>, inherited: &Field<bool>) -> bool {
        self.get(c, key, own, inherited).1.unwrap_or(false)
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    format!("{prefix}.{key}")
}
