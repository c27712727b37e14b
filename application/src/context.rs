//! Where a request comes from, as the log records it.

use eventstore::{Actor, ActorKind, EventMetadata};

/// The origin of a request: recorded in the metadata of every event it causes. Front ends fill
/// it (REST from the connection and headers; the command line leaves it empty).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// Event metadata for an action by `actor`.
    pub fn metadata(&self, actor: Actor) -> EventMetadata {
        EventMetadata {
            actor,
            correlation_id: Some(uuid::Uuid::now_v7()),
            command_id: Some(uuid::Uuid::now_v7()),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            ..Default::default()
        }
    }

    /// Event metadata for someone not signed in: no id, the request's address and agent.
    pub fn anonymous_metadata(&self) -> EventMetadata {
        self.metadata(Actor {
            kind: ActorKind::Anonymous,
            id: None,
        })
    }

    /// Event metadata for a user acting for themself.
    pub fn user_metadata(&self, user_id: &str) -> EventMetadata {
        self.metadata(Actor {
            kind: ActorKind::User,
            id: Some(user_id.to_owned()),
        })
    }
}
