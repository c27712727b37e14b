//! The log on PostgreSQL. A batch is one call of `idlog_append_batch` (see the migration): one
//! round trip and one commit for any number of requests.

use crate::Database;
use crate::error::{DbContext, StoreError};
use crate::model::{CanonicalJson, Head, IdempotencyRecord, RecordedEvent};
use crate::queries::{self, DataKeyRow, data_key_from_row};
use crate::storage::{
    Batch, BatchOutcome, DESTROY_DATA_KEY, DataKeyRecord, INSERT_DATA_KEY, LogStorage, Rejections,
    SELECT_DATA_KEY, SLOW_STATEMENT, SLOW_STATEMENT_LEVEL, StoredEvent, from_db, hash_from_db,
    pool_options, to_db,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgRow};
use sqlx::{ConnectOptions, Row};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use uuid::Uuid;

/// The notification channel appends signal on.
pub const NOTIFY_CHANNEL: &str = "idlog_events";

/// The log's tables in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    /// The same pool, for the reads both databases share ([`crate::storage::LogReads`]).
    database: Database,
    /// Writes new data keys without waiting for their WAL flush: see
    /// [`crate::storage::INSERT_DATA_KEY`].
    keys_pool: PgPool,
}

impl PostgresStorage {
    /// Connects with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .context("parsing the PostgreSQL URL")?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
        let pool = pool_options(max_connections, Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        let keys_pool = pool_options(2, Duration::from_secs(10))
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Self {
            database: Database::Postgres(pool.clone()),
            pool,
            keys_pool,
        })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            keys_pool: pool.clone(),
            database: Database::Postgres(pool.clone()),
            pool,
        }
    }

    /// The connection pool (read models live in the same database).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::POSTGRES.run(&self.pool).await?;
        Ok(())
    }

    /// Starts a task that turns `NOTIFY idlog_events` (sent by appends from any process) into
    /// wake-ups for this process's subscribers.
    pub fn listen(&self, head_tx: watch::Sender<u64>) -> AbortHandle {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for appends; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(error) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(%error, "cannot listen for appends; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                loop {
                    match listener.recv().await {
                        Ok(notification) => {
                            if let Ok(position) = notification.payload().parse::<u64>() {
                                head_tx.send_if_modified(|seen| {
                                    let advanced = position > *seen;
                                    *seen = (*seen).max(position);
                                    advanced
                                });
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "lost the append notifications; reconnecting");
                            break;
                        }
                    }
                }
            }
        })
        .abort_handle()
    }
}

/// Reads an event row, payload and metadata as JSON trees.
pub(crate) fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    event_with_json(row, |row, column| {
        row.try_get(column).map_err(|error| error.to_string())
    })
}

/// Reads an event row, payload and metadata as canonical text.
pub(crate) fn stored_event_from_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
    event_with_json(row, |row, column| {
        // `jsonb`'s binary form is a version byte (1) and the text: canonicalized as it is,
        // without building a tree.
        let bytes: &[u8] = row
            .try_get_unchecked(column)
            .map_err(|error| error.to_string())?;
        let Some((1, text)) = bytes.split_first() else {
            return Err(format!("{column} is not jsonb of version 1"));
        };
        let text = std::str::from_utf8(text).map_err(|error| error.to_string())?;
        CanonicalJson::from_text(text).map_err(|error| error.to_string())
    })
}

/// Reads an event row, its payload and metadata through `json`.
fn event_with_json<J>(
    row: &PgRow,
    json: fn(&PgRow, &str) -> Result<J, String>,
) -> Result<RecordedEvent<J>, StoreError> {
    let position = from_db(
        row.try_get("global_position").context("reading an event")?,
        0,
    )?;
    let corrupt = |message: String| StoreError::Corrupt { position, message };
    let get = |e: sqlx::Error| corrupt(e.to_string());
    Ok(RecordedEvent {
        global_position: position,
        stream_id: row.try_get("stream_id").map_err(get)?,
        stream_type: row.try_get("stream_type").map_err(get)?,
        stream_version: from_db(row.try_get("stream_version").map_err(get)?, position)?,
        event_id: row.try_get("event_id").map_err(get)?,
        event_type: row.try_get("event_type").map_err(get)?,
        schema_version: u32::try_from(row.try_get::<i32, _>("schema_version").map_err(get)?)
            .map_err(|e| corrupt(e.to_string()))?,
        payload: json(row, "payload").map_err(corrupt)?,
        metadata: json(row, "metadata").map_err(corrupt)?,
        recorded_at: row.try_get("recorded_at").map_err(get)?,
        prev_hash: hash_from_db(row.try_get("prev_hash").map_err(get)?, position)?,
        hash: hash_from_db(row.try_get("hash").map_err(get)?, position)?,
    })
}

/// Reads the head: the last event's position, hash and time.
pub(crate) fn head_from_row(row: &PgRow) -> Result<Head, StoreError> {
    let position = from_db(
        row.try_get("global_position").context("reading the head")?,
        0,
    )?;
    Ok(Head {
        position,
        hash: hash_from_db(row.try_get("hash").context("reading the head")?, position)?,
        recorded_at: Some(row.try_get("recorded_at").context("reading the head")?),
    })
}

fn request_index(row: &PgRow) -> Result<usize, StoreError> {
    let index: i32 = row.try_get("request").context("reading a rejection")?;
    usize::try_from(index - 1).map_err(|_| StoreError::Corrupt {
        position: 0,
        message: "bad request index".into(),
    })
}

impl AsRef<Database> for PostgresStorage {
    /// The database it reads through ([`crate::storage::LogReads`]).
    fn as_ref(&self) -> &Database {
        &self.database
    }
}

#[async_trait]
impl LogStorage for PostgresStorage {
    async fn commit(&self, batch: &Batch) -> Result<BatchOutcome, StoreError> {
        let mut r_stream_ids = Vec::new();
        let mut r_versions = Vec::new();
        let (mut c_requests, mut c_kinds, mut c_hashes, mut c_stream_ids, mut c_takes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut i_requests, mut i_keys, mut i_fingerprints, mut i_stream_ids) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut i_versions, mut i_firsts, mut i_lasts) = (Vec::new(), Vec::new(), Vec::new());
        for (index, request) in batch.requests.iter().enumerate() {
            let ordinal = i32::try_from(index + 1)
                .map_err(|_| StoreError::Batch("batch too large".into()))?;
            r_stream_ids.push(request.stream_id.as_str());
            r_versions.push(to_db(request.current_version)?);
            for claim in &request.claims {
                c_requests.push(ordinal);
                c_kinds.push(claim.kind.as_str());
                c_hashes.push(claim.value_hash.to_vec());
                c_stream_ids.push(request.stream_id.as_str());
                c_takes.push(claim.take);
            }
            if let Some((key, record)) = &request.idempotency {
                i_requests.push(ordinal);
                i_keys.push(key.as_str());
                i_fingerprints.push(record.fingerprint.to_vec());
                i_stream_ids.push(record.stream_id.as_str());
                i_versions.push(to_db(record.stream_version)?);
                i_firsts.push(to_db(record.first_position)?);
                i_lasts.push(to_db(record.last_position)?);
            }
        }
        let mut e_positions = Vec::with_capacity(batch.events.len());
        let mut e_stream_ids = Vec::with_capacity(batch.events.len());
        let mut e_stream_types = Vec::with_capacity(batch.events.len());
        let mut e_versions = Vec::with_capacity(batch.events.len());
        let mut e_event_ids: Vec<Uuid> = Vec::with_capacity(batch.events.len());
        let mut e_types = Vec::with_capacity(batch.events.len());
        let mut e_schema_versions = Vec::with_capacity(batch.events.len());
        let mut e_payloads = Vec::with_capacity(batch.events.len());
        let mut e_metadata = Vec::with_capacity(batch.events.len());
        let mut e_recorded_at: Vec<DateTime<Utc>> = Vec::with_capacity(batch.events.len());
        let mut e_prev_hashes = Vec::with_capacity(batch.events.len());
        let mut e_hashes = Vec::with_capacity(batch.events.len());
        for event in &batch.events {
            e_positions.push(to_db(event.global_position)?);
            e_stream_ids.push(event.stream_id.as_str());
            e_stream_types.push(event.stream_type.as_str());
            e_versions.push(to_db(event.stream_version)?);
            e_event_ids.push(event.event_id);
            e_types.push(event.event_type.as_str());
            e_schema_versions.push(
                i32::try_from(event.schema_version)
                    .map_err(|_| StoreError::Batch("schema version out of range".into()))?,
            );
            e_payloads.push(event.payload.as_str());
            e_metadata.push(event.metadata.as_str());
            e_recorded_at.push(event.recorded_at);
            e_prev_hashes.push(event.prev_hash.to_vec());
            e_hashes.push(event.hash.to_vec());
        }
        let rows = sqlx::query(
            "SELECT * FROM idlog_append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)",
        )
        .bind(to_db(batch.expected_head)?)
        .bind(&r_stream_ids)
        .bind(&r_versions)
        .bind(&c_requests)
        .bind(&c_kinds)
        .bind(&c_hashes)
        .bind(&c_stream_ids)
        .bind(&c_takes)
        .bind(&i_requests)
        .bind(&i_keys)
        .bind(&i_fingerprints)
        .bind(&i_stream_ids)
        .bind(&i_versions)
        .bind(&i_firsts)
        .bind(&i_lasts)
        .bind(&e_positions)
        .bind(&e_stream_ids)
        .bind(&e_stream_types)
        .bind(&e_versions)
        .bind(&e_event_ids)
        .bind(&e_types)
        .bind(&e_schema_versions)
        .bind(&e_payloads)
        .bind(&e_metadata)
        .bind(&e_recorded_at)
        .bind(&e_prev_hashes)
        .bind(&e_hashes);
        let forgotten: Vec<&str> = batch
            .requests
            .iter()
            .filter_map(|request| request.forget_subject.as_deref())
            .collect();
        let rows = if forgotten.is_empty() {
            rows.fetch_all(&self.pool)
                .await
                .context("appending a batch")?
        } else {
            // Rare: the events and the destruction of the keys commit together or not at all.
            let mut tx = self.pool.begin().await.context("starting an append")?;
            let rows = rows
                .fetch_all(&mut *tx)
                .await
                .context("appending a batch")?;
            if rows.is_empty() {
                for subject in forgotten {
                    sqlx::query(DESTROY_DATA_KEY)
                        .bind(subject)
                        .execute(&mut *tx)
                        .await
                        .context("destroying a data key")?;
                }
            }
            tx.commit().await.context("committing an append")?;
            rows
        };
        if rows.is_empty() {
            return Ok(BatchOutcome::Committed);
        }
        let mut rejections = Rejections::default();
        for row in &rows {
            let failure: String = row.try_get("failure").context("reading a rejection")?;
            match failure.as_str() {
                "head" => {
                    let position = from_db(
                        row.try_get("head_position")
                            .context("reading a rejection")?,
                        0,
                    )?;
                    let hash: Option<Vec<u8>> =
                        row.try_get("head_hash").context("reading a rejection")?;
                    rejections.head_moved = Some(Head {
                        position,
                        hash: hash
                            .map(|h| hash_from_db(h, position))
                            .transpose()?
                            .unwrap_or([0; 32]),
                        recorded_at: row.try_get("head_time").context("reading a rejection")?,
                    });
                }
                "version" => {
                    let actual = from_db(
                        row.try_get("actual_version")
                            .context("reading a rejection")?,
                        0,
                    )?;
                    rejections.versions.push((request_index(row)?, actual));
                }
                "claim" => {
                    rejections.claims.push((
                        request_index(row)?,
                        row.try_get("claim_kind").context("reading a rejection")?,
                    ));
                }
                "idempotency" => rejections.idempotency.push((
                    request_index(row)?,
                    IdempotencyRecord {
                        fingerprint: hash_from_db(
                            row.try_get("fingerprint").context("reading a rejection")?,
                            0,
                        )?,
                        stream_id: row.try_get("stream_id").context("reading a rejection")?,
                        stream_version: from_db(
                            row.try_get("stream_version")
                                .context("reading a rejection")?,
                            0,
                        )?,
                        first_position: from_db(
                            row.try_get("first_position")
                                .context("reading a rejection")?,
                            0,
                        )?,
                        last_position: from_db(
                            row.try_get("last_position")
                                .context("reading a rejection")?,
                            0,
                        )?,
                    },
                )),
                other => {
                    return Err(StoreError::Batch(format!(
                        "unknown rejection {other:?} from idlog_append_batch"
                    )));
                }
            }
        }
        Ok(BatchOutcome::Rejected(rejections))
    }

    async fn data_key_or_insert(
        &self,
        record: &DataKeyRecord,
    ) -> Result<DataKeyRecord, StoreError> {
        // The first key stored wins; an existing row is read back, not rewritten (an update
        // would lock the row and write to the WAL for nothing).
        let inserted = sqlx::query_as::<_, DataKeyRow>(INSERT_DATA_KEY)
            .bind(&record.subject)
            .bind(&record.wrapped_key)
            .bind(&record.master_key_id)
            .fetch_optional(&self.keys_pool)
            .await
            .context("storing a data key")?;
        let row = match inserted {
            Some(row) => row,
            None => sqlx::query_as(SELECT_DATA_KEY)
                .bind(&record.subject)
                .fetch_one(&self.keys_pool)
                .await
                .context("reading a data key")?,
        };
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
