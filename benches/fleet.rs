//! Fleet benchmark: one `once` pass of the release binary over N simulated portals with
//! M daily backups each, a per-request latency L and C portals at a time.
//!
//!     cargo bench --bench fleet -- [--portals N] [--backups M] [--latency-ms L]
//!                                  [--concurrency C] [--baseline K] [--runs R]
//!
//! Reports wall time, the ideal bound `requests × L / C` (requests actually needed:
//! 2 GETs + deletions + 1 verifying GET per portal), their ratio, requests per second,
//! the pass's peak RSS, CPU seconds and CPU per request.
//!
//! The floor: in the same run, against a simulator of the same fleet, a minimal client
//! (this bench re-run as `--floor-client`: reqwest, the same request sequence, C
//! portals at once, no config, no planner, no audit) does the same work; the
//! product's wall time over the floor's is what the product itself costs. With `--baseline K`, the same work for K
//! portals is also done by `scripts/baseline.py` (Python + requests, one call after
//! another, as the seed documents do it) and by the binary, and the speed-up reported.
//! The policy is keep_daily = M/2 with the guards out of the way, and the per-portal
//! request budget raised, so that the pass measures this program, not its throttles.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use docspace_retention::simulator::{SimBackup, SimOptions, SimPortal, SimSchedule, Simulator, sim_id};

const KEY: &str = "sk-bench";

struct Args {
    portals: usize,
    backups: usize,
    latency_ms: u64,
    concurrency: usize,
    baseline: Option<usize>,
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        portals: 1000,
        backups: 60,
        latency_ms: 20,
        concurrency: 64,
        baseline: None,
        runs: 1,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (argv[i].as_str(), value) {
            ("--portals", Some(v)) => a.portals = v,
            ("--backups", Some(v)) => a.backups = v,
            ("--latency-ms", Some(v)) => a.latency_ms = v as u64,
            ("--concurrency", Some(v)) => a.concurrency = v,
            ("--baseline", Some(v)) => a.baseline = Some(v),
            ("--runs", Some(v)) => a.runs = v,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn portal(name: &str, backups: usize) -> SimPortal {
    let today = docspace_retention::simulator::newest_nightly_day(Utc::now());
    SimPortal {
        version: Some(docspace_retention::simulator::SIM_VERSION.to_string()),
        name: name.to_string(),
        api_key: KEY.to_string(),
        backups: (0..backups)
            .map(|d| {
                let t = (today - TimeDelta::days(d as i64))
                    .and_hms_opt(3, 0, 0)
                    .unwrap()
                    .and_utc();
                SimBackup {
                    id: sim_id(name, d as u64 + 1),
                    file_name: format!("{name}_{d}.tar.gz"),
                    storage_type: 0,
                    created_on: t,
                }
            })
            .collect(),
        schedule: Some(SimSchedule {
            storage_type: 0,
            period: 0,
            hour: 3,
            day: 0,
            backups_stored: None,
            last_backup_time: None,
        }),
    }
}

struct Measured {
    wall: Duration,
    max_rss_kib: i64,
    cpu: Duration,
    status: i32,
}

/// Runs the binary; waits for it with wait4 for its CPU time, and follows its peak RSS
/// in /proc (VmHWM: wait4's ru_maxrss would also count the pages the child shared
/// with this big process between fork and exec).
// The child is reaped with libc::wait4 (for its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command) -> Measured {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn the binary");
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut hwm = 0i64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(v) = status
                        .lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<i64>().ok())
                {
                    hwm = hwm.max(v);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            hwm
        })
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child pid with valid out-pointers.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(rc > 0, "wait4 failed");
    let wall = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let hwm = watcher.join().unwrap_or(0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall,
        max_rss_kib: hwm,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        status: libc::WEXITSTATUS(status),
    }
}

fn write_config(dir: &Path, sim: &Simulator, names: &[String], keep: usize, concurrency: usize) -> std::path::PathBuf {
    let conf_d = dir.join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(dir.join("key"), KEY).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nmax_concurrent_portals = {concurrency}\nstate_dir = \"{}\"\n[log]\nlevel = \"error\"\n\
             [defaults]\napi_key_file = \"{}\"\nmax_retries = 0\nrequests_per_minute = 1000000\n\
             [defaults.retention]\nkeep_daily = {keep}\nmin_keep = 1\nmax_deletions_per_run = 100000\n\
             max_delete_fraction = 1.0\nstale_after = \"off\"\n",
            dir.join("state").display(),
            dir.join("key").display()
        ),
    )
    .unwrap();
    for n in names {
        std::fs::write(
            conf_d.join(format!("{n}.toml")),
            format!("[portals.{n}]\nurl = \"{}\"\n", sim.url(n)),
        )
        .unwrap();
    }
    config
}

async fn fleet_pass(portals: usize, a: &Args) -> (Measured, u64) {
    let names: Vec<String> = (0..portals).map(|i| format!("p{i:05}")).collect();
    let sim = Simulator::start(
        names.iter().map(|n| portal(n, a.backups)).collect(),
        SimOptions {
            latency: Duration::from_millis(a.latency_ms),
            ..SimOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim, &names, a.backups / 2, a.concurrency);
    // FLEET_BINARY: measure another build (e.g. one with symbols for a profiler).
    let binary = std::env::var("FLEET_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_docspace-retention").to_string());
    let mut cmd = Command::new(binary);
    cmd.arg("--config")
        .arg(&config)
        .arg("once")
        .stdout(std::process::Stdio::null());
    let m = tokio::task::spawn_blocking(move || measure(cmd)).await.unwrap();
    let requests: u64 = names.iter().map(|n| sim.total_requests(n)).sum();
    for n in names.iter().take(3) {
        assert_eq!(sim.backups(n).len(), a.backups / 2, "the pass did its work");
    }
    (m, requests)
}

/// The floor: the same requests for the same fleet by a minimal client (this bench,
/// re-run as `--floor-client SPEC`), measured as the product is.
async fn floor_pass(portals: usize, a: &Args) -> (Measured, u64) {
    let names: Vec<String> = (0..portals).map(|i| format!("p{i:05}")).collect();
    let sim = Simulator::start(
        names.iter().map(|n| portal(n, a.backups)).collect(),
        SimOptions {
            latency: Duration::from_millis(a.latency_ms),
            ..SimOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("floor.json");
    let urls: Vec<String> = names.iter().map(|n| sim.url(n)).collect();
    std::fs::write(
        &spec,
        serde_json::json!({"urls": urls, "key": KEY, "keep": a.backups / 2, "concurrency": a.concurrency}).to_string(),
    )
    .unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--floor-client").arg(&spec).stdout(std::process::Stdio::null());
    let m = tokio::task::spawn_blocking(move || measure(cmd)).await.unwrap();
    let requests: u64 = names.iter().map(|n| sim.total_requests(n)).sum();
    for n in names.iter().take(3) {
        assert_eq!(sim.backups(n).len(), a.backups / 2, "the floor client did the work");
    }
    (m, requests)
}

/// The minimal client: for each portal, C at a time, what a pass sends: the schedule,
/// the version, the history, one delete per backup beyond the `keep` newest, the
/// history again.
fn floor_client(spec: &Path) {
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(spec).unwrap()).unwrap();
    let key = format!("Bearer {}", spec["key"].as_str().unwrap());
    let keep = spec["keep"].as_u64().unwrap() as usize;
    let urls: Vec<String> = spec["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().trim_end_matches('/').to_string())
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(
        spec["concurrency"].as_u64().unwrap() as usize
    ));
    tokio::runtime::Runtime::new().unwrap().block_on(async move {
        let http = reqwest::Client::builder().pool_max_idle_per_host(32).build().unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for url in urls {
            let (http, key, permits) = (http.clone(), key.clone(), Arc::clone(&permits));
            tasks.spawn(async move {
                let _permit = permits.acquire().await.unwrap();
                let get = |path: &str| {
                    http.get(format!("{url}{path}"))
                        .header("Authorization", &key)
                        .header("Accept", "application/json")
                        .send()
                };
                let ok = |r: reqwest::Response| r.error_for_status().unwrap();
                // Who the portal is (and its zone), as the product asks first.
                ok(get("/api/2.0/settings").await.unwrap());
                ok(get("/api/2.0/backup/getbackupschedule?Dump=false").await.unwrap());
                ok(http
                    .get(format!("{url}/api/2.0/settings/version/build"))
                    .send()
                    .await
                    .unwrap());
                let history = ok(get("/api/2.0/backup/getbackuphistory?Dump=false").await.unwrap());
                let history: serde_json::Value = serde_json::from_slice(&history.bytes().await.unwrap()).unwrap();
                let mut records: Vec<(String, String)> = history["response"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["createdOn"].as_str().unwrap().to_string(),
                            r["id"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                // The health sentinel's reads: the key (once a day) and the
                // schedule's folder (the backups' sizes).
                ok(get("/api/2.0/keys/@self").await.unwrap());
                ok(get("/api/2.0/files/1?startIndex=0&count=1000").await.unwrap())
                    .bytes()
                    .await
                    .unwrap();
                records.sort_by(|a, b| b.cmp(a));
                for (_, id) in records.iter().skip(keep) {
                    let r = http
                        .delete(format!("{url}/api/2.0/backup/deletebackup/{id}"))
                        .header("Authorization", &key)
                        .send()
                        .await
                        .unwrap();
                    ok(r).bytes().await.unwrap();
                }
                ok(get("/api/2.0/backup/getbackuphistory?Dump=false").await.unwrap())
                    .bytes()
                    .await
                    .unwrap();
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    });
}

/// CPU seconds used by this process (the simulator) so far.
fn self_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--floor-client") {
        floor_client(Path::new(&argv[i + 1]));
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

async fn bench() {
    let a = args();
    println!(
        "fleet: N={} portals × M={} backups, L={} ms, C={}, {} run(s); machine: {} cores",
        a.portals,
        a.backups,
        a.latency_ms,
        a.concurrency,
        a.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut ratios = Vec::new();
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    let mut over_floor = Vec::new();
    let mut cpu_per_request = Vec::new();
    for run in 0..a.runs {
        // The floor and the product by turns, so that both see the same machine.
        let (floor, floor_requests) = floor_pass(a.portals, &a).await;
        assert_eq!(floor.status, 0, "the floor client failed");
        let (m, requests) = fleet_pass(a.portals, &a).await;
        assert_eq!(m.status, 0, "once failed");
        let expected = a.portals as u64 * (7 + (a.backups - a.backups / 2) as u64);
        assert_eq!(
            requests, expected,
            "requests: 6 GETs (settings, schedule, version, history, key, folder) + deletions + 1 verifying GET \
             per portal"
        );
        assert_eq!(floor_requests, requests, "the floor sends what the product sends");
        let ideal = requests as f64 * a.latency_ms as f64 / 1000.0 / a.concurrency as f64;
        let sim_cpu = self_cpu();
        let wall = m.wall.as_secs_f64();
        let per_request = m.cpu.as_secs_f64() / requests as f64 * 1e6;
        // With no latency there is no network bound: the ratio to it is left out.
        let to_ideal = |wall: f64| {
            if ideal > 0.0 {
                format!("{:.3}", wall / ideal)
            } else {
                "n/a".to_string()
            }
        };
        println!(
            "run {run}: requests {requests}  wall {wall:.2} s  ideal {ideal:.2} s  ratio {}  {:.0} req/s  peak RSS {:.1} MiB  CPU {:.2} s ({per_request:.1} µs/request)  (simulator CPU so far {sim_cpu:.2} s)",
            to_ideal(wall),
            requests as f64 / wall,
            m.max_rss_kib as f64 / 1024.0,
            m.cpu.as_secs_f64()
        );
        println!(
            "       floor: wall {:.2} s  ratio to ideal {}  CPU {:.2} s ({:.1} µs/request)  peak RSS {:.1} MiB  → product / floor {:.3}",
            floor.wall.as_secs_f64(),
            to_ideal(floor.wall.as_secs_f64()),
            floor.cpu.as_secs_f64(),
            floor.cpu.as_secs_f64() / requests as f64 * 1e6,
            floor.max_rss_kib as f64 / 1024.0,
            wall / floor.wall.as_secs_f64()
        );
        if ideal > 0.0 {
            ratios.push(wall / ideal);
        }
        walls.push(wall);
        rss.push(m.max_rss_kib as f64 / 1024.0);
        over_floor.push(wall / floor.wall.as_secs_f64());
        cpu_per_request.push(per_request);
    }
    if a.runs > 1 {
        let range = |v: &Vec<f64>| {
            (
                v.iter().copied().fold(f64::MAX, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            )
        };
        let ((wl, wh), (ml, mh)) = (range(&walls), range(&rss));
        let ((fl, fh), (cl, ch)) = (range(&over_floor), range(&cpu_per_request));
        let ideal = if ratios.is_empty() {
            "n/a".to_string()
        } else {
            let (rl, rh) = range(&ratios);
            format!("{:.3} ({rl:.3}–{rh:.3})", median(ratios.clone()))
        };
        println!(
            "median: wall {:.2} s ({wl:.2}–{wh:.2}), ratio {ideal}, peak RSS {:.1} MiB ({ml:.1}–{mh:.1}), \
             product / floor {:.3} ({fl:.3}–{fh:.3}), CPU {:.1} µs/request ({cl:.1}–{ch:.1})",
            median(walls.clone()),
            median(rss.clone()),
            median(over_floor.clone()),
            median(cpu_per_request.clone()),
        );
    }

    if let Some(k) = a.baseline {
        let (ours, requests) = fleet_pass(k, &a).await;
        let names: Vec<String> = (0..k).map(|i| format!("p{i:05}")).collect();
        let sim = Simulator::start(
            names.iter().map(|n| portal(n, a.backups)).collect(),
            SimOptions {
                latency: Duration::from_millis(a.latency_ms),
                ..SimOptions::default()
            },
            0,
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let list: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({"name": n, "url": sim.url(n), "key": KEY}))
            .collect();
        let portals_json = dir.path().join("portals.json");
        std::fs::write(&portals_json, serde_json::to_string(&list).unwrap()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/baseline.py");
        let keep = (a.backups / 2).to_string();
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .arg(script)
                .arg(&portals_json)
                .arg(keep)
                .output()
                .expect("python3")
        })
        .await
        .unwrap();
        let baseline = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for n in names.iter().take(3) {
            assert_eq!(sim.backups(n).len(), a.backups / 2, "the baseline did the same work");
        }
        println!(
            "baseline ({k} portals, {requests} requests): python+requests {baseline:.2} s ({}), docspace-retention {:.2} s: speed-up {:.1}×",
            String::from_utf8_lossy(&out.stdout).trim(),
            ours.wall.as_secs_f64(),
            baseline / ours.wall.as_secs_f64()
        );
    }
}
