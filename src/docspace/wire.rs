//! The DocSpace wire format, read as the real server writes it.
//!
//! Everything that knows a JSON field name of the backup API lives here. Parsing is
//! lenient per record and strict per document: one record with a broken date or an
//! unknown storage type becomes a record the planner keeps, while a body that is not
//! the expected envelope fails the whole read, so that nothing is deleted on the
//! strength of a document we did not understand.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Storage type of a backup or schedule. The server sends integers; tools generated
/// from the OpenAPI file send names. Unknown values are kept verbatim, never guessed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageType {
    Documents,
    ThirdpartyDocuments,
    CustomCloud,
    Local,
    DataStore,
    ThirdPartyConsumer,
    Unknown(String),
}

impl StorageType {
    pub const KNOWN: [StorageType; 6] = [
        StorageType::Documents,
        StorageType::ThirdpartyDocuments,
        StorageType::CustomCloud,
        StorageType::Local,
        StorageType::DataStore,
        StorageType::ThirdPartyConsumer,
    ];

    /// The API's own names (including its spelling "ThridpartyDocuments").
    pub fn name(&self) -> &str {
        match self {
            StorageType::Documents => "Documents",
            StorageType::ThirdpartyDocuments => "ThridpartyDocuments",
            StorageType::CustomCloud => "CustomCloud",
            StorageType::Local => "Local",
            StorageType::DataStore => "DataStore",
            StorageType::ThirdPartyConsumer => "ThirdPartyConsumer",
            StorageType::Unknown(raw) => raw,
        }
    }

    pub fn from_number(n: i64) -> Self {
        match n {
            0 => StorageType::Documents,
            1 => StorageType::ThirdpartyDocuments,
            2 => StorageType::CustomCloud,
            3 => StorageType::Local,
            4 => StorageType::DataStore,
            5 => StorageType::ThirdPartyConsumer,
            other => StorageType::Unknown(other.to_string()),
        }
    }

    /// A name as written in the API or in our config. The correct spelling
    /// "ThirdpartyDocuments" is accepted beside the API's.
    pub fn from_name(name: &str) -> Self {
        match name {
            "Documents" => StorageType::Documents,
            "ThridpartyDocuments" | "ThirdpartyDocuments" => StorageType::ThirdpartyDocuments,
            "CustomCloud" => StorageType::CustomCloud,
            "Local" => StorageType::Local,
            "DataStore" => StorageType::DataStore,
            "ThirdPartyConsumer" => StorageType::ThirdPartyConsumer,
            other => StorageType::Unknown(other.to_string()),
        }
    }

    fn from_json(v: &Value) -> Self {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => StorageType::from_number(i),
                None => StorageType::Unknown(n.to_string()),
            },
            Value::String(s) => StorageType::from_name(s),
            other => StorageType::Unknown(other.to_string()),
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, StorageType::Unknown(_))
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageType::Unknown(raw) => write!(f, "unknown({raw})"),
            known => f.write_str(known.name()),
        }
    }
}

/// Schedule period (`cronParams.period`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Period {
    EveryDay,
    EveryWeek,
    EveryMonth,
    Unknown(String),
}

impl Period {
    fn from_json(v: &Value) -> Self {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(0) => Period::EveryDay,
                Some(1) => Period::EveryWeek,
                Some(2) => Period::EveryMonth,
                _ => Period::Unknown(n.to_string()),
            },
            Value::String(s) => match s.as_str() {
                "EveryDay" => Period::EveryDay,
                "EveryWeek" => Period::EveryWeek,
                "EveryMonth" => Period::EveryMonth,
                other => Period::Unknown(other.to_string()),
            },
            other => Period::Unknown(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Period::EveryDay => "EveryDay",
            Period::EveryWeek => "EveryWeek",
            Period::EveryMonth => "EveryMonth",
            Period::Unknown(raw) => raw,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Unknown(raw) => write!(f, "unknown({raw})"),
            known => f.write_str(known.name()),
        }
    }
}

/// A timestamp field as read: an instant, the server's "never" (`0001-01-01`),
/// or something we could not read (kept verbatim for the reason text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireTime {
    At(DateTime<Utc>),
    Never,
    Missing,
    Invalid(String),
}

impl WireTime {
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        match self {
            WireTime::At(t) => Some(*t),
            _ => None,
        }
    }

    fn from_json(v: Option<&Value>) -> Self {
        match v {
            None | Some(Value::Null) => WireTime::Missing,
            Some(Value::String(s)) => parse_time(s),
            Some(other) => WireTime::Invalid(other.to_string()),
        }
    }
}

impl fmt::Display for WireTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireTime::At(t) => f.write_str(&rfc3339(*t)),
            WireTime::Never => f.write_str("never"),
            WireTime::Missing => f.write_str("missing"),
            WireTime::Invalid(raw) => write!(f, "{raw:?}"),
        }
    }
}

/// RFC 3339 in UTC with seconds precision (`2026-11-21T03:00:00Z`), our output format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Reads a DocSpace date. A value without a zone is UTC (MySQL-backed servers send
/// those); `Z`, offsets and up to 9 fractional digits are accepted. Year 1 is the
/// server's "never".
pub fn parse_time(s: &str) -> WireTime {
    let trimmed = s.trim();
    let t = match DateTime::parse_from_rfc3339(trimmed) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => match NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f") {
            Ok(t) => t.and_utc(),
            Err(_) => return WireTime::Invalid(s.to_string()),
        },
    };
    if chrono::Datelike::year(&t) <= 1 {
        return WireTime::Never;
    }
    WireTime::At(t)
}

/// One entry of `getbackuphistory`, as read. `id` is empty when the server sent none.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRecord {
    pub id: String,
    pub file_name: Option<String>,
    pub storage_type: StorageType,
    pub created_on: WireTime,
    pub expires_on: WireTime,
}

impl HistoryRecord {
    fn from_json(v: &Value) -> Self {
        let field = |name: &str| v.as_object().and_then(|o| o.get(name));
        HistoryRecord {
            id: field("id").and_then(Value::as_str).unwrap_or_default().to_string(),
            file_name: field("fileName").and_then(Value::as_str).map(str::to_string),
            storage_type: field("storageType")
                .map(StorageType::from_json)
                .unwrap_or_else(|| StorageType::Unknown("missing".into())),
            created_on: WireTime::from_json(field("createdOn")),
            expires_on: WireTime::from_json(field("expiresOn")),
        }
    }
}

/// `getbackupschedule`'s value when a schedule exists.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupSchedule {
    pub storage_type: StorageType,
    /// Storage parameters as sent. They can hold cloud credentials: never log them,
    /// print them only through [`redacted_storage_params`].
    pub storage_params: Vec<(String, Option<String>)>,
    pub period: Period,
    pub hour: Option<i64>,
    pub day: Option<i64>,
    /// `None` when the server keeps every backup (the field is absent for 0/unlimited).
    pub backups_stored: Option<u32>,
    pub last_backup_time: WireTime,
    pub dump: bool,
}

/// Storage parameter names whose values are shown; everything else is `***`.
const PUBLIC_STORAGE_PARAMS: [&str; 7] = [
    "folderId",
    "module",
    "region",
    "bucket",
    "filePath",
    "subdir",
    "serviceurl",
];

pub fn redacted_storage_params(params: &[(String, Option<String>)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                None => "null".to_string(),
                Some(v) if PUBLIC_STORAGE_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(k)) => v.clone(),
                Some(_) => crate::secret::REDACTED.to_string(),
            };
            (k.clone(), shown)
        })
        .collect()
}

/// Why a body could not be read as the expected document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

#[derive(Deserialize)]
struct Envelope {
    response: Option<Value>,
}

fn envelope(body: &[u8]) -> Result<Option<Value>, WireError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        WireError(format!(
            "body is not the DocSpace JSON envelope ({e}); it starts with {}",
            snippet(body)
        ))
    })?;
    Ok(env.response.filter(|v| !v.is_null()))
}

/// The history. A missing `response` (the server's null) reads as no records; a
/// `response` that is not an array fails the whole read.
pub fn parse_history(body: &[u8]) -> Result<Vec<HistoryRecord>, WireError> {
    match envelope(body)? {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().map(HistoryRecord::from_json).collect()),
        Some(other) => Err(WireError(format!(
            "expected a list of backup records in \"response\", found {}",
            json_kind(&other)
        ))),
    }
}

/// The schedule, `None` when the portal has none (`count: 0` and no `response`).
pub fn parse_schedule(body: &[u8]) -> Result<Option<BackupSchedule>, WireError> {
    let Some(value) = envelope(body)? else {
        return Ok(None);
    };
    let Value::Object(o) = &value else {
        return Err(WireError(format!(
            "expected a schedule object in \"response\", found {}",
            json_kind(&value)
        )));
    };
    let cron = o.get("cronParams").and_then(Value::as_object);
    let period = cron
        .and_then(|c| c.get("period"))
        .map(Period::from_json)
        .unwrap_or_else(|| Period::Unknown("missing".into()));
    let storage_params = o
        .get("storageParams")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(BackupSchedule {
        storage_type: o
            .get("storageType")
            .map(StorageType::from_json)
            .unwrap_or_else(|| StorageType::Unknown("missing".into())),
        storage_params,
        period,
        hour: cron.and_then(|c| c.get("hour")).and_then(Value::as_i64),
        day: cron.and_then(|c| c.get("day")).and_then(Value::as_i64),
        backups_stored: o
            .get("backupsStored")
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
            .and_then(|n| u32::try_from(n).ok()),
        last_backup_time: WireTime::from_json(o.get("lastBackupTime")),
        dump: o.get("dump").and_then(Value::as_bool).unwrap_or(false),
    }))
}

/// The `true`/`false` answer of the delete calls. A missing value reads as `None`.
pub fn parse_bool(body: &[u8]) -> Result<Option<bool>, WireError> {
    match envelope(body)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(WireError(format!(
            "expected true or false in \"response\", found {}",
            json_kind(&other)
        ))),
    }
}

/// The answer of `POST /api/2.0/authentication`.
#[derive(Debug)]
pub struct LoginAnswer {
    pub token: Option<crate::secret::Secret>,
    pub expires: Option<DateTime<Utc>>,
    pub tfa: bool,
    pub sms: bool,
}

pub fn parse_login(body: &[u8]) -> Result<LoginAnswer, WireError> {
    let value = envelope(body)?.ok_or_else(|| WireError("the login answer has no \"response\"".into()))?;
    let o = value
        .as_object()
        .ok_or_else(|| WireError("the login answer is not an object".into()))?;
    Ok(LoginAnswer {
        token: o
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(crate::secret::Secret::new),
        expires: o
            .get("expires")
            .and_then(Value::as_str)
            .and_then(|s| parse_time(s).instant()),
        tfa: o.get("tfa").and_then(Value::as_bool).unwrap_or(false),
        sms: o.get("sms").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// `error.message` of the server's error envelope, when the body is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("error")?
        .get("message")?
        .as_str()
        .map(|s| s.chars().take(300).collect())
}

/// The start of a body for an error message, on one line.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("{:?}", one_line.trim())
}

/// Does the body look like an HTML page (a proxy's error page)?
pub fn looks_like_html(body: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    let start = start.trim_start();
    start.starts_with("<!doctype html") || start.starts_with("<html") || start.contains("<body")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Is `id` a GUID (the only ids `deletebackup` routes)? Case-insensitive, with or
/// without braces is not accepted: the server sends the bare lowercase form.
pub fn is_guid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
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
    fn history_without_response_is_empty_and_non_list_fails() {
        assert!(
            parse_history(br#"{"count":0,"status":0,"statusCode":200}"#)
                .unwrap()
                .is_empty()
        );
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
        let body = br#"{"error":{"message":"Access denied","type":null,"stack":null,"hresult":0},"status":1,"statusCode":403}"#;
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
}
