//! docspace-retention: backup retention for ONLYOFFICE DocSpace portals.
//!
//! The library holds everything; `main.rs` only maps the outcome to an exit code.
//! Where things live: `config` (loading and validation), `docspace` (the API's wire
//! format and HTTP client), `retention` (the pure planner), `calendar` (restic's date
//! arithmetic), `pass` (one retention pass: read, plan, delete, verify), `audit` (the
//! audit log), `report` (plan tables and JSON), `operator` (the one-off commands),
//! `cli` (argument parsing and dispatch).

pub mod audit;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod docspace;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod pass;
pub mod report;
pub mod retention;
pub mod secret;
pub mod server;
pub mod shard;
pub mod simulator;
