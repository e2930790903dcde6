//! The validated configuration: what every other module reads.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::Url;

use crate::docspace::{Credential, PortalEndpoint};
use crate::retention::RetentionPolicy;

/// Prefix of the environment variables that set config keys.
pub const ENV_PREFIX: &str = "DOCSPACE_RETENTION_";
/// The one prefixed variable that is not a key: it names the config file.
pub const CONFIG_PATH_VAR: &str = "DOCSPACE_RETENTION_CONFIG";
/// Stands in for systemd's `$CREDENTIALS_DIRECTORY` in commands run from a shell.
pub const CREDENTIALS_DIR_VAR: &str = "DOCSPACE_RETENTION_CREDENTIALS_DIRECTORY";
/// Where the package keeps the keys it hands the service as credentials.
pub const PACKAGE_CREDENTIALS_DIR: &str = "/etc/docspace-retention/credentials";
pub const DEFAULT_CONFIG_PATH: &str = "/etc/docspace-retention/config.toml";

/// Command-line flags that override config keys.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--credentials-dir`: where key files named under `/run/credentials/` are read
    /// from when the service's credentials are not there (a command from a shell).
    pub credentials_dir: Option<PathBuf>,
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

impl ConfigError {
    /// An error at `path`. Whatever the message echoes of what was written, an API key
    /// in it is masked: a key pasted under the wrong key must not reach a log.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        let (path, message) = (path.into(), message.into());
        ConfigError {
            path: crate::secret::mask_api_keys(&path).into_owned(),
            message: crate::secret::mask_api_keys(&message).into_owned(),
        }
    }
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
    /// Portals with `enabled = false`, by name: configured, never run.
    pub disabled: Vec<String>,
    /// Their URLs (when readable) and `dump`: an ad-hoc `--url` of one is that portal,
    /// and a second definition of one is still a second definition.
    pub disabled_targets: Vec<(String, Url, bool)>,
    /// `[evidence]`: the key that signs the audit log's checkpoints.
    pub evidence: EvidenceConfig,
    /// `[picture] forecast`: how far the page looks ahead (`None`: not at all).
    pub picture_forecast: Option<crate::calendar::CalDuration>,
    /// `[metrics] per_portal`, or what the fleet's size makes of it when unset.
    pub metrics_per_portal: crate::observe::metrics::PerPortal,
    /// `[defaults.retention].protect`: what an ad-hoc `--url` target honours too.
    pub default_protect: std::collections::BTreeSet<crate::wire::BackupId>,
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

/// `[evidence]` (docs/reference.md, "Evidence").
#[derive(Clone, Debug, Default)]
pub struct EvidenceConfig {
    pub signer: Option<crate::evidence::Signer>,
    /// Where the key was read from (shown by `check-config --print`; the key never is).
    pub signing_key_file: Option<PathBuf>,
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
    /// How many daily files `directory` keeps (older ones are deleted).
    pub max_log_files: usize,
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
    /// Shared by the portals whose policies are equal.
    pub retention: std::sync::Arc<RetentionPolicy>,
    /// The backup health sentinel's settings.
    pub health: crate::health::HealthPolicy,
    /// Who is told after each pass.
    pub notify: Option<crate::notify::Notify>,
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
            ca_file: self.ca_file.clone(),
        }
    }
}

/// Built-in defaults (docs/reference.md, "Configuration").
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
