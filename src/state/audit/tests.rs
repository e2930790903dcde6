use std::io::Write;

use super::*;

impl AuditLog {
    /// `<state_dir>/audit.jsonl`, as the state directory opens it.
    fn open(state_dir: &Path) -> Result<Arc<Self>, AuditError> {
        AuditLog::open_file(&state_dir.join(AUDIT_FILE), None)
    }

    /// Appends one line and waits until it is on disk.
    async fn record(self: &Arc<Self>, entry: AuditEntry) -> Result<(), AuditError> {
        self.record_all(vec![entry]).await
    }
}

fn intent(portal: &str, id: &str) -> AuditEntry {
    AuditEntry::intent(portal, AuditAction::DeleteBackup, false).backup(id, None, None, Vec::new())
}

#[tokio::test]
async fn a_torn_last_line_is_ended_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    std::fs::write(&path, b"{\"ts\":\"2026-11-22T10:00:00Z\",\"portal\":\"ac").unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let (inode, end) = log.end().unwrap();
    log.record(intent("acme", "b1")).await.unwrap();
    let lines = log.lines_since(Some(inode), end, None, "acme").unwrap();
    assert_eq!(lines.len(), 1, "the intent after a torn line is found");
    assert_eq!(lines[0].backup_id.as_deref(), Some("b1"));
}

#[tokio::test]
async fn the_writer_follows_a_rotation_and_readers_read_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let log = AuditLog::open(dir.path()).unwrap();
    log.record(intent("acme", "old")).await.unwrap();
    let (inode, end) = log.end().unwrap();
    std::fs::rename(&path, dir.path().join("audit.jsonl.1")).unwrap();
    log.record(intent("acme", "new")).await.unwrap();
    // The line went to the file at the path, and a mark from before the rotation
    // makes readers read the whole new file.
    let lines = log.lines_since(Some(inode), end, None, "acme").unwrap();
    let ids: Vec<_> = lines.iter().filter_map(|l| l.backup_id.as_deref()).collect();
    assert_eq!(ids, ["new"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("audit.jsonl.1"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[tokio::test]
async fn a_batch_begun_before_a_rotation_is_read_across_it() {
    let ids = |lines: Vec<AuditEntry>| -> Vec<String> { lines.into_iter().filter_map(|l| l.backup_id).collect() };
    let at = |ts: &str| DateTime::parse_from_rfc3339(ts).unwrap().with_timezone(&Utc);
    let stamped = |id: &str, ts: &str| {
        let mut e = intent("acme", id);
        e.ts = ts.to_string();
        e
    };
    for copytruncate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUDIT_FILE);
        let log = AuditLog::open(dir.path()).unwrap();
        log.record(stamped("before", "2026-12-04T10:00:00Z")).await.unwrap();
        let (inode, end) = log.end().unwrap();
        log.record(stamped("b1", "2026-12-04T10:00:05Z")).await.unwrap();
        let rotated = dir.path().join("audit.jsonl-20261204");
        if copytruncate {
            std::fs::copy(&path, &rotated).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(0)
                .unwrap();
        } else {
            std::fs::rename(&path, &rotated).unwrap();
        }
        log.record(stamped("b2", "2026-12-04T10:00:06Z")).await.unwrap();
        let since = Some(at("2026-12-04T10:00:05Z"));
        assert_eq!(
            ids(log.lines_since(Some(inode), end, since, "acme").unwrap()),
            ["b1", "b2"],
            "copytruncate {copytruncate}"
        );
        // Not yet truncated: the copy and the log hold the same lines, read once.
        if copytruncate {
            std::fs::copy(&path, dir.path().join("audit.jsonl.1")).unwrap();
            assert_eq!(
                ids(log.lines_since(Some(inode), end, since, "acme").unwrap()),
                ["b1", "b2"]
            );
        }
    }
}

/// logrotate's `nocreate`: the log is gone until the next line makes it again. A
/// batch begun then still has an end to mark and lines to find.
#[tokio::test]
async fn a_log_rotated_away_is_an_empty_log_to_come() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let log = AuditLog::open(dir.path()).unwrap();
    log.record(intent("acme", "old")).await.unwrap();
    std::fs::rename(&path, dir.path().join("audit.jsonl-20261201")).unwrap();
    assert_eq!(log.end().unwrap(), (0, 0));
    let since = Utc::now() - chrono::TimeDelta::seconds(1);
    log.record(intent("acme", "new")).await.unwrap();
    assert!(path.exists(), "the next line made it again");
    let ids: Vec<String> = log
        .lines_since(Some(0), 0, Some(since), "acme")
        .unwrap()
        .into_iter()
        .filter_map(|l| l.backup_id)
        .collect();
    assert_eq!(ids, ["old", "new"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_all_land_whole_and_in_order_per_writer() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for portal in 0..8 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let entry = AuditEntry::intent(&format!("p{portal}"), AuditAction::DeleteBackup, false)
                    .reasons(vec![i.to_string()]);
                log.record(entry).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 400);
    for portal in 0..8 {
        let seq: Vec<String> = lines
            .iter()
            .filter(|l| l["portal"] == format!("p{portal}"))
            .map(|l| l["reasons"][0].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seq, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
    }
}

/// Two writers on one log (the daemon and `once`), a line cut by a crash between
/// them, and a rotation: one chain, which verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_a_cut_line_and_a_rotation_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let (a, b) = (AuditLog::open(dir.path()).unwrap(), AuditLog::open(dir.path()).unwrap());
    for i in 0..20 {
        let log = if i % 3 == 0 { &a } else { &b };
        log.record(intent("acme", &format!("id-{i}"))).await.unwrap();
    }
    // A crash mid-line, then the other writer goes on.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"ts":"2026-12-04T10:00:00Z","portal":"ac"#)
        .unwrap();
    a.record(intent("acme", "after-the-cut")).await.unwrap();
    // logrotate renames the log (nocreate); the next line starts the new file.
    std::fs::rename(&path, dir.path().join("audit.jsonl-20261204")).unwrap();
    b.record(intent("acme", "after-the-rotation")).await.unwrap();
    let files = crate::evidence::chain_files(&path);
    assert_eq!(files.len(), 2);
    let v = crate::evidence::verify(&files, &[]).unwrap();
    assert_eq!((v.lines, v.torn), (22, 1), "{v:?}");
    assert_eq!(v.last.unwrap().seq, 22);
}

/// A torn line longer than the first window read back is still ended, and named by
/// the next line as the whole cut line (its hash over all of its bytes).
#[tokio::test]
async fn a_long_torn_line_is_ended_and_named_whole() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let cut = format!("{{\"ts\":\"2026-11-22T10:00:00Z\",\"pad\":\"{}", "p".repeat(100_000));
    std::fs::write(&path, format!("{{\"n\":1}}\n{cut}")).unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    log.record(intent("acme", "b1")).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["backup_id"], "b1");
    assert_eq!(last["torn"], hex::encode(sha2::Sha256::digest(cut.as_bytes())));
    assert_eq!(text.lines().count(), 3);
}
