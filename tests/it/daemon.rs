//! The daemon in-process on port 0 against the built-in simulator (and wiremock):
//! scheduling, endpoints, exact metric lines, skipped ticks, isolation of failures,
//! reloads and graceful shutdown; plus the binary under real signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use docspace_retention::daemon::{self, Stopped};
use docspace_retention::simulator::{Fault, SimEndpoint, SimOptions, Simulator};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_happen_on_schedule_and_metrics_say_so() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    assert_eq!(sim.backups("acme").len(), 10);
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("two passes", Duration::from_secs(10), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_runs_total{outcome="success",portal="acme"}"#,
        )
        .unwrap_or(0.0)
            >= 2.0
    })
    .await;
    assert_eq!(sim.backups("acme").len(), 3);
    let m = metrics(addr).await;
    for (series, expected) in [
        (
            r#"docspace_retention_deletions_total{outcome="deleted",portal="acme"}"#,
            7.0,
        ),
        (
            r#"docspace_retention_deletions_total{outcome="failed",portal="acme"}"#,
            0.0,
        ),
        (
            r#"docspace_retention_deletions_total{outcome="dry_run",portal="acme"}"#,
            0.0,
        ),
        (r#"docspace_retention_runs_total{outcome="failure",portal="acme"}"#, 0.0),
        (r#"docspace_retention_backups{portal="acme"}"#, 3.0),
        (r#"docspace_retention_planned_deletions{portal="acme"}"#, 0.0),
        (r#"docspace_retention_schedule_present{portal="acme"}"#, 1.0),
        (r#"docspace_retention_schedule_backups_stored{portal="acme"}"#, 30.0),
        (r#"docspace_retention_policy_conflict{portal="acme"}"#, 0.0),
        (
            r#"docspace_retention_guard_blocks_total{guard="min_keep",portal="acme"}"#,
            0.0,
        ),
        (r#"docspace_retention_build_info{version="0.1.0"}"#, 1.0),
    ] {
        assert_eq!(metric(&m, series), Some(expected), "{series} in\n{m}");
    }
    assert!(
        metric(
            &m,
            r#"docspace_retention_api_requests_total{endpoint="delete_backup",portal="acme",status="200"}"#
        ) == Some(7.0)
    );
    let next = metric(&m, r#"docspace_retention_next_run_timestamp_seconds{portal="acme"}"#).unwrap();
    assert!((next - Utc::now().timestamp() as f64).abs() < 3.0, "{next}");
    let newest = sim
        .backups("acme")
        .iter()
        .map(|b| b.created_on.timestamp())
        .max()
        .unwrap();
    assert_eq!(
        metric(
            &m,
            r#"docspace_retention_newest_backup_timestamp_seconds{portal="acme"}"#
        ),
        Some(newest as f64)
    );
    assert_eq!(read_audit(&app.state()).len(), 14);

    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["version"], "0.1.0");
    assert_eq!(status["portals"][0]["portal"], "acme");
    assert_eq!(status["portals"][0]["last_pass"]["outcome"], "success");
    assert!(status["portals"][0]["next_run"].is_string());
    assert!(!body.contains(KEY));
    handle.shutdown();
    assert_eq!(handle.wait().await, Stopped::Gracefully);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_goes_503_200_503_and_other_paths_are_refused() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let config = app.load();
    let bound = daemon::bind(&config).await.unwrap();
    let addr = bound.addr();
    assert_eq!(get(addr, "/readyz").await.0, 503);
    assert_eq!(get(addr, "/healthz").await.0, 503);
    let handle = daemon::start_bound(bound, config, Arc::new(|| unreachable!()), daemon::Options::default())
        .await
        .unwrap();
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".to_string()));
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(get(addr, "/nope").await.0, 404);
    let client = reqwest::Client::new();
    let r = client.post(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");

    // Keep a pass in flight, then shut down: not ready while it finishes.
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(2)));
    eventually("a pass in flight", Duration::from_secs(5), || async {
        handle.observer().status_json(true)["portals"][0]["running"] == true
    })
    .await;
    handle.shutdown();
    eventually("not ready", Duration::from_secs(2), || async {
        get(addr, "/readyz").await.0 == 503
    })
    .await;
    assert_eq!(handle.wait().await, Stopped::Gracefully);
    assert!(
        reqwest::get(format!("http://{addr}/readyz")).await.is_err(),
        "the server stops at the end"
    );
}

/// A simulator with portal "good" and portal "bad", whose key the config's is not (every
/// pass of it fails with 401).
async fn good_and_bad() -> Simulator {
    let mut bad = ten_backups("bad");
    bad.api_key = "sk-another-key".into();
    Simulator::start(vec![ten_backups("good"), bad], SimOptions::default(), 0)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_portal_skips_ticks_and_a_failing_one_does_not_stop_others() {
    let slow = Simulator::start(
        vec![ten_backups("slow")],
        SimOptions {
            latency: Duration::from_millis(1200),
            ..SimOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    let sim = good_and_bad().await;
    let app = Setup::empty();
    app.write_daemon(&format!(
        "{}{}{}",
        sim_portal("slow", &slow),
        sim_portal("good", &sim),
        sim_portal("bad", &sim)
    ));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("a skipped tick of the slow portal", Duration::from_secs(10), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_runs_total{outcome="skipped",portal="slow"}"#,
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    eventually("the good portal cleaned up", Duration::from_secs(10), || async {
        sim.backups("good").len() == 3
    })
    .await;
    let m = metrics(addr).await;
    assert!(metric(&m, r#"docspace_retention_runs_total{outcome="failure",portal="bad"}"#).unwrap() >= 1.0);
    assert!(
        metric(
            &m,
            r#"docspace_retention_api_requests_total{endpoint="get_schedule",portal="bad",status="401"}"#
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(sim.backups("bad").len(), 10);
    let status: serde_json::Value = serde_json::from_str(&get(addr, "/status").await.1).unwrap();
    let bad_status = status["portals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["portal"] == "bad")
        .unwrap();
    assert!(
        bad_status["last_pass"]["error"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized")
    );
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_a_valid_config_and_keeps_the_old_one_when_invalid() {
    let sim = Simulator::start(vec![ten_backups("acme"), ten_backups("beta")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("acme cleaned", Duration::from_secs(10), || async {
        sim.backups("acme").len() == 3
    })
    .await;

    // Invalid: reported, counted, and the old config keeps running.
    std::fs::write(app.config(), "[portals.acme]\nurl = 5\n").unwrap();
    handle.reload();
    eventually("a failed reload", Duration::from_secs(5), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_config_reloads_total{outcome="failure"}"#,
        ) == Some(1.0)
    })
    .await;
    let runs = |m: &str| metric(m, r#"docspace_retention_runs_total{outcome="success",portal="acme"}"#).unwrap();
    let before = runs(&metrics(addr).await);
    eventually("acme still running", Duration::from_secs(5), || async {
        runs(&metrics(addr).await) > before
    })
    .await;

    // Valid: beta replaces acme.
    app.write_daemon(&sim_portal("beta", &sim));
    handle.reload();
    eventually("a successful reload", Duration::from_secs(5), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_config_reloads_total{outcome="success"}"#,
        ) == Some(1.0)
    })
    .await;
    eventually("beta cleaned", Duration::from_secs(10), || async {
        sim.backups("beta").len() == 3
    })
    .await;
    let m = metrics(addr).await;
    assert!(!m.contains("portal=\"acme\""), "acme's series must be gone:\n{m}");
    assert!(m.contains("portal=\"beta\""));
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_pass_in_flight_finish_and_audit() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    // The first history read stalls, so the first pass is in flight for ~2 s.
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(2)));
    let handle = app.start_daemon().await;
    eventually("a pass in flight", Duration::from_secs(5), || async {
        handle.observer().status_json(true)["portals"][0]["running"] == true
    })
    .await;
    handle.shutdown();
    assert_eq!(handle.wait().await, Stopped::Gracefully);
    assert_eq!(
        sim.backups("acme").len(),
        3,
        "the pass in flight finished its deletions"
    );
    let audit = read_audit(&app.state());
    assert_eq!(audit.len(), 14);
    assert_eq!(audit.iter().filter(|l| l["phase"] == "result").count(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scraped_metrics_pass_promtool() {
    let Some(promtool) = which("promtool") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install promtool (Debian package prometheus)"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return;
    };
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass", Duration::from_secs(10), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_runs_total{outcome="success",portal="acme"}"#,
        )
        .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    let text = metrics(addr).await;
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
    handle.shutdown();
    handle.wait().await;
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(tool))
        .find(|p| p.is_file())
}

// ----- the binary under real signals -----

fn spawn_binary(app: &Setup) -> std::process::Child {
    binary()
        .args(["run", "--config"])
        .arg(app.config())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn wait_exit(mut child: std::process::Child) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status.code().unwrap_or(-1), err)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_on_sighup_and_finishes_on_sigterm() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let port = app.fixed_port();
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(3)));
    let child = spawn_binary(&app);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("ready", Duration::from_secs(10), || async {
        reqwest::get(format!("http://{addr}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    signal(&child, "-HUP");
    eventually("reloaded", Duration::from_secs(5), || async {
        metric(
            &metrics(addr).await,
            r#"docspace_retention_config_reloads_total{outcome="success"}"#,
        ) == Some(1.0)
    })
    .await;
    eventually("a pass in flight", Duration::from_secs(5), || async {
        get(addr, "/status").await.1.contains("\"running\":true")
    })
    .await;
    signal(&child, "-TERM");
    let (code, err) = wait_exit(child).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sim.backups("acme").len(), 3);
    assert_eq!(read_audit(&app.state()).len(), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_the_binary_at_once() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let port = app.fixed_port();
    sim.inject("acme", SimEndpoint::GetHistory, Fault::Stall(Duration::from_secs(30)));
    let child = spawn_binary(&app);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("a pass in flight", Duration::from_secs(10), || async {
        reqwest::get(format!("http://{addr}/status")).await.is_ok()
            && get(addr, "/status").await.1.contains("\"running\":true")
    })
    .await;
    signal(&child, "-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    signal(&child, "-INT");
    let (code, err) = wait_exit(child).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("second signal"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_talks_to_systemd_and_writes_log_files() {
    use std::os::unix::net::UnixDatagram;
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    app.fixed_port();
    let logs = app.dir.path().join("logs");
    let text = std::fs::read_to_string(app.config()).unwrap().replace(
        "level = \"warn\"",
        &format!("level = \"info\"\ndirectory = \"{}\"", logs.display()),
    );
    std::fs::write(app.config(), &text).unwrap();
    let socket_path = app.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let child = binary()
        .args(["run", "--config"])
        .arg(app.config())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (socket, _) = notified(socket, "READY=1").await;
    // The watchdog is pinged at half of WATCHDOG_USEC.
    let (socket, _) = notified(socket, "WATCHDOG=1").await;
    signal(&child, "-HUP");
    let (socket, msg) = notified(socket, "RELOADING=1").await;
    assert!(msg.contains("MONOTONIC_USEC="), "{msg}");
    let (socket, _) = notified(socket, "READY=1").await;
    signal(&child, "-TERM");
    let _ = notified(socket, "STOPPING=1").await;
    let (code, err) = wait_exit(child).await;
    assert_eq!(code, 0, "{err}");
    let files: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        name,
        format!("docspace-retention.log.{}", Utc::now().format("%Y-%m-%d"))
    );
    let log = std::fs::read_to_string(&files[0]).unwrap();
    assert!(log.contains("daemon ready") && log.contains("stopped"), "{log}");
    assert!(!log.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand() {
    let sim = Simulator::start(vec![ten_backups("acme")], SimOptions::default(), 0)
        .await
        .unwrap();
    let app = Setup::empty();
    app.write_daemon(&sim_portal("acme", &sim));
    let handle = app.start_daemon().await;
    let url = format!("http://{}/healthz", handle.addr());
    let run = |url: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_docspace-retention"))
                .args(["healthcheck", "--url", &url])
                .output()
                .unwrap()
        })
    };
    let ok = run(url.clone()).await.unwrap();
    assert_eq!(ok.status.code(), Some(0));
    handle.shutdown();
    handle.wait().await;
    let down = run(url).await.unwrap();
    assert_eq!(down.status.code(), Some(1));
    let missing = run(format!("http://127.0.0.1:{}/nope", free_port())).await.unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

/// Waits for a notification datagram with the line `want`.
async fn notified(
    socket: std::os::unix::net::UnixDatagram,
    want: &'static str,
) -> (std::os::unix::net::UnixDatagram, String) {
    tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 512];
        loop {
            let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no {want}: {e}"));
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            if msg.lines().any(|l| l == want) {
                return (socket, msg);
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_handle_every_portal_exactly_once() {
    let names: Vec<String> = (0..30).map(|i| format!("p{i:02}")).collect();
    let sim = Simulator::start(names.iter().map(|n| ten_backups(n)).collect(), SimOptions::default(), 0)
        .await
        .unwrap();
    let portals: String = names.iter().map(|n| sim_portal(n, &sim)).collect();
    let mut apps = Vec::new();
    let mut handles = Vec::new();
    for index in 0..3 {
        let app = Setup::empty();
        app.write_daemon(&portals);
        let text = std::fs::read_to_string(app.config())
            .unwrap()
            .replace("[daemon]\n", &format!("[daemon]\nshard = \"{index}/3\"\n"));
        std::fs::write(app.config(), text).unwrap();
        let config = app.load().own_shard();
        handles.push(daemon::start(config, Arc::new(|| unreachable!())).await.unwrap());
        apps.push(app);
    }
    eventually("every portal cleaned", Duration::from_secs(15), || async {
        names.iter().all(|n| sim.backups(n).len() == 3)
    })
    .await;
    // The backups go before the pass reports: wait for every report to be counted.
    let total = |scraped: &[String]| -> f64 {
        scraped
            .iter()
            .flat_map(|m| m.lines())
            .filter(|l| l.starts_with("docspace_retention_deletions_total{outcome=\"deleted\""))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let mut scraped = Vec::new();
    for _ in 0..50 {
        scraped.clear();
        for h in &handles {
            scraped.push(metrics(h.addr()).await);
        }
        if total(&scraped) >= 7.0 * names.len() as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for name in &names {
        let series = format!(r#"docspace_retention_deletions_total{{outcome="deleted",portal="{name}"}}"#);
        let owners: Vec<usize> = (0..3).filter(|i| metric(&scraped[*i], &series).is_some()).collect();
        assert_eq!(owners.len(), 1, "{name} exported by shards {owners:?}");
        assert_eq!(
            metric(&scraped[owners[0]], &series),
            Some(7.0),
            "{name} deleted exactly once"
        );
    }
    // Each replica has a share (30 names over 3 shards by a stable hash).
    for (i, m) in scraped.iter().enumerate() {
        assert!(m.contains("docspace_retention_runs_total"), "shard {i}");
    }
    for h in handles {
        h.shutdown();
        h.wait().await;
    }
    // Audit lines: 7 deletions × 2 lines per portal, spread over the three state dirs.
    let total: usize = apps.iter().map(|a| read_audit(&a.state()).len()).sum();
    assert_eq!(total, 30 * 14);
}

// ----- many portals on one schedule -----

/// Every portal runs at every tick of its cron, however many portals share the cron,
/// and the scheduler never logs an ERROR of its own. 600 portals every second: the
/// scheduler library's internal channels hold 200 messages, and a job per portal made
/// most activations of a tick lag there and be lost ("Error receiving Lagged(N)"),
/// so most portals never ran. Their URL answers nothing (a closed port): every pass
/// fails at once, which is a tick run all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_portals_on_one_cron_all_run_every_tick_and_the_scheduler_is_quiet() {
    const PORTALS: usize = 600;
    let app = Setup::empty();
    let dead = free_port();
    let mut portals = String::new();
    for i in 0..PORTALS {
        portals.push_str(&format!(
            "[portals.p{i:04}]\nurl = \"http://127.0.0.1:{dead}/p{i:04}\"\n"
        ));
    }
    app.write_daemon(&portals);
    let text = std::fs::read_to_string(app.config())
        .unwrap()
        .replace("[daemon]\n", "[daemon]\nmax_concurrent_portals = 64\n");
    std::fs::write(app.config(), text).unwrap();
    let port = app.fixed_port();
    let log = app.dir.path().join("stderr.log");
    let mut child = binary()
        .args(["run", "--config"])
        .arg(app.config())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ticks = |m: &str, i: usize| -> f64 {
        ["success", "failure", "skipped"]
            .iter()
            .map(|o| {
                metric(
                    m,
                    &format!(r#"docspace_retention_runs_total{{outcome="{o}",portal="p{i:04}"}}"#),
                )
                .unwrap_or(0.0)
            })
            .sum()
    };
    eventually("the daemon is ready", Duration::from_secs(20), || async {
        reqwest::get(format!("http://{addr}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let started = Instant::now();
    let mut m = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        m = metrics(addr).await;
        if (0..PORTALS).all(|i| ticks(&m, i) >= 3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let behind: Vec<String> = (0..PORTALS)
        .filter(|&i| ticks(&m, i) < 3.0)
        .map(|i| format!("p{i:04}: {}", ticks(&m, i)))
        .collect();
    signal(&child, "-TERM");
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap().code())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert!(
        behind.is_empty(),
        "{} of {PORTALS} portals ran fewer than 3 ticks: {:?}…",
        behind.len(),
        &behind[..behind.len().min(5)]
    );
    let stderr = std::fs::read_to_string(&log).unwrap();
    let foreign: Vec<&str> = stderr.lines().filter(|l| l.contains("tokio_cron_scheduler")).collect();
    assert!(
        foreign.is_empty(),
        "the scheduler library logged: {:?}",
        &foreign[..foreign.len().min(5)]
    );
}

/// `[metrics] per_portal = "failing"`: a scrape shows the series of the portal whose
/// last pass failed, whole, and none of the one that succeeds; the fleet's `portals`
/// counts both; a reload to "all" shows both again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_portal_failing_shows_only_the_failing_portals_series() {
    let sim = good_and_bad().await;
    let app = Setup::empty();
    let portals = format!("{}{}", sim_portal("good", &sim), sim_portal("bad", &sim));
    app.write_raw(&format!(
        "[metrics]\nper_portal = \"failing\"\n{}",
        daemon_config(&portals)
    ));
    let handle = app.start_daemon().await;
    let addr = handle.addr();
    eventually(
        "a failed pass of bad and a good one of good",
        Duration::from_secs(10),
        || async {
            let m = metrics(addr).await;
            metric(&m, r#"docspace_retention_runs_total{outcome="failure",portal="bad"}"#).unwrap_or(0.0) >= 1.0
                && sim.backups("good").len() == 3
        },
    )
    .await;
    let m = metrics(addr).await;
    assert!(!m.contains("portal=\"good\""), "{m}");
    assert_eq!(
        metric(&m, r#"docspace_retention_runs_total{outcome="success",portal="bad"}"#),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, r#"docspace_retention_portals{state="configured"}"#),
        Some(2.0)
    );
    assert_eq!(metric(&m, r#"docspace_retention_portals{state="failing"}"#), Some(1.0));
    assert!(m.contains("docspace_retention_build_info{version="), "{m}");

    app.write_raw(&format!("[metrics]\nper_portal = \"all\"\n{}", daemon_config(&portals)));
    handle.reload();
    eventually(
        "both portals' series after the reload",
        Duration::from_secs(10),
        || async {
            let m = metrics(addr).await;
            m.contains("portal=\"good\"") && !m.contains("docspace_retention_portals")
        },
    )
    .await;
    handle.shutdown();
    handle.wait().await;
}
