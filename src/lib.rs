//! docspace-retention: backup retention for ONLYOFFICE DocSpace portals.
//!
//! The library holds everything; `main.rs` only calls [`cli::main`]. The module map
//! and the path of one pass are in docs/architecture.md. In the order data flows:
//!
//! - `config`: loading (figment layers) and validation into typed settings.
//! - `wire`: the DocSpace wire format and the record types (`BackupId`, records,
//!   schedule); no HTTP.
//! - `docspace`: the HTTP client of a portal, its errors and its factory.
//! - `retention`: the pure planner, its one rule table and the guards.
//! - `calendar`: restic's date arithmetic; `cron`: the schedules' cron strings.
//! - `identity`: what makes two portals one (a URL by any spelling, the server's
//!   tenant).
//! - `executor`: the only code that changes a portal (every DELETE), with every gate:
//!   the portal's lock (`state::lock`), interrupted changes settled first, dry run,
//!   protect.
//! - `state`: what lives in `daemon.state_dir`: the audit log (`state::audit`), the
//!   locks (`state::lock`), the state database.
//! - `pass`: one retention pass: read, plan, execute, verify.
//! - `observe`: the one place that turns events into metrics, `/status` and logs;
//!   `observe::metrics` (every metric family) and `observe::status` (the `/status`
//!   model) are its parts.
//! - `report`: plan tables and JSON, pass summaries; `picture`: the HTML page of it.
//! - `commands`: every command of the CLI; `cli`: parsing, dispatch, exit codes.
//! - `daemon`: cron jobs, reload, shutdown, signals and systemd.
//! - `admin`: the admin endpoints; `latches`: readiness and liveness, set by the
//!   daemon, read by the admin server; `listener`: the one HTTP accept loop.
//! - `simulator`: the built-in DocSpace stand-in (the demo, `commands::demo`, runs
//!   the daemon against it).
//! - `shard`, `logging`, `secret`: fleet sharding, log setup, secrets that cannot leak;
//!   `output`: the one writer of standard output (a closed pipe ends the printing only).

#![deny(clippy::print_stdout)]

pub mod admin;
pub mod calendar;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cron;
pub mod daemon;
pub mod docspace;
pub mod evidence;
pub mod executor;
pub mod health;
pub mod identity;
pub mod latches;
pub mod listener;
pub mod logging;
pub mod notify;
pub mod observe;
pub mod output;
pub mod pass;
pub mod picture;
pub mod report;
pub mod retention;
pub mod secret;
pub mod shard;
pub mod simulator;
pub mod state;
pub mod wire;
