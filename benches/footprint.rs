//! Daemon footprint: idle RSS and time from process start to `/readyz` 200 with 10
//! portals and with 10,000 (in one config file, and in 10,000 `conf.d` files); with
//! 10,000, the time of five `/metrics` scrapes one after another (worst and median),
//! `/status` and `GET /`, and `/metrics` under `wrk` load; the release binary's size.
//!
//!     cargo bench --bench footprint -- [--runs R] [--large N]
//!
//! `--large N` measures only a fleet of N idle portals (one file): start to ready, idle
//! RSS and the `/metrics` scrape with `metrics.per_portal` unset (so `failing` over
//! 10,000 portals) and with `"all"`; and the exposition rendered in-process with 1 %
//! of the portals failing.
//!
//! Each figure is the median of R runs (default 5) with min–max.
//! `FOOTPRINT_BINARY=PATH` measures another build (an older one, for a before/after).

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

/// A config with `portals` portals that never run during the measurement: all in the
/// config file, or each in a `conf.d` file of its own.
/// `extra` tables go at the top.
fn config(dir: &Path, portals: usize, port: u16, conf_d: bool, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("key"), "sk-footprint").unwrap();
    let mut text = format!(
        "{extra}[server]\nlisten = \"127.0.0.1:{port}\"\n[daemon]\nstate_dir = \"{}\"\n[log]\nlevel = \"error\"\n\
         [defaults]\nschedule = \"0 0 0 1 1 *\"\napi_key_file = \"{}\"\n[defaults.retention]\nkeep_daily = 7\n",
        dir.join("state").display(),
        dir.join("key").display()
    );
    if conf_d {
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    }
    for i in 0..portals {
        let portal = format!("[portals.p{i:05}]\nurl = \"https://p{i:05}.example.com\"\n");
        if conf_d {
            std::fs::write(dir.join("conf.d").join(format!("p{i:05}.toml")), portal).unwrap();
        } else {
            text.push_str(&portal);
        }
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn binary() -> String {
    std::env::var("FOOTPRINT_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_docspace-retention").to_string())
}

fn start(config: &Path) -> Child {
    Command::new(binary())
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
    if let Some(n) = argv
        .iter()
        .position(|a| a == "--large")
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
    {
        return large(n, runs);
    }

    let (to_ready, idle): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|_| idle_daemon(10, false, "", Duration::from_secs(2), |_| {}))
        .unzip();
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
    let (render, bytes) = timed(runs.max(5), || {
        observer.metrics_chunks().map(|c| c.len()).sum::<usize>()
    });
    stats(
        &format!("exposition of 10,000 portals in-process ({bytes} bytes)"),
        "ms",
        render,
    );
    drop(observer);

    for (layout, conf_d) in [("one file", false), ("conf.d", true)] {
        let (to_ready, idle): (Vec<f64>, Vec<f64>) = (0..runs.min(3))
            .map(|run| {
                idle_daemon(10_000, conf_d, "", Duration::from_secs(3), |port| {
                    if run == 0 {
                        scrapes(port, layout);
                    }
                })
            })
            .unzip();
        stats(
            &format!("start to /readyz 200 (10,000 portals, {layout})"),
            "ms",
            to_ready,
        );
        stats(&format!("idle RSS (10,000 portals, {layout})"), "MiB", idle);
    }

    let size = std::fs::metadata(binary()).unwrap().len();
    println!("release binary: {:.1} MB ({size} bytes)", size as f64 / 1e6);
}

/// A fleet of `n` idle portals: start to ready, idle RSS and `/metrics` with
/// `per_portal` unset and with "all"; the exposition in-process with 1 % failing.
fn large(n: usize, runs: usize) {
    for (shown, extra) in [("unset", ""), ("all", "[metrics]\nper_portal = \"all\"\n")] {
        let (to_ready, idle): (Vec<f64>, Vec<f64>) = (0..runs.min(3))
            .map(|run| {
                idle_daemon(n, false, extra, Duration::from_secs(3), |port| {
                    if run == 0 {
                        let (times, body) = timed(3, || reqwest_free_get(port, "/metrics"));
                        stats(
                            &format!(
                                "/metrics scrape ({n} portals, per_portal {shown}: {} lines, {:.1} MiB)",
                                body.lines().count(),
                                body.len() as f64 / 1048576.0
                            ),
                            "ms",
                            times,
                        );
                    }
                })
            })
            .unzip();
        stats(
            &format!("start to /readyz 200 ({n} portals, per_portal {shown})"),
            "ms",
            to_ready,
        );
        stats(&format!("idle RSS ({n} portals, per_portal {shown})"), "MiB", idle);
    }
    let observer = docspace_retention::observe::Observer::new();
    observer.show_portals(docspace_retention::observe::metrics::PerPortal::Failing);
    for i in 0..n {
        let name = format!("p{i:06}");
        observer.portal_added(&name);
        if i % 100 == 0 {
            observer.pass_finished(&docspace_retention::pass::PassReport::failed(
                &name,
                false,
                "unreachable".into(),
            ));
        }
    }
    let (render, bytes) = timed(5, || observer.metrics_chunks().map(|c| c.len()).sum::<usize>());
    stats(
        &format!("exposition in-process, {n} portals, 1 % failing, per_portal failing ({bytes} bytes)"),
        "ms",
        render,
    );
}

/// Starts the daemon with `portals` idle portals (and `extra` tables at the top of its
/// config) and waits for `/readyz` 200; after `settle`, reads its RSS, hands its port
/// to `then`, and stops it. Answers the time to ready (ms) and the idle RSS (MiB).
fn idle_daemon(portals: usize, conf_d: bool, extra: &str, settle: Duration, then: impl FnOnce(u16)) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(dir.path(), portals, port, conf_d, extra);
    let started = Instant::now();
    let child = start(&cfg);
    while !ready(port) {
        assert!(started.elapsed() < Duration::from_secs(120), "not ready");
        std::thread::sleep(Duration::from_micros(500));
    }
    let to_ready = started.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(settle);
    let idle = rss_kib(child.id()) / 1024.0;
    then(port);
    stop(child);
    (to_ready, idle)
}

/// With 10,000 idle portals: five `/metrics` scrapes one after another, `/status`,
/// `GET /`, then `/metrics` under `wrk` load.
fn scrapes(port: u16, layout: &str) {
    let (times, body) = timed(5, || reqwest_free_get(port, "/metrics"));
    println!(
        "/metrics with 10,000 portals ({layout}): {} lines, {:.1} MiB; 5 scrapes: worst {:.1} ms",
        body.lines().count(),
        body.len() as f64 / 1048576.0,
        times.iter().copied().fold(0.0, f64::max)
    );
    stats(&format!("/metrics scrape (10,000 portals, {layout})"), "ms", times);
    for path in ["/status", "/"] {
        let (times, bytes) = timed(5, || reqwest_free_get(port, path).len());
        stats(
            &format!("GET {path} (10,000 portals, {layout}, {bytes} bytes)"),
            "ms",
            times,
        );
    }
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
                println!(
                    "wrk /metrics ({layout}; 2 threads, 4 connections, 10 s): {}",
                    line.trim()
                );
            }
        }
        Err(_) => println!("wrk not installed: apt-get install wrk"),
    }
}

/// `times` results of `what`, each timed (ms), and the last result.
fn timed<T>(times: usize, mut what: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut took = Vec::with_capacity(times);
    let mut last = None;
    for _ in 0..times {
        let started = Instant::now();
        last = Some(what());
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (took, last.expect("timed at least once"))
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
