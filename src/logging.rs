//! Log setup: `tracing`, as text or JSON, to stderr or to daily-rotated files
//! (tracing-appender's non-blocking writer, flushed when the returned guard drops).
//! `RUST_LOG`, when set, wins over `log.level`; the daemon's level follows reloads.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::config::{LogConfig, LogFormat};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty())
}

fn filter(level: &str) -> EnvFilter {
    match rust_log() {
        Some(v) => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        None => EnvFilter::try_new(with_quiet_libraries(level)).unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// The scheduler library's own info lines ("Job creator created", once per scheduler
/// it makes) say nothing to an operator: its warnings and errors still show, and a
/// level that names it (`tokio_cron_scheduler=debug`) wins.
fn with_quiet_libraries(level: &str) -> String {
    match level.contains("tokio_cron_scheduler") {
        true => level.to_string(),
        false => format!("{level},tokio_cron_scheduler=warn"),
    }
}

/// Keeps file logging alive; dropping it flushes what is buffered.
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

/// Installs the global subscriber. With `files`, a configured `log.directory` gets
/// daily-rotated files (`docspace-retention.log.YYYY-MM-DD`); otherwise stderr, so that
/// stdout stays free for command results. A second call is a no-op.
pub fn init(config: &LogConfig, files: bool) -> Result<LogGuard, String> {
    let (writer, worker, ansi) = match (&config.directory, files) {
        (Some(dir), true) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create log.directory {}: {e}", dir.display()))?;
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("docspace-retention.log")
                .max_log_files(config.max_log_files)
                .build(dir)
                .map_err(|e| format!("cannot log to {}: {e}", dir.display()))?;
            let (nb, guard) = tracing_appender::non_blocking(appender);
            (BoxMakeWriter::new(move || Masked(nb.clone())), Some(guard), false)
        }
        // Colours only for a person at a terminal: never into journald, a file or a pipe.
        _ => (
            BoxMakeWriter::new(|| Masked(std::io::stderr())),
            None,
            std::io::stderr().is_terminal(),
        ),
    };
    let (filter_layer, handle) = reload::Layer::new(filter(&config.level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    let fmt = match config.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    if tracing_subscriber::registry()
        .with(filter_layer)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
    Ok(LogGuard { _worker: worker })
}

/// A log writer that masks API keys: the last line of defence for a key that reached
/// a message anyway (a server echoing a header, a key pasted into a URL path). The
/// formatter writes each event whole, so each write is one line.
struct Masked<W>(W);

impl<W: std::io::Write> std::io::Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.windows(3).any(|w| w == b"sk-") {
            let text = String::from_utf8_lossy(buf);
            self.0.write_all(crate::secret::mask_api_keys(&text).as_bytes())?;
        } else {
            self.0.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Logging for the one-shot commands: stderr only.
pub fn init_for_command(config: &LogConfig) {
    let _ = init(config, false);
}

/// Applies a reloaded `log.level` (unless `RUST_LOG` is set, which keeps winning).
pub fn set_level(level: &str) {
    if rust_log().is_some() {
        return;
    }
    if let (Some(handle), Ok(new)) = (FILTER.get(), EnvFilter::try_new(with_quiet_libraries(level))) {
        let _ = handle.reload(new);
    }
}
