//! What goes into the log and what comes out of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a writer expects of a stream's version before its append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version (1-based).
    Exact(u64),
}

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A user acting for themself.
    User,
    /// A user acting as an administrator.
    Admin,
    /// Another service, with a service credential.
    Service,
    /// idlog itself, or an operator at the command line.
    #[default]
    System,
    /// Someone not signed in, known only by the request's address (a password-reset request
    /// names an account, not who sent it).
    Anonymous,
}

/// The actor recorded with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// What kind of actor.
    pub kind: ActorKind,
    /// The actor's id (a user id, a service name, `system:cli:alice`).
    pub id: Option<String>,
}

/// Context recorded with every event: who, why and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventMetadata {
    /// Who caused the event.
    pub actor: Actor,
    /// Ties together everything one request caused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The command that produced the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// The HTTP request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's address (personal data; `None` once erased).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "erased_as_none"
    )]
    pub ip: Option<String>,
    /// The client's user agent (personal data; `None` once erased).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "erased_as_none"
    )]
    pub user_agent: Option<String>,
    /// The data subject whose key these events destroyed (set by the log, not the caller): every
    /// process reading the event forgets what it cached of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgot_subject: Option<String>,
}

/// An erased personal field of the metadata reads as absent.
fn erased_as_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    if crate::encryption::is_erased(&value) {
        return Ok(None);
    }
    Option::<String>::deserialize(value).map_err(serde::de::Error::custom)
}

impl EventMetadata {
    /// JSON pointers of the metadata fields that hold personal data.
    pub const PERSONAL_FIELDS: &'static [&'static str] = &["/ip", "/user_agent"];
}

/// One event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event type name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload.
    pub payload: serde_json::Value,
    /// JSON pointers of the payload's personal-data fields, sealed by the codec.
    pub personal_fields: Vec<String>,
}

/// A unique value to take or release, as a keyed hash (the store never sees the value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The kind of value, e.g. `email`.
    pub kind: String,
    /// A keyed hash of the normalized value.
    pub value_hash: [u8; 32],
    /// Take (fails if another stream owns it) or release.
    pub take: bool,
}

/// An idempotency key and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The client's key.
    pub key: String,
    /// A digest of the request, so a key reused for another request is caught.
    pub fingerprint: [u8; 32],
}

impl IdempotencyKey {
    /// A client's key as sent (a header, an option, a form field), if it is one: 1 to 255
    /// visible ASCII characters once trimmed.
    pub fn client_key(raw: &str) -> Option<&str> {
        let key = raw.trim();
        ((1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())).then_some(key)
    }
}

/// One atomic append to one stream.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream, e.g. a user id.
    pub stream_id: String,
    /// The stream's type, e.g. `user`.
    pub stream_type: String,
    /// The version the stream must have.
    pub expected_version: ExpectedVersion,
    /// The events, at least one.
    pub events: Vec<NewEvent>,
    /// Metadata shared by the events.
    pub metadata: EventMetadata,
    /// Whose personal data the events hold (the codec's key owner), if any.
    pub data_subject: Option<String>,
    /// Destroys the data subject's key in the same transaction: they are forgotten, and their
    /// sealed data in the log reads back as erased from then on.
    pub forget_data_subject: bool,
    /// Unique values taken or released with the events.
    pub claims: Vec<Claim>,
    /// An idempotency key, if the client sent one.
    pub idempotency: Option<IdempotencyKey>,
}

impl AppendRequest {
    /// A request to append `events` to a stream, with default metadata and no claims.
    pub fn new(
        stream_id: impl Into<String>,
        stream_type: impl Into<String>,
        expected_version: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream_id: stream_id.into(),
            stream_type: stream_type.into(),
            expected_version,
            events,
            metadata: EventMetadata::default(),
            data_subject: None,
            forget_data_subject: false,
            claims: Vec::new(),
            idempotency: None,
        }
    }
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The position of the first event appended.
    pub first_position: u64,
    /// The position of the last event appended.
    pub last_position: u64,
    /// True when the idempotency key had been seen with the same request: this is the first
    /// append's result and nothing was appended now.
    pub replayed: bool,
}

/// An event as stored. Its JSON form (hashes in hex) is what the Kafka relay publishes.
///
/// Payload and metadata are JSON trees by default; auditors' tools, which only hash and copy
/// them, read them as [`CanonicalJson`] text instead ([`crate::storage::StoredEvent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent<J = serde_json::Value> {
    /// Position in the whole log: 1, 2, 3, ... in commit order, without gaps.
    pub global_position: u64,
    /// The stream.
    pub stream_id: String,
    /// The stream's type.
    pub stream_type: String,
    /// Version within the stream, 1-based.
    pub stream_version: u64,
    /// Unique event id (UUIDv7).
    pub event_id: Uuid,
    /// Event type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u32,
    /// Payload.
    pub payload: J,
    /// Metadata (see [`EventMetadata`]).
    pub metadata: J,
    /// Server time of the append, in microseconds.
    pub recorded_at: DateTime<Utc>,
    /// The previous event's hash (zeros for the first event).
    #[serde(with = "hex_hash")]
    pub prev_hash: [u8; 32],
    /// SHA-256 over this event's canonical bytes and `prev_hash`.
    #[serde(with = "hex_hash")]
    pub hash: [u8; 32],
}

/// Hashes as lowercase hex in JSON.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut hash = [0; 32];
        hex::decode_to_slice(text.as_bytes(), &mut hash).map_err(D::Error::custom)?;
        Ok(hash)
    }
}

/// JSON as the hash chain covers it: compact, object keys sorted at every level
/// ([`crate::chain::canonical_json`]). In JSON documents (an export line) it is embedded as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalJson(String);

impl CanonicalJson {
    /// Canonicalizes JSON text (any layout, any key order).
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        let mut canonical = String::with_capacity(text.len());
        crate::chain::canonicalize_text(text, &mut canonical)?;
        Ok(Self(canonical))
    }

    /// The canonical text of a JSON tree.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(crate::chain::canonical_json(value))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON tree.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl Serialize for CanonicalJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Canonical text is valid JSON by construction; serde_json takes it as a raw value.
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CanonicalJson {
    /// Reads JSON embedded in a document (from a string: it borrows the raw text).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(deserializer)?;
        Self::from_text(raw.get()).map_err(serde::de::Error::custom)
    }
}

impl<J> RecordedEvent<J> {
    /// The same event with its payload and metadata in another form.
    pub fn map_json<K>(self, mut convert: impl FnMut(J) -> K) -> RecordedEvent<K> {
        RecordedEvent {
            global_position: self.global_position,
            stream_id: self.stream_id,
            stream_type: self.stream_type,
            stream_version: self.stream_version,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload: convert(self.payload),
            metadata: convert(self.metadata),
            recorded_at: self.recorded_at,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl RecordedEvent<CanonicalJson> {
    /// The event with its payload and metadata as JSON trees.
    pub fn into_tree(self) -> Result<RecordedEvent, serde_json::Error> {
        Ok(RecordedEvent {
            payload: self.payload.to_value()?,
            metadata: self.metadata.to_value()?,
            ..self.map_json(|_| serde_json::Value::Null)
        })
    }
}

impl RecordedEvent {
    /// The metadata, typed.
    pub fn metadata(&self) -> Result<EventMetadata, serde_json::Error> {
        serde_json::from_value(self.metadata.clone())
    }
}

/// The last event of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its position (0 for an empty log).
    pub position: u64,
    /// Its hash (zeros for an empty log).
    pub hash: [u8; 32],
    /// When it was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Self = Self {
        position: 0,
        hash: [0; 32],
        recorded_at: None,
    };
}

/// The stored result of the first command sent with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The request fingerprint.
    pub fingerprint: [u8; 32],
    /// The stream appended to.
    pub stream_id: String,
    /// Its version after the append.
    pub stream_version: u64,
    /// First position appended.
    pub first_position: u64,
    /// Last position appended.
    pub last_position: u64,
}
