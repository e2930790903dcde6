//! What every command shares: how it ended, the global options, loading the config,
//! and choosing portals.

use std::path::PathBuf;

use crate::config::{self, Config, LoadOptions, Overrides, PortalConfig};

/// How a command ended (docs/reference.md, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Success,
    /// A runtime failure: a portal's pass or an API call failed.
    Failure,
    /// The command line named something that does not exist.
    Usage,
    /// The configuration is invalid.
    Config,
    /// The state database is damaged or unreadable: restarting will not help.
    StateUnusable,
    /// `plan --what-if`: the change would change what is deleted.
    Changed,
}

/// What every command knows from the global options.
#[derive(Clone, Debug)]
pub struct Context {
    /// The config file, and whether the user chose it (flag or variable).
    pub config_path: PathBuf,
    pub config_chosen: bool,
    pub overrides: Overrides,
}

impl Context {
    pub fn load_options(&self) -> LoadOptions {
        let mut opts = LoadOptions::new(self.config_path.clone());
        opts.overrides = self.overrides.clone();
        opts
    }

    /// Loads the config; an invalid one is printed with all its errors.
    pub fn load(&self, file_required: bool, require_portals: bool) -> Result<Config, Ended> {
        let mut opts = self.load_options();
        opts.file_required = file_required;
        opts.require_portals = require_portals;
        config::load(&opts).map_err(|errors| {
            eprint!("{errors}");
            Ended::Config
        })
    }
}

/// Prints an error and ends the command as failed.
pub fn fail(message: impl std::fmt::Display) -> Ended {
    error(message);
    Ended::Failure
}

/// Prints an error. Whatever it echoes of the command line or the server, an API key
/// in it is masked (a key pasted as a file name must not reach a terminal log).
pub fn error(message: impl std::fmt::Display) {
    eprintln!("error: {}", crate::secret::mask_api_keys(&message.to_string()));
}

/// The configured portals to work on: all, or the named ones (unknown names: usage
/// error).
pub(super) fn select<'a>(config: &'a Config, names: &[String]) -> Result<Vec<&'a PortalConfig>, Ended> {
    if names.is_empty() {
        return Ok(config.portals.iter().collect());
    }
    let mut chosen: Vec<&PortalConfig> = Vec::new();
    for name in names {
        match config.portal(name) {
            // `--portal X --portal X` is one portal, one pass.
            Some(p) if chosen.iter().any(|c| c.name == p.name) => {}
            Some(p) => chosen.push(p),
            None if config.disabled.contains(name) => {
                error(format!(
                    "portal {name:?} has enabled = false in the config: it is never read, planned or changed"
                ));
                return Err(Ended::Usage);
            }
            None => {
                let known: Vec<&str> = config.portals.iter().map(|p| p.name.as_str()).collect();
                error(format!(
                    "no portal named {name:?} in the config (configured: {})",
                    known.join(", ")
                ));
                return Err(Ended::Usage);
            }
        }
    }
    Ok(chosen)
}
