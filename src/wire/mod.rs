//! The DocSpace wire format and the records it carries, read as the real server
//! writes them (docs/docspace-api.md).
//!
//! Everything that knows a JSON field name of the backup API lives here, and nothing
//! here knows HTTP: the planner imports its record types from this module. Parsing is
//! lenient per record and strict per document: one record with a broken date or an
//! unknown storage type becomes a record the planner keeps, while a body that is not
//! the expected envelope fails the whole read, so that nothing is deleted on the
//! strength of a document we did not understand.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use std::borrow::Cow;
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

/// Text from a server (file names, ids, messages) as it may be printed: control
/// characters escaped, so a hostile file name cannot move the cursor, clear a
/// terminal or forge a log line.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect(),
    )
}

/// RFC 3339 in UTC with seconds precision (`2026-11-21T03:00:00Z`), our output format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Portal names in natural order: `client2` before `client10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // Runs of digits and of other characters, borrowed from the name (`GET /` sorts
    // a fleet's names on every request: no allocation per comparison).
    fn chunks(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let digit = rest.chars().next()?.is_ascii_digit();
            let end = rest.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, chunk))
        })
    }
    let (mut ca, mut cb) = (chunks(a), chunks(b));
    loop {
        let order = match (ca.next(), cb.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some((true, xa)), Some((true, xb))) => {
                let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
                ta.len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| xa.len().cmp(&xb.len()))
            }
            (Some((_, xa)), Some((_, xb))) => xa.cmp(xb),
        };
        if order.is_ne() {
            return order;
        }
    }
}

/// Failing portals first, then by name in natural order.
pub fn fleet_order(a: (bool, &str), b: (bool, &str)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then_with(|| natural_cmp(a.1, b.1))
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
    /// How a record is read from a JSON value: the reference [`parse_history`] is held
    /// to (tests).
    #[cfg(test)]
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

/// The backup's start time in its file name (`{alias}_{yyyy-MM-dd_HH-mm-ss}.{ext}`):
/// the last such stamp in the name, as a wall time (UTC on SaaS, the server's local
/// time on a standalone server).
pub fn file_name_start(name: &str) -> Option<chrono::NaiveDateTime> {
    const SHAPE: &[u8; 19] = b"0000-00-00_00-00-00";
    let bytes = name.as_bytes();
    let at = (0..=bytes.len().checked_sub(SHAPE.len())?).rev().find(|&i| {
        bytes[i..i + SHAPE.len()]
            .iter()
            .zip(SHAPE)
            .all(|(b, s)| if *s == b'0' { b.is_ascii_digit() } else { b == s })
    })?;
    chrono::NaiveDateTime::parse_from_str(&name[at..at + SHAPE.len()], "%Y-%m-%d_%H-%M-%S").ok()
}

/// The history. A `response` that is missing, `null` or not an array fails the whole
/// read: an unreadable answer is never an empty history (the server sends `[]` for
/// that), so no verification, recovery or clear decision takes it for "all gone".
///
/// Read without a `Value` tree of the records (the history is the largest answer, and
/// that tree was most of the cost of reading it): each record keeps only the fields
/// [`HistoryRecord`] reads, as the JSON values they were; it reads them exactly as
/// [`HistoryRecord::from_json`] reads an object (a repeated key: the last one; an item
/// that is not an object: a record with every field missing).
pub fn parse_history(body: &[u8]) -> Result<Vec<HistoryRecord>, WireError> {
    let env: HistoryEnvelope = serde_json::from_slice(body).map_err(|e| {
        WireError(format!(
            "body is not the DocSpace JSON envelope ({e}); it starts with {}",
            snippet(body)
        ))
    })?;
    match env.response {
        None => Err(WireError(
            "expected a list of backup records in \"response\", found none: an unreadable answer, not an empty history"
                .into(),
        )),
        Some(HistoryResponse::Records(items)) => Ok(items.into_iter().map(HistoryRecord::from_fields).collect()),
        Some(HistoryResponse::Other(kind)) => Err(WireError(format!(
            "expected a list of backup records in \"response\", found {kind}"
        ))),
    }
}

#[derive(Deserialize)]
struct HistoryEnvelope {
    response: Option<HistoryResponse>,
}

/// `response` of the history: the records, or what kind of JSON it was instead.
enum HistoryResponse {
    Records(Vec<RecordFields>),
    Other(&'static str),
}

/// The fields of one history item that [`HistoryRecord`] reads.
#[derive(Default)]
struct RecordFields {
    id: Option<Value>,
    file_name: Option<Value>,
    storage_type: Option<Value>,
    created_on: Option<Value>,
    expires_on: Option<Value>,
}

impl HistoryRecord {
    fn from_fields(f: RecordFields) -> Self {
        HistoryRecord {
            id: f.id.as_ref().and_then(Value::as_str).unwrap_or_default().to_string(),
            file_name: f.file_name.as_ref().and_then(Value::as_str).map(str::to_string),
            storage_type: f
                .storage_type
                .as_ref()
                .map(StorageType::from_json)
                .unwrap_or_else(|| StorageType::Unknown("missing".into())),
            created_on: WireTime::from_json(f.created_on.as_ref()),
            expires_on: WireTime::from_json(f.expires_on.as_ref()),
        }
    }
}

impl<'de> Deserialize<'de> for HistoryResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = HistoryResponse;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(record) = seq.next_element::<RecordFields>()? {
                    records.push(record);
                }
                Ok(HistoryResponse::Records(records))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, Value>()?.is_some() {}
                Ok(HistoryResponse::Other("an object"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("null"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(HistoryResponse::Other("a string"))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl<'de> Deserialize<'de> for RecordFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enum Field {
            Id,
            FileName,
            StorageType,
            CreatedOn,
            ExpiresOn,
            Other,
        }
        impl<'de> Deserialize<'de> for Field {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Name;
                impl serde::de::Visitor<'_> for Name {
                    type Value = Field;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a key")
                    }
                    fn visit_str<E>(self, key: &str) -> Result<Field, E> {
                        Ok(match key {
                            "id" => Field::Id,
                            "fileName" => Field::FileName,
                            "storageType" => Field::StorageType,
                            "createdOn" => Field::CreatedOn,
                            "expiresOn" => Field::ExpiresOn,
                            _ => Field::Other,
                        })
                    }
                }
                d.deserialize_identifier(Name)
            }
        }
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RecordFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RecordFields, A::Error> {
                let mut f = RecordFields::default();
                while let Some(key) = map.next_key::<Field>()? {
                    let slot = match key {
                        Field::Id => &mut f.id,
                        Field::FileName => &mut f.file_name,
                        Field::StorageType => &mut f.storage_type,
                        Field::CreatedOn => &mut f.created_on,
                        Field::ExpiresOn => &mut f.expires_on,
                        // Read, not skipped: a value a `Value` cannot hold (a number
                        // out of range) fails the read as it always did.
                        Field::Other => {
                            map.next_value::<Value>()?;
                            continue;
                        }
                    };
                    // A repeated key: the last one, as a JSON object reads.
                    *slot = Some(map.next_value::<Value>()?);
                }
                Ok(f)
            }
            // An item that is not an object has none of the fields.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RecordFields, A::Error> {
                while seq.next_element::<Value>()?.is_some() {}
                Ok(RecordFields::default())
            }
            fn visit_unit<E>(self) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<RecordFields, E> {
                Ok(RecordFields::default())
            }
        }
        d.deserialize_any(Visit)
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

/// The DocSpace version from `GET /api/2.0/settings/version/build`
/// (`{"docSpace": "3.7.2.1733", …}`), `None` when the answer does not name one, or
/// names a build default instead of a release (docs/docspace-api.md, "Version strings
/// lie by default"): `3.1.0` exactly, `0.0.0…`, an unexpanded `${…}`.
pub fn parse_version(body: &[u8]) -> Result<Option<String>, WireError> {
    let value = envelope(body)?;
    Ok(value
        .as_ref()
        .and_then(|v| v.get("docSpace"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()))
        .filter(|v| !is_build_default(v))
        .map(str::to_string))
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

pub fn parse_settings(body: &[u8]) -> Result<ServerSettings, WireError> {
    let value = envelope(body)?;
    let Some(v) = value.as_ref() else {
        return Ok(ServerSettings {
            read: true,
            ..ServerSettings::default()
        });
    };
    let text = |key: &str, max: usize| {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty() && a.len() <= max)
    };
    Ok(ServerSettings {
        read: true,
        alias: text("tenantAlias", 255).map(str::to_ascii_lowercase),
        standalone: v.get("standalone").and_then(Value::as_bool).unwrap_or(false),
        timezone: text("timezone", 64).map(str::to_string),
    })
}

/// One page of a folder's listing: each file's title and size, how many items the
/// page held (files and folders: what `startIndex` counts), and the folder's total.
#[derive(Debug, Default, PartialEq)]
pub struct FolderPage {
    pub files: Vec<(String, u64)>,
    pub items: u64,
    pub total: Option<u64>,
}

/// One page of `GET /api/2.0/files/{folderId}`: each file's `title` and
/// `pureContentLength` (files without either, or with a title longer than a file name
/// can be, are left out).
pub fn parse_folder_page(body: &[u8]) -> Result<FolderPage, WireError> {
    let value = envelope(body)?;
    let Some(v) = value.as_ref() else {
        return Err(WireError("the folder listing has no response".into()));
    };
    let list = |key: &str| match v.get(key) {
        Some(Value::Array(items)) => Ok(&items[..]),
        None | Some(Value::Null) => Ok(&[][..]),
        Some(_) => Err(WireError(format!("the folder listing's {key} is not a list"))),
    };
    let (files, folders) = (list("files")?, list("folders")?);
    Ok(FolderPage {
        files: files
            .iter()
            .filter_map(|f| {
                let title = f.get("title")?.as_str().filter(|t| t.len() <= 1024)?.to_string();
                let size = f.get("pureContentLength")?.as_u64()?;
                Some((title, size))
            })
            .collect(),
        items: (files.len() + folders.len()) as u64,
        total: v.get("total").and_then(Value::as_u64),
    })
}

/// When the calling key expires (`GET /api/2.0/keys/@self`, `expiresAt`): `Ok(None)`
/// for a key that never expires.
pub fn parse_key_expiry(body: &[u8]) -> Result<Option<DateTime<Utc>>, WireError> {
    let value = envelope(body)?;
    let Some(v) = value.as_ref() else {
        return Err(WireError("the key's answer has no response".into()));
    };
    match v.get("expiresAt") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match parse_time(s) {
            WireTime::At(t) => Ok(Some(t)),
            WireTime::Never | WireTime::Missing => Ok(None),
            other => Err(WireError(format!("the key's expiresAt is not a date ({other})"))),
        },
        Some(other) => Err(WireError(format!("the key's expiresAt is not a date ({other})"))),
    }
}

/// A version string a build reports when nobody set one.
fn is_build_default(version: &str) -> bool {
    version == "3.1.0" || version.starts_with("0.0.0") || version.contains("${")
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

#[cfg(test)]
mod tests;
