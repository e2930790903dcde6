//! Log setup: `tracing` to stderr, as text or JSON; `RUST_LOG` wins over `log.level`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

fn filter(config: &LogConfig) -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(&config.level))
        }
        _ => EnvFilter::try_new(&config.level).unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Logging for the one-shot commands: stderr only, so stdout stays for results.
pub fn init_for_command(config: &LogConfig) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(config))
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
