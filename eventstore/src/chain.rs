//! The hash chain: each event's hash covers its canonical bytes and the previous event's hash,
//! so altering, removing or reordering any stored event breaks every hash after it.
//!
//! The canonical bytes are independent of the database: numbers as fixed-width big-endian,
//! text as UTF-8, JSON re-serialized compactly with object keys sorted (PostgreSQL's `jsonb`
//! reorders keys, so the stored text is not what is hashed), each field prefixed by its length.

use crate::model::RecordedEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The fields of an event that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct HashedFields<'a> {
    /// Global position.
    pub global_position: u64,
    /// Stream id.
    pub stream_id: &'a str,
    /// Stream type.
    pub stream_type: &'a str,
    /// Stream version.
    pub stream_version: u64,
    /// Event id.
    pub event_id: Uuid,
    /// Event type.
    pub event_type: &'a str,
    /// Schema version.
    pub schema_version: u32,
    /// Canonical payload JSON (see [`canonical_json`]).
    pub payload: &'a str,
    /// Canonical metadata JSON.
    pub metadata: &'a str,
    /// Recording time, microsecond precision.
    pub recorded_at: DateTime<Utc>,
}

/// Domain separation, so these hashes cannot be confused with any other SHA-256 use.
const CHAIN_TAG: &[u8] = b"idlog.event.v1";

/// The hash of an event given the previous event's hash.
pub fn event_hash(prev_hash: &[u8; 32], fields: &HashedFields<'_>) -> [u8; 32] {
    fn field(hasher: &mut Sha256, bytes: &[u8]) {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Sha256::new();
    field(&mut hasher, CHAIN_TAG);
    field(&mut hasher, prev_hash);
    field(&mut hasher, &fields.global_position.to_be_bytes());
    field(&mut hasher, fields.stream_id.as_bytes());
    field(&mut hasher, fields.stream_type.as_bytes());
    field(&mut hasher, &fields.stream_version.to_be_bytes());
    field(&mut hasher, fields.event_id.as_bytes());
    field(&mut hasher, fields.event_type.as_bytes());
    field(&mut hasher, &fields.schema_version.to_be_bytes());
    field(&mut hasher, fields.payload.as_bytes());
    field(&mut hasher, fields.metadata.as_bytes());
    field(
        &mut hasher,
        &fields.recorded_at.timestamp_micros().to_be_bytes(),
    );
    hasher.finalize().into()
}

/// Compact JSON with object keys sorted at every level, whatever map type serde_json was
/// built with.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    use std::fmt::Write;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // serde_json's own compact form, written in place (no string per value).
        Value::String(text) => write_json_string(text, out),
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// A JSON string exactly as serde_json writes it (the canonical form must never change):
/// `"` and `\\` escaped, control characters as `\b \f \n \r \t` or `\u00XX`, everything else
/// as is.
fn write_json_string(text: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Recomputes the hash of a stored event (as stored: sealed, not upcast).
pub fn recompute_hash(event: &RecordedEvent) -> [u8; 32] {
    event_hash(
        &event.prev_hash,
        &HashedFields {
            global_position: event.global_position,
            stream_id: &event.stream_id,
            stream_type: &event.stream_type,
            stream_version: event.stream_version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &canonical_json(&event.payload),
            metadata: &canonical_json(&event.metadata),
            recorded_at: event.recorded_at,
        },
    )
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the chain breaks at position {position}: {kind} (expected {}, found {})",
    hex::encode(expected),
    hex::encode(found)
)]
pub struct BrokenLink {
    /// The first position that does not verify.
    pub position: u64,
    /// What is wrong there.
    pub kind: BreakKind,
    /// The hash (or position, as 8 big-endian bytes) that should be there.
    pub expected: Vec<u8>,
    /// What is there.
    pub found: Vec<u8>,
}

/// Kinds of breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The event's content does not match its hash: it was altered.
    ContentAltered,
    /// The event does not point at the previous event's hash: something before it was altered,
    /// removed or reordered.
    LinkBroken,
    /// A position is missing or out of order.
    PositionGap,
}

/// Checks events one by one, in position order, from position 1 or from a trusted point.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_position: u64,
    last_hash: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// Starts at the beginning of the log.
    pub fn new() -> Self {
        Self {
            last_position: 0,
            last_hash: [0; 32],
        }
    }

    /// Starts after a trusted event.
    pub fn resume(position: u64, hash: [u8; 32]) -> Self {
        Self {
            last_position: position,
            last_hash: hash,
        }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &RecordedEvent) -> Result<(), BrokenLink> {
        let position = event.global_position;
        if position != self.last_position + 1 {
            return Err(BrokenLink {
                position: self.last_position + 1,
                kind: BreakKind::PositionGap,
                expected: (self.last_position + 1).to_be_bytes().to_vec(),
                found: position.to_be_bytes().to_vec(),
            });
        }
        if event.prev_hash != self.last_hash {
            return Err(BrokenLink {
                position,
                kind: BreakKind::LinkBroken,
                expected: self.last_hash.to_vec(),
                found: event.prev_hash.to_vec(),
            });
        }
        let recomputed = recompute_hash(event);
        if recomputed != event.hash {
            return Err(BrokenLink {
                position,
                kind: BreakKind::ContentAltered,
                expected: recomputed.to_vec(),
                found: event.hash.to_vec(),
            });
        }
        self.last_position = position;
        self.last_hash = event.hash;
        Ok(())
    }

    /// The last verified position (0 if none).
    pub fn position(&self) -> u64 {
        self.last_position
    }

    /// The last verified hash.
    pub fn hash(&self) -> [u8; 32] {
        self.last_hash
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ContentAltered => "the event's content does not match its hash",
            Self::LinkBroken => "the event does not link to the previous event's hash",
            Self::PositionGap => "a position is missing or out of order",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_written_exactly_as_serde_json_writes_them() {
        let mut every_ascii: String = (0_u8..0x80).map(char::from).collect();
        every_ascii.push_str("é€😀\u{2028}");
        for text in [every_ascii.as_str(), "", "plain", "\"\\/"] {
            let mut ours = String::new();
            write_json_string(text, &mut ours);
            assert_eq!(ours, Value::String(text.to_owned()).to_string(), "{text:?}");
            let value = serde_json::json!({ text: [text, 1, -2.5, null, true] });
            assert_eq!(
                canonical_json(&value),
                serde_json::to_string(&value).expect("json")
            );
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"d": [true, null, {"z": 1, "y": "é\"\n"}], "c": 1.5}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":1.5,"d":[true,null,{"y":"é\"\n","z":1}]},"b":1}"#
        );
    }

    fn event(position: u64, prev_hash: [u8; 32]) -> RecordedEvent {
        let mut event = RecordedEvent {
            global_position: position,
            stream_id: "s".into(),
            stream_type: "t".into(),
            stream_version: position,
            event_id: Uuid::from_u128(position.into()),
            event_type: "Happened".into(),
            schema_version: 1,
            payload: json!({"n": position}),
            metadata: json!({}),
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_000_000)
                .expect("valid time"),
            prev_hash,
            hash: [0; 32],
        };
        event.hash = recompute_hash(&event);
        event
    }

    fn chain(length: u64) -> Vec<RecordedEvent> {
        let mut events: Vec<RecordedEvent> = Vec::new();
        for position in 1..=length {
            let prev = events.last().map_or([0; 32], |e| e.hash);
            events.push(event(position, prev));
        }
        events
    }

    fn verify(events: &[RecordedEvent]) -> Result<u64, BrokenLink> {
        let mut verifier = ChainVerifier::new();
        for event in events {
            verifier.push(event)?;
        }
        Ok(verifier.position())
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_altered_payload_is_found_at_its_position() {
        let mut events = chain(5);
        events[2].payload = json!({"n": 99});
        let broken = verify(&events).expect_err("altered");
        assert_eq!(
            (broken.position, broken.kind),
            (3, BreakKind::ContentAltered)
        );
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let mut events = chain(5);
        events.remove(1);
        let broken = verify(&events).expect_err("gap");
        assert_eq!((broken.position, broken.kind), (2, BreakKind::PositionGap));
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_next_link() {
        let mut events = chain(5);
        events[2].payload = json!({"n": 99});
        events[2].hash = recompute_hash(&events[2]);
        let broken = verify(&events).expect_err("forged");
        assert_eq!((broken.position, broken.kind), (4, BreakKind::LinkBroken));
    }
}
