//! The DocSpace backup API: wire format (`wire`), typed errors (`error`) and the HTTP
//! client (`client`). Nothing outside this module knows a URL path or a JSON field name.

mod client;
mod error;
mod wire;

pub use client::{Credential, DocSpaceClient, Endpoint, PortalEndpoint, http_client};
pub use error::{ApiError, ApiErrorKind};
pub use wire::{
    BackupSchedule, HistoryRecord, LoginAnswer, Period, StorageType, WireError, WireTime, is_guid, parse_bool,
    parse_history, parse_login, parse_schedule, parse_time, redacted_storage_params, rfc3339,
};
