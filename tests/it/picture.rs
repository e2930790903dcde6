//! Seeing the future (docs/reference.md, "Forecast" and "Picture"): `plan --forecast`
//! and `--html` through the binary, and the daemon's page with hostile file names.

use docspace_retention::simulator::{SimOptions, Simulator};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::*;

const HOSTILE: [&str; 3] = [
    "<script>alert(1)</script>.tar.gz",
    "\"><img src=x onerror=alert(1)>",
    "evil\u{1b}[2J\u{7}name",
];

#[tokio::test]
async fn plan_forecasts_every_deletion_from_one_read() {
    let server = MockServer::start().await;
    // One read of each: the forecast makes no further request.
    let schedule_read = Mock::given(method("GET"))
        .and(path(SCHEDULE))
        .respond_with(ResponseTemplate::new(200).set_body_json(schedule(0, None)))
        .expect(1)
        .mount_as_scoped(&server)
        .await;
    let history_read = Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Array(daily("2026-11-22", 10)))))
        .expect(1)
        .mount_as_scoped(&server)
        .await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_daily = 7\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0\nmin_keep = 0",
    ));
    let html = setup.dir.path().join("plan.html");
    let o = setup
        .cli(&[
            "plan",
            "--json",
            "--at",
            "2026-11-22T12:00:00Z",
            "--forecast",
            "30d",
            "--html",
            &html.display().to_string(),
        ])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let portal = &plan["portals"][0];
    assert_eq!(portal["forecast"]["until"], "2026-12-22T12:00:00Z");
    assert_eq!(portal["forecast"]["passes"], 30);
    assert!(
        portal["forecast"]["assumes"]
            .as_str()
            .unwrap()
            .starts_with("assumes one backup a day at 03:00 UTC (the schedule's)"),
        "{portal}"
    );
    let deletes_on = |n: usize| {
        portal["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id(n))
            .unwrap()["deletes_on"]
            .clone()
    };
    // The default cron runs at 03:30: the next pass deletes the three beyond seven
    // dailies; then one a day goes as new backups come.
    for n in 8..=10 {
        assert_eq!(deletes_on(n), json!("2026-11-23T03:30:00Z"), "{n}");
    }
    assert_eq!(deletes_on(7), json!("2026-11-23T03:30:00Z"));
    assert_eq!(deletes_on(6), json!("2026-11-24T03:30:00Z"));
    assert_eq!(deletes_on(1), json!("2026-11-29T03:30:00Z"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("<circle class=\"mark").count(), 10);
    assert!(page.contains("deleted on 2026-11-29T03:30:00Z (forecast)"), "{page}");
    // The future: the 30 nights the schedule would make, each day's restore points,
    // and what can be restored now.
    assert!(
        page.contains("<title>30 backups the schedule would make by 2026-12-22T12:00:00Z (forecast); 7 of them would remain</title>"),
        "{page}"
    );
    assert!(
        page.contains("<title>restore points by day: 7 today, 7 on 2026-12-22"),
        "{page}"
    );
    assert!(
        page.contains(
            "<p class=\"coverage\">Restorable: every day of the last 7 days; 7 backups, the oldest from 2026-11-16</p>"
        ),
        "{page}"
    );

    drop((schedule_read, history_read));
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 10), daily("2026-11-22", 10)).await;
    // The table has the column too.
    let o = setup
        .cli(&["plan", "--at", "2026-11-22T12:00:00Z", "--forecast", "30d"])
        .await;
    assert!(stdout(&o).contains("DELETES ON"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("  forecast: assumes one backup a day"),
        "{}",
        stdout(&o)
    );
}

/// A year's forecast of a nightly 02:30 in Berlin crosses the night the clocks go back
/// (2027-10-31): it used to find 02:30 CEST again and again until memory ran out.
#[tokio::test]
async fn a_forecast_across_the_autumn_clock_change_finishes() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, None)).await;
    serve_history(&server, daily("2026-11-22", 10), daily("2026-11-22", 10)).await;
    let setup = Setup::new(&format!(
        "[defaults]\ntimezone = \"Europe/Berlin\"\nschedule = \"0 30 2 * * *\"\n{}",
        portal("acme", &server, "keep_daily = 7")
    ));
    let mut cmd = binary();
    cmd.arg("--config").arg(setup.config());
    cmd.args(["plan", "--json", "--at", "2026-12-04T12:00:00Z", "--forecast", "1y"]);
    // A liveness bound, not a timing: the old code never returned.
    let o = output_within(cmd, std::time::Duration::from_secs(120)).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let forecast = &plan["portals"][0]["forecast"];
    assert_eq!(forecast["until"], "2027-12-04T12:00:00Z");
    assert_eq!(forecast["passes"], 365, "{forecast}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_page_escapes_what_the_server_sends_and_forbids_scripts() {
    let mut acme = ten_backups("acme");
    for (b, name) in acme.backups.iter_mut().zip(HOSTILE) {
        b.file_name = name.to_string();
    }
    let sim = Simulator::start(vec![acme], SimOptions::default(), 0).await.unwrap();
    let setup = Setup::daemon(&format!("{}dry_run = true\n", sim_portal("acme", &sim)));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass", std::time::Duration::from_secs(10), || async {
        get(addr, "/portal/acme").await.1.contains("<circle")
    })
    .await;
    for page in ["/", "/portal/acme"] {
        let r = reqwest::get(format!("http://{addr}{page}")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-security-policy"],
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        );
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script") && !html.contains("<img"), "{page}: {html}");
        assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.tar.gz"), "{page}");
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), "{page}");
        assert!(html.contains("evil\\u{1b}[2J\\u{7}name"), "{page}");
        assert_eq!(html.matches("<circle class=\"mark").count(), 10, "{page}");
    }
    assert_eq!(get(addr, "/portal/nope").await.0, 404);
    handle.shutdown();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_the_url_of_its_page_and_serves_it() {
    use std::io::{BufRead, BufReader};
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = binary()
        .args(["demo", "--dry-run", "--listen", &listen])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read every line the demo prints, not just up to the URL: a reader that went away
    // would close the pipe under the demo's next println.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Open ").and_then(|rest| rest.split(' ').next()) {
                let _ = url_tx.send(url.to_string());
            }
        }
    });
    let url = tokio::task::spawn_blocking(move || url_rx.recv_timeout(std::time::Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the demo prints the page's URL");
    assert_eq!(url, format!("http://{listen}/"));
    // Passes start at :00, :20 and :40, so the first one can be 20 s away; a loaded
    // machine adds to that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut page = String::new();
    while std::time::Instant::now() < deadline {
        page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if page.contains("<circle") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let pid = child.id();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    assert!(page.contains("<circle class=\"mark"), "{page}");
    // Nothing of the demo outlives it.
    let prefix = format!("docspace-retention-demo-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Whether the page check can run here: node, Debian's chromium and playwright-core
/// (`.ci/run` installs them; CI without them fails, a laptop without them skips).
fn page_checker() -> Option<std::path::PathBuf> {
    let script = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check-page.mjs"));
    let have = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ok = have("node", &["-e", "require('playwright-core')"])
        && std::path::Path::new(&std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())).exists();
    match (ok, std::env::var("CI").as_deref()) {
        (true, _) => Some(script),
        (false, Ok("true")) => panic!("CI must check the page in Chromium: install chromium and playwright-core"),
        (false, _) => {
            eprintln!("skipped: no node/chromium/playwright-core to render the page");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_looks_right_in_chromium() {
    let Some(script) = page_checker() else { return };
    // Every fate on one portal, and file names that try to run script.
    let now = chrono::Utc::now();
    let mut portal = docspace_retention::commands::demo::demo_portal(now);
    portal.api_key = KEY.into();
    portal.name = "acme".into();
    for (b, name) in portal.backups.iter_mut().zip(HOSTILE) {
        b.file_name = name.to_string();
    }
    let mut odd = portal.backups[5].clone();
    odd.id = docspace_retention::simulator::sim_id("acme", 7777);
    odd.storage_type = 42;
    portal.backups.push(odd);
    let protected = docspace_retention::commands::demo::demo_protected(&portal, now).unwrap();
    // The demo's server missed its last nights: from 03:00 to 09:00 UTC its newest
    // nightly backup is more than two days old, and `stale_after = "auto"` (2 days)
    // would keep everything. The page must show a deletion whatever the hour.
    let sim = Simulator::start(vec![portal], SimOptions::default(), 0).await.unwrap();
    let setup = Setup::daemon(&format!(
        "{}dry_run = true\n[portals.acme.retention]\nkeep_daily = 14\nkeep_weekly = 8\nmax_deletions_per_run = 10\nstale_after = \"7d\"\nprotect = [\"{protected}\"]\n",
        sim_portal("acme", &sim)
    ));
    let handle = setup.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass", std::time::Duration::from_secs(10), || async {
        get(addr, "/portal/acme").await.1.contains("<circle")
    })
    .await;
    // The future too: the daemon forecasts `picture.forecast` (90 days) after each pass.
    eventually("the forecast", std::time::Duration::from_secs(10), || async {
        get(addr, "/portal/acme").await.1.contains("<path class=\"band\"")
    })
    .await;
    let page = get(addr, "/portal/acme").await.1;
    assert!(page.contains("<path class=\"scheduled\""), "{page}");
    assert!(page.contains("<p class=\"coverage\">Restorable: "), "{page}");
    assert!(
        page.contains("<p class=\"deletions\">Deleted in the last 30 days: nothing.</p>"),
        "{page}"
    );
    let shot = setup.dir.path().join("page.png");
    let url = format!("http://{addr}/portal/acme");
    let o = output({
        let mut c = std::process::Command::new("node");
        c.arg(&script).arg(&url).arg(&shot);
        c
    })
    .await;
    handle.shutdown();
    handle.wait().await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let said = stdout(&o);
    for fate in ["rule", "guard", "deleted", "protected", "temporary", "doubtful"] {
        assert!(said.contains(fate), "{fate} missing: {said}");
    }
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}

/// Renders `url` with scripts/check-page.mjs; what it said and how many bytes the page has.
async fn check_page(script: &std::path::Path, url: &str, shot: &std::path::Path) -> (String, usize) {
    let o = output({
        let mut c = std::process::Command::new("node");
        c.arg(script).arg(url).arg(shot);
        c
    })
    .await;
    assert!(o.status.success(), "{url}: {}{}", stdout(&o), stderr(&o));
    let said = stdout(&o);
    let bytes: usize = said.split(' ').next().unwrap().parse().unwrap();
    (said, bytes)
}

/// The page of 20 portals and of one portal with 2,000 backups (`plan --html` draws
/// each), and the daemon's index of 200 portals, in Chromium at 1280 px: nothing
/// overflows, text is readable and has contrast, every portal says what can be
/// restored; the index of 200 stays under 2 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_of_many_portals_and_of_many_backups_look_right_in_chromium() {
    let Some(script) = page_checker() else { return };
    let now = chrono::Utc::now();
    let mut portals: Vec<_> = (1..=200)
        .map(|n| docspace_retention::simulator::realistic_portal(&format!("p{n}"), KEY, now, 40))
        .collect();
    portals.push(docspace_retention::simulator::realistic_portal("big", KEY, now, 2_000));
    let names: Vec<String> = portals.iter().map(|p| p.name.clone()).collect();
    let sim = Simulator::start(portals, SimOptions::default(), 0).await.unwrap();
    let fleet = |chosen: &[String]| chosen.iter().map(|name| sim_portal(name, &sim)).collect::<String>();
    let setup = Setup::new(&format!(
        "[defaults]\napi_key_file = \"KEYFILE\"\n[defaults.retention]\nkeep_daily = 14\nkeep_weekly = 8\nkeep_monthly = 24\n{}",
        fleet(&names)
    ));
    for (label, chosen) in [("20", names[..20].to_vec()), ("big", vec!["big".to_string()])] {
        let page = setup.dir.path().join(format!("page-{label}.html"));
        let mut args = vec![
            "plan".to_string(),
            "--summary".into(),
            "--html".into(),
            page.display().to_string(),
        ];
        for name in &chosen {
            args.extend(["--portal".to_string(), name.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = setup.cli(&args).await;
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let html = std::fs::read_to_string(&page).unwrap();
        assert_eq!(html.matches("<p class=\"coverage\">Restorable: ").count(), chosen.len());
        assert_eq!(
            html.matches("<path class=\"band\"").count(),
            chosen.len(),
            "a band of restore points each"
        );
        let shot = setup.dir.path().join(format!("page-{label}.png"));
        let (said, _) = check_page(&script, &format!("file://{}", page.display()), &shot).await;
        eprintln!("{label}: {said}");
        assert!(said.contains(&format!("{} coverage sentences", chosen.len())), "{said}");
    }
    // The daemon's index of 200 portals (keep_last 3, dry runs), once each has had a pass.
    let daemon = Setup::empty();
    let dry: String = names[..200]
        .iter()
        .map(|name| format!("{}dry_run = true\n", sim_portal(name, &sim)))
        .collect();
    daemon.write_raw(&daemon_config(&dry).replace("\"* * * * * *\"", "\"*/5 * * * * *\""));
    let handle = daemon.start_daemon().await;
    let addr = handle.addr();
    eventually("a pass of every portal", std::time::Duration::from_secs(60), || async {
        let page = get(addr, "/").await.1;
        page.contains("200 portals") && !page.contains("not yet")
    })
    .await;
    let (said, bytes) = check_page(
        &script,
        &format!("http://{addr}/"),
        &daemon.dir.path().join("index.png"),
    )
    .await;
    handle.shutdown();
    handle.wait().await;
    eprintln!("index: {said}");
    assert!(said.contains("200 index rows, 200 coverage sentences"), "{said}");
    assert!(bytes < 2 * 1024 * 1024, "{bytes} bytes for 200 portals");
}
