//! idlog's domain: the User, Organization and Session aggregates, and the audit trail.
//!
//! Everything here is pure. An aggregate is two functions:
//! `decide(&State, Command) -> Result<Vec<Event>, Error>` and `evolve(State, &Event) -> State`.
//! Whatever needs the outside world (the time, fresh ids, password hashes, random tokens) is
//! computed by the caller and carried in the command, so a decision depends only on its inputs
//! and every rule can be tested as given/when/then without a database or a clock.

pub mod api_key;
pub mod audit;
pub mod catalog;
pub mod ids;
pub mod ip_block;
pub mod organization;
pub mod partner;
pub mod role_catalog;
pub mod session;
pub mod time;
pub mod user;
pub mod values;
pub mod wallet;

#[cfg(test)]
mod testing;

use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

pub use ids::{ApiKeyId, OrganizationId, RecordId, SessionId, UserId};

/// A point in time, always supplied by the caller.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A length of time (lock durations, timeouts).
pub type Duration = chrono::TimeDelta;

/// An event-sourced aggregate: a consistency boundary whose history is one stream of the log.
pub trait Aggregate {
    /// The stream type recorded with every event of this aggregate, e.g. `"user"`.
    const STREAM_TYPE: &'static str;
    /// The state folded from the stream; `Default` is the state before the first event.
    type State: Default + Clone + Debug + Send + Sync + 'static;
    /// What a caller asks for.
    type Command: Clone + Debug;
    /// What happened.
    type Event: DomainEvent;
    /// Why a command was refused.
    type Error: std::error::Error + Clone + PartialEq + Send + Sync + 'static;

    /// Decides what happens when `command` meets `state`. Pure.
    fn decide(state: &Self::State, command: Self::Command)
    -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event to the state. Pure and total: events are facts and cannot be refused.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The unique values (emails, usernames, ...) that `events` take or release, given the state
    /// before them. The event store claims them in the same transaction as the events.
    fn claims(_state: &Self::State, _events: &[Self::Event]) -> Vec<ClaimChange> {
        Vec::new()
    }

    /// Folds a history into a state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), Self::evolve)
    }
}

/// An event as stored in the log: a type name, a schema version and a JSON payload.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Debug + PartialEq {
    /// The event type name, e.g. `"UserRegistered"`.
    fn event_type(&self) -> &'static str;

    /// The payload's schema version. Older versions are upcast when read.
    fn schema_version(&self) -> u32 {
        1
    }

    /// JSON pointers (RFC 6901) into the payload of the fields that hold personal data. They go
    /// through the event store's personal-data codec (so they can be encrypted per person).
    fn personal_fields(&self) -> &'static [&'static str];

    /// Whether this event forgets the stream's data subject: the event store destroys their
    /// data key in the same transaction, so their personal data reads back as erased.
    fn forgets_data_subject(&self) -> bool {
        false
    }

    /// The payload as stored: the event's fields without its type tag.
    fn to_payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut tagged = serde_json::to_value(self)?;
        Ok(tagged
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())))
    }

    /// Reads an event back from its type name and payload (already upcast to the current schema).
    fn from_payload(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": payload }))
    }
}

/// Payload fields that hold secrets or their hashes (passwords, tokens, codes, TOTP secrets):
/// needed in the log to decide, never shown to anyone reading events (activity log, histories).
pub const SECRET_FIELDS: &[&str] = &[
    "password_hash",
    "token",
    "token_hash",
    "code_hash",
    "refresh_token_hash",
    "sealed_secret",
    "recovery_codes",
];

/// An event payload with its secret fields ([`SECRET_FIELDS`]) left out.
pub fn without_secrets(mut payload: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(fields) = &mut payload {
        fields.retain(|name, _| !SECRET_FIELDS.contains(&name.as_str()));
    }
    payload
}

/// An event payload without its personal fields (top-level, as [`DomainEvent::personal_fields`]
/// names them): what a read model that many people read (the activity log) keeps of it.
pub fn without_personal_data(
    mut payload: serde_json::Value,
    personal_fields: &[&str],
) -> serde_json::Value {
    if let serde_json::Value::Object(fields) = &mut payload {
        for pointer in personal_fields {
            fields.remove(pointer.trim_start_matches('/'));
        }
    }
    payload
}

/// A unique value taken or released by events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimChange {
    /// What kind of value: `email`, `username`, `phone`, `organization_name`, `partner_code`,
    /// `interchange_pair`.
    pub kind: ClaimKind,
    /// The normalized value. The store keeps only a keyed hash of it.
    pub value: String,
    /// Take or release.
    pub action: ClaimAction,
}

/// Kinds of unique values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum ClaimKind {
    /// A user's email address.
    Email,
    /// A user's username.
    Username,
    /// A user's phone number.
    Phone,
    /// An organization's name.
    OrganizationName,
    /// A partner's code.
    PartnerCode,
    /// A partner's pair of EDI sender and receiver ids.
    InterchangePair,
}

/// Whether a claim is taken or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAction {
    /// The value becomes owned by the stream; fails if another stream owns it.
    Take,
    /// The stream gives the value up.
    Release,
}

impl ClaimChange {
    /// Takes `value` of `kind`.
    pub fn take(kind: ClaimKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
            action: ClaimAction::Take,
        }
    }

    /// Releases `value` of `kind`.
    pub fn release(kind: ClaimKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
            action: ClaimAction::Release,
        }
    }
}
