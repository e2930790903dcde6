//! Soak test: the release daemon against the built-in simulator with many portals and
//! a 1-second cron, for a configurable time. Reports RSS at start and end, passes by
//! outcome, deletions, and every warning or error the daemon logged.
//!
//!     cargo build --release && cargo run --release --example soak -- [PORTALS] [SECONDS]
//!
//! (`scripts/soak.sh` does both.) The simulated portals keep growing: every few
//! seconds each gets a new backup, so the daemon keeps finding work.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use docspace_retention::simulator::{SimBackup, SimOptions, Simulator, realistic_portal, sim_id};

const KEY: &str = "sk-soak";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn metric_sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let portals: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(600);
    let binary = std::env::var("SOAK_BINARY").unwrap_or_else(|_| "target/release/docspace-retention".into());

    let now = Utc::now();
    let names: Vec<String> = (0..portals).map(|i| format!("p{i:04}")).collect();
    let sim = Simulator::start(
        names.iter().map(|n| realistic_portal(n, KEY, now, 60)).collect(),
        SimOptions::default(),
        0,
    )
    .await
    .expect("simulator");

    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(dir.path().join("key"), KEY).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[daemon]\nmax_concurrent_portals = 16\nstate_dir = \"{}\"\n\
             [log]\nlevel = \"warn\"\nformat = \"json\"\n[defaults]\nschedule = \"* * * * * *\"\napi_key_file = \"{}\"\n\
             [defaults.retention]\nkeep_daily = 14\nkeep_weekly = 4\nmin_keep = 3\nmax_deletions_per_run = 5\n",
            dir.path().join("state").display(),
            dir.path().join("key").display()
        ),
    )
    .unwrap();
    for n in &names {
        std::fs::write(
            conf_d.join(format!("{n}.toml")),
            format!("[portals.{n}]\nurl = \"{}\"\n", sim.url(n)),
        )
        .unwrap();
    }

    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e} (build it with cargo build --release)"));
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let log_lines =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());

    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "daemon not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_start = rss_kib(pid);
    println!(
        "soak: {portals} portals, 1-second cron, {seconds} s; ready after {ready_after:?}; RSS after 5 s: {rss_start} KiB"
    );

    let end = Instant::now() + Duration::from_secs(seconds);
    let mut n: u64 = 10_000;
    let mut samples = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Each portal makes a new backup every 5 seconds.
        for name in &names {
            n += 1;
            sim.add_backup(
                name,
                SimBackup {
                    id: sim_id(name, n),
                    file_name: format!("{name}_{n}.tar.gz"),
                    storage_type: 0,
                    created_on: Utc::now(),
                },
            );
        }
        samples.push(rss_kib(pid));
    }
    let rss_end = rss_kib(pid);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let logs = log_lines.join().unwrap();
    let problems: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let max = samples.iter().copied().max().unwrap_or(rss_end);

    println!("RSS start {rss_start} KiB, end {rss_end} KiB, max {max} KiB");
    for outcome in ["success", "failure", "skipped"] {
        println!(
            "passes {outcome}: {}",
            metric_sum(
                &metrics,
                &format!("docspace_retention_runs_total{{outcome=\"{outcome}\"")
            )
        );
    }
    for outcome in ["deleted", "already_gone", "failed"] {
        println!(
            "deletions {outcome}: {}",
            metric_sum(
                &metrics,
                &format!("docspace_retention_deletions_total{{outcome=\"{outcome}\"")
            )
        );
    }
    println!("daemon exit: {status}");
    println!("warnings and errors logged: {}", problems.len());
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for p in &problems {
        // JSON logs: group by level, target and message, not by the fields.
        let key = serde_json::from_str::<serde_json::Value>(p)
            .map(|v| format!("{} {}: {}", v["level"], v["target"], v["fields"]["message"]))
            .unwrap_or_else(|_| p.to_string());
        *kinds.entry(key).or_default() += 1;
    }
    for (k, v) in kinds {
        println!("  {v:>6} × {k}");
    }
}
