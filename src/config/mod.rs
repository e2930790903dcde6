//! Configuration: load (figment layers), then validate into typed settings.
//!
//! Two steps, as in ripgrep and vector: [`raw`] reads whatever was written without
//! failing on a wrong type or an unknown key, and [`validate`] turns it into a
//! [`Config`] or into *every* problem at once, each with its key path. The layers are
//! merged in the order of docs/reference.md ("Configuration"): built-in defaults, the file, `conf.d/*.toml` in name
//! order, `DOCSPACE_RETENTION_*` variables, command-line flags.

mod check;
mod evidence;
mod health;
mod load;
mod metrics;
mod picture;
mod policy;
mod portal;
mod print;
mod raw;
mod settings;
mod validate;

pub use load::{load, load_str, load_with_fragment};
pub use metrics::ALL_UP_TO as METRICS_ALL_UP_TO;
pub use picture::DEFAULT_FORECAST as DEFAULT_PICTURE_FORECAST;
pub use portal::{check_cron, unreadable_file};
pub use print::{policy_hash, print_config};
pub use settings::*;

#[cfg(test)]
mod tests;

/// The keys of `[server]`, `[daemon]`, `[log]`, a portal and `retention` (besides the
/// rules), for the manual page.
pub fn raw_keys() -> [&'static [&'static str]; 5] {
    [
        raw::SERVER_KEYS,
        raw::DAEMON_KEYS,
        raw::LOG_KEYS,
        raw::PORTAL_KEYS,
        raw::RETENTION_KEYS,
    ]
}
