//! `demo`: the try-it-now mode. A simulated DocSpace portal with ~120 days of nightly
//! and manual backups runs on 127.0.0.1, and the real daemon manages it every 20
//! seconds with an example policy, serving its endpoints on 127.0.0.1:9464.

use std::time::Duration;

use chrono::{Timelike, Utc};

use crate::commands::{Ended, fail};
use crate::config::{Config, DaemonConfig, LogConfig, LogFormat, PortalConfig, ServerConfig};
use crate::docspace::{Clients, Credential};
use crate::retention::{RetentionPolicy, Rule, StaleAfter};
use crate::secret::Secret;
use crate::simulator::{SimBackup, SimOptions, SimPortal, Simulator, realistic_portal, sim_id};
use crate::wire::BackupId;

const DEMO_KEY: &str = "sk-demo-not-a-real-key";
pub const DEMO_LISTEN: &str = "127.0.0.1:9464";

/// The example policy: two weeks of dailies, two months of weeklies, half a year of
/// monthlies, with the guards on.
pub fn demo_policy() -> RetentionPolicy {
    RetentionPolicy {
        min_keep: 3,
        max_deletions_per_run: 15,
        max_delete_fraction: 0.5,
        stale_after: StaleAfter::Auto,
        ..RetentionPolicy::default()
    }
    .keep(Rule::Last, 3)
    .keep(Rule::Daily, 14)
    .keep(Rule::Weekly, 8)
    .keep(Rule::Monthly, 6)
}

/// The demo's portal: ~120 days of nightly and manual backups, one the policy
/// protects (the one of 1 September, say, an audit asked for), and a "Temporary"
/// download made an hour ago, which the server deletes itself.
pub fn demo_portal(now: chrono::DateTime<Utc>) -> SimPortal {
    let mut portal = realistic_portal("demo", DEMO_KEY, now, 120);
    // The server missed the last night whose backup is overdue (its 03:00 slot more
    // than `health.late_after` ago), and made none since.
    let missed = demo_missed_night(now);
    portal
        .backups
        .retain(|b| !(b.storage_type == 0 && b.created_on.date_naive() >= missed && b.created_on.time().hour() == 3));
    portal.backups.push(SimBackup {
        id: sim_id("demo", 9_999),
        file_name: format!("demo_{}_download.tar.gz", now.format("%Y-%m-%d")),
        storage_type: 4,
        created_on: now - chrono::TimeDelta::hours(1),
    });
    portal
}

/// The night the demo's server missed: the newest whose 03:00 slot is more than six
/// hours (`health.late_after`) ago.
pub fn demo_missed_night(now: chrono::DateTime<Utc>) -> chrono::NaiveDate {
    (now - chrono::TimeDelta::hours(9)).date_naive()
}

/// The demo's tiny backup: the newest nightly one, a few megabytes where the others
/// have fifty (a portal whose files moved away, a backup cut short).
pub fn demo_tiny(portal: &SimPortal) -> Option<String> {
    portal
        .backups
        .iter()
        .filter(|b| b.storage_type == 0 && b.created_on.time().hour() == 3)
        .max_by_key(|b| b.created_on)
        .map(|b| b.id.clone())
}

/// The backup the demo protects: the oldest nightly one after 60 days.
pub fn demo_protected(portal: &SimPortal, now: chrono::DateTime<Utc>) -> Option<BackupId> {
    portal
        .backups
        .iter()
        .filter(|b| b.storage_type == 0 && b.created_on < now - chrono::TimeDelta::days(60))
        .max_by_key(|b| b.created_on)
        .and_then(|b| BackupId::parse(&b.id))
}

pub fn demo_config(url: &str, state_dir: std::path::PathBuf, dry_run: bool) -> Config {
    let portal = PortalConfig {
        name: "demo".into(),
        url: url.parse().expect("simulator URL"),
        credential: Credential::ApiKey(Secret::new(DEMO_KEY)),
        credential_source: crate::config::CredentialSource::ApiKeyInline,
        ca_file: None,
        schedule: "*/20 * * * * *".into(),
        timezone: chrono_tz::Tz::UTC,
        jitter_secs: 0,
        dry_run,
        dump: false,
        request_timeout: Duration::from_secs(10),
        max_retries: 2,
        requests_per_minute: 600,
        retention: std::sync::Arc::new(demo_policy()),
        health: crate::health::HealthPolicy::default(),
        notify: None,
    };
    Config {
        server: ServerConfig {
            listen: DEMO_LISTEN.parse().expect("valid address"),
        },
        daemon: DaemonConfig {
            max_concurrent_portals: 4,
            shutdown_grace: Duration::from_secs(10),
            state_dir,
            shard: None,
        },
        log: LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            directory: None,
            max_log_files: 14,
        },
        portals: vec![portal],
        default_protect: Default::default(),
        evidence: Default::default(),
        picture_forecast: Some(crate::config::DEFAULT_PICTURE_FORECAST),
        metrics_per_portal: Default::default(),
        disabled: Vec::new(),
        disabled_targets: Vec::new(),
        warnings: Vec::new(),
        sources: Vec::new(),
    }
}

pub async fn run(dry_run: bool, listen: Option<std::net::SocketAddr>) -> Ended {
    let now = Utc::now();
    let portal = demo_portal(now);
    let protected = demo_protected(&portal, now);
    let tiny = demo_tiny(&portal);
    let records = portal.backups.len();
    let sim = match Simulator::start(vec![portal], SimOptions::default(), 0).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot start the simulated portal: {e}")),
    };
    if let Some(tiny) = tiny {
        sim.set_knobs("demo", |k| {
            k.sizes.insert(tiny, 3_200_000);
        });
    }
    // A directory of its own, made new (never one somebody prepared under that name).
    let state_dir = std::env::temp_dir().join(format!(
        "docspace-retention-demo-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    if let Err(e) = std::fs::create_dir(&state_dir) {
        return fail(format!("cannot create {}: {e}", state_dir.display()));
    }
    let mut config = demo_config(&sim.url("demo"), state_dir.clone(), dry_run);
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let listen = config.server.listen;
    std::sync::Arc::make_mut(&mut config.portals[0].retention)
        .protect
        .extend(protected);
    let _ = crate::logging::init(&config.log, false);

    crate::outln!("docspace-retention demo");
    crate::outln!("=======================");
    crate::outln!(
        "A simulated DocSpace portal \"demo\" is running at {} with {records} backups: one every night \
         for 120 days, a manual one every nine days, and a temporary download from an hour ago. Two things \
         went wrong lately: the server missed last night's backup, and the newest one is tiny (3.2 MB where \
         the others have 50): the health sentinel keeps it, and pins the newest good ones.",
        sim.url("demo")
    );
    crate::outln!(
        "The daemon manages it every 20 seconds with this policy: keep_last 3, keep_daily 14, keep_weekly 8, \
         keep_monthly 6, one backup protected; guards: min_keep 3, at most 15 deletions and half the history \
         per pass.{}",
        if dry_run { " DRY RUN: nothing is deleted." } else { "" }
    );
    crate::outln!();
    let portal = &config.portals[0];
    let clients = match Clients::new() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Ok(client) = clients.client(&portal.name, portal.endpoint())
        && let Ok(read) =
            crate::pass::read_and_plan(portal, &client, Utc::now(), &Default::default(), &Default::default()).await
    {
        let plan = crate::report::PortalPlan {
            portal: "demo".into(),
            result: Ok(read),
            forecast: None,
        };
        crate::outln!("The plan for the first pass (newest first; \"delete\" rows go, oldest first):");
        crate::outln!();
        let table = crate::report::plan_table(std::slice::from_ref(&plan));
        let lines: Vec<&str> = table.lines().collect();
        const SHOWN: usize = 30;
        for line in lines.iter().take(SHOWN) {
            crate::outln!("{line}");
        }
        if lines.len() > SHOWN {
            crate::outln!(
                "… {} more rows (the guards keep some deletions for later passes)",
                lines.len() - SHOWN
            );
        }
        crate::outln!();
    }

    let signals = match crate::daemon::Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install signal handlers: {e}")),
    };
    let handle = match crate::daemon::start(config.clone(), std::sync::Arc::new(move || Ok(config.clone()))).await {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&state_dir);
            return fail(format!(
                "{e}\n(is another demo or daemon using {listen}? demo --listen ADDR picks another)"
            ));
        }
    };
    let base = format!("http://{}", handle.addr());
    crate::outln!("The daemon is running. Passes start at :00, :20 and :40 each minute; their logs follow below.");
    crate::outln!("Open {base}/ in a browser: every backup on a time line, coloured by its fate.");
    crate::outln!("Try, in another terminal:");
    crate::outln!("  curl {base}/status                       # last pass per portal: kept, deleted, blocked");
    crate::outln!("  curl -s {base}/metrics | grep deletions  # Prometheus metrics");
    crate::outln!("  curl {base}/readyz");
    crate::outln!(
        "  tail -f {}/audit.jsonl            # every deletion, intent then result",
        state_dir.display()
    );
    crate::outln!("Stop with Ctrl-C.");
    crate::outln!();
    signals.forward(handle.controller());
    let stopped = handle.wait().await;
    drop(sim);
    // The demo's state is its own: nothing of it outlives the demo.
    let _ = std::fs::remove_dir_all(&state_dir);
    match stopped {
        crate::daemon::Stopped::Gracefully => Ended::Success,
        crate::daemon::Stopped::Forced => Ended::Failure,
    }
}
