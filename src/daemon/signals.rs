//! The daemon's conversation with its surroundings: Unix signals in, systemd
//! notifications out.

use tokio::sync::mpsc::UnboundedSender;

/// What the daemon can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// Maps SIGTERM/SIGINT to a (graceful, then immediate) shutdown and SIGHUP to a
/// reload, until the daemon has stopped.
pub fn forward_signals(control: UnboundedSender<Control>) {
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

/// Tells systemd (when it started us with `NOTIFY_SOCKET`) how we are.
pub(super) fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
