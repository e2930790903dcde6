//! Command line (SPEC §2): parsing with clap, then dispatch to the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;

use crate::audit::AuditLog;
use crate::config::{self, Config, LoadOptions, Overrides, PortalConfig};
use crate::docspace::{Credential, DocSpaceClient, PortalEndpoint, is_guid};
use crate::metrics::Metrics;
use crate::operator::{self, Exit, Target};
use crate::pass::{self, PassReport};
use crate::report::{self, PortalPlan};
use crate::secret::Secret;

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
    /// Force every portal to dry-run: plan, audit and count, but delete nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
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
    Demo,
    /// Exit 0 if a running daemon answers /healthz with 200, else 1
    Healthcheck {
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9464/healthz")]
        url: String,
    },
    /// One retention pass over all (or the named) portals, then exit
    Once {
        #[arg(long = "portal", value_name = "NAME")]
        portals: Vec<String>,
    },
    /// Fetch and decide, delete nothing
    Plan {
        #[arg(long = "portal", value_name = "NAME")]
        portals: Vec<String>,
        /// Machine-readable output (SPEC §5)
        #[arg(long)]
        json: bool,
        /// Evaluate as if "now" were this instant (RFC 3339)
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
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output
    Man,
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
pub enum ScheduleCommand {
    /// Print the backup schedule
    Show {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        json: bool,
    },
    /// Delete the backup schedule (prints what it would do unless --yes)
    Delete {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum HistoryCommand {
    /// Print the backup history, newest first
    List {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        json: bool,
    },
    /// Delete the whole history and its files (prints what it would do unless --yes)
    Clear {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Delete the listed backups (prints what it would do unless --yes)
    Delete {
        #[command(flatten)]
        target: TargetArgs,
        /// Backup ids (GUIDs, from `history list`)
        #[arg(required = true, value_name = "ID", value_parser = parse_backup_id)]
        ids: Vec<String>,
        #[arg(long)]
        yes: bool,
    },
}

/// Which portal an operator command addresses: a configured one, or an ad-hoc URL.
#[derive(Args, Debug)]
#[group(required = true, multiple = true)]
pub struct TargetArgs {
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

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 instant such as 2026-11-22T10:00:00Z: {e}"))
}

fn parse_backup_id(s: &str) -> Result<String, String> {
    if is_guid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("expected a backup id (a GUID such as 0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b)".into())
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::Usage as u8 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure as u8);
        }
    };
    let exit = runtime.block_on(dispatch(cli));
    ExitCode::from(exit as u8)
}

/// The config path and whether the user chose it (flag or variable).
fn config_path(cli: &Cli) -> (PathBuf, bool) {
    if let Some(p) = &cli.config {
        return (p.clone(), true);
    }
    match std::env::var_os(config::CONFIG_PATH_VAR) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), true),
        _ => (PathBuf::from(config::DEFAULT_CONFIG_PATH), false),
    }
}

fn load_config(cli: &Cli, file_required: bool, require_portals: bool) -> Result<Config, Exit> {
    let (path, _) = config_path(cli);
    let mut opts = LoadOptions::new(path);
    opts.overrides = Overrides {
        log_level: cli.log_level.clone(),
        log_format: cli.log_format.clone(),
        dry_run: cli.dry_run,
    };
    opts.file_required = file_required;
    opts.require_portals = require_portals;
    config::load(&opts).map_err(|errors| {
        eprint!("{errors}");
        Exit::Config
    })
}

async fn dispatch(cli: Cli) -> Exit {
    match &cli.command {
        Command::Run => run(&cli).await,
        Command::Demo => crate::demo::run(cli.dry_run).await,
        Command::Healthcheck { url } => healthcheck(url).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "docspace-retention", &mut script);
            write_stdout(&script)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut page) {
                Ok(()) => write_stdout(&page),
                Err(e) => operator_fail(e),
            }
        }
        Command::CheckConfig { print } => check_config(&cli, *print),
        Command::Plan { portals, json, at } => {
            let config = match load_config(&cli, true, true) {
                Ok(c) => c.own_shard(),
                Err(exit) => return exit,
            };
            crate::logging::init_for_command(&config.log);
            plan(&config, portals, *json, *at).await
        }
        Command::Once { portals } => {
            let config = match load_config(&cli, true, true) {
                Ok(c) => c.own_shard(),
                Err(exit) => return exit,
            };
            crate::logging::init_for_command(&config.log);
            once(&config, portals).await
        }
        Command::Schedule(cmd) => match cmd {
            ScheduleCommand::Show { target, json } => {
                with_target(&cli, target, false, |t, _| async move {
                    operator::schedule_show(&t, *json).await
                })
                .await
            }
            ScheduleCommand::Delete { target, yes } => {
                with_target(&cli, target, *yes, |t, audit| async move {
                    operator::schedule_delete(&t, audit.as_ref(), *yes).await
                })
                .await
            }
        },
        Command::History(cmd) => match cmd {
            HistoryCommand::List { target, json } => {
                with_target(&cli, target, false, |t, _| async move {
                    operator::history_list(&t, *json).await
                })
                .await
            }
            HistoryCommand::Clear { target, yes } => {
                with_target(&cli, target, *yes, |t, audit| async move {
                    operator::history_clear(&t, audit.as_ref(), *yes).await
                })
                .await
            }
        },
        Command::Backup(BackupCommand::Delete { target, ids, yes }) => {
            with_target(&cli, target, *yes, |t, audit| async move {
                operator::backup_delete(&t, audit.as_ref(), ids, *yes).await
            })
            .await
        }
    }
}

/// Maps SIGTERM/SIGINT to a (graceful, then immediate) shutdown and SIGHUP to a
/// reload, until the daemon has stopped.
pub fn forward_signals(control: tokio::sync::mpsc::UnboundedSender<crate::daemon::Control>) {
    use crate::daemon::Control;
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            let msg = tokio::select! {
                _ = term.recv() => Control::Shutdown,
                _ = int.recv() => Control::Shutdown,
                _ = hup.recv() => Control::Reload,
            };
            if msg == Control::Reload {
                tracing::info!("SIGHUP: reloading the configuration");
            } else {
                tracing::info!("signal received: shutting down");
            }
            if control.send(msg).is_err() {
                return;
            }
        }
    });
}

async fn run(cli: &Cli) -> Exit {
    let config = match load_config(cli, true, true) {
        Ok(c) => c.own_shard(),
        Err(exit) => return exit,
    };
    let guard = match crate::logging::init(&config.log, true) {
        Ok(g) => g,
        Err(e) => return operator_fail(e),
    };
    let (path, _) = config_path(cli);
    let overrides = Overrides {
        log_level: cli.log_level.clone(),
        log_format: cli.log_format.clone(),
        dry_run: cli.dry_run,
    };
    let reload: crate::daemon::ReloadFn = Box::new(move || {
        let mut opts = LoadOptions::new(path.clone());
        opts.overrides = overrides.clone();
        config::load(&opts).map(Config::own_shard)
    });
    let handle = match crate::daemon::start(config, reload).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return operator_fail(e);
        }
    };
    forward_signals(handle.controller());
    let exit = handle.wait().await;
    tracing::info!(code = exit as u8, "stopped");
    drop(guard);
    exit
}

async fn healthcheck(url: &str) -> Exit {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return operator_fail(e),
    };
    match client.get(url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {
            println!("ok");
            Exit::Success
        }
        Ok(r) => operator_fail(format!("{url} answered {}", r.status())),
        Err(e) => operator_fail(format!("{url}: {}", e.without_url())),
    }
}

fn check_config(cli: &Cli, print: bool) -> Exit {
    let config = match load_config(cli, true, true) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    if print {
        print!("{}", config::print_config(&config));
    } else {
        let names: Vec<&str> = config.portals.iter().map(|p| p.name.as_str()).collect();
        let files: Vec<String> = config.sources.iter().map(|p| p.display().to_string()).collect();
        println!(
            "configuration OK: {} portal{} ({}) from {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            files.join(", ")
        );
    }
    Exit::Success
}

/// The configured portals to work on: all, or the named ones (unknown names: usage error).
fn select<'a>(config: &'a Config, names: &[String]) -> Result<Vec<&'a PortalConfig>, Exit> {
    if names.is_empty() {
        return Ok(config.portals.iter().collect());
    }
    let mut chosen = Vec::new();
    for name in names {
        match config.portal(name) {
            Some(p) => chosen.push(p),
            None => {
                let known: Vec<&str> = config.portals.iter().map(|p| p.name.as_str()).collect();
                eprintln!(
                    "error: no portal named {name:?} in the config (configured: {})",
                    known.join(", ")
                );
                return Err(Exit::Usage);
            }
        }
    }
    Ok(chosen)
}

/// HTTP clients: one shared, plus one per portal with its own CA.
pub struct Clients {
    shared: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl Clients {
    pub fn new() -> Result<Self, String> {
        Self::with_metrics(Arc::new(Metrics::new()))
    }

    pub fn with_metrics(metrics: Arc<Metrics>) -> Result<Self, String> {
        Ok(Clients {
            shared: crate::docspace::http_client(None)?,
            metrics,
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn for_portal(&self, portal: &PortalConfig) -> Result<DocSpaceClient, String> {
        let http = match &portal.ca_file {
            Some(ca) => crate::docspace::http_client(Some(ca))?,
            None => self.shared.clone(),
        };
        Ok(DocSpaceClient::new(http, portal.endpoint()).observed_by(Arc::clone(&self.metrics), &portal.name))
    }
}

async fn plan(config: &Config, names: &[String], json_out: bool, at: Option<DateTime<Utc>>) -> Exit {
    let portals = match select(config, names) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let clients = match Clients::new() {
        Ok(c) => c,
        Err(e) => return operator_fail(e),
    };
    let now = at.unwrap_or_else(Utc::now);
    let plans: Vec<PortalPlan> = futures::stream::iter(portals)
        .map(|portal| {
            let clients = &clients;
            async move {
                let result = match clients.for_portal(portal) {
                    Ok(client) => pass::read_and_plan(portal, &client, now)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                if let Err(e) = &result {
                    tracing::error!(portal = %portal.name, error = %e, "cannot plan");
                }
                PortalPlan {
                    portal: portal.name.clone(),
                    result,
                }
            }
        })
        .buffered(config.daemon.max_concurrent_portals)
        .collect()
        .await;
    if json_out {
        println!("{}", report::plan_json(now, &plans));
    } else {
        print!("{}", report::plan_table(&plans));
    }
    if plans.iter().any(|p| p.result.is_err()) {
        Exit::Failure
    } else {
        Exit::Success
    }
}

/// Writes generated text; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Exit {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Ok(()) => Exit::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Success,
        Err(e) => operator_fail(e),
    }
}

fn operator_fail(e: impl std::fmt::Display) -> Exit {
    eprintln!("error: {e}");
    Exit::Failure
}

async fn once(config: &Config, names: &[String]) -> Exit {
    let portals = match select(config, names) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let audit = match AuditLog::open(&config.daemon.state_dir) {
        Ok(a) => a,
        Err(e) => return operator_fail(e),
    };
    let clients = match Clients::new() {
        Ok(c) => Arc::new(c),
        Err(e) => return operator_fail(e),
    };
    // Each pass is its own task, so passes spread over the runtime's worker threads.
    // Only a summary line per portal is kept: a fleet's full reports would not fit a
    // sidecar's memory.
    let mut results = futures::stream::iter(portals)
        .map(|portal| {
            let (clients, audit, portal) = (Arc::clone(&clients), Arc::clone(&audit), portal.clone());
            tokio::spawn(async move {
                let report = match clients.for_portal(&portal) {
                    Ok(client) => pass::run_pass(&portal, &client, &audit, Utc::now()).await,
                    Err(e) => PassReport::failed(&portal.name, portal.dry_run, e),
                };
                clients.metrics().pass_finished(&report);
                // Nobody scrapes a one-shot run: drop the portal's series as it ends.
                clients.metrics().remove_portal(&portal.name);
                (report.succeeded(), report::pass_summary(&report))
            })
        })
        .buffered(config.daemon.max_concurrent_portals);
    let mut all_ok = true;
    while let Some(joined) = results.next().await {
        let (ok, line) = joined.unwrap_or_else(|e| (false, format!("pass task failed: {e}")));
        all_ok &= ok;
        println!("{line}");
    }
    if all_ok { Exit::Success } else { Exit::Failure }
}

/// Resolves the target of an operator command and runs it.
async fn with_target<F, Fut>(cli: &Cli, args: &TargetArgs, needs_audit: bool, run: F) -> Exit
where
    F: FnOnce(Target, Option<Arc<AuditLog>>) -> Fut,
    Fut: std::future::Future<Output = Exit>,
{
    let adhoc = args.url.is_some();
    let (_, explicit) = config_path(cli);
    let config = match load_config(cli, !adhoc || explicit, !adhoc) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    crate::logging::init_for_command(&config.log);
    let target = match target(&config, args) {
        Ok(t) => t,
        Err(exit) => return exit,
    };
    let audit = if needs_audit {
        match AuditLog::open(&config.daemon.state_dir) {
            Ok(a) => Some(a),
            Err(e) => return operator_fail(e),
        }
    } else {
        None
    };
    run(target, audit).await
}

fn target(config: &Config, args: &TargetArgs) -> Result<Target, Exit> {
    let clients = Clients::new().map_err(operator_fail)?;
    if let Some(name) = &args.portal {
        let portal = select(config, std::slice::from_ref(name))?[0];
        let mut portal = portal.clone();
        portal.dump |= args.dump;
        let client = clients.for_portal(&portal).map_err(operator_fail)?;
        return Ok(Target {
            name: portal.name.clone(),
            client,
        });
    }
    let (Some(url), Some(key_file)) = (&args.url, &args.api_key_file) else {
        eprintln!("error: give --portal NAME, or --url URL with --api-key-file FILE");
        return Err(Exit::Usage);
    };
    let usage = |message: String| {
        eprintln!("error: {message}");
        Exit::Usage
    };
    let url = reqwest::Url::parse(url).map_err(|e| usage(format!("--url: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(usage("--url: expected an http:// or https:// URL with a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(usage("--url: must not contain a user name or password".into()));
    }
    let key = std::fs::read_to_string(key_file)
        .map_err(|e| usage(format!("--api-key-file: cannot read {}: {e}", key_file.display())))?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(usage(format!(
            "--api-key-file: {} holds no usable API key",
            key_file.display()
        )));
    }
    let endpoint = PortalEndpoint {
        credential: Credential::ApiKey(Secret::new(key)),
        request_timeout: std::time::Duration::from_secs(config::defaults::REQUEST_TIMEOUT_SECS as u64),
        max_retries: config::defaults::MAX_RETRIES as u32,
        requests_per_minute: config::defaults::REQUESTS_PER_MINUTE as u32,
        dump: args.dump,
        url: url.clone(),
    };
    Ok(Target {
        name: url.host_str().unwrap_or("portal").to_string(),
        client: DocSpaceClient::new(clients.shared.clone(), endpoint),
    })
}
