//! What an organization's API keys do: every authenticated use is a fact of the log (a key's
//! creation and revocation are the organization's events). Each use is a stream of its own,
//! appended once and never folded: the log's writer commits appends to distinct streams
//! together, so the concurrent requests of one key are recorded in the same commits rather than
//! one after another.

use crate::{ApiKeyId, DomainEvent, OrganizationId, Timestamp};
use serde::{Deserialize, Serialize};

/// The stream type of a key's uses; each use's stream id is fresh (the event names the key).
pub const API_KEY_STREAM_TYPE: &str = "api-key-use";

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[expect(missing_docs, reason = "event fields are named after what they hold")]
pub enum ApiKeyEvent {
    /// The key authenticated a request (the request's address is in the metadata).
    ApiKeyUsed {
        key_id: ApiKeyId,
        organization_id: OrganizationId,
        /// The HTTP method.
        method: String,
        /// The request's path, without its query.
        path: String,
        at: Timestamp,
    },
}

impl DomainEvent for ApiKeyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ApiKeyUsed { .. } => "ApiKeyUsed",
        }
    }

    fn personal_fields(&self) -> &'static [&'static str] {
        &[]
    }
}
