//! The records the backup API carries, as this product holds them: storage types,
//! periods, times as read, history records, the schedule, what the server says of
//! itself, and the backup's identity (`BackupId`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fmt;

use super::*;

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

    pub(super) fn from_json(v: &Value) -> Self {
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
    pub(super) fn from_json(v: &Value) -> Self {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(0) => Period::EveryDay,
                Some(1) => Period::EveryWeek,
                Some(2) => Period::EveryMonth,
                _ => Period::Unknown(n.to_string()),
            },
            Value::String(s) => Period::from_name(s),
            other => Period::Unknown(other.to_string()),
        }
    }

    /// A name as [`Period::name`] writes it.
    pub fn from_name(name: &str) -> Self {
        match name {
            "EveryDay" => Period::EveryDay,
            "EveryWeek" => Period::EveryWeek,
            "EveryMonth" => Period::EveryMonth,
            other => Period::Unknown(other.to_string()),
        }
    }

    /// The period in seconds (a month as 30 days); `None` when unknown.
    pub fn seconds(&self) -> Option<u64> {
        match self {
            Period::EveryDay => Some(86_400),
            Period::EveryWeek => Some(7 * 86_400),
            Period::EveryMonth => Some(30 * 86_400),
            Period::Unknown(_) => None,
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

    pub(super) fn from_json(v: Option<&Value>) -> Self {
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
            WireTime::At(t) => f.write_str(&crate::calendar::rfc3339(*t)),
            WireTime::Never => f.write_str("never"),
            WireTime::Missing => f.write_str("missing"),
            WireTime::Invalid(raw) => write!(f, "{raw:?}"),
        }
    }
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
    /// How a record is read from a JSON value: the reference [`parse_history`] is held
    /// to (tests).
    #[cfg(test)]
    pub(super) fn from_json(v: &Value) -> Self {
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

/// Whether a schedule of `period` with `day` makes a backup on `date`. The server's
/// cron is Quartz's (docs/docspace-api.md, "Time and names"): `0 0 {hour} ? * {day}`
/// for a week, where 1 is Sunday and 7 Saturday (a 0, which the server's own pages
/// never send, is read as Sunday); `0 0 {hour} {day} * ?` for a month, which skips a
/// month without that day (no backup on 30 February).
pub fn schedule_due(period: &Period, day: Option<i64>, date: chrono::NaiveDate) -> bool {
    use chrono::Datelike;
    match period {
        Period::EveryDay => true,
        Period::EveryWeek => match day.unwrap_or(1) {
            d @ 0..=7 => i64::from(date.weekday().num_days_from_sunday()) == (d - 1).max(0),
            _ => false,
        },
        Period::EveryMonth => i64::from(date.day()) == day.unwrap_or(1),
        Period::Unknown(_) => false,
    }
}

/// The weekday a weekly schedule's `day` names (see [`schedule_due`]).
pub fn schedule_weekday(day: Option<i64>) -> Option<&'static str> {
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    match day.unwrap_or(1) {
        d @ 0..=7 => Some(DAYS[(d - 1).max(0) as usize]),
        _ => None,
    }
}

/// `getbackupschedule`'s value when a schedule exists. Its `Debug` shows the storage
/// parameters redacted: a report or a log that prints a schedule never leaks them.
#[derive(Clone, PartialEq)]
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

impl fmt::Debug for BackupSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupSchedule")
            .field("storage_type", &self.storage_type)
            .field("storage_params", &redacted_storage_params(&self.storage_params))
            .field("period", &self.period)
            .field("hour", &self.hour)
            .field("day", &self.day)
            .field("backups_stored", &self.backups_stored)
            .field("last_backup_time", &self.last_backup_time)
            .field("dump", &self.dump)
            .finish()
    }
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

/// What `GET /api/2.0/settings` says of the portal (docs/docspace-api.md, "Time and
/// names"): its tenant's alias, whether it is an on-premise server, and (to a caller
/// with a key) its own IANA time zone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSettings {
    /// The settings were read (an answer that failed leaves everything unknown).
    pub read: bool,
    pub alias: Option<String>,
    pub standalone: bool,
    pub timezone: Option<String>,
}

/// One page of a folder's listing: each file's title and size, how many items the
/// page held (files and folders: what `startIndex` counts), and the folder's total.
#[derive(Debug, Default, PartialEq)]
pub struct FolderPage {
    pub files: Vec<(String, u64)>,
    pub items: u64,
    pub total: Option<u64>,
}

/// The answer of `POST /api/2.0/authentication`.
#[derive(Debug)]
pub struct LoginAnswer {
    pub token: Option<crate::secret::Secret>,
    pub expires: Option<DateTime<Utc>>,
    pub tfa: bool,
    pub sms: bool,
}

/// Is `id` a GUID (the only ids `deletebackup` routes)? Case-insensitive; braces and
/// other spellings are not accepted: the server sends the bare lowercase form.
pub fn is_guid(id: &str) -> bool {
    BackupId::parse(id).is_some()
}

/// A backup's identity: the GUID of a history record, compared without regard to case
/// (the server's GUIDs are case-insensitive, so `ABC…` and `abc…` are one backup).
/// Parsed once from the wire; every comparison, set and DELETE uses this type, never
/// the raw string. Shown in the canonical lowercase form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupId(u128);

impl BackupId {
    /// The id of a GUID written as the server writes it (`8-4-4-4-12` hex digits).
    pub fn parse(text: &str) -> Option<BackupId> {
        let b = text.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut value: u128 = 0;
        for (i, c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if *c != b'-' {
                    return None;
                }
                continue;
            }
            let digit = (*c as char).to_digit(16)?;
            value = value << 4 | u128::from(digit);
        }
        Some(BackupId(value))
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            v >> 96,
            (v >> 80) & 0xffff,
            (v >> 64) & 0xffff,
            (v >> 48) & 0xffff,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for BackupId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackupId::parse(s)
            .ok_or_else(|| "expected a backup id (a GUID such as 0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b)".into())
    }
}

impl serde::Serialize for BackupId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
