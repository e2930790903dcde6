//! `attest` at scale (docs/reference.md, "Evidence"; figures in BENCHMARKS.md): a
//! state directory of 1,000 portals × 365 days × 2 passes a day — every pass's line,
//! one deletion a day per portal (intent and result), chained as the product chains
//! them, and every backup's observation in `state.db` — then `attest` for one portal
//! and for all of them, through the release binary, timed with their peak RSS.
//!
//! ```sh
//! cargo bench --bench attest                 # 1000 portals, 365 days
//! cargo bench --bench attest -- --portals 100 --days 30
//! ```

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use docspace_retention::calendar::rfc3339;
use docspace_retention::evidence::{Head, chain};
use docspace_retention::state::audit::{AuditAction, AuditEntry, Outcome};
use docspace_retention::state::{HealthUpdate, Observation, StateDb};
use docspace_retention::wire::BackupId;
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn id(portal: usize, day: usize) -> String {
    format!("{portal:08x}-0000-4000-8000-{day:012x}")
}

/// Runs the binary, waits with wait4; peak RSS from its rusage (the child alone: it
/// is exec'd straight away).
// The child is reaped with libc::wait4 (for its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command) -> (Duration, f64, i32) {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn the binary");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(rc > 0, "wait4 failed");
    (
        started.elapsed(),
        usage.ru_maxrss as f64 / 1024.0,
        libc::WEXITSTATUS(status),
    )
}

fn main() {
    let portals = arg("--portals", 1000);
    let days = arg("--days", 365);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let start: DateTime<Utc> = Utc::now() - TimeDelta::days(days as i64 + 1);
    let day0 = start.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();

    // The audit log, as the writer chains it.
    let built = Instant::now();
    let mut log = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(state.join("audit.jsonl")).unwrap());
    let mut head = Head::default();
    let mut lines = 0u64;
    let mut write = |value: serde_json::Value, head: &mut Head| {
        log.write_all(&chain::link(value, head)).unwrap();
        log.write_all(b"\n").unwrap();
    };
    for d in 0..days {
        for (pass, hour) in [(0, 3), (1, 15)] {
            let at = day0 + TimeDelta::days(d as i64) + TimeDelta::hours(hour) + TimeDelta::minutes(30);
            for p in 0..portals {
                let portal = format!("p{p:04}");
                let ts = rfc3339(at + TimeDelta::milliseconds(p as i64));
                let mut deleted = 0;
                if pass == 0 && d >= 30 {
                    let intent = AuditEntry::intent(&portal, AuditAction::DeleteBackup, false).backup(
                        &id(p, d - 30),
                        Some(&format!("{portal}_backup.tar.gz")),
                        Some(day0 + TimeDelta::days(d as i64 - 30)),
                        vec!["no keep rule: beyond keep_daily 30".into()],
                    );
                    let mut intent = serde_json::to_value(&intent).unwrap();
                    intent["ts"] = json!(ts);
                    let mut result = intent.clone();
                    result["phase"] = json!("result");
                    result["outcome"] = json!(Outcome::Deleted.as_str());
                    result["http_status"] = json!(200);
                    write(intent, &mut head);
                    write(result, &mut head);
                    lines += 2;
                    deleted = 1;
                }
                write(
                    json!({"ts": ts, "portal": portal, "phase": "pass", "finished": ts, "outcome": "success",
                           "error": null, "dry_run": false, "records": 31, "managed": 31,
                           "oldest_present": rfc3339(day0 + TimeDelta::days(d as i64 - 29)),
                           "max_age": "45d", "max_age_held": true, "deleted": deleted, "would_delete": 0,
                           "policy_hash": "5d41402abc4b2a76b9719d911017c592ae2ad3a1c1d5e6f7a8b9c0d1e2f3a4b5"}),
                    &mut head,
                );
                lines += 1;
            }
        }
    }
    log.flush().unwrap();
    drop(log);
    let size = std::fs::metadata(state.join("audit.jsonl")).unwrap().len();

    // Every backup's observation.
    let db = StateDb::open(&state.join("state.db")).unwrap();
    let now = Utc::now();
    for p in 0..portals {
        let portal = format!("p{p:04}");
        let seen: Vec<Observation> = (0..days)
            .map(|d| {
                let made = day0 + TimeDelta::days(d as i64) + TimeDelta::hours(3);
                Observation {
                    id: BackupId::parse(&id(p, d)).unwrap(),
                    first_seen: made,
                    last_seen: made,
                    created_on: Some(made),
                    started: Some(made - TimeDelta::minutes(5)),
                    expires_on: None,
                    left_as: None,
                    left_at: None,
                }
            })
            .collect();
        let left = (0..days.saturating_sub(30))
            .map(|d| (BackupId::parse(&id(p, d)).unwrap(), "deleted", now))
            .collect();
        let update = HealthUpdate {
            seen,
            left,
            ..HealthUpdate::default()
        };
        db.save_health(&portal, &update, now).unwrap();
    }
    drop(db);
    println!(
        "attest: {portals} portals × {days} days × 2 passes: {lines} audit lines ({:.0} MiB), built in {:.1} s",
        size as f64 / 1048576.0,
        built.elapsed().as_secs_f64()
    );

    // A config naming every portal (for --all).
    std::fs::write(dir.path().join("key"), "sk-bench").unwrap();
    let mut config = format!(
        "[daemon]\nstate_dir = \"{}\"\n[log]\nlevel = \"error\"\n",
        state.display()
    );
    for p in 0..portals {
        config.push_str(&format!(
            "[portals.p{p:04}]\nurl = \"http://127.0.0.1:9/p{p:04}\"\napi_key_file = \"{}\"\n[portals.p{p:04}.retention]\nkeep_daily = 30\n",
            dir.path().join("key").display()
        ));
    }
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let binary =
        std::env::var("ATTEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_docspace-retention").to_string());
    let (from, to) = (rfc3339(day0), rfc3339(now));
    let run = |what: &[&str]| {
        let mut cmd = Command::new(&binary);
        cmd.arg("--config")
            .arg(dir.path().join("config.toml"))
            .arg("attest")
            .args(what)
            .args(["--from", &from, "--to", &to, "--json"])
            .stdout(std::process::Stdio::null());
        measure(cmd)
    };
    for (label, what) in [
        ("one portal", vec!["--portal", "p0042"]),
        ("all portals", vec!["--all"]),
    ] {
        let mut walls = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..3 {
            let (wall, peak, status) = run(&what);
            assert_eq!(status, 0, "attest failed");
            walls.push(wall.as_secs_f64());
            rss.push(peak);
        }
        walls.sort_by(f64::total_cmp);
        rss.sort_by(f64::total_cmp);
        println!(
            "attest {label}: median {:.2} s ({:.2}–{:.2}), peak RSS {:.1} MiB ({:.1}–{:.1})",
            walls[1], walls[0], walls[2], rss[1], rss[0], rss[2]
        );
    }
    let mut cmd = Command::new(&binary);
    cmd.arg("--config")
        .arg(dir.path().join("config.toml"))
        .args(["attest", "--verify"])
        .stdout(std::process::Stdio::null());
    let (wall, peak, status) = measure(cmd);
    assert_eq!(status, 0, "the chain the bench wrote does not verify");
    println!("attest --verify: {:.2} s, peak RSS {:.1} MiB", wall.as_secs_f64(), peak);
}
