//! The log in a SQLite file (the embedded default). `BEGIN IMMEDIATE` serializes appends,
//! also across processes (a CLI next to a running server); WAL lets readers run meanwhile.

use crate::Database;
use crate::error::{DbContext, StoreError};
use crate::model::{CanonicalJson, Head, RecordedEvent};
use crate::queries::{
    self, DataKeyRow, EVENT_COLUMNS, IDEMPOTENCY_RECORD, IdempotencyRow, data_key_from_row,
    idempotency_from_row,
};
use crate::storage::{
    Batch, BatchOutcome, DESTROY_DATA_KEY, DataKeyRecord, INSERT_DATA_KEY, LogStorage, Rejections,
    SELECT_DATA_KEY, SLOW_STATEMENT, SLOW_STATEMENT_LEVEL, StoredEvent, from_db, hash_from_db,
    pool_options, to_db,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// Events per INSERT: binding is quadratic in a statement's parameters on SQLite (12 each).
const INSERT_CHUNK: usize = 64;

/// How long a writer waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The log's tables in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
    /// The same pool, for the reads both databases share ([`crate::storage::LogReads`]).
    database: Database,
}

/// Formats a time the way SQLite columns store it: ISO 8601 UTC with microseconds, so text
/// order is time order.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses a stored time.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc))
}

/// `secure_delete` is always on; builds for tests and benchmarks may turn it off with
/// `IDLOG_TEST_SECURE_DELETE=off`, to measure what it costs.
fn secure_delete() -> &'static str {
    #[cfg(feature = "testing")]
    if std::env::var("IDLOG_TEST_SECURE_DELETE").is_ok_and(|value| value == "off") {
        return "OFF";
    }
    "ON"
}

impl SqliteStorage {
    /// Opens (creating if missing) the database at `url` (`sqlite:PATH` or `sqlite://PATH`).
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An audit log must survive power loss: every commit is synced.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            // Freed space is overwritten with zeros: an erased email or name does not linger
            // in free pages of the file (see `truncate_wal` for the write-ahead log).
            .pragma("secure_delete", secure_delete())
            .foreign_keys(true)
            .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
        let pool = pool_options(max_connections, Duration::from_secs(30))
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        Ok(Self {
            database: Database::Sqlite(pool.clone()),
            pool,
        })
    }

    /// The connection pool (read models live in the same file).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::SQLITE.run(&self.pool).await?;
        Ok(())
    }
}

/// Per database file: the writers of this process queue here for their turn at SQLite's one
/// write lock.
///
/// Without it they wait in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ms...
/// between tries: a writer that found the lock taken five times has slept 33 ms, however soon
/// the lock came free. Under load the appender and the four read-model followers took turns that
/// way and commands stalled about 35 ms at a time (measured). Queued here, the next writer starts
/// the moment the last one finishes, in arrival order. Another process (a CLI beside the server)
/// still meets SQLite's lock and busy timeout; correctness never rests on this queue.
static WRITE_TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// This process's turn at `pool`'s file (see [`WRITE_TURNS`]); `None` when waiting for it took
/// longer than the busy timeout (a writer holding it that long is stuck): SQLite's own lock
/// decides then.
async fn write_turn(pool: &SqlitePool) -> Option<OwnedMutexGuard<()>> {
    let file = pool
        .connect_options()
        .get_filename()
        .to_string_lossy()
        .into_owned();
    let queue = WRITE_TURNS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(file)
        .or_default()
        .clone();
    let turn = tokio::time::timeout(BUSY_TIMEOUT, queue.lock_owned())
        .await
        .ok();
    if turn.is_none() {
        tracing::warn!(
            "no turn at the SQLite file's write lock for {BUSY_TIMEOUT:?}; trying without"
        );
    }
    turn
}

/// Folds the write-ahead log into the database file and empties it (`wal_checkpoint(TRUNCATE)`),
/// so that old page images, erased personal data among them, leave the disk. A reader in the
/// middle of a transaction holds it back: it is tried again until it completes or `patience`
/// runs out (then false).
pub async fn truncate_wal(pool: &SqlitePool, patience: Duration) -> Result<bool, StoreError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (busy, _, _): (i64, i64, i64) = {
            // This process's writers wait meanwhile: a checkpoint cannot pass one writing.
            let _turn = write_turn(pool).await;
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await
                .context("checkpointing the write-ahead log")?
        };
        if busy == 0 {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A write transaction (`BEGIN IMMEDIATE`) begun in this process's turn at the file: see
/// [`WRITE_TURNS`]. Commit it, or drop it to roll back; either way the turn passes on.
pub struct WriteTransaction {
    // Declared first, so dropped first: the transaction ends before the turn passes on.
    tx: sqlx::Transaction<'static, Sqlite>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    /// Waits for this process's turn at `pool`'s file, then begins. A turn that takes longer
    /// than the busy timeout (a writer holding it that long is stuck) is skipped: SQLite's own
    /// lock decides then.
    pub async fn begin(pool: &SqlitePool) -> Result<Self, sqlx::Error> {
        let turn = write_turn(pool).await;
        let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Self { tx, _turn: turn })
    }

    /// Commits, then passes the turn on.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// Reads an event row, payload and metadata as JSON trees.
pub(crate) fn event_from_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    event_with_json(row, |text| serde_json::from_str(text))
}

/// Reads an event row, payload and metadata as canonical text.
pub(crate) fn stored_event_from_row(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    event_with_json(row, CanonicalJson::from_text)
}

/// Reads an event row, its payload and metadata text through `json`.
fn event_with_json<J>(
    row: &SqliteRow,
    json: fn(&str) -> Result<J, serde_json::Error>,
) -> Result<RecordedEvent<J>, StoreError> {
    let position = from_db(
        row.try_get("global_position").context("reading an event")?,
        0,
    )?;
    let corrupt = |message: String| StoreError::Corrupt { position, message };
    let get = |e: sqlx::Error| corrupt(e.to_string());
    let event_id: &str = row.try_get("event_id").map_err(get)?;
    let payload: &str = row.try_get("payload").map_err(get)?;
    let metadata: &str = row.try_get("metadata").map_err(get)?;
    let recorded_at: &str = row.try_get("recorded_at").map_err(get)?;
    Ok(RecordedEvent {
        global_position: position,
        stream_id: row.try_get("stream_id").map_err(get)?,
        stream_type: row.try_get("stream_type").map_err(get)?,
        stream_version: from_db(row.try_get("stream_version").map_err(get)?, position)?,
        event_id: event_id
            .parse()
            .map_err(|e: uuid::Error| corrupt(e.to_string()))?,
        event_type: row.try_get("event_type").map_err(get)?,
        schema_version: u32::try_from(row.try_get::<i64, _>("schema_version").map_err(get)?)
            .map_err(|e| corrupt(e.to_string()))?,
        payload: json(payload).map_err(|e| corrupt(e.to_string()))?,
        metadata: json(metadata).map_err(|e| corrupt(e.to_string()))?,
        recorded_at: parse_time(recorded_at).map_err(|e| corrupt(e.to_string()))?,
        prev_hash: hash_from_db(row.try_get("prev_hash").map_err(get)?, position)?,
        hash: hash_from_db(row.try_get("hash").map_err(get)?, position)?,
    })
}

/// Reads the head: the last event's position, hash and time.
pub(crate) fn head_from_row(row: &SqliteRow) -> Result<Head, StoreError> {
    let position = from_db(
        row.try_get("global_position").context("reading the head")?,
        0,
    )?;
    let recorded_at: String = row.try_get("recorded_at").context("reading the head")?;
    Ok(Head {
        position,
        hash: hash_from_db(row.try_get("hash").context("reading the head")?, position)?,
        recorded_at: Some(parse_time(&recorded_at).map_err(|e| StoreError::Corrupt {
            position,
            message: e.to_string(),
        })?),
    })
}

fn push_event_values(
    builder: &mut QueryBuilder<'_, Sqlite>,
    events: &[StoredEvent],
) -> Result<(), StoreError> {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        rows.push((
            to_db(event.global_position)?,
            to_db(event.stream_version)?,
            event,
        ));
    }
    builder.push_values(rows, |mut row, (position, version, event)| {
        row.push_bind(position)
            .push_bind(event.stream_id.clone())
            .push_bind(event.stream_type.clone())
            .push_bind(version)
            .push_bind(event.event_id.to_string())
            .push_bind(event.event_type.clone())
            .push_bind(i64::from(event.schema_version))
            .push_bind(event.payload.as_str().to_owned())
            .push_bind(event.metadata.as_str().to_owned())
            .push_bind(format_time(event.recorded_at))
            .push_bind(event.prev_hash.to_vec())
            .push_bind(event.hash.to_vec());
    });
    Ok(())
}

impl AsRef<Database> for SqliteStorage {
    /// The database it reads through ([`crate::storage::LogReads`]).
    fn as_ref(&self) -> &Database {
        &self.database
    }
}

#[async_trait]
impl LogStorage for SqliteStorage {
    async fn commit(&self, batch: &Batch) -> Result<BatchOutcome, StoreError> {
        // Dropping `tx` on any early return rolls back.
        let mut tx = WriteTransaction::begin(&self.pool)
            .await
            .context("starting an append")?;
        let mut rejections = Rejections::default();
        // One query for the head (idx -1) and every request's stream version: fewer trips
        // through the connection's worker thread.
        let stream_ids: Vec<&str> = batch
            .requests
            .iter()
            .map(|r| r.stream_id.as_str())
            .collect();
        let rows = sqlx::query(
            "SELECT -1 AS idx, global_position AS version, hash, recorded_at FROM \
               (SELECT global_position, hash, recorded_at FROM events ORDER BY global_position DESC LIMIT 1) \
             UNION ALL \
             SELECT CAST(j.key AS INTEGER), \
                    (SELECT coalesce(max(e.stream_version), 0) FROM events e WHERE e.stream_id = j.value), NULL, NULL \
               FROM json_each(?) j",
        )
        .bind(serde_json::to_string(&stream_ids).map_err(|e| StoreError::Batch(e.to_string()))?)
        .fetch_all(&mut *tx)
        .await
        .context("checking the head and stream versions")?;
        let mut head = Head::EMPTY;
        for row in &rows {
            let index: i64 = row.try_get("idx").context("checking stream versions")?;
            let version = from_db(
                row.try_get("version").context("checking stream versions")?,
                0,
            )?;
            match usize::try_from(index) {
                Err(_) => {
                    let recorded_at: String =
                        row.try_get("recorded_at").context("reading the head")?;
                    head = Head {
                        position: version,
                        hash: hash_from_db(
                            row.try_get("hash").context("reading the head")?,
                            version,
                        )?,
                        recorded_at: Some(parse_time(&recorded_at).map_err(|e| {
                            StoreError::Corrupt {
                                position: version,
                                message: e.to_string(),
                            }
                        })?),
                    };
                }
                Ok(index) => {
                    if batch
                        .requests
                        .get(index)
                        .is_some_and(|request| request.current_version != version)
                    {
                        rejections.versions.push((index, version));
                    }
                }
            }
        }
        if head.position != batch.expected_head {
            rejections.head_moved = Some(head);
        }
        for (index, request) in batch.requests.iter().enumerate() {
            for claim in request.claims.iter().filter(|claim| claim.take) {
                let owner: Option<String> = sqlx::query_scalar(
                    "SELECT stream_id FROM unique_claims WHERE kind = ? AND value_hash = ?",
                )
                .bind(&claim.kind)
                .bind(claim.value_hash.as_slice())
                .fetch_optional(&mut *tx)
                .await
                .context("checking a claim")?;
                if owner.is_some_and(|owner| owner != request.stream_id) {
                    rejections.claims.push((index, claim.kind.clone()));
                }
            }
            if let Some((key, _)) = &request.idempotency {
                let row = sqlx::query_as::<_, IdempotencyRow>(IDEMPOTENCY_RECORD)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .context("checking an idempotency key")?;
                if let Some(row) = row {
                    rejections
                        .idempotency
                        .push((index, idempotency_from_row(row)?));
                }
            }
        }
        // New data keys: one look-up for the batch; a subject whose stored key is another one is
        // a rejection (the request is sealed again with the stored key).
        let new_keys: Vec<(usize, &DataKeyRecord)> = batch
            .requests
            .iter()
            .enumerate()
            .flat_map(|(index, request)| request.new_keys.iter().map(move |key| (index, key)))
            .collect();
        if !new_keys.is_empty() {
            let subjects: Vec<&str> = new_keys
                .iter()
                .map(|(_, key)| key.subject.as_str())
                .collect();
            let stored: std::collections::HashMap<String, Option<Vec<u8>>> = sqlx::query_as(
                "SELECT subject, wrapped_key FROM data_keys WHERE subject IN (SELECT value FROM json_each(?))",
            )
            .bind(serde_json::to_string(&subjects).map_err(|e| StoreError::Batch(e.to_string()))?)
            .fetch_all(&mut *tx)
            .await
            .context("checking data keys")?
            .into_iter()
            .collect();
            for (index, key) in &new_keys {
                if stored
                    .get(&key.subject)
                    .is_some_and(|wrapped| *wrapped != key.wrapped_key)
                {
                    rejections.keys.push((*index, key.subject.clone()));
                }
            }
        }
        if !rejections.is_empty() {
            return Ok(BatchOutcome::Rejected(rejections));
        }
        if !new_keys.is_empty() {
            // One statement text whatever the count (a statement per row count would fill every
            // connection's statement cache with large programs).
            let rows: Vec<(&str, String, &str)> = new_keys
                .iter()
                .filter_map(|(_, key)| {
                    let wrapped = key.wrapped_key.as_ref()?;
                    Some((
                        key.subject.as_str(),
                        hex::encode(wrapped),
                        key.master_key_id.as_str(),
                    ))
                })
                .collect();
            sqlx::query(
                "INSERT INTO data_keys (subject, wrapped_key, master_key_id, created_at) \
                 SELECT json_extract(value, '$[0]'), unhex(json_extract(value, '$[1]')), \
                        json_extract(value, '$[2]'), ? \
                 FROM json_each(?) WHERE true ON CONFLICT (subject) DO NOTHING",
            )
            .bind(format_time(Utc::now()))
            .bind(serde_json::to_string(&rows).map_err(|e| StoreError::Batch(e.to_string()))?)
            .execute(&mut *tx)
            .await
            .context("storing data keys")?;
        }

        for chunk in batch.events.chunks(INSERT_CHUNK) {
            let mut builder = QueryBuilder::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            push_event_values(&mut builder, chunk)?;
            builder
                .build()
                .execute(&mut *tx)
                .await
                .context("inserting events")?;
        }
        let last_position = to_db(
            batch
                .events
                .last()
                .map_or(batch.expected_head, |e| e.global_position),
        )?;
        let now = format_time(batch.events.last().map_or_else(Utc::now, |e| e.recorded_at));
        for request in &batch.requests {
            // Releases apply before takes, as on PostgreSQL.
            for claim in request.claims.iter().filter(|claim| !claim.take) {
                sqlx::query(
                    "DELETE FROM unique_claims WHERE kind = ? AND value_hash = ? AND stream_id = ?",
                )
                .bind(&claim.kind)
                .bind(claim.value_hash.as_slice())
                .bind(&request.stream_id)
                .execute(&mut *tx)
                .await
                .context("releasing a claim")?;
            }
            for claim in request.claims.iter().filter(|claim| claim.take) {
                sqlx::query(
                    "INSERT INTO unique_claims (kind, value_hash, stream_id, claimed_at_position) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (kind, value_hash) DO NOTHING",
                )
                .bind(&claim.kind)
                .bind(claim.value_hash.as_slice())
                .bind(&request.stream_id)
                .bind(last_position)
                .execute(&mut *tx)
                .await
                .context("taking a claim")?;
            }
            if let Some(subject) = &request.forget_subject {
                sqlx::query(DESTROY_DATA_KEY)
                    .bind(subject)
                    .execute(&mut *tx)
                    .await
                    .context("destroying a data key")?;
            }
            if let Some((key, record)) = &request.idempotency {
                sqlx::query(
                    "INSERT INTO idempotency_keys (key, fingerprint, stream_id, stream_version, first_position, \
                     last_position, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(key)
                .bind(record.fingerprint.as_slice())
                .bind(&record.stream_id)
                .bind(to_db(record.stream_version)?)
                .bind(to_db(record.first_position)?)
                .bind(to_db(record.last_position)?)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .context("remembering an idempotency key")?;
            }
        }
        tx.commit().await.context("committing an append")?;
        Ok(BatchOutcome::Committed)
    }

    fn stores_new_keys_with_events(&self) -> bool {
        // A separate write would wait for the file's one write lock behind the appender.
        true
    }

    async fn data_key_or_insert(
        &self,
        record: &DataKeyRecord,
    ) -> Result<DataKeyRecord, StoreError> {
        let mut tx = WriteTransaction::begin(&self.pool)
            .await
            .context("storing a data key")?;
        let inserted = sqlx::query_as::<_, DataKeyRow>(INSERT_DATA_KEY)
            .bind(&record.subject)
            .bind(&record.wrapped_key)
            .bind(&record.master_key_id)
            .fetch_optional(&mut *tx)
            .await
            .context("storing a data key")?;
        let row = match inserted {
            Some(row) => row,
            None => sqlx::query_as(SELECT_DATA_KEY)
                .bind(&record.subject)
                .fetch_one(&mut *tx)
                .await
                .context("reading a data key")?,
        };
        tx.commit().await.context("storing a data key")?;
        Ok(data_key_from_row(row))
    }

    async fn replace_wrapped_key(
        &self,
        subject: &str,
        old_master_id: &str,
        wrapped_key: &[u8],
        master_id: &str,
    ) -> Result<bool, StoreError> {
        queries::replace_wrapped_key(
            &self.database,
            subject,
            old_master_id,
            wrapped_key,
            master_id,
        )
        .await
    }
}
