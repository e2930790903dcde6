//! Evidence (docs/reference.md, "Evidence"): the audit log as a hash chain an auditor
//! can check without trusting the host it came from.
//!
//! - `chain`: every line carries `seq`, `prev` and `hash` (SHA-256 of the line's JSON
//!   without `hash`, keys sorted, no spaces), continued across rotation; checking a
//!   set of audit files (`attest --verify`).
//! - `sign`: the Ed25519 key that signs a checkpoint at the end of every pass.
//! - `attest`: what was kept and what was deleted in a span, from the audit log and the
//!   state database alone.

pub mod attest;
pub mod chain;
pub mod sign;

pub use chain::{Head, canonical, chain_files, hash_of, verify};
pub use sign::Signer;
