//! What if, and why (docs/reference.md, "What if" and "Explain"): the binary, against
//! wiremock, reading each portal once and deleting nothing.

use crate::harness::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn today() -> String {
    last_full_morning().to_string()
}

const POLICY: &str = "keep_last = 5\nmax_deletions_per_run = 100\nmax_delete_fraction = 1.0";

/// A portal with `days` daily backups whose history may be read exactly `reads` times.
async fn portal_read(days: usize, reads: u64) -> MockServer {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(30))).await;
    Mock::given(method("GET"))
        .and(path(HISTORY))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!(daily(&today(), days)))))
        .expect(reads)
        .mount(&server)
        .await;
    forbid_deletes(&server).await;
    server
}

/// The ids of the backups a what-if portal lists under `key`.
fn ids_in<'a>(p: &'a Value, key: &str) -> Vec<&'a str> {
    p[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect()
}

fn fragment(setup: &Setup, text: &str) -> String {
    let file = setup.dir.path().join("change.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

#[tokio::test]
async fn what_if_lists_what_a_change_would_delete_and_keep_on_one_read() {
    let server = portal_read(8, 1).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let file = fragment(&setup, "[portals.acme.retention]\nkeep_last = 3\n");
    let o = setup.cli(&["plan", "--what-if", &file, "--json"]).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["changed"], 1);
    let p = &v["portals"][0];
    assert_eq!(p["portal"], "acme");
    let deleted = ids_in(p, "newly_deleted");
    assert_eq!(deleted, [id(4), id(5)]);
    assert_eq!(p["newly_kept"], json!([]));
    assert_eq!(
        p["newly_deleted"][0],
        json!({"id": id(4), "file_name": format!("acme_{}T03-00-00.tar.gz", day_before(3)),
               "created_on": format!("{}T03:00:00Z", day_before(3)),
               "action_before": "keep", "reasons_before": ["last snapshot"],
               "action_after": "delete", "reasons_after": ["no keep rule: beyond keep_last 3"]})
    );
}

fn day_before(n: i64) -> String {
    (last_full_morning() - chrono::Duration::days(n)).to_string()
}

#[tokio::test]
async fn what_if_table_names_newly_kept_and_a_change_that_changes_nothing_exits_0() {
    let server = portal_read(8, 2).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    // `[defaults.retention]` is under the portal's own keys, as in the config file:
    // keep_last stays 5 and keep_daily 7 keeps two more.
    let file = fragment(
        &setup,
        "[defaults.retention]\nkeep_last = 1\n[portals.acme.retention]\nkeep_daily = 7\n",
    );
    let o = setup.cli(&["plan", "--what-if", &file]).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("acme: 0 newly deleted, 2 newly kept\n"), "{out}");
    assert!(
        out.contains(&format!(
            "{}  {}T03:00:00Z  delete: no keep rule: beyond keep_last 5  keep: daily snapshot",
            id(6),
            day_before(5)
        )),
        "{out}"
    );
    assert!(
        out.ends_with("1 of 1 portal would change: 0 newly deleted, 2 newly kept\n"),
        "{out}"
    );
    let file = fragment(&setup, "[portals.acme.retention]\nkeep_last = 5\nmin_keep = 4\n");
    let o = setup.cli(&["plan", "--what-if", &file]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("acme: no change\n"), "{}", stdout(&o));
}

#[tokio::test]
async fn what_if_rejects_a_fragment_that_is_not_retention_before_any_request() {
    let server = portal_read(8, 0).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    for (text, named) in [
        (
            "[portals.acme.retention]\nkeep_daily = \"seven\"\n",
            "portals.acme.retention.keep_daily",
        ),
        (
            "[portals.acme]\nurl = \"http://127.0.0.1:9/\"\n",
            "portals.acme.url: a what-if fragment changes retention only",
        ),
        (
            "[portals.ghost.retention]\nkeep_last = 1\n",
            "portals.ghost: no such portal in the config",
        ),
        (
            "[daemon]\ndry_run = false\n",
            "daemon: a what-if fragment changes retention only",
        ),
        ("[portals.acme.retention\nkeep_last = 1\n", "invalid TOML at line 1"),
        (
            "[portals.acme.retention]\nkeep_last = 0\nkeep_within = \"\"\nmax_age = \"\"\n",
            "portals.acme.retention",
        ),
        // A key pasted where a table goes is named, never echoed.
        (
            "[portals]\nacme = \"sk-pasted-by-mistake-4c1f\"\n",
            "portals.acme: expected a table, found string \"sk-***\"",
        ),
    ] {
        let file = fragment(&setup, text);
        let o = setup.cli(&["plan", "--what-if", &file]).await;
        assert_eq!(code(&o), 78, "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains(named), "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains("what-if fragment"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("pasted-by-mistake"), "{}", stderr(&o));
    }
    let o = setup.cli(&["plan", "--what-if", "/nonexistent/change.toml"]).await;
    assert_eq!(code(&o), 78, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/change.toml: what-if fragment not found"),
        "{}",
        stderr(&o)
    );
    let file = fragment(&setup, "[portals.acme.retention]\nkeep_last = 1\n");
    let o = setup.cli(&["plan", "--what-if", &file, "--portal", "nobody"]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no portal named \"nobody\""), "{}", stderr(&o));
}

#[tokio::test]
async fn what_if_with_a_forecast_compares_deletion_dates() {
    let server = portal_read(8, 1).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    // A longer daily window: nothing changes today, but backups go later.
    let file = fragment(&setup, "[portals.acme.retention]\nkeep_last = 5\nkeep_daily = 10\n");
    let o = setup
        .cli(&["plan", "--what-if", &file, "--forecast", "30d", "--json"])
        .await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let p = &v["portals"][0];
    let kept = ids_in(p, "newly_kept");
    assert_eq!(kept, [id(6), id(7), id(8)]);
    let moved = p["deletes_on_moved"].as_array().unwrap();
    assert!(!moved.is_empty(), "{p}");
    for m in moved {
        // A daily window of 10 keeps each backup longer than the 5 newest do.
        let (before, after) = (m["deletes_on_before"].as_str().unwrap(), m["deletes_on_after"].as_str());
        assert!(after.is_none_or(|a| a > before), "{m}");
    }
}

#[tokio::test]
async fn explain_gives_the_whole_decision_and_agrees_with_plan_on_every_backup() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(30))).await;
    // Read by plan and by each explain.
    serve_history_times(&server, daily(&today(), 10), 100, Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal(
        "acme",
        &server,
        "keep_last = 2\nkeep_daily = 4\nmin_keep = 1\nmax_deletions_per_run = 3\nmax_delete_fraction = 1.0",
    ));
    let o = setup.cli(&["plan", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let backups = plan["portals"][0]["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 10);
    for b in backups {
        let id = b["id"].as_str().unwrap();
        let o = setup.cli(&["explain", "--portal", "acme", id, "--json"]).await;
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let ex: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!((&ex["action"], &ex["reasons"]), (&b["action"], &b["reasons"]), "{id}");
        assert_eq!(ex["guards"].as_array().unwrap().len(), 7, "{id}");
    }
    // The third newest: keep_last has used its 2, keep_daily keeps it as its 3rd of 4.
    let o = setup.cli(&["explain", "--portal", "acme", &id(3)]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("  keep_last 2: its counts were used up by newer backups → does not keep\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  keep_daily 4: bucket {} (UTC), 3rd of 4 → keeps\n",
            day_before(2)
        )),
        "{text}"
    );
    assert!(text.contains("\nrules:\n"), "{text}");
    assert!(
        text.contains("\nguards: none had anything to do: it was kept before the guards\n"),
        "{text}"
    );
    assert!(text.ends_with("decision: keep (daily snapshot)\n"), "{text}");
    // The oldest four go beyond the rules; max_deletions_per_run 3 keeps the newest of them.
    let o = setup
        .cli(&["explain", "--portal", "acme", &id(7).to_uppercase(), "--json"])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ex: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(ex["rules"][1]["outcome"], "used_up");
    let did: Vec<&str> = ex["guards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["did"].as_str().unwrap())
        .collect();
    assert_eq!(
        did,
        ["passed", "passed", "passed", "passed", "passed", "passed", "blocked"]
    );
    assert_eq!(ex["reasons"], json!(["max_deletions: at most 3 per pass"]));
    let o = setup.cli(&["explain", "--portal", "acme", &id(6)]).await;
    let text = stdout(&o);
    assert!(
        text.contains("guards, in order:\n  clock_skew: let it through: the server's clock is "),
        "{text}"
    );
    assert!(
        text.contains("s from ours (the limit is 300s)\n  stale: let it through: the newest backup"),
        "{text}"
    );
    assert!(
        text.contains("\n  max_deletions: blocked it → kept: max_deletions: at most 3 per pass\n"),
        "{text}"
    );
    let o = setup.cli(&["explain", "--portal", "acme", &id(10), "--json"]).await;
    let ex: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(ex["action"], "delete");
    assert!(
        ex["guards"].as_array().unwrap().iter().all(|g| g["did"] == "passed"),
        "{ex}"
    );
}

#[tokio::test]
async fn explain_names_what_it_cannot_find() {
    let server = MockServer::start().await;
    serve_schedule(&server, schedule(0, Some(30))).await;
    serve_history_times(&server, daily(&today(), 3), 2, Vec::new()).await;
    forbid_deletes(&server).await;
    let setup = Setup::new(&portal("acme", &server, POLICY));
    let o = setup.cli(&["explain", "--portal", "acme", &id(99)]).await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "no backup \"{}\" in the history of portal \"acme\" (3 listed",
            id(99)
        )),
        "{}",
        stderr(&o)
    );
    let o = setup.cli(&["explain", "--portal", "nobody", &id(1)]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no portal named \"nobody\""), "{}", stderr(&o));
    let o = setup.cli(&["explain", "--portal", "acme"]).await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

/// A change a guard only delays is still a change: with `delete_grace`, the backups a
/// smaller `keep_last` gives up are held this pass, and deleted by the next ones.
#[tokio::test]
async fn what_if_counts_deletions_a_guard_only_delays() {
    let server = portal_read(8, 2).await;
    let setup = Setup::new(&portal("acme", &server, &format!("{POLICY}\ndelete_grace = \"1d\"")));
    let file = fragment(&setup, "[portals.acme.retention]\nkeep_last = 3\n");
    let o = setup.cli(&["plan", "--what-if", &file, "--json"]).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let p = &v["portals"][0];
    let deleted = ids_in(p, "newly_deleted");
    assert_eq!(deleted, [id(4), id(5)], "{p}");
    let after = p["newly_deleted"][0]["reasons_after"][0].as_str().unwrap();
    assert!(after.starts_with("grace: deletable after "), "{after}");
    assert_eq!(p["newly_deleted"][0]["action_after"], "keep");
    let o = setup.cli(&["plan", "--what-if", &file]).await;
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("  keep: last snapshot  delete, held this pass: grace: deletable after "),
        "{}",
        stdout(&o)
    );
}
