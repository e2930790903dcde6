//! Daemon footprint: idle RSS with 10 portals, time from process start to `/readyz`
//! 200, `/metrics` scrape latency with 10,000 portals' series under `wrk` load, and the
//! release binary's size.
//!
//!     cargo bench --bench footprint -- [--runs R]
//!
//! Each figure is the median of R runs (default 5) with min–max.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config with `portals` portals that never run during the measurement.
fn config(dir: &Path, portals: usize, port: u16) -> std::path::PathBuf {
    std::fs::write(dir.join("key"), "sk-footprint").unwrap();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[daemon]\nstate_dir = \"{}\"\n[log]\nlevel = \"error\"\n\
         [defaults]\nschedule = \"0 0 0 1 1 *\"\napi_key_file = \"{}\"\n[defaults.retention]\nkeep_daily = 7\n",
        dir.join("state").display(),
        dir.join("key").display()
    );
    for i in 0..portals {
        text.push_str(&format!("[portals.p{i:05}]\nurl = \"https://p{i:05}.example.com\"\n"));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_docspace-retention"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && &buf[9..12] == b"200"
}

fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

fn stats(name: &str, unit: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.2} {unit} (min {:.2}, max {:.2}, {} runs)",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1],
        v.len()
    );
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let runs = argv
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);

    let mut to_ready = Vec::new();
    let mut idle = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = config(dir.path(), 10, port);
        let started = Instant::now();
        let child = start(&cfg);
        while !ready(port) {
            assert!(started.elapsed() < Duration::from_secs(10), "not ready");
            std::thread::sleep(Duration::from_micros(500));
        }
        to_ready.push(started.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_secs(2));
        idle.push(rss_kib(child.id()) / 1024.0);
        stop(child);
    }
    stats("start to /readyz 200 (10 portals)", "ms", to_ready);
    stats("idle RSS (10 portals)", "MiB", idle);

    // The exposition of 10,000 idle portals rendered in-process (no HTTP), as the
    // daemon renders it for a scrape.
    let observer = docspace_retention::observe::Observer::new();
    let next = chrono::Utc::now();
    for i in 0..10_000 {
        let name = format!("p{i:05}");
        observer.portal_added(&name);
        observer.next_run(&name, Some(next));
    }
    let mut render = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs.max(5) {
        let started = Instant::now();
        bytes = observer.metrics_chunks().map(|chunk| chunk.len()).sum::<usize>();
        render.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    stats(
        &format!("exposition of 10,000 portals in-process ({bytes} bytes)"),
        "ms",
        render,
    );
    drop(observer);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), 10_000, port);
    let started = Instant::now();
    let child = start(&cfg);
    while !ready(port) {
        assert!(started.elapsed() < Duration::from_secs(120), "not ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "start to /readyz 200 (10,000 portals): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    println!("idle RSS (10,000 portals): {:.1} MiB", rss_kib(child.id()) / 1024.0);
    let body = reqwest_free_get(port, "/metrics");
    println!(
        "/metrics with 10,000 portals: {} lines, {:.1} MiB",
        body.lines().count(),
        body.len() as f64 / 1048576.0
    );
    match Command::new("wrk")
        .args([
            "-t2",
            "-c4",
            "-d10s",
            "--latency",
            &format!("http://127.0.0.1:{port}/metrics"),
        ])
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text
                .lines()
                .filter(|l| l.contains("50%") || l.contains("99%") || l.contains("Requests/sec"))
            {
                println!("wrk /metrics (2 threads, 4 connections, 10 s): {}", line.trim());
            }
        }
        Err(_) => println!("wrk not installed: apt-get install wrk"),
    }
    stop(child);

    let size = std::fs::metadata(env!("CARGO_BIN_EXE_docspace-retention"))
        .unwrap()
        .len();
    println!("release binary: {:.1} MB ({size} bytes)", size as f64 / 1e6);
}

fn reqwest_free_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
