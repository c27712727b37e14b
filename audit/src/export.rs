//! Exporting the log as stored (sealed personal data included, exactly what the hash chain
//! covers) to NDJSON or CSV, and reading such an export back.
//!
//! Both formats carry every hashed field, so an export verifies on its own. NDJSON is one
//! [`RecordedEvent`] as JSON per line; CSV has a header and the payload and metadata as
//! canonical JSON text in their cells.

use chrono::{DateTime, SecondsFormat, Utc};
use eventstore::storage::StoredEvent;
use eventstore::{CanonicalJson, EventLog, RecordedEvent, StoreError, VERIFY_BATCH};
use std::io::{BufRead, Write};

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON event per line.
    Ndjson,
    /// Comma-separated, with a header.
    Csv,
}

/// The CSV header: every field the hash covers, in order.
const CSV_HEADER: [&str; 12] = [
    "global_position",
    "stream_id",
    "stream_type",
    "stream_version",
    "event_id",
    "event_type",
    "schema_version",
    "recorded_at",
    "payload",
    "metadata",
    "prev_hash",
    "hash",
];

/// Which events to export. Positions and times bound the log as a contiguous range (recorded
/// times never go backwards); a stream or type filter makes a partial export, whose links
/// cannot be checked.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// From this position (at least 1).
    pub from_position: Option<u64>,
    /// Up to and including this position.
    pub to_position: Option<u64>,
    /// Recorded at or after.
    pub from_time: Option<DateTime<Utc>>,
    /// Recorded at or before.
    pub to_time: Option<DateTime<Utc>>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
}

impl ExportFilter {
    /// Whether `event` is selected.
    pub fn matches<J>(&self, event: &RecordedEvent<J>) -> bool {
        self.from_time.is_none_or(|from| event.recorded_at >= from)
            && self.to_time.is_none_or(|to| event.recorded_at <= to)
            && self
                .stream
                .as_deref()
                .is_none_or(|stream| event.stream_id == stream)
            && self
                .event_type
                .as_deref()
                .is_none_or(|event_type| event.event_type == event_type)
    }

    /// Whether the events after `event` can still match (times only grow).
    fn past_the_end<J>(&self, event: &RecordedEvent<J>) -> bool {
        self.to_time.is_some_and(|to| event.recorded_at > to)
    }
}

/// One end of a range of the log: a position, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A log position.
    Position(u64),
    /// A time.
    Time(DateTime<Utc>),
}

impl Bound {
    /// Reads a position (`1234`), an RFC 3339 time (`2026-01-31T12:00:00Z`) or a date
    /// (`2026-01-31`, its midnight UTC).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(position) = text.parse::<u64>() {
            if position > eventstore::MAX_POSITION {
                return Err(format!(
                    "{text}: beyond any log position (at most {})",
                    eventstore::MAX_POSITION
                ));
            }
            return Ok(Self::Position(position));
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self::Time(time.with_timezone(&Utc)));
        }
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Self::Time(day.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
        Err(format!(
            "{text:?}: give a log position (1234), a time (2026-01-31T12:00:00Z) or a date (2026-01-31)"
        ))
    }
}

impl ExportFilter {
    /// Sets the range's start and end.
    pub fn between(mut self, from: Option<Bound>, to: Option<Bound>) -> Self {
        match from {
            Some(Bound::Position(position)) => self.from_position = Some(position),
            Some(Bound::Time(time)) => self.from_time = Some(time),
            None => {}
        }
        match to {
            Some(Bound::Position(position)) => self.to_position = Some(position),
            Some(Bound::Time(time)) => self.to_time = Some(time),
            None => {}
        }
        self
    }
}

/// Writes events in an export format.
pub struct ExportWriter<W: Write> {
    sink: Sink<W>,
}

enum Sink<W: Write> {
    Ndjson(std::io::BufWriter<W>),
    Csv(Box<csv::Writer<W>>),
}

/// Why an export could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// A CSV record could not be written or read.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// An event could not be serialized.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export to `out` (CSV: writes the header).
    pub fn new(format: ExportFormat, out: W) -> Result<Self, ExportError> {
        let sink = match format {
            ExportFormat::Ndjson => Sink::Ndjson(std::io::BufWriter::with_capacity(1 << 16, out)),
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(writer))
            }
        };
        Ok(Self { sink })
    }

    /// Writes one event.
    pub fn write(&mut self, event: &StoredEvent) -> Result<(), ExportError> {
        match &mut self.sink {
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, event)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(writer) => {
                writer.write_record([
                    event.global_position.to_string().as_str(),
                    &event.stream_id,
                    &event.stream_type,
                    &event.stream_version.to_string(),
                    &event.event_id.to_string(),
                    &event.event_type,
                    &event.schema_version.to_string(),
                    &event
                        .recorded_at
                        .to_rfc3339_opts(SecondsFormat::Micros, true),
                    event.payload.as_str(),
                    event.metadata.as_str(),
                    &hex::encode(event.prev_hash),
                    &hex::encode(event.hash),
                ])?;
            }
        }
        Ok(())
    }

    /// Flushes everything written.
    pub fn finish(self) -> Result<(), ExportError> {
        match self.sink {
            Sink::Ndjson(mut out) => out.flush()?,
            Sink::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// The first one's position.
    pub first_position: Option<u64>,
    /// The last one's position.
    pub last_position: Option<u64>,
}

/// The events a filter selects, batch by batch, as stored; the next batch is read while the
/// caller handles this one, so memory stays flat in the log's size.
pub struct Selection {
    batches: tokio::sync::mpsc::Receiver<Result<Vec<StoredEvent>, StoreError>>,
    filter: ExportFilter,
    ended: bool,
}

impl Selection {
    /// Starts reading `log` through `filter`.
    pub fn new(log: &EventLog, filter: ExportFilter) -> Self {
        let after = filter.from_position.unwrap_or(1).max(1) - 1;
        Self {
            batches: log.stored_batches(after, filter.to_position, VERIFY_BATCH),
            filter,
            ended: false,
        }
    }

    /// The next batch's selected events (possibly none) and the last position read, or `None`
    /// at the end.
    pub async fn next_batch(&mut self) -> Result<Option<(Vec<StoredEvent>, u64)>, StoreError> {
        if self.ended {
            return Ok(None);
        }
        let Some(batch) = self.batches.recv().await else {
            return Ok(None);
        };
        let events = batch?;
        let last_read = events.last().map_or(0, |event| event.global_position);
        let mut selected = Vec::with_capacity(events.len());
        for event in events {
            if self.filter.past_the_end(&event) {
                self.ended = true;
                break;
            }
            if self.filter.matches(&event) {
                selected.push(event);
            }
        }
        Ok(Some((selected, last_read)))
    }
}

/// Streams the stored log through `filter` into `writer`; `progress` is told each batch's last
/// position.
#[tracing::instrument(skip(log, writer, progress))]
pub async fn export<W: Write>(
    log: &EventLog,
    filter: &ExportFilter,
    writer: &mut ExportWriter<W>,
    mut progress: impl FnMut(u64),
) -> Result<ExportSummary, ExportError> {
    let mut selection = Selection::new(log, filter.clone());
    let mut summary = ExportSummary::default();
    while let Some((events, last_read)) = selection.next_batch().await? {
        for event in &events {
            writer.write(event)?;
        }
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            summary.events += events.len() as u64;
            summary.first_position.get_or_insert(first.global_position);
            summary.last_position = Some(last.global_position);
        }
        progress(last_read);
    }
    Ok(summary)
}

/// A line of an export that does not read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not a valid event: {message}")]
pub struct UnreadableLine {
    /// 1-based line (for CSV, counting the header).
    pub line: u64,
    /// Why.
    pub message: String,
}

/// Reads an export back, event by event, in either format (told apart by the first byte: `{`
/// starts NDJSON).
pub struct ExportReader<R: BufRead> {
    lines: Lines<R>,
}

enum Lines<R: BufRead> {
    Ndjson {
        input: R,
        line: u64,
        buffer: String,
    },
    Csv {
        records: csv::StringRecordsIntoIter<R>,
    },
    BadHeader(Option<String>),
}

impl<R: BufRead> ExportReader<R> {
    /// Reads from `input`.
    pub fn new(mut input: R) -> Result<Self, std::io::Error> {
        let ndjson = input.fill_buf()?.first().is_none_or(|byte| *byte == b'{');
        let lines = if ndjson {
            Lines::Ndjson {
                input,
                line: 0,
                buffer: String::new(),
            }
        } else {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(input);
            // Without the header the first event would be taken for it and silently lost.
            match reader.headers() {
                Ok(header) if header.iter().eq(CSV_HEADER) => Lines::Csv {
                    records: reader.into_records(),
                },
                _ => Lines::BadHeader(Some(format!(
                    "not an export: NDJSON lines start with {{, CSV with the header {}",
                    CSV_HEADER.join(",")
                ))),
            }
        };
        Ok(Self { lines })
    }
}

impl<R: BufRead> Iterator for ExportReader<R> {
    type Item = Result<(u64, StoredEvent), UnreadableLine>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.lines {
            Lines::Ndjson {
                input,
                line,
                buffer,
            } => loop {
                buffer.clear();
                *line += 1;
                match input.read_line(buffer) {
                    Ok(0) => return None,
                    Ok(_) if buffer.trim().is_empty() => continue,
                    Ok(_) => {
                        return Some(
                            serde_json::from_str(buffer)
                                .map(|event| (*line, event))
                                .map_err(|error| UnreadableLine {
                                    line: *line,
                                    message: error.to_string(),
                                }),
                        );
                    }
                    Err(error) => {
                        return Some(Err(UnreadableLine {
                            line: *line,
                            message: error.to_string(),
                        }));
                    }
                }
            },
            Lines::BadHeader(message) => message
                .take()
                .map(|message| Err(UnreadableLine { line: 1, message })),
            Lines::Csv { records } => {
                let record = records.next()?;
                Some(
                    record
                        .map_err(|error| {
                            let line = error.position().map_or(0, |position| position.line());
                            UnreadableLine {
                                line,
                                message: error.to_string(),
                            }
                        })
                        .and_then(|record| {
                            let line = record.position().map_or(0, |position| position.line());
                            event_from_csv(&record)
                                .map(|event| (line, event))
                                .map_err(|message| UnreadableLine { line, message })
                        }),
                )
            }
        }
    }
}

fn event_from_csv(record: &csv::StringRecord) -> Result<StoredEvent, String> {
    if record.len() != CSV_HEADER.len() {
        return Err(format!(
            "{} fields, expected {}",
            record.len(),
            CSV_HEADER.len()
        ));
    }
    let field = |index: usize| record.get(index).unwrap_or_default();
    let number = |index: usize| {
        field(index)
            .parse::<u64>()
            .map_err(|_| format!("{} is not a number", CSV_HEADER[index]))
    };
    let json = |index: usize| {
        CanonicalJson::from_text(field(index))
            .map_err(|error| format!("{} is not JSON: {error}", CSV_HEADER[index]))
    };
    let hash = |index: usize| {
        let mut hash = [0_u8; 32];
        hex::decode_to_slice(field(index), &mut hash)
            .map_err(|_| format!("{} is not 64 hex digits", CSV_HEADER[index]))?;
        Ok::<_, String>(hash)
    };
    Ok(RecordedEvent {
        global_position: number(0)?,
        stream_id: field(1).to_owned(),
        stream_type: field(2).to_owned(),
        stream_version: number(3)?,
        event_id: field(4)
            .parse()
            .map_err(|_| "event_id is not a UUID".to_owned())?,
        event_type: field(5).to_owned(),
        schema_version: field(6)
            .parse()
            .map_err(|_| "schema_version is not a number".to_owned())?,
        recorded_at: DateTime::parse_from_rfc3339(field(7))
            .map_err(|_| "recorded_at is not an RFC 3339 time".to_owned())?
            .with_timezone(&Utc),
        payload: json(8)?,
        metadata: json(9)?,
        prev_hash: hash(10)?,
        hash: hash(11)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstore::chain::recompute_hash;

    fn event(position: u64) -> StoredEvent {
        let mut event = RecordedEvent {
            global_position: position,
            stream_id: "a,\"quoted\"\nstream".into(),
            stream_type: "user".into(),
            stream_version: position,
            event_id: uuid::Uuid::now_v7(),
            event_type: "UserRegistered".into(),
            schema_version: 1,
            payload: serde_json::json!({"email": "ann@example.com", "n": position, "nested": {"b": [1, "x"], "a": null}}),
            metadata: serde_json::json!({"actor": {"kind": "system", "id": null}}),
            recorded_at: DateTime::from_timestamp_micros(1_800_000_000_123_456).expect("time"),
            prev_hash: [position as u8; 32],
            hash: [0; 32],
        };
        event.hash = recompute_hash(&event);
        event.map_json(|json| CanonicalJson::from_value(&json))
    }

    fn round_trip(format: ExportFormat) {
        let events = [event(1), event(2)];
        let mut bytes = Vec::new();
        let mut writer = ExportWriter::new(format, &mut bytes).expect("writer");
        for event in &events {
            writer.write(event).expect("write");
        }
        writer.finish().expect("finish");
        let read: Vec<StoredEvent> = ExportReader::new(bytes.as_slice())
            .expect("reader")
            .map(|item| item.expect("event").1)
            .collect();
        assert_eq!(read, events);
        assert!(read.iter().all(|event| recompute_hash(event) == event.hash));
    }

    #[test]
    fn ndjson_round_trips_every_hashed_field() {
        round_trip(ExportFormat::Ndjson);
    }

    #[test]
    fn csv_round_trips_every_hashed_field() {
        round_trip(ExportFormat::Csv);
    }

    #[test]
    fn a_csv_without_its_header_is_refused_not_shortened() {
        let mut bytes = Vec::new();
        let mut writer = ExportWriter::new(ExportFormat::Csv, &mut bytes).expect("writer");
        writer.write(&event(1)).expect("write");
        writer.finish().expect("finish");
        let text = String::from_utf8(bytes).expect("utf-8");
        let headless = text.split_once('\n').expect("a header line").1;
        let first = ExportReader::new(headless.as_bytes())
            .expect("reader")
            .next()
            .expect("an item");
        assert_eq!(first.expect_err("no header").line, 1);
    }

    #[test]
    fn an_unreadable_line_is_named() {
        let input = "{\"global_position\": 1}\n";
        let first = ExportReader::new(input.as_bytes())
            .expect("reader")
            .next()
            .expect("an item");
        assert_eq!(first.expect_err("unreadable").line, 1);
    }
}
