//! Evidence (docs/reference.md, "Evidence"): the chained, signed audit log, `attest`
//! and `attest --verify`, through the real binary.

use chrono::{TimeDelta, Utc};
use docspace_retention::simulator::{Simulator, realistic_portal};
use serde_json::Value;

use crate::harness::*;

/// `dry_run` left on with `max_age = 30d` for a month of passes: `attest` lists every
/// pass at which a backup older than 30 days was still there, and says it held at the
/// others; its output is the same bytes twice; `--verify` holds, and a changed line is
/// named.
#[tokio::test]
async fn a_month_of_dry_runs_past_max_age_is_attested_pass_by_pass() {
    let now = Utc::now();
    let sim = Simulator::start(vec![realistic_portal("acme", KEY, now, 20)], Default::default(), 0)
        .await
        .unwrap();
    let setup = Setup::new(&format!(
        "{}api_key_file = \"KEYFILE\"\ndry_run = true\n[portals.acme.retention]\nkeep_daily = 7\nmax_age = \"30d\"\n\
         stale_after = \"off\"\n",
        sim_portal("acme", &sim)
    ));
    let config = setup.load();
    let oldest = sim.backups("acme").iter().map(|b| b.created_on).min().unwrap();
    let mut expected = Vec::new();
    for day in 0..30 {
        let at = now + TimeDelta::days(day);
        let report = pass_at(&config, at).await;
        assert!(report.succeeded(), "{:?}", report.error);
        if oldest <= at - TimeDelta::days(30) {
            expected.push(docspace_retention::calendar::rfc3339(at));
        }
    }
    assert!(!expected.is_empty() && expected.len() < 30, "{expected:?}");
    assert!(sim.backups("acme").len() >= 20, "a dry run deletes nothing");

    let (from, to) = (
        docspace_retention::calendar::rfc3339(now - TimeDelta::days(1)),
        docspace_retention::calendar::rfc3339(now + TimeDelta::days(31)),
    );
    let args = ["attest", "--portal", "acme", "--from", &from, "--to", &to, "--json"];
    let o = setup.cli(&args).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(a["passes"].as_array().unwrap().len(), 30);
    assert_eq!(a["max_age"]["held_at_every_pass"], false);
    let violations: Vec<String> = a["max_age"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["dry_run"], true);
            v["ts"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(violations, expected);
    assert_eq!(a["policies"].as_array().unwrap().len(), 1);
    assert!(a["chain"]["first_hash"].as_str().unwrap().len() == 64);
    // Byte-identical for the same inputs.
    let again = setup.cli(&args).await;
    assert_eq!(stdout(&again), stdout(&o));
    // In words, never "erased".
    let o = setup.cli(&args[..7]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("max_age: NOT held at these passes:"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("(dry run: nothing was deleted)"));
    assert!(!stdout(&o).contains("erased"));

    // The chain holds; a line changed is named.
    let o = setup.cli(&["attest", "--verify"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("the audit chain holds: "), "{}", stdout(&o));
    let log = setup.state().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len() / 2;
    lines[n] = lines[n].replace("\"dry_run\":true", "\"dry_run\":false");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let o = setup.cli(&["attest", "--verify"]).await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!("audit.jsonl line {}: ", n + 1)) && stderr(&o).contains("(changed)"),
        "{}",
        stderr(&o)
    );
}

/// With `evidence.signing_key_file`, every pass ends with a signed checkpoint; the
/// public key `evidence public-key` prints verifies them, another key does not; the
/// private key is never printed, and a key file others can read is a warning.
#[tokio::test]
async fn checkpoints_are_signed_and_the_key_stays_secret() {
    let sim = Simulator::start(vec![ten_backups("acme")], Default::default(), 0)
        .await
        .unwrap();
    let setup = Setup::empty();
    let key = setup.dir.path().join("signing.key");
    std::fs::write(&key, [0x5au8; 32]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    setup.write(&format!(
        "[evidence]\nsigning_key_file = \"{}\"\n{}api_key_file = \"KEYFILE\"\n[portals.acme.retention]\nkeep_last = 3\n",
        key.display(),
        sim_portal("acme", &sim)
    ));
    let o = setup.cli(&["--log-level", "debug", "once"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let secret = hex_of(&[0x5au8; 32]);
    assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains(&secret));
    let all = setup.audit_all();
    let phases: Vec<&str> = all.iter().map(|l| l["phase"].as_str().unwrap()).collect();
    assert_eq!(&phases[phases.len() - 2..], ["pass", "checkpoint"]);
    assert!(
        !std::fs::read_to_string(setup.state().join("audit.jsonl"))
            .unwrap()
            .contains(&secret)
    );

    let o = setup.cli(&["evidence", "public-key"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("-----BEGIN PUBLIC KEY-----"), "{}", stdout(&o));
    let public = setup.dir.path().join("public.pem");
    std::fs::write(&public, stdout(&o)).unwrap();
    let o = setup
        .cli(&["attest", "--verify", "--public-key", public.to_str().unwrap()])
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("1 checkpoints hold"), "{}", stdout(&o));

    // Another key's public half: the checkpoint does not hold.
    let other = setup.dir.path().join("other.pem");
    std::fs::write(&other, hex_of(&ed25519_public(&[0x11u8; 32]))).unwrap();
    let o = setup
        .cli(&["attest", "--verify", "--public-key", other.to_str().unwrap()])
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stderr(&o).contains("signature does not hold"), "{}", stderr(&o));

    // The printed config names the file, never the key; a readable file is a warning.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = setup.cli(&["check-config", "--print"]).await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("signing_key_file"), "{}", stdout(&o));
    assert!(!stdout(&o).contains(&secret));
    assert!(
        stderr(&o).contains("evidence.signing_key_file: the file is readable by its group or by others"),
        "{}",
        stderr(&o)
    );
    // A file that is no key: a config error naming the key, not its contents.
    std::fs::write(&key, "sk-this-is-an-api-key-not-a-signing-key").unwrap();
    let o = setup.cli(&["check-config"]).await;
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("evidence.signing_key_file: not an Ed25519 private key"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("this-is-an-api-key"));
}

/// What `attest` refuses: a portal nothing is recorded for (1), a span that is no span
/// and an instant that is none (2).
#[tokio::test]
async fn attest_says_what_it_cannot_attest() {
    let setup = Setup::new(
        "[portals.acme]\nurl = \"http://127.0.0.1:9/\"\napi_key_file = \"KEYFILE\"\n[portals.acme.retention]\nkeep_last = 3\n",
    );
    let o = setup
        .cli(&[
            "attest",
            "--portal",
            "nosuch",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-02-01T00:00:00Z",
        ])
        .await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("nothing is recorded for portal nosuch"),
        "{}",
        stderr(&o)
    );
    let o = setup
        .cli(&[
            "attest",
            "--portal",
            "acme",
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            "2026-02-01T00:00:00Z",
        ])
        .await;
    assert_eq!(code(&o), 2);
    let o = setup
        .cli(&[
            "attest",
            "--portal",
            "acme",
            "--from",
            "yesterday",
            "--to",
            "2026-02-01T00:00:00Z",
        ])
        .await;
    assert_eq!(code(&o), 2);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ed25519_public(secret: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(secret).verifying_key().to_bytes()
}
