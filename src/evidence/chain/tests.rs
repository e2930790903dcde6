use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::evidence::Signer;

fn signer() -> Signer {
    Signer::from_bytes(&[7u8; 32]).unwrap()
}

/// A chained log of `n` lines, a signed checkpoint after every `every`-th.
fn log(n: usize, every: usize) -> Vec<Vec<u8>> {
    let signer = signer();
    let mut head = Head::default();
    let mut lines = Vec::new();
    for i in 0..n {
        let entry = json!({"ts": format!("2026-12-04T10:{:02}:{:02}Z", i / 60, i % 60), "portal": "acme",
                           "phase": "intent", "backup_id": format!("id-{i}"), "reasons": ["no keep rule: \"x\"\n"]});
        lines.push(link(entry, &mut head));
        if every > 0 && (i + 1) % every == 0 {
            let cp = signer.checkpoint(&head, "2026-12-04T11:00:00Z", "acme");
            lines.push(link(cp, &mut head));
        }
    }
    lines
}

fn write(dir: &std::path::Path, lines: &[Vec<u8>]) -> Vec<PathBuf> {
    let path = dir.join("audit.jsonl");
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(&path, bytes).unwrap();
    vec![path]
}

#[test]
fn a_chained_log_verifies_and_says_what_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let files = write(dir.path(), &log(10, 4));
    let key = signer().verifying_key();
    let v = verify(&files, &[key]).unwrap();
    assert_eq!(v.lines, 12);
    assert_eq!(v.checkpoints, 2);
    assert_eq!(v.signed_through, Some(10));
    assert_eq!(v.unsigned_tail, 2);
    // Another key: the first checkpoint fails.
    let other = Signer::from_bytes(&[9u8; 32]).unwrap().verifying_key();
    let broken = verify(&files, &[other]).unwrap_err();
    assert_eq!(broken.line, 5, "{broken}");
    // The head of the file is the last line's.
    assert_eq!(head_of_file(&files[0]).unwrap().unwrap(), v.last.unwrap());
}

#[test]
fn a_line_cut_by_a_crash_is_passed_over_only_when_the_next_line_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = log(3, 0);
    let cut = lines[2][..20].to_vec();
    lines[2] = cut.clone();
    // The writer goes on from the last whole line and names the cut one.
    let mut head = Head {
        seq: 2,
        hash: serde_json::from_slice::<Value>(&lines[1]).unwrap()["hash"]
            .as_str()
            .unwrap()
            .into(),
    };
    let named = json!({"ts": "2026-12-04T12:00:00Z", "portal": "acme", "phase": "intent",
                       "torn": hex::encode(Sha256::digest(&cut))});
    lines.push(link(named, &mut head));
    let files = write(dir.path(), &lines);
    let v = verify(&files, &[]).unwrap();
    assert_eq!((v.lines, v.torn), (3, 1));
    // A line inserted that no line names is not a cut one.
    let mut inserted = lines.clone();
    inserted.insert(1, b"{\"not\": \"chained".to_vec());
    assert!(verify(&write(dir.path(), &inserted), &[]).is_err());
}

#[test]
fn lines_written_before_the_chain_are_counted_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![br#"{"ts":"2026-01-01T00:00:00Z","portal":"acme","phase":"intent"}"#.to_vec()];
    lines.extend(log(3, 0));
    let v = verify(&write(dir.path(), &lines), &[]).unwrap();
    assert_eq!((v.unchained, v.lines), (1, 3));
}

/// How a log can be tampered with.
#[derive(Clone, Debug)]
enum Tamper {
    /// Flip one byte of a line to another printable one.
    Change {
        line: usize,
        at: usize,
        to: u8,
    },
    Remove {
        line: usize,
    },
    /// Insert a copy of one line elsewhere.
    Insert {
        from: usize,
        at: usize,
    },
    Swap {
        a: usize,
        b: usize,
    },
    /// Cut the file at a byte.
    Truncate {
        at: usize,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0usize..100, 0usize..400, 0x20u8..0x7f).prop_map(|(line, at, to)| Tamper::Change { line, at, to }),
        (0usize..100).prop_map(|line| Tamper::Remove { line }),
        (0usize..100, 0usize..100).prop_map(|(from, at)| Tamper::Insert { from, at }),
        (0usize..100, 0usize..100).prop_map(|(a, b)| Tamper::Swap { a, b }),
        (0usize..100_000).prop_map(|at| Tamper::Truncate { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Any change, removal, insertion, reordering or cut of a chained, signed log is
    /// found by `verify`; only a cut at a line boundary goes unnoticed as such, and
    /// then what follows the last checkpoint that is left is reported as unsigned.
    #[test]
    fn any_tampering_is_found(n in 2usize..40, every in 1usize..6, t in tamper()) {
        let dir = tempfile::tempdir().unwrap();
        let original = log(n, every.min(n));
        let key = signer().verifying_key();
        let mut lines = original.clone();
        let len = lines.len();
        let mut boundary_cut = None;
        let changed = match t {
            Tamper::Change { line, at, to } => {
                let l = &mut lines[line % len];
                let i = at % l.len();
                if l[i] == to { false } else { l[i] = to; true }
            }
            // Removing the first line leaves a chain that begins later: said, with
            // the first seq checked (as for files compressed away).
            Tamper::Remove { line } if line % len == 0 => {
                lines.remove(0);
                let v = verify(&write(dir.path(), &lines), &[key]).unwrap();
                prop_assert_eq!(v.earlier, Some(1));
                return Ok(());
            }
            // Removing the last line is a cut at a line boundary (below).
            Tamper::Remove { line } if line % len == len - 1 => {
                lines.pop();
                match verify(&write(dir.path(), &lines), &[key]) {
                    Ok(v) => prop_assert_eq!(v.lines as usize, len - 1),
                    Err(e) => prop_assert!(e.what.contains("no checkpoint"), "{}", e),
                }
                return Ok(());
            }
            Tamper::Remove { line } => { lines.remove(line % len); true }
            Tamper::Insert { from, at } => { let copy = lines[from % len].clone(); lines.insert(at % (len + 1), copy); true }
            Tamper::Swap { a, b } => { let (a, b) = (a % len, b % len); if a == b { false } else { lines.swap(a, b); true } }
            Tamper::Truncate { at } => {
                let mut bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
                let at = at % bytes.len();
                bytes.truncate(at);
                let path = dir.path().join("audit.jsonl");
                std::fs::write(&path, &bytes).unwrap();
                if at == 0 || bytes[at - 1] == b'\n' {
                    boundary_cut = Some(bytes.iter().filter(|b| **b == b'\n').count());
                }
                let result = verify(&[path], &[key]);
                match boundary_cut {
                    // Unless no checkpoint is left: then nothing is signed, and it says so.
                    Some(kept) => match result {
                        Ok(v) => prop_assert_eq!(v.lines as usize, kept),
                        Err(e) => prop_assert!(e.what.contains("no checkpoint"), "{}", e),
                    },
                    None => prop_assert!(result.is_err(), "a cut inside a line went unnoticed"),
                }
                return Ok(());
            }
        };
        let result = verify(&write(dir.path(), &lines), &[key]);
        if changed {
            prop_assert!(result.is_err(), "{:?} went unnoticed", t);
        } else {
            prop_assert!(result.is_ok());
        }
    }
}

#[test]
fn a_chain_whose_first_files_were_compressed_away_says_where_it_begins() {
    let dir = tempfile::tempdir().unwrap();
    let lines = log(6, 0);
    let v = verify(&write(dir.path(), &lines[3..]), &[]).unwrap();
    assert_eq!((v.earlier, v.lines), (Some(3), 3));
    assert_eq!(v.first.unwrap().seq, 4);
}

#[test]
fn a_log_signed_with_two_keys_over_time_checks_with_both() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (signer(), Signer::from_bytes(&[9u8; 32]).unwrap());
    let mut head = Head::default();
    let mut lines = Vec::new();
    for (i, key) in [&old, &new].into_iter().enumerate() {
        lines.push(link(
            json!({"ts": "2026-12-04T10:00:00Z", "portal": "acme", "phase": "pass", "n": i}),
            &mut head,
        ));
        let cp = key.checkpoint(&head, "2026-12-04T10:00:01Z", "acme");
        lines.push(link(cp, &mut head));
    }
    let files = write(dir.path(), &lines);
    assert!(verify(&files, &[old.verifying_key()]).is_err());
    let v = verify(&files, &[old.verifying_key(), new.verifying_key()]).unwrap();
    assert_eq!(v.checkpoints, 2);
}

/// The head is found whatever the length of the lines at the end: a last line longer
/// than the first window read, a cut line after it, lines much shorter than it.
#[test]
fn the_head_is_found_behind_long_lines_and_a_cut_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for (last, cut) in [(10, 0), (40_000, 0), (300_000, 0), (40_000, 70_000), (10, 900_000)] {
        let mut head = Head::default();
        let mut bytes = Vec::new();
        for i in 0..5 {
            bytes.extend(link(json!({"n": i, "pad": "x".repeat(200)}), &mut head));
            bytes.push(b'\n');
        }
        bytes.extend(link(json!({"pad": "y".repeat(last)}), &mut head));
        bytes.push(b'\n');
        bytes.extend(std::iter::repeat_n(b'z', cut));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            head_of_file(&path).unwrap(),
            Some(head.clone()),
            "last {last}, cut {cut}"
        );
    }
    // Nothing chained within the last megabyte: no head.
    std::fs::write(&path, "x".repeat(2 << 20)).unwrap();
    assert_eq!(head_of_file(&path).unwrap(), None);
}
