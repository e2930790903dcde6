//! The daemon's conversation with its surroundings: Unix signals in, systemd
//! notifications out.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;

/// What the daemon can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// SIGTERM, SIGINT and SIGHUP, caught from the moment this exists: install it before
/// the daemon says it is ready, or a `systemctl reload` right after `READY=1` would
/// meet SIGHUP's default action and end the process.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Maps SIGTERM/SIGINT to a (graceful, then immediate) shutdown and SIGHUP to a
    /// reload, until the daemon has stopped.
    pub fn forward(mut self, control: UnboundedSender<Control>) {
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = self.term.recv() => Control::Shutdown,
                    _ = self.int.recv() => Control::Shutdown,
                    _ = self.hup.recv() => Control::Reload,
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
}

/// Tells systemd (when it started us with `NOTIFY_SOCKET`) how we are.
pub(super) fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
