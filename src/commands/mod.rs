//! The commands of the command line, one module each (`cli.rs` only parses and
//! dispatches): `plan` and `once` over a fleet, the operator commands, the daemon
//! and its helpers. Each prints its own results and returns how it [`Ended`]; the
//! exit codes are mapped in `cli.rs` alone.

mod context;
pub mod demo;
pub mod evidence;
mod explain;
mod fleet;
pub mod manual;
pub mod operator;
mod service;
mod what_if;

pub use context::{Context, Ended, error, fail};
pub use explain::explain;
pub use fleet::{PlanOutput, once, plan};
pub use service::{check_config, healthcheck, run_daemon};
