use chrono::{DateTime, Utc};
use serde_json::Value;

use super::read::{envelope, json_kind};
use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn dates_without_zone_are_utc() {
    let at = |s: &str| WireTime::At(utc(s));
    assert_eq!(parse_time("2026-03-01T02:15:00"), at("2026-03-01T02:15:00Z"));
    assert_eq!(
        parse_time("2026-03-01T02:15:00.1234567Z"),
        at("2026-03-01T02:15:00.1234567Z")
    );
    assert_eq!(parse_time("2026-03-01T05:15:00+03:00"), at("2026-03-01T02:15:00Z"));
    assert_eq!(
        parse_time("2026-03-01T02:15:00.1234567"),
        at("2026-03-01T02:15:00.1234567Z")
    );
    assert_eq!(parse_time("0001-01-01T00:00:00"), WireTime::Never);
    assert_eq!(parse_time("0001-01-01T00:00:00Z"), WireTime::Never);
    assert_eq!(parse_time("yesterday"), WireTime::Invalid("yesterday".into()));
    assert_eq!(
        parse_time("2026-13-01T00:00:00"),
        WireTime::Invalid("2026-13-01T00:00:00".into())
    );
}

#[test]
fn history_reads_integer_and_named_enums_and_keeps_unknowns() {
    let body = br#"{"response":[
        {"id":"11111111-1111-1111-1111-111111111111","fileName":"a.tar.gz","storageType":0,
         "createdOn":"2026-11-21T03:00:00","expiresOn":"0001-01-01T00:00:00"},
        {"id":"22222222-2222-2222-2222-222222222222","fileName":"b.tar.gz","storageType":"DataStore",
         "createdOn":"2026-11-21T04:00:00.1234567Z","expiresOn":"2026-11-22T04:00:00Z"},
        {"id":"33333333-3333-3333-3333-333333333333","storageType":42,"createdOn":"garbage"},
        {"fileName":"no-id"},
        7
    ],"count":5,"links":[],"status":0,"statusCode":200}"#;
    let h = parse_history(body).unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].storage_type, StorageType::Documents);
    assert_eq!(h[0].created_on, WireTime::At(utc("2026-11-21T03:00:00Z")));
    assert_eq!(h[0].expires_on, WireTime::Never);
    assert_eq!(h[1].storage_type, StorageType::DataStore);
    assert_eq!(h[2].storage_type, StorageType::Unknown("42".into()));
    assert_eq!(h[2].created_on, WireTime::Invalid("garbage".into()));
    assert_eq!(h[3].id, "");
    assert_eq!(h[3].created_on, WireTime::Missing);
    assert_eq!(h[4].id, "");
}

#[test]
fn a_history_without_a_response_list_is_unreadable_not_empty() {
    for body in [
        &br#"{"count":0,"status":0,"statusCode":200}"#[..],
        br#"{"response":null,"count":0}"#,
        br#"{"response":true,"count":1}"#,
    ] {
        let err = parse_history(body).unwrap_err();
        assert!(err.0.contains("backup records in \"response\""), "{err}");
    }
    assert!(parse_history(br#"{"response":[],"count":0}"#).unwrap().is_empty());
    assert!(parse_history(br#"{"response":{"a":1},"count":1}"#).is_err());
    let err = parse_history(b"<html><body>502</body></html>").unwrap_err();
    assert!(err.0.contains("not the DocSpace JSON envelope"), "{err}");
    assert!(parse_history(br#"{"response":[{"id":"x""#).is_err());
}

#[test]
fn schedule_absent_is_none() {
    let body = br#"{"count":0,"links":[{"href":"x","action":"GET"}],"status":0,"statusCode":200}"#;
    assert_eq!(parse_schedule(body).unwrap(), None);
}

#[test]
fn schedule_fields() {
    let body = br#"{"response":{"storageType":0,"storageParams":{"folderId":"12","secretaccesskey":"AKIA"},
        "cronParams":{"period":1,"hour":3,"day":2},"backupsStored":7,
        "lastBackupTime":"2026-11-21T03:00:00","dump":false},"count":1}"#;
    let s = parse_schedule(body).unwrap().unwrap();
    assert_eq!(s.storage_type, StorageType::Documents);
    assert_eq!(s.period, Period::EveryWeek);
    assert_eq!((s.hour, s.day, s.backups_stored), (Some(3), Some(2), Some(7)));
    assert_eq!(s.last_backup_time, WireTime::At(utc("2026-11-21T03:00:00Z")));
    let shown = redacted_storage_params(&s.storage_params);
    assert!(shown.contains(&("folderId".into(), "12".into())));
    assert!(shown.contains(&("secretaccesskey".into(), "***".into())));

    let named = br#"{"response":{"storageType":"Local","cronParams":{"period":"EveryMonth","hour":1,"day":5},
        "lastBackupTime":"0001-01-01T00:00:00","dump":true},"count":1}"#;
    let s = parse_schedule(named).unwrap().unwrap();
    assert_eq!(s.storage_type, StorageType::Local);
    assert_eq!(s.period, Period::EveryMonth);
    assert_eq!(s.backups_stored, None);
    assert_eq!(s.last_backup_time, WireTime::Never);
    let odd = br#"{"response":{"storageType":9,"cronParams":{"period":7}},"count":1}"#;
    let s = parse_schedule(odd).unwrap().unwrap();
    assert_eq!(s.period, Period::Unknown("7".into()));
}

#[test]
fn error_envelope_and_html() {
    let body =
        br#"{"error":{"message":"Access denied","type":null,"stack":null,"hresult":0},"status":1,"statusCode":403}"#;
    assert_eq!(error_message(body).as_deref(), Some("Access denied"));
    assert!(looks_like_html(
        b"\n<!DOCTYPE html><html><body>Bad Gateway</body></html>"
    ));
    assert!(!looks_like_html(body));
}

#[test]
fn guid_check() {
    assert!(is_guid("0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"));
    assert!(is_guid("0F4B6C1E-2A3D-4E5F-8A9B-0C1D2E3F4A5B"));
    assert!(!is_guid("0f4b6c1e2a3d4e5f8a9b0c1d2e3f4a5b"));
    assert!(!is_guid("../../etc/passwd"));
    assert!(!is_guid(""));
}

#[test]
fn backup_ids_ignore_case_and_show_lowercase() {
    let lower = BackupId::parse("0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
    let upper = BackupId::parse("0F4B6C1E-2A3D-4E5F-8A9B-0C1D2E3F4A5B").unwrap();
    assert_eq!(lower, upper);
    assert_eq!(upper.to_string(), "0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b");
    for text in [
        "00000000-0000-0000-0000-000000000000",
        "00000001-0002-0003-0004-000000000005",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "0000000f-00f0-0f00-f000-00000000000f",
    ] {
        assert_eq!(
            BackupId::parse(text).unwrap().to_string(),
            text,
            "every group keeps its zeros"
        );
    }
    assert_eq!(
        serde_json::to_string(&upper).unwrap(),
        "\"0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b\""
    );
    for bad in [
        "",
        "0f4b6c1e2a3d4e5f8a9b0c1d2e3f4a5b",
        "{0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b}",
        "0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5g",
        "0f4b6c1e+2a3d-4e5f-8a9b-0c1d2e3f4a5b",
    ] {
        assert_eq!(BackupId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn the_version_is_read_from_the_build_answer() {
    let body =
        br#"{"response":{"docSpace":"3.7.2.1733","documentServer":"8.3.1"},"count":1,"status":0,"statusCode":200}"#;
    assert_eq!(parse_version(body).unwrap().as_deref(), Some("3.7.2.1733"));
    assert_eq!(parse_version(br#"{"count":0}"#).unwrap(), None);
    assert_eq!(
        parse_version(br#"{"response":{"docSpace":"3.7 \u001b[31m"}}"#).unwrap(),
        None
    );
    assert!(parse_version(b"<html>").is_err());
    // Build defaults are no versions: unknown.
    for default in ["3.1.0", "0.0.0", "0.0.0.0", "${VERSION}", "3.${BUILD}"] {
        let body = format!(r#"{{"response":{{"docSpace":"{default}"}}}}"#);
        assert_eq!(parse_version(body.as_bytes()).unwrap(), None, "{default}");
    }
    for real in ["3.1.0.512", "3.1.1", "3.0.4.100"] {
        let body = format!(r#"{{"response":{{"docSpace":"{real}"}}}}"#);
        assert_eq!(parse_version(body.as_bytes()).unwrap().as_deref(), Some(real));
    }
}

/// The history as it was read before records were read field by field: the whole
/// `response` as a `Value` tree, each item through [`HistoryRecord::from_json`].
fn history_through_values(body: &[u8]) -> Result<Vec<HistoryRecord>, WireError> {
    match envelope(body)? {
        None => Err(WireError(
            "expected a list of backup records in \"response\", found none: an unreadable answer, not an empty history"
                .into(),
        )),
        Some(Value::Array(items)) => Ok(items.iter().map(HistoryRecord::from_json).collect()),
        Some(other) => Err(WireError(format!(
            "expected a list of backup records in \"response\", found {}",
            json_kind(&other)
        ))),
    }
}

mod history_reads_as_values_do {
    use super::*;
    use proptest::prelude::*;

    /// JSON text (not a `Value`: keys may repeat, as a server may send them).
    fn json_value(depth: u32) -> BoxedStrategy<String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("0".to_string()),
            Just("4".to_string()),
            Just("-1".to_string()),
            Just("2.5".to_string()),
            Just("1e400".to_string()),
            Just("\"\"".to_string()),
            Just("\"Documents\"".to_string()),
            Just("\"2026-11-22T03:00:00\"".to_string()),
            Just("\"2026-11-22T03:00:00.1234567Z\"".to_string()),
            Just("\"0001-01-01T00:00:00\"".to_string()),
            Just("\"0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b\"".to_string()),
            Just("\"a\\u0000b\\\"c\"".to_string()),
        ];
        if depth == 0 {
            return leaf.boxed();
        }
        prop_oneof![
            4 => leaf,
            1 => prop::collection::vec(json_value(depth - 1), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            1 => object(depth - 1),
        ]
        .boxed()
    }

    fn object(depth: u32) -> BoxedStrategy<String> {
        let key = prop_oneof![
            Just("id"),
            Just("fileName"),
            Just("storageType"),
            Just("createdOn"),
            Just("expiresOn"),
            Just("\\u0069d"),
            Just("ID"),
            Just("links"),
            Just(""),
        ];
        prop::collection::vec((key, json_value(depth)), 0..8)
            .prop_map(|fields| {
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            })
            .boxed()
    }

    fn body() -> impl Strategy<Value = String> {
        let item = prop_oneof![4 => object(2), 1 => json_value(2)];
        let response = prop_oneof![
            6 => prop::collection::vec(item, 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            1 => json_value(2),
        ];
        prop_oneof![
            8 => response.prop_map(|r| format!("{{\"count\":1,\"response\":{r},\"status\":0}}")),
            1 => Just("{\"count\":0}".to_string()),
            1 => Just("{\"response\":[{\"id\":1}], \"response\":[]}".to_string()),
            1 => Just("[[{\"id\":\"x\"}]]".to_string()),
            1 => Just("{\"response\":[{\"id\":\"x\"}".to_string()),
            1 => Just("<html>".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn on_any_body(body in body()) {
            prop_assert_eq!(parse_history(body.as_bytes()), history_through_values(body.as_bytes()), "{}", body);
        }
    }
}

#[test]
fn the_start_time_is_read_from_the_file_name() {
    let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
    assert_eq!(
        file_name_start("acme_2026-11-21_03-00-07.tar.gz"),
        Some(at("2026-11-21 03:00:07"))
    );
    // An alias with underscores and digits; the last stamp counts.
    assert_eq!(
        file_name_start("my_portal_2020-01-01_00-00-00_2026-03-01_02-15-00.tar.gz"),
        Some(at("2026-03-01 02:15:00"))
    );
    assert_eq!(
        file_name_start("workspace_2026-11-21_03-00-00.tar"),
        Some(at("2026-11-21 03:00:00"))
    );
    for name in [
        "",
        "acme.tar.gz",
        "acme_2026-13-01_03-00-00.tar.gz",
        "acme_2026-11-21T03-00-00.tar.gz",
        "é_2026",
    ] {
        assert_eq!(file_name_start(name), None, "{name}");
    }
}

#[test]
fn a_schedule_printed_for_debugging_shows_its_storage_params_redacted() {
    let body =
        br#"{"response":{"storageType":5,"storageParams":{"bucket":"b","secretkey":"AKIA-SECRET-1","module":"s3"},
        "cronParams":{"period":0,"hour":3,"day":0},"lastBackupTime":"2026-11-22T03:00:00","dump":false},"count":1}"#;
    let schedule = parse_schedule(body).unwrap().unwrap();
    let shown = format!("{schedule:?} {:?}", Some(&schedule));
    assert!(!shown.contains("AKIA-SECRET-1"), "{shown}");
    assert!(shown.contains("\"bucket\", \"b\""), "{shown}");
}

#[test]
fn never_is_never_in_every_spelling() {
    for never in [
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00.0000000Z",
        "0001-01-01T00:00:00+03:00",
    ] {
        assert_eq!(parse_time(never), WireTime::Never, "{never}");
    }
}

#[test]
fn names_sort_naturally_and_failing_first() {
    let mut names = vec!["client10", "client2", "client1", "beta", "client02", "a"];
    names.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(names, ["a", "beta", "client1", "client2", "client02", "client10"]);
    let mut fleet = vec![(true, "client2"), (false, "zeta"), (true, "client10"), (false, "alpha")];
    fleet.sort_by(|a, b| fleet_order(*a, *b));
    assert_eq!(
        fleet,
        [(false, "alpha"), (false, "zeta"), (true, "client2"), (true, "client10")]
    );
}

#[test]
fn a_folder_page_counts_its_folders_for_paging_and_keeps_only_sized_files() {
    let body = br#"{"response": {"files": [
        {"title": "acme_2026-11-22_03-00-00.tar.gz", "pureContentLength": 48213377},
        {"title": "no size.docx"},
        {"pureContentLength": 12}
    ], "folders": [{"title": "sub"}, {"title": "other"}], "total": 2005}}"#;
    let page = parse_folder_page(body).unwrap();
    assert_eq!(
        page.files,
        vec![("acme_2026-11-22_03-00-00.tar.gz".to_string(), 48_213_377)]
    );
    assert_eq!((page.items, page.total), (5, Some(2005)));
    assert!(parse_folder_page(br#"{"response": {"files": 3}}"#).is_err());
    assert!(parse_folder_page(br#"{"status": 0}"#).is_err());
}

#[test]
fn a_key_that_never_expires_says_null_and_a_date_is_read_as_one() {
    assert_eq!(parse_key_expiry(br#"{"response": {"expiresAt": null}}"#).unwrap(), None);
    assert_eq!(
        parse_key_expiry(br#"{"response": {"expiresAt": "2026-12-18T10:00:00Z"}}"#).unwrap(),
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-12-18T10:00:00Z")
                .unwrap()
                .to_utc()
        )
    );
    assert!(parse_key_expiry(br#"{"response": {"expiresAt": "soon"}}"#).is_err());
}
