//! The command line's grammar (docs/reference.md, "Commands"): clap's types for every
//! command and option, and the parsers of their values.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::calendar::{CalDuration, parse_instant};
use crate::wire::BackupId;

/// `--version`: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BUILD_GIT_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(
    name = "docspace-retention",
    version = VERSION,
    about = "Backup retention for ONLYOFFICE DocSpace portals"
)]
pub struct Cli {
    /// Config file [default: $DOCSPACE_RETENTION_CONFIG, else /etc/docspace-retention/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Force every portal to dry-run: plan, audit and count, but delete nothing (`plan`
    /// never deletes: there it changes nothing)
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Where to read keys named under /run/credentials/ (the service's systemd
    /// credentials) in a command from a shell [default: $DOCSPACE_RETENTION_CREDENTIALS_DIRECTORY,
    /// else /etc/docspace-retention/credentials]
    #[arg(long, global = true, value_name = "DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// Log level or filter (RUST_LOG, when set, wins)
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The daemon: cron jobs, HTTP server (/metrics /healthz /readyz /status), signals
    Run,
    /// Try it now: a simulated DocSpace portal and the daemon running against it
    Demo {
        /// Where the demo's daemon serves its page and endpoints
        #[arg(long, value_name = "ADDR", default_value = crate::commands::demo::DEMO_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Exit 0 if a running daemon answers /healthz with 200, else 1
    Healthcheck {
        /// The daemon's /healthz [default: from the config's server.listen, else
        /// http://127.0.0.1:9464/healthz]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// One retention pass over all (or the named) portals, then exit
    Once {
        /// Only this portal (repeat for more; default: every portal)
        #[arg(long = "portal", value_name = "NAME")]
        portals: Vec<String>,
    },
    /// Fetch and decide, delete nothing
    Plan {
        /// Only this portal (repeat for more; default: every portal)
        #[arg(long = "portal", value_name = "NAME")]
        portals: Vec<String>,
        /// Machine-readable output (docs/reference.md, "plan --json")
        #[arg(long)]
        json: bool,
        /// Evaluate as if "now" were this instant (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
        at: Option<DateTime<Utc>>,
        /// Forecast when each backup would be deleted, this far ahead ("180d", "1y")
        #[arg(long, value_name = "DURATION", value_parser = parse_span)]
        forecast: Option<CalDuration>,
        /// Write the plan's picture as a self-contained HTML page
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Each portal's header and the fleet's totals, without the table of backups
        #[arg(long, conflicts_with = "json")]
        summary: bool,
        /// Compare with the policy after this config fragment ([defaults.retention],
        /// [portals.NAME.retention]); exit 3 when something would change
        #[arg(long, value_name = "FILE", conflicts_with_all = ["html", "summary"])]
        what_if: Option<PathBuf>,
    },
    /// The whole decision about one backup: each rule, window, guard, protect, grace, health
    Explain {
        /// The portal
        #[arg(long, value_name = "NAME")]
        portal: String,
        /// The backup's id (from `plan` or `history list`)
        #[arg(value_name = "BACKUP_ID")]
        backup_id: String,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
        /// Explain as if "now" were this instant (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
        at: Option<DateTime<Utc>>,
    },
    /// Load and validate the config; all errors at once
    CheckConfig {
        /// Show the effective merged config, secrets as "***"
        #[arg(long)]
        print: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output
    Man,
    /// What was kept and deleted for a portal in a span, from the audit log and the state database alone
    Attest(crate::commands::evidence::AttestRequest),
    /// The key that signs the audit log's checkpoints
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// The portal's backup schedule
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// The portal's backup history
    #[command(subcommand)]
    History(HistoryCommand),
    /// Individual backups
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Print the public key of evidence.signing_key_file (PEM), to hand to an auditor
    PublicKey,
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Print the backup schedule
    Show {
        #[command(flatten)]
        target: TargetFlags,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Delete the backup schedule (prints what it would do unless --yes)
    Delete {
        #[command(flatten)]
        target: TargetFlags,
        /// Delete (without it, print what would be deleted)
        #[arg(long)]
        yes: bool,
        /// Delete it even on a server older than 3.1.0 or of unknown version
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum HistoryCommand {
    /// Print the backup history, newest first
    List {
        #[command(flatten)]
        target: TargetFlags,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Delete the whole history and its files (prints what it would do unless --yes)
    Clear {
        #[command(flatten)]
        target: TargetFlags,
        /// Delete (without it, print what would be deleted)
        #[arg(long)]
        yes: bool,
        /// Clear a portal with `protect` ids too (a clear also removes records the
        /// history does not list, protected ones among them)
        #[arg(long)]
        force_protected: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Delete the listed backups (prints what it would do unless --yes)
    Delete {
        #[command(flatten)]
        target: TargetFlags,
        /// Backup ids (GUIDs, from `history list`)
        #[arg(required = true, value_name = "ID")]
        ids: Vec<BackupId>,
        /// Delete (without it, print what would be deleted)
        #[arg(long)]
        yes: bool,
        /// Delete backups the portal's `protect` list names too
        #[arg(long)]
        force_protected: bool,
    },
}

/// Which portal an operator command addresses: a configured one, or an ad-hoc URL.
#[derive(Args, Debug)]
#[group(required = true, multiple = true)]
pub struct TargetFlags {
    /// A portal from the config
    #[arg(long, value_name = "NAME", conflicts_with_all = ["url", "api_key_file"])]
    pub portal: Option<String>,
    /// A portal not in the config (with --api-key-file)
    #[arg(long, value_name = "URL", requires = "api_key_file")]
    pub url: Option<String>,
    /// File holding the API key for --url
    #[arg(long, value_name = "FILE", requires = "url")]
    pub api_key_file: Option<PathBuf>,
    /// Address the server-wide dump (on-premise) instead of the portal
    #[arg(long)]
    pub dump: bool,
}

pub(super) fn parse_span(s: &str) -> Result<CalDuration, String> {
    match CalDuration::parse(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("a forecast needs a span longer than zero".into()),
        Err(e) => Err(format!("expected a duration such as 180d or 1y: {e}")),
    }
}
