//! What an organization's API keys do: every authenticated use is a fact of the log, on a stream
//! of the key's own (its creation and revocation are the organization's events). Uses are only
//! ever appended, never folded, so concurrent requests of one key never contend.

use crate::{ApiKeyId, DomainEvent, OrganizationId, Timestamp};
use serde::{Deserialize, Serialize};

/// The stream type of a key's uses; the stream id is the key's id.
pub const API_KEY_STREAM_TYPE: &str = "api-key";

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
