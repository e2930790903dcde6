//! The config as written: every key optional, every value kept even when it has the
//! wrong type, every unknown key collected. Deserializing this can only fail on a
//! syntax error, so validation (`validate.rs`) sees the whole config and reports every
//! problem at once with its key path.

use std::collections::BTreeMap;

use figment::value::{Num, Value};
use serde::{Deserialize, Deserializer};

/// One config value: absent, readable as `T`, or present with the wrong type (the
/// message says what was expected and what was found).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Missing,
    Set(T),
    Invalid(String),
}

impl<T> Field<T> {
    pub fn is_missing(&self) -> bool {
        matches!(self, Field::Missing)
    }
}

/// How a config value type is read from a figment value, and what to call it in errors.
pub trait FieldType: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl<'de, T: FieldType> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <Value as Deserialize>::deserialize(deserializer)?;
        Ok(match T::from_value(&value) {
            Ok(v) => Field::Set(v),
            Err(message) => Field::Invalid(message),
        })
    }
}

/// A short description of a value for "found …" in messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::String(_, s) => format!("string {s:?}"),
        Value::Char(_, c) => format!("character {c:?}"),
        Value::Bool(_, b) => format!("boolean {b}"),
        Value::Num(_, n) => format!("number {}", num_text(n)),
        Value::Empty(..) => "nothing".to_string(),
        Value::Dict(..) => "a table".to_string(),
        Value::Array(..) => "a list".to_string(),
    }
}

fn num_text(n: &Num) -> String {
    match *n {
        Num::F32(f) => f.to_string(),
        Num::F64(f) => f.to_string(),
        other => integer(&other).map(|i| i.to_string()).unwrap_or_default(),
    }
}

/// Any integer variant (figment keeps signed and unsigned apart).
fn integer(n: &Num) -> Option<i128> {
    n.to_i128().or_else(|| n.to_u128().and_then(|u| i128::try_from(u).ok()))
}

fn expected<T>(what: &str, value: &Value) -> Result<T, String> {
    Err(format!("expected {what}, found {}", describe(value)))
}

impl FieldType for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Num(_, n) => match integer(n) {
                Some(i) => i64::try_from(i).map_err(|_| format!("number {i} is out of range")),
                None => expected("an integer", value),
            },
            _ => expected("an integer", value),
        }
    }
}

impl FieldType for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Num(_, Num::F64(f)) => Ok(*f),
            Value::Num(_, Num::F32(f)) => Ok(*f as f64),
            Value::Num(_, n) => integer(n).map(|i| i as f64).ok_or_else(|| "unreadable number".into()),
            _ => expected("a number", value),
        }
    }
}

impl FieldType for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(_, b) => Ok(*b),
            _ => expected("true or false", value),
        }
    }
}

impl FieldType for String {
    /// Scalars are accepted as their text: environment variables arrive untyped, and
    /// `DOCSPACE_RETENTION_…__API_KEY=12345` must still be a string.
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(_, s) => Ok(s.clone()),
            Value::Char(_, c) => Ok(c.to_string()),
            Value::Num(_, n) => Ok(num_text(n)),
            Value::Bool(_, b) => Ok(b.to_string()),
            _ => expected("a string", value),
        }
    }
}

impl FieldType for Vec<String> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Array(_, items) => items
                .iter()
                .map(|item| match item {
                    Value::String(_, s) => Ok(s.clone()),
                    other => expected("a list of strings", other),
                })
                .collect(),
            _ => expected("a list of strings", value),
        }
    }
}

/// Tables deserialize through serde; only a non-table value fails.
macro_rules! table_field {
    ($($t:ty),*) => {$(
        impl FieldType for $t {
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::Dict(..) => <$t>::deserialize(value).map_err(|e| e.to_string()),
                    _ => expected("a table", value),
                }
            }
        }
    )*};
}
table_field!(
    RawServer,
    RawDaemon,
    RawLog,
    RawPortal,
    RawRetention,
    RawLogin,
    RawHealth,
    RawNotify,
    RawEvidence,
    RawPicture,
    RawMetrics
);

impl FieldType for BTreeMap<String, Field<RawPortal>> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Dict(_, dict) => Ok(dict
                .iter()
                .map(|(name, v)| {
                    let portal = match RawPortal::from_value(v) {
                        Ok(p) => Field::Set(p),
                        Err(e) => Field::Invalid(e),
                    };
                    (name.clone(), portal)
                })
                .collect()),
            _ => expected("a table of portals", value),
        }
    }
}

pub type Unknown = BTreeMap<String, Value>;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub server: Field<RawServer>,
    #[serde(default)]
    pub daemon: Field<RawDaemon>,
    #[serde(default)]
    pub log: Field<RawLog>,
    #[serde(default)]
    pub defaults: Field<RawPortal>,
    #[serde(default)]
    pub portals: Field<BTreeMap<String, Field<RawPortal>>>,
    #[serde(default)]
    pub evidence: Field<RawEvidence>,
    #[serde(default)]
    pub picture: Field<RawPicture>,
    #[serde(default)]
    pub metrics: Field<RawMetrics>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[metrics]`: which portals' series a scrape shows.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawMetrics {
    #[serde(default)]
    pub per_portal: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[picture]`: the page's look ahead.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawPicture {
    #[serde(default)]
    pub forecast: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[evidence]`: the key that signs the audit log's checkpoints.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawEvidence {
    #[serde(default)]
    pub signing_key_file: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawServer {
    #[serde(default)]
    pub listen: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawDaemon {
    #[serde(default)]
    pub max_concurrent_portals: Field<i64>,
    #[serde(default)]
    pub shutdown_grace_secs: Field<i64>,
    #[serde(default)]
    pub state_dir: Field<String>,
    #[serde(default)]
    pub shard: Field<String>,
    #[serde(default)]
    pub shard_count: Field<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawLog {
    #[serde(default)]
    pub level: Field<String>,
    #[serde(default)]
    pub format: Field<String>,
    #[serde(default)]
    pub directory: Field<String>,
    #[serde(default)]
    pub max_log_files: Field<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// A portal table, and also `[defaults]` (which may hold any portal key).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawPortal {
    #[serde(default)]
    pub url: Field<String>,
    #[serde(default)]
    pub api_key_file: Field<String>,
    #[serde(default)]
    pub api_key_env: Field<String>,
    #[serde(default)]
    pub api_key: Field<String>,
    #[serde(default)]
    pub login: Field<RawLogin>,
    #[serde(default)]
    pub ca_file: Field<String>,
    #[serde(default)]
    pub schedule: Field<String>,
    #[serde(default)]
    pub timezone: Field<String>,
    #[serde(default)]
    pub jitter_secs: Field<i64>,
    #[serde(default)]
    pub dry_run: Field<bool>,
    #[serde(default)]
    pub dump: Field<bool>,
    #[serde(default)]
    pub request_timeout_secs: Field<i64>,
    #[serde(default)]
    pub max_retries: Field<i64>,
    #[serde(default)]
    pub requests_per_minute: Field<i64>,
    #[serde(default)]
    pub retention: Field<RawRetention>,
    #[serde(default)]
    pub health: Field<RawHealth>,
    #[serde(default)]
    pub notify: Field<RawNotify>,
    /// `false`: configured, never read, planned or changed.
    #[serde(default)]
    pub enabled: Field<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[*.health]`: the backup health sentinel.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawHealth {
    #[serde(default)]
    pub enabled: Field<bool>,
    #[serde(default)]
    pub late_after: Field<String>,
    #[serde(default)]
    pub server_utc_offset: Field<String>,
    #[serde(default)]
    pub min_size_ratio: Field<f64>,
    #[serde(default)]
    pub max_duration_ratio: Field<f64>,
    #[serde(default)]
    pub baseline: Field<i64>,
    #[serde(default)]
    pub keep_healthy: Field<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[*.notify]`: who is told after each pass.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawNotify {
    #[serde(default)]
    pub url: Field<String>,
    #[serde(default)]
    pub format: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawLogin {
    #[serde(default)]
    pub user: Field<String>,
    #[serde(default)]
    pub password_file: Field<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `[*.retention]`. The `keep_*` rules are not fields: they stay in `rest` and are
/// read by the rule table (`RULES`), so a rule is never spelled out here.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawRetention {
    #[serde(default)]
    pub protect: Field<Vec<String>>,
    #[serde(default)]
    pub storage_types: Field<Vec<String>>,
    #[serde(default)]
    pub min_keep: Field<i64>,
    #[serde(default)]
    pub max_deletions_per_run: Field<i64>,
    #[serde(default)]
    pub max_delete_fraction: Field<f64>,
    #[serde(default)]
    pub stale_after: Field<String>,
    #[serde(default)]
    pub future_tolerance_secs: Field<i64>,
    #[serde(default)]
    pub clear_history: Field<bool>,
    #[serde(default)]
    pub max_age: Field<String>,
    #[serde(default)]
    pub delete_grace: Field<String>,
    /// The rules and any unknown key.
    #[serde(flatten)]
    pub rest: Unknown,
}

impl RawRetention {
    /// A key of `rest` read as `T`.
    pub fn rule<T: FieldType>(&self, key: &str) -> Field<T> {
        match self.rest.get(key) {
            None => Field::Missing,
            Some(value) => match T::from_value(value) {
                Ok(v) => Field::Set(v),
                Err(message) => Field::Invalid(message),
            },
        }
    }

    /// Keys of `rest` that are not rules.
    pub fn unknown(&self) -> Unknown {
        self.rest
            .iter()
            .filter(|(k, _)| !crate::retention::RULES.iter().any(|r| r.key == k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Every key a table accepts, for "did you mean" hints.
pub const SERVER_KEYS: &[&str] = &["listen"];
pub const DAEMON_KEYS: &[&str] = &[
    "max_concurrent_portals",
    "shutdown_grace_secs",
    "state_dir",
    "shard",
    "shard_count",
];
pub const LOG_KEYS: &[&str] = &["level", "format", "directory", "max_log_files"];
pub const TOP_KEYS: &[&str] = &[
    "server",
    "daemon",
    "log",
    "defaults",
    "templates",
    "portals",
    "evidence",
    "picture",
    "metrics",
];
pub const PICTURE_KEYS: &[&str] = &["forecast"];
pub const METRICS_KEYS: &[&str] = &["per_portal"];
pub const EVIDENCE_KEYS: &[&str] = &["signing_key_file"];
pub const PORTAL_KEYS: &[&str] = &[
    "enabled",
    "url",
    "api_key_file",
    "api_key_env",
    "api_key",
    "login",
    "ca_file",
    "schedule",
    "timezone",
    "jitter_secs",
    "dry_run",
    "dump",
    "request_timeout_secs",
    "max_retries",
    "requests_per_minute",
    "retention",
    "health",
    "notify",
];
pub const HEALTH_KEYS: &[&str] = &[
    "enabled",
    "late_after",
    "server_utc_offset",
    "min_size_ratio",
    "max_duration_ratio",
    "baseline",
    "keep_healthy",
];
pub const NOTIFY_KEYS: &[&str] = &["url", "format"];
pub const LOGIN_KEYS: &[&str] = &["user", "password_file"];
/// The retention keys that are not rules (the rules come from `RULES`).
pub const RETENTION_KEYS: &[&str] = &[
    "protect",
    "storage_types",
    "min_keep",
    "max_deletions_per_run",
    "max_delete_fraction",
    "stale_after",
    "future_tolerance_secs",
    "clear_history",
    "max_age",
    "delete_grace",
];
