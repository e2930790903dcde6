use super::*;

/// The page's deletions per pass: a pass's intended deletions count at the time of
/// that pass, also once the next pass settled them as deleted; a failed one seen
/// again does not count, and neither do vanished backups or other portals.
#[test]
fn deletions_count_for_the_pass_that_sent_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(&dir.path().join(STATE_FILE)).unwrap();
    let id = |n: u32| BackupId::parse(&format!("{n:08x}-0000-4000-8000-000000000000")).unwrap();
    let (t1, t2, t3) = (
        time("2026-12-01T03:30:00Z").unwrap(),
        time("2026-12-02T03:30:00Z").unwrap(),
        time("2026-12-03T03:30:00Z").unwrap(),
    );
    let seen = |id, first_seen, last_seen| Observation {
        id,
        first_seen,
        last_seen,
        created_on: None,
        started: None,
        expires_on: None,
        left_as: None,
        left_at: None,
    };
    db.intend("acme", &[id(1), id(2), id(3)], t1).unwrap();
    db.intend("other", &[id(9)], t1).unwrap();
    assert_eq!(db.deletions_by_pass("acme", t1).unwrap(), vec![(t1, 3)]);
    // The next pass: two are gone (deleted), one is listed again (its deletion failed).
    let update = HealthUpdate {
        left: vec![(id(1), LEFT_DELETED, t1), (id(2), LEFT_DELETED, t1)],
        seen: vec![seen(id(3), t1, t2)],
        ..HealthUpdate::default()
    };
    db.save_health("acme", &update, t2).unwrap();
    db.intend("acme", &[id(4)], t2).unwrap();
    // A backup seen at t2 that vanishes by t3 (nobody here deleted it).
    let listed = HealthUpdate {
        seen: vec![seen(id(5), t2, t2)],
        ..HealthUpdate::default()
    };
    db.save_health("acme", &listed, t2).unwrap();
    let vanished = HealthUpdate {
        left: vec![(id(5), super::super::LEFT_VANISHED, t2)],
        ..HealthUpdate::default()
    };
    db.save_health("acme", &vanished, t3).unwrap();
    assert_eq!(db.deletions_by_pass("acme", t1).unwrap(), vec![(t1, 2), (t2, 1)]);
    assert_eq!(db.deletions_by_pass("acme", t2).unwrap(), vec![(t2, 1)]);
}

#[test]
fn a_database_of_the_first_schema_opens_and_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{} PRAGMA user_version = 1;", MIGRATIONS[0]))
            .unwrap();
        conn.execute(
            "INSERT INTO portal (name, schedule_period, schedule_hour, schedule_seen_at)
             VALUES ('acme', 'EveryWeek', 3, '2026-11-01T03:00:00Z')",
            [],
        )
        .unwrap();
    }
    let db = StateDb::open(&path).unwrap();
    let version: i64 = db
        .conn
        .lock()
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, SCHEMA_VERSION);
    let memory = db.load("acme").unwrap();
    let schedule = memory.schedule.as_ref().unwrap();
    assert_eq!((schedule.period.clone(), schedule.hour), (Period::EveryWeek, Some(3)));
    assert_eq!(memory.version, None);
    assert!(memory.planned.is_empty());
    // And the new parts work.
    let mut next = memory.clone();
    next.version = Some("3.7.2.1733".into());
    next.planned.insert(
        BackupId::parse("0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b").unwrap(),
        time("2026-11-02T00:00:00Z").unwrap(),
    );
    db.save("acme", &next).unwrap();
    assert_eq!(db.load("acme").unwrap(), next);
}

#[test]
fn a_damaged_or_newer_database_is_refused_never_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    std::fs::write(&path, b"this is not a database, but somebody's file").unwrap();
    let e = StateDb::open(&path).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(e.is_damage(), "{e:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not a database, but somebody's file"
    );
    std::fs::remove_file(&path).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let e = StateDb::open(&path).unwrap_err();
    assert!(e.to_string().contains("newer build") && e.is_damage(), "{e}");
    // A busy or unreadable file is no damage: a restart may find it fixed, whatever
    // words its path holds.
    let busy = StateDbError::Write {
        path: dir
            .path()
            .join("corruption-drills/malformed/not a database/newer build/state.db"),
        source: rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), Some("database is locked".into())),
    };
    assert!(!busy.is_damage());
}
