//! The command line (docs/reference.md, "Commands"): clap's types, dispatch to the
//! commands, and the one mapping from how a command ended to the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::calendar::CalDuration;
use crate::commands::operator::{self, Target, TargetArgs};
use crate::commands::{self, Context, Ended};
use crate::config::{self, Overrides};
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
        #[arg(long, value_name = "ADDR", default_value = crate::demo::DEMO_LISTEN)]
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
    Attest {
        /// The portal (repeat for more: the audit log is read once for all of them)
        #[arg(long = "portal", value_name = "NAME", required_unless_present_any = ["verify", "all"])]
        portals: Vec<String>,
        /// Every portal of the config
        #[arg(long, conflicts_with = "portals")]
        all: bool,
        /// The span's start (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "verify")]
        from: Option<DateTime<Utc>>,
        /// The span's end (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "verify")]
        to: Option<DateTime<Utc>>,
        /// Machine-readable output
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Write it as a self-contained HTML page
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Check the audit log's chain (and, with --public-key, its signatures) instead
        #[arg(long, conflicts_with_all = ["portals", "all", "from", "to", "json", "html"])]
        verify: bool,
        /// The signing key's public half (PEM or 64 hex digits), for --verify; repeat it
        /// for a log signed with several keys over time
        #[arg(long = "public-key", value_name = "FILE", requires = "verify")]
        public_key: Vec<PathBuf>,
    },
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

fn parse_span(s: &str) -> Result<CalDuration, String> {
    match CalDuration::parse(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("a forecast needs a span longer than zero".into()),
        Err(e) => Err(format!("expected a duration such as 180d or 1y: {e}")),
    }
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 instant such as 2026-11-22T10:00:00Z: {e}"))
}

/// The exit code of a command (docs/reference.md, "Exit codes"): the only place that
/// knows the numbers.
fn exit_code(ended: Ended) -> ExitCode {
    ExitCode::from(match ended {
        Ended::Success => 0,
        Ended::Failure => 1,
        Ended::Usage => 2,
        Ended::Config => 78,
        Ended::StateUnusable => 65,
        Ended::Changed => 3,
    })
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    crate::secret::keep_out_of_core_dumps();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // What the user typed may be an API key in the wrong place.
            eprint!("{}", crate::secret::mask_api_keys(&e.render().to_string()));
            return exit_code(Ended::Usage);
        }
        Err(e) => {
            let _ = e.print();
            return exit_code(Ended::Success);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return exit_code(commands::fail(format!("cannot start the async runtime: {e}"))),
    };
    exit_code(runtime.block_on(dispatch(cli)))
}

fn context(cli: &Cli) -> Context {
    let (config_path, config_chosen) = match (&cli.config, std::env::var_os(config::CONFIG_PATH_VAR)) {
        (Some(p), _) => (p.clone(), true),
        (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), true),
        _ => (PathBuf::from(config::DEFAULT_CONFIG_PATH), false),
    };
    Context {
        config_path,
        config_chosen,
        overrides: Overrides {
            credentials_dir: cli.credentials_dir.clone(),
            log_level: cli.log_level.clone(),
            log_format: cli.log_format.clone(),
            dry_run: cli.dry_run,
        },
    }
}

async fn dispatch(cli: Cli) -> Ended {
    let ctx = context(&cli);
    match cli.command {
        Command::Run => commands::run_daemon(&ctx).await,
        Command::Demo { listen } => crate::demo::run(cli.dry_run, Some(listen)).await,
        Command::Healthcheck { url } => commands::healthcheck(&ctx, url).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "docspace-retention", &mut script);
            write_stdout(&script)
        }
        Command::Man => match commands::manual::page(<Cli as clap::CommandFactory>::command()) {
            Ok(page) => write_stdout(&page),
            Err(e) => commands::fail(e),
        },
        Command::CheckConfig { print } => commands::check_config(&ctx, print),
        Command::Plan {
            portals,
            json,
            at,
            forecast,
            html,
            summary,
            what_if,
        } => {
            let out = commands::PlanOutput {
                summary,
                json,
                at,
                forecast,
                html,
                what_if,
            };
            commands::plan(&ctx, &portals, &out).await
        }
        Command::Once { portals } => commands::once(&ctx, &portals).await,
        Command::Explain {
            portal,
            backup_id,
            json,
            at,
        } => commands::explain(&ctx, &portal, &backup_id, json, at).await,
        Command::Attest {
            portals,
            all,
            from,
            to,
            json,
            html,
            verify,
            public_key,
        } => commands::evidence::attest(
            &ctx,
            &commands::evidence::AttestRequest {
                portals,
                all,
                from,
                to,
                json,
                html,
                verify,
                public_key,
            },
        ),
        Command::Evidence(EvidenceCommand::PublicKey) => commands::evidence::public_key(&ctx),
        Command::Schedule(ScheduleCommand::Show { target, json }) => match resolve(&ctx, target) {
            Ok(t) => operator::schedule_show(&t, json).await,
            Err(ended) => ended,
        },
        Command::Schedule(ScheduleCommand::Delete { target, yes, force }) => match resolve(&ctx, target) {
            Ok(t) => operator::schedule_delete(&t, yes, force).await,
            Err(ended) => ended,
        },
        Command::History(HistoryCommand::List { target, json }) => match resolve(&ctx, target) {
            Ok(t) => operator::history_list(&t, json).await,
            Err(ended) => ended,
        },
        Command::History(HistoryCommand::Clear {
            target,
            yes,
            force_protected,
        }) => match resolve(&ctx, target) {
            Ok(t) => operator::history_clear(&t, yes, force_protected).await,
            Err(ended) => ended,
        },
        Command::Backup(BackupCommand::Delete {
            target,
            ids,
            yes,
            force_protected,
        }) => match resolve(&ctx, target) {
            Ok(t) => operator::backup_delete(&t, &ids, yes, force_protected).await,
            Err(ended) => ended,
        },
    }
}

fn resolve(ctx: &Context, flags: TargetFlags) -> Result<Target, Ended> {
    let args = TargetArgs {
        portal: flags.portal,
        url: flags.url,
        api_key_file: flags.api_key_file,
        dump: flags.dump,
    };
    Target::resolve(ctx, &args)
}

/// Writes generated text; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Ended {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Ok(()) => Ended::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ended::Success,
        Err(e) => commands::fail(e),
    }
}
