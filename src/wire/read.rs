//! The JSON readers: each answer of the API read into records, lenient per record and
//! strict per document (see the module's head), and the error envelope.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use std::fmt;

use super::*;

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

/// Why a body could not be read as the expected document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

#[derive(Deserialize)]
struct Envelope {
    response: Option<Value>,
}

pub(super) fn envelope(body: &[u8]) -> Result<Option<Value>, WireError> {
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

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
