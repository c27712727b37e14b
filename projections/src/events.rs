//! The domain events the read models fold, read back from log records.

use crate::ApplyError;
use domain::organization::{OrganizationAggregate, OrganizationEvent};
use domain::partner::RecordAggregate;
use domain::session::{SessionAggregate, SessionEvent};
use domain::user::{UserAggregate, UserEvent};
use domain::{Aggregate, DomainEvent};
use eventstore::RecordedEvent;

/// A log record as a domain event.
#[derive(Debug, Clone)]
pub enum Fact {
    /// Of a user's stream.
    User(UserEvent),
    /// Of an organization's stream.
    Organization(OrganizationEvent),
    /// Of a session's stream.
    Session(SessionEvent),
    /// Of an API key's uses.
    ApiKey(domain::api_key::ApiKeyEvent),
    /// Of a partner activity record.
    PartnerRecord(domain::partner::RecordEvent),
    /// Of a stream no read model folds.
    Other,
}

impl Fact {
    /// Reads `record` as the event of its stream type.
    pub fn parse(record: &RecordedEvent) -> Result<Self, ApplyError> {
        fn read<E: DomainEvent>(record: &RecordedEvent) -> Result<E, ApplyError> {
            E::from_payload(&record.event_type, record.payload.clone()).map_err(|error| {
                ApplyError::Event {
                    position: record.global_position,
                    message: format!("{} does not read as an event: {error}", record.event_type),
                }
            })
        }
        Ok(match record.stream_type.as_str() {
            UserAggregate::STREAM_TYPE => Self::User(read(record)?),
            OrganizationAggregate::STREAM_TYPE => Self::Organization(read(record)?),
            SessionAggregate::STREAM_TYPE => Self::Session(read(record)?),
            domain::api_key::API_KEY_STREAM_TYPE => Self::ApiKey(read(record)?),
            RecordAggregate::STREAM_TYPE => Self::PartnerRecord(read(record)?),
            _ => Self::Other,
        })
    }
}
