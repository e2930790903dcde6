//! The DocSpace wire format and the records it carries, read as the real server
//! writes them (docs/docspace-api.md).
//!
//! Everything that knows a JSON field name of the backup API lives here, and nothing
//! here knows HTTP: the planner imports its record types from this module. Parsing is
//! lenient per record and strict per document: one record with a broken date or an
//! unknown storage type becomes a record the planner keeps, while a body that is not
//! the expected envelope fails the whole read, so that nothing is deleted on the
//! strength of a document we did not understand.

//!
//! - `records`: the record types (storage types, periods, times, history records, the
//!   schedule, `BackupId`).
//! - `read`: the JSON readers of each answer, and the error envelope.
//! - `display`: showing server text safely, our instant format, natural name order.

mod display;
mod read;
mod records;

pub use display::*;
pub use read::*;
pub use records::*;

#[cfg(test)]
mod tests;
