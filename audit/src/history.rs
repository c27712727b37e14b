//! A stream's events as an auditor reads them: what happened, who did it, from where, and the
//! hashes that tie each event into the chain.

use chrono::{DateTime, Utc};
use eventstore::{Actor, EventLog, RecordedEvent, StoreError};
use serde::Serialize;

/// One event of a history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Position in the log.
    pub position: u64,
    /// Version within the stream.
    pub stream_version: u64,
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Event type.
    pub event_type: String,
    /// When it was recorded.
    #[serde(serialize_with = "domain::time::micros")]
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    #[schema(value_type = Object)]
    pub actor: Actor,
    /// The client's address, when a request caused it.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// What happened (personal data opened, secrets such as password hashes and token hashes
    /// left out).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The previous event's hash, hex.
    pub prev_hash: String,
    /// This event's hash, hex.
    pub hash: String,
}

impl HistoryEntry {
    /// The entry for a (decoded) record.
    pub fn from_record(record: RecordedEvent) -> Self {
        let metadata = record.metadata().unwrap_or_default();
        Self {
            position: record.global_position,
            stream_version: record.stream_version,
            event_id: record.event_id,
            event_type: record.event_type,
            recorded_at: record.recorded_at,
            actor: metadata.actor,
            ip: metadata.ip,
            user_agent: metadata.user_agent,
            request_id: metadata.request_id,
            payload: domain::without_secrets(record.payload),
            prev_hash: hex::encode(record.prev_hash),
            hash: hex::encode(record.hash),
        }
    }
}

/// Every event of `stream_id`, oldest first.
#[tracing::instrument(skip(log))]
pub async fn stream_history(
    log: &EventLog,
    stream_id: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    Ok(log
        .read_stream(stream_id)
        .await?
        .into_iter()
        .map(HistoryEntry::from_record)
        .collect())
}
