//! The daemon and the commands around it: `run`, `check-config`, `healthcheck`.

use super::context::{Context, Ended, fail};
use crate::config::{self, Config};
use crate::daemon::{self, Stopped};
use crate::secret::mask_api_keys;

/// `run`: the daemon, until a signal stops it.
pub async fn run_daemon(ctx: &Context) -> Ended {
    let config = match ctx.load(true, true) {
        Ok(c) => c.own_shard(),
        Err(ended) => return ended,
    };
    let guard = match crate::logging::init(&config.log, true) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let signals = match daemon::Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install signal handlers: {e}")),
    };
    // A damaged state database stops the service for good (exit 65, which the unit
    // does not restart on): a restart every 10 s would not repair it.
    // Only damage is final: a busy or unreadable file (a permission, a full disk) may
    // be fixed while systemd waits, and the start below fails with 1 as before.
    let db = config.daemon.state_dir.join(crate::state::STATE_FILE);
    if db.exists()
        && let Err(e) = crate::state::StateDb::open(&db)
        && e.is_damage()
    {
        tracing::error!(error = %e, "cannot start: the state is unusable");
        super::context::error(format!(
            "{e}: state unusable; restarting will not help (docs/runbook.md)"
        ));
        return Ended::StateUnusable;
    }
    let opts = ctx.load_options();
    let reload: daemon::ReloadFn = std::sync::Arc::new(move || config::load(&opts).map(Config::own_shard));
    let handle = match daemon::start(config, reload).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return fail(e);
        }
    };
    signals.forward(handle.controller());
    let ended = match handle.wait().await {
        Stopped::Gracefully => Ended::Success,
        Stopped::Forced => Ended::Failure,
    };
    tracing::info!(success = ended == Ended::Success, "stopped");
    drop(guard);
    ended
}

/// `healthcheck`: exit 0 if a running daemon answers 200. Without `--url` it asks the
/// address the config's `server.listen` names (a wildcard address as loopback).
pub async fn healthcheck(ctx: &Context, url: Option<String>) -> Ended {
    let url = match url {
        Some(url) => url,
        None => {
            let mut opts = ctx.load_options();
            opts.file_required = false;
            opts.require_portals = false;
            let listen = config::load(&opts)
                .map(|c| c.server.listen)
                .unwrap_or_else(|_| config::defaults::LISTEN.parse().expect("valid default"));
            let ip = match listen.ip() {
                std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
                ip => ip,
            };
            format!("http://{}/healthz", std::net::SocketAddr::new(ip, listen.port()))
        }
    };
    let url = url.as_str();
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match client.get(url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {
            crate::outln!("ok");
            Ended::Success
        }
        Ok(r) => fail(format!("{url} answered {}", r.status())),
        Err(e) if e.is_connect() => fail(format!(
            "{url}: connection refused: no daemon listens there (is it running? server.listen in the config, or --url)"
        )),
        Err(e) => fail(format!("{url}: {}", e.without_url())),
    }
}

/// `check-config [--print]`.
pub fn check_config(ctx: &Context, print: bool) -> Ended {
    let config = match ctx.load(true, true) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    for w in &config.warnings {
        eprintln!("warning: {}", mask_api_keys(w));
    }
    if print {
        // Secrets are "***" already; a key pasted into a URL or a file name is masked.
        crate::out!("{}", mask_api_keys(&config::print_config(&config)));
    } else {
        // A count, not a fleet's names: `--print` has them.
        let n = config.portals.len();
        let files = config.sources.len();
        crate::outln!(
            "configuration OK: {n} portal{}{} from {files} file{} (--print shows them)",
            if n == 1 { "" } else { "s" },
            match config.disabled.len() {
                0 => String::new(),
                d => format!(" and {d} disabled"),
            },
            if files == 1 { "" } else { "s" },
        );
    }
    Ended::Success
}
