//! The auditors' tools over idlog's log.
//!
//! - [`export`]: the log as stored, to NDJSON or CSV, streamed (memory flat in the log's size).
//! - [`checkpoint`]: Ed25519-signed statements of the log's head, recorded in the log.
//! - [`verify`]: an export verified offline against a checkpoint and the trusted public key.
//! - [`history`]: a user's events with who, from where and their hashes.
//!
//! Verifying the log in the database is the event store's own
//! [`eventstore::EventLog::verify_chain_range`].

pub mod checkpoint;
pub mod export;
pub mod history;
pub mod verify;

pub use checkpoint::{CheckpointError, CheckpointKey, PublicKey};
pub use export::{
    Bound, ExportFilter, ExportFormat, ExportReader, ExportSummary, ExportWriter, Selection,
};
pub use verify::{ExportProblem, ExportVerdict, verify_export};
