//! The hash chain: each event's hash covers its canonical bytes and the previous event's hash,
//! so altering, removing or reordering any stored event breaks every hash after it.
//!
//! The canonical bytes are independent of the database: numbers as fixed-width big-endian,
//! text as UTF-8, JSON re-serialized compactly with object keys sorted (PostgreSQL's `jsonb`
//! reorders keys, so the stored text is not what is hashed), each field prefixed by its length.

use crate::model::{CanonicalJson, RecordedEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
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

/// Canonical JSON straight from JSON text (PostgreSQL's `jsonb` output, an export's cell),
/// appended to `out`: the same bytes as `canonical_json(&serde_json::from_str(text)?)`, without
/// building a tree. Text the fast path cannot vouch for (escaped or repeated keys, nesting deeper
/// than serde_json allows, invalid JSON) goes through the tree, so the result never differs.
pub fn canonicalize_text(text: &str, out: &mut String) -> Result<(), serde_json::Error> {
    let start = out.len();
    let mut reader = TextCanonicalizer {
        text,
        at: 0,
        depth: 0,
        entries: Vec::new(),
        scratch: String::new(),
    };
    if reader.document(out).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    let value: Value = serde_json::from_str(text)?;
    write_canonical(&value, out);
    Ok(())
}

/// The fast path met something it leaves to serde_json.
struct Unsupported;

/// serde_json's own recursion limit: deeper text is an error there, so it is not ours to accept.
const MAX_DEPTH: usize = 128;

struct TextCanonicalizer<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
    /// The entries of the objects being read, innermost last: (key without quotes, start and end
    /// of `"key":value` in the output).
    entries: Vec<(&'a str, usize, usize)>,
    /// Reused when an object's entries must be reordered.
    scratch: String,
}

impl<'a> TextCanonicalizer<'a> {
    fn document(&mut self, out: &mut String) -> Result<(), Unsupported> {
        self.value(out)?;
        self.skip_whitespace();
        if self.at == self.text.len() {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Unsupported> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn value(&mut self, out: &mut String) -> Result<(), Unsupported> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(out),
            Some(b'[') => self.array(out),
            Some(b'"') => {
                let (raw, escaped) = self.string()?;
                if escaped {
                    let text: String = serde_json::from_str(raw).map_err(|_| Unsupported)?;
                    write_json_string(&text, out);
                } else {
                    out.push_str(raw);
                }
                Ok(())
            }
            Some(b't') => self.literal("true", out),
            Some(b'f') => self.literal("false", out),
            Some(b'n') => self.literal("null", out),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            _ => Err(Unsupported),
        }
    }

    fn literal(&mut self, word: &str, out: &mut String) -> Result<(), Unsupported> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            out.push_str(word);
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    /// A string token with its quotes, and whether it holds escapes. Raw control characters
    /// are invalid JSON.
    fn string(&mut self) -> Result<(&'a str, bool), Unsupported> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut at = start + 1;
        let mut escaped = false;
        loop {
            match bytes.get(at) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    at += 2;
                }
                Some(0x00..=0x1f) | None => return Err(Unsupported),
                Some(_) => at += 1,
            }
        }
        self.at = at + 1;
        // `at` is a quote, so both ends are on character boundaries.
        self.text
            .get(start..=at)
            .map(|raw| (raw, escaped))
            .ok_or(Unsupported)
    }

    fn number(&mut self, out: &mut String) -> Result<(), Unsupported> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        let token = &self.text[start..self.at];
        let digits = token.strip_prefix('-').unwrap_or(token);
        let plain_integer = !digits.is_empty()
            && digits.bytes().all(|byte| byte.is_ascii_digit())
            && (digits.len() == 1 || !digits.starts_with('0'));
        // serde_json keeps an integer that fits 64 bits as written, except `-0` (a float there).
        let kept_as_written = plain_integer
            && if token.starts_with('-') {
                digits != "0" && token.parse::<i64>().is_ok()
            } else {
                token.parse::<u64>().is_ok()
            };
        if kept_as_written {
            out.push_str(token);
        } else {
            let number: serde_json::Number =
                serde_json::from_str(token).map_err(|_| Unsupported)?;
            write_canonical(&Value::Number(number), out);
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), Unsupported> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        self.at += 1;
        Ok(())
    }

    fn array(&mut self, out: &mut String) -> Result<(), Unsupported> {
        self.enter()?;
        out.push('[');
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.value(out)?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => out.push(','),
                    Some(b']') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(Unsupported),
                }
                self.at += 1;
            }
        }
        out.push(']');
        self.depth -= 1;
        Ok(())
    }

    fn object(&mut self, out: &mut String) -> Result<(), Unsupported> {
        self.enter()?;
        out.push('{');
        let body = out.len();
        let first_entry = self.entries.len();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(Unsupported);
                }
                let (key, escaped) = self.string()?;
                if escaped {
                    return Err(Unsupported);
                }
                self.expect(b':')?;
                let entry = out.len();
                out.push_str(key);
                out.push(':');
                self.value(out)?;
                self.entries
                    .push((&key[1..key.len() - 1], entry, out.len()));
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => out.push(','),
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(Unsupported),
                }
                self.at += 1;
            }
        }
        self.sort_entries(first_entry, body, out)?;
        self.entries.truncate(first_entry);
        out.push('}');
        self.depth -= 1;
        Ok(())
    }

    /// Puts the object's entries (written from `body` on) in key order, as `canonical_json` does;
    /// PostgreSQL orders keys by length first. A repeated key is left to serde_json.
    fn sort_entries(
        &mut self,
        first: usize,
        body: usize,
        out: &mut String,
    ) -> Result<(), Unsupported> {
        let entries = &mut self.entries[first..];
        if entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Ok(());
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(Unsupported);
        }
        self.scratch.clear();
        self.scratch.push_str(&out[body..]);
        out.truncate(body);
        for (index, (_, start, end)) in entries.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&self.scratch[start - body..end - body]);
        }
        Ok(())
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

/// Payload or metadata in a form the chain can hash.
pub trait HashableJson {
    /// The canonical text.
    fn canonical(&self) -> Cow<'_, str>;
}

impl HashableJson for Value {
    fn canonical(&self) -> Cow<'_, str> {
        Cow::Owned(canonical_json(self))
    }
}

impl HashableJson for CanonicalJson {
    fn canonical(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

/// Recomputes the hash of a stored event (as stored: sealed, not upcast).
pub fn recompute_hash<J: HashableJson>(event: &RecordedEvent<J>) -> [u8; 32] {
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
            payload: &event.payload.canonical(),
            metadata: &event.metadata.canonical(),
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
    pub fn push<J: HashableJson>(&mut self, event: &RecordedEvent<J>) -> Result<(), BrokenLink> {
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

    /// The fast path against the tree's way, for one text: same bytes, or both refuse it.
    fn assert_same_as_tree(text: &str) {
        let tree = serde_json::from_str::<Value>(text).map(|value| canonical_json(&value));
        let mut fast = String::from("prefix");
        let outcome = canonicalize_text(text, &mut fast);
        match tree {
            Ok(expected) => {
                assert!(outcome.is_ok(), "{text:?}");
                assert_eq!(fast, format!("prefix{expected}"), "{text:?}");
            }
            Err(_) => assert!(outcome.is_err(), "{text:?} should be refused"),
        }
    }

    #[test]
    fn text_canonicalization_matches_the_tree_on_edge_cases() {
        let deep_ok = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        let too_deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
        for text in [
            "{}",
            "[]",
            " { } ",
            "0",
            "-0",
            "-1",
            "01",
            "1.0",
            "1e3",
            "1E+2",
            "-2.5e-3",
            "0.30000000000000004",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.",
            "-",
            "+1",
            "true",
            "tru",
            "nul",
            r#""plain""#,
            r#""\u00e9\/\b\f\n\r\t\"\\""#,
            r#""\ud83d\ude00""#,
            r#""\ud800""#,
            r#""\x""#,
            "\"raw\tcontrol\"",
            r#""unterminated"#,
            r#"{"b": 1, "a": 2}"#,
            r#"{"bb": 1, "a": {"dd": [1, {"y": 2, "x": null}], "c": "é"}}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"b": 1, "a": 2, "b": 3}"#,
            r#"{"\u0061": 1, "b": 2}"#,
            r#"{"a\"b": 1}"#,
            r#"{"a": 1,}"#,
            r#"[1, 2,]"#,
            r#"{"a" 1}"#,
            r#"{1: 2}"#,
            r#"{"a": 1} x"#,
            "[1 2]",
            &deep_ok,
            &too_deep,
        ] {
            assert_same_as_tree(text);
        }
    }

    /// A random JSON value: nested objects and arrays, strings with characters that need
    /// escaping, integers and floats of every size.
    fn random_value(rng: &mut impl rand::Rng, depth: u32) -> Value {
        let leaf = depth == 0 || rng.gen_bool(0.4);
        match rng.gen_range(0..if leaf { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.r#gen()),
            2 => match rng.gen_range(0..4) {
                0 => json!(rng.r#gen::<i64>()),
                1 => json!(rng.r#gen::<u64>()),
                2 => json!(rng.gen_range(-1000..1000)),
                _ => json!(rng.r#gen::<f64>() * 10f64.powi(rng.gen_range(-30..30))),
            },
            3 | 4 => {
                let alphabet = ['a', 'b', 'é', '"', '\\', '\n', '\u{1}', '€', '😀', '/', ' '];
                let length = rng.gen_range(0..8);
                Value::String(
                    (0..length)
                        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                        .collect(),
                )
            }
            5 => Value::Array(
                (0..rng.gen_range(0..5))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => {
                let keys = ["a", "b", "ab", "ba", "abc", "z", "é", "A", "a b", ""];
                Value::Object(
                    (0..rng.gen_range(0..6))
                        .map(|_| {
                            let key = keys[rng.gen_range(0..keys.len())].to_owned();
                            (key, random_value(rng, depth - 1))
                        })
                        .collect(),
                )
            }
        }
    }

    /// JSON text laid out as PostgreSQL's `jsonb` writes it: keys by length, then bytes;
    /// a space after each colon and comma.
    fn jsonb_style(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
                let body: Vec<String> = entries
                    .into_iter()
                    .map(|(key, item)| {
                        format!("{}: {}", Value::from(key.as_str()), jsonb_style(item))
                    })
                    .collect();
                format!("{{{}}}", body.join(", "))
            }
            Value::Array(items) => {
                let body: Vec<String> = items.iter().map(jsonb_style).collect();
                format!("[{}]", body.join(", "))
            }
            scalar => scalar.to_string(),
        }
    }

    #[test]
    fn text_canonicalization_matches_the_tree_on_random_documents() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let value = random_value(&mut rng, 4);
            assert_same_as_tree(&jsonb_style(&value));
            assert_same_as_tree(&serde_json::to_string_pretty(&value).expect("json"));
            assert_same_as_tree(&canonical_json(&value));
        }
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
