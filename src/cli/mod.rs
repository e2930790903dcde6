//! The command line (docs/reference.md, "Commands"): the grammar (`args`), dispatch to
//! the commands, and the one mapping from how a command ended to the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::commands::operator::{self, Target, TargetArgs};
use crate::commands::{self, Context, Ended};
use crate::config::{self, Overrides};

mod args;
pub use args::*;

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
        Command::Demo { listen } => crate::commands::demo::run(cli.dry_run, Some(listen)).await,
        Command::Healthcheck { url } => commands::healthcheck(&ctx, url).await,
        Command::Completions { shell } => write_stdout(&commands::manual::completions(
            shell,
            <Cli as clap::CommandFactory>::command(),
        )),
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
        Command::Attest(request) => commands::evidence::attest(&ctx, &request),
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
