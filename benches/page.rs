//! The page (issue 23): how long the daemon takes to answer `GET /` and `GET
//! /portal/NAME` once every portal has had a pass (its picture, with the 90-day
//! forecast and what can be restored, in memory), the pages' sizes, the daemon's RSS
//! with those pictures, `plan --html` over the same fleet (every portal drawn), and
//! `plan --what-if` against `plan` (one read each).
//!
//!     cargo bench --bench page -- [--portals N] [--backups M] [--runs R] [--no-forecast]
//!
//! `--no-forecast` sets `picture.forecast = "0d"` (the page without its future);
//! `PAGE_BINARY=PATH` measures another build (one without `[picture]`: with
//! `--no-forecast` omitted, an older one, for a before/after).
//! The release binary, against the built-in simulator (dry runs, one pass of every
//! portal 20 s after the start, then none: the daemon is quiet when measured). Times are the median of R requests (default 20)
//! with min–max, measured from the client: connect, request, the whole body.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docspace_retention::simulator::{SimOptions, Simulator, realistic_portal};

const KEY: &str = "sk-bench";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET: the time to the whole body, and the body.
fn get(port: u16, path: &str) -> (Duration, String) {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut body = Vec::new();
    let _ = s.read_to_end(&mut body);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (took, body)
}

fn stats(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{label}: {:.2} ms ({:.2}–{:.2})",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1]
    );
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main]
async fn main() {
    let portals = arg("--portals", 200);
    let backups = arg("--backups", 40);
    let runs = arg("--runs", 20);
    let now = chrono::Utc::now();
    let names: Vec<String> = (1..=portals).map(|n| format!("p{n:05}")).collect();
    let sim = Simulator::start(
        names
            .iter()
            .map(|n| realistic_portal(n, KEY, now, backups as u32))
            .collect(),
        SimOptions::default(),
        0,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), KEY).unwrap();
    let port = free_port();
    // The daemon's one tick (written just before it starts; `ONCE` until then), then
    // none for a day: the daemon is quiet when measured.
    let once = "ONCE";
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[daemon]\nstate_dir = \"{}\"\n[log]\nlevel = \"error\"\n\
         [defaults]\nschedule = \"{once}\"\ndry_run = true\napi_key_file = \"{}\"\n\
         [defaults.retention]\nkeep_daily = 14\nkeep_weekly = 8\nkeep_monthly = 24\n",
        dir.path().join("state").display(),
        dir.path().join("key").display()
    );
    if std::env::args().any(|a| a == "--no-forecast") {
        config.push_str("[picture]\nforecast = \"0d\"\n");
    }
    for n in &names {
        config.push_str(&format!("[portals.{n}]\nurl = \"{}\"\n", sim.url(n)));
    }
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config.replace("ONCE", "0 30 3 * * *")).unwrap();
    let binary = std::env::var("PAGE_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_docspace-retention").into());
    let binary = binary.as_str();

    // `plan --html` over the fleet: every portal drawn, each with its own forecast.
    let html = dir.path().join("plan.html");
    let started = Instant::now();
    let o = Command::new(binary)
        .args([
            "--config",
            path.to_str().unwrap(),
            "plan",
            "--summary",
            "--html",
            html.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let size = std::fs::metadata(&html).unwrap().len();
    println!(
        "plan --html, {portals} portals × {backups} days: {:.2} s, {:.2} MiB ({:.1} KB a portal)",
        started.elapsed().as_secs_f64(),
        size as f64 / 1048576.0,
        size as f64 / 1000.0 / portals as f64
    );

    // `plan` and `plan --what-if` over the fleet: the what-if's second plan per portal
    // is all it adds to the one read.
    let fragment = dir.path().join("change.toml");
    std::fs::write(&fragment, "[defaults.retention]\nkeep_daily = 7\n").unwrap();
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let o = Command::new(binary)
            .args(["--config", path.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        // An older build without --what-if says so with exit 2.
        (o.status.code() != Some(2)).then(|| started.elapsed().as_secs_f64())
    };
    let plain = timed(&["plan", "--summary"]).unwrap_or_default();
    match timed(&["plan", "--what-if", fragment.to_str().unwrap()]) {
        Some(what_if) => println!(
            "plan: {plain:.2} s; plan --what-if: {what_if:.2} s ({:.2}×)",
            what_if / plain
        ),
        None => println!("plan: {plain:.2} s; this build has no plan --what-if"),
    }

    // The daemon, until every portal has had a pass: one tick 10 s after it starts.
    let tick = (chrono::Utc::now() + chrono::TimeDelta::seconds(10)).format("%S %M %H * * *");
    std::fs::write(&path, config.replace("ONCE", &tick.to_string())).unwrap();
    let mut daemon = Command::new(binary)
        .args(["--config", path.to_str().unwrap(), "run"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| get(port, "/status").1)
            .unwrap_or_default();
        let done = status.matches("\"last_pass\":{").count();
        if done >= portals {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{done} of {portals} portals passed"
        );
    }
    println!("every portal passed after {:.1} s", started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("daemon RSS with {portals} pictures: {:.1} MiB", rss_mib(daemon.id()));
    for path in ["/", "/portal/p00001"] {
        let (_, body) = get(port, path);
        let times: Vec<f64> = (0..runs).map(|_| get(port, path).0.as_secs_f64() * 1000.0).collect();
        stats(&format!("GET {path} ({} KB)", body.len() / 1000), times);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
