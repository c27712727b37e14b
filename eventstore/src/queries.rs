//! The log's reads ([`LogReads`]), written once for both databases: the same statements run on
//! either through [`crate::sql`]. Only how an event row's columns decode differs (`jsonb`,
//! `uuid` and `timestamptz` on PostgreSQL, text on SQLite): that stays with each database,
//! behind [`FromLogRow`]. So does re-wrapping a data key, the one write both do alike. Appends,
//! locking and storing new data keys differ for real and live in [`crate::postgres`] and
//! [`crate::sqlite`].

use crate::Database;
use crate::changes::StreamChange;
use crate::error::{DbContext, StoreError};
use crate::model::{Head, IdempotencyRecord, RecordedEvent};
use crate::sql::{self, Arg, Column, Dialect};
use crate::storage::{DataKeyRecord, LogReads, StoredEvent, from_db, hash_from_db, to_db};
use crate::{postgres, sqlite};
use async_trait::async_trait;
use futures::{Stream, StreamExt};
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use tokio::sync::mpsc;

/// An event row's columns, in the order the tables have them.
pub(crate) const EVENT_COLUMNS: &str = "global_position, stream_id, stream_type, stream_version, event_id, event_type, \
     schema_version, payload, metadata, recorded_at, prev_hash, hash";

/// The last event's position, hash and time.
const HEAD: &str =
    "SELECT global_position, hash, recorded_at FROM events ORDER BY global_position DESC LIMIT 1";

/// The first result remembered for an idempotency key.
pub(crate) const IDEMPOTENCY_RECORD: &str = "SELECT fingerprint, stream_id, stream_version, first_position, last_position \
     FROM idempotency_keys WHERE key = $1";

/// Position, stream and version of the events after `$1`, at most `$2` of them.
const STREAM_CHANGES_AFTER: &str = "SELECT global_position, stream_id, stream_version \
     FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2";

/// A page of keys in subject order.
const DATA_KEYS_AFTER: &str = "SELECT subject, wrapped_key, master_key_id FROM data_keys \
     WHERE subject > $1 ORDER BY subject LIMIT $2";

/// Re-wraps a live key still wrapped by the old master key.
const REPLACE_WRAPPED_KEY: &str = "UPDATE data_keys SET wrapped_key = $3, master_key_id = $4 \
     WHERE subject = $1 AND master_key_id = $2 AND wrapped_key IS NOT NULL";

/// A row of [`IDEMPOTENCY_RECORD`].
pub(crate) type IdempotencyRow = (Vec<u8>, String, i64, i64, i64);

/// A stored data key: subject, wrapped key (none once destroyed), master key id.
pub(crate) type DataKeyRow = (String, Option<Vec<u8>>, String);

/// What each database decodes its own way.
pub(crate) trait FromLogRow: Sized {
    /// From a PostgreSQL row.
    fn from_postgres(row: &PgRow) -> Result<Self, StoreError>;
    /// From a SQLite row.
    fn from_sqlite(row: &SqliteRow) -> Result<Self, StoreError>;
}

impl FromLogRow for RecordedEvent {
    fn from_postgres(row: &PgRow) -> Result<Self, StoreError> {
        postgres::event_from_row(row)
    }

    fn from_sqlite(row: &SqliteRow) -> Result<Self, StoreError> {
        sqlite::event_from_row(row)
    }
}

impl FromLogRow for StoredEvent {
    fn from_postgres(row: &PgRow) -> Result<Self, StoreError> {
        postgres::stored_event_from_row(row)
    }

    fn from_sqlite(row: &SqliteRow) -> Result<Self, StoreError> {
        sqlite::stored_event_from_row(row)
    }
}

impl FromLogRow for Head {
    fn from_postgres(row: &PgRow) -> Result<Self, StoreError> {
        postgres::head_from_row(row)
    }

    fn from_sqlite(row: &SqliteRow) -> Result<Self, StoreError> {
        sqlite::head_from_row(row)
    }
}

/// A row as [`FromLogRow`] decoded it, failure included: a corrupt event is reported the way the
/// store reports one (naming its position), not as a driver's error.
struct Decoded<T>(Result<T, StoreError>);

impl<T: FromLogRow> FromRow<'_, PgRow> for Decoded<T> {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self(T::from_postgres(row)))
    }
}

impl<T: FromLogRow> FromRow<'_, SqliteRow> for Decoded<T> {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Self(T::from_sqlite(row)))
    }
}

/// The rows of a query, each decoded by its database's rules.
async fn fetch_decoded<T: FromLogRow + Send + Unpin>(
    database: &Database,
    statement: &str,
    args: &[Arg],
    context: &'static str,
) -> Result<Vec<T>, StoreError> {
    sql::fetch_all::<Decoded<T>>(database, statement, args)
        .await
        .context(context)?
        .into_iter()
        .map(|row| row.0)
        .collect()
}

#[async_trait]
impl<S: AsRef<Database> + Send + Sync + 'static> LogReads for S {
    async fn head(&self) -> Result<Head, StoreError> {
        let head = sql::fetch_optional::<Decoded<Head>>(self.as_ref(), HEAD, &[])
            .await
            .context("reading the head")?;
        head.map_or(Ok(Head::EMPTY), |row| row.0)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        until_position: Option<u64>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let statement = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 \
             AND global_position <= $3 ORDER BY stream_version"
        );
        let args = [
            stream_id.into(),
            to_db(after_version)?.into(),
            until_position.map_or(Ok(i64::MAX), to_db)?.into(),
        ];
        fetch_decoded(self.as_ref(), &statement, &args, "reading a stream").await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_page(self.as_ref(), after_position, limit).await
    }

    async fn read_all_canonical(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read_page(self.as_ref(), after_position, limit).await
    }

    async fn stream_canonical(
        &self,
        after_position: u64,
        until_position: Option<u64>,
        batch: usize,
        batches: &mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
    ) -> Result<(), StoreError> {
        let statement = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > $1 \
             AND global_position <= $2 ORDER BY global_position"
        );
        let args = [
            to_db(after_position)?.into(),
            until_position.map_or(Ok(i64::MAX), to_db)?.into(),
        ];
        let rows = sql::fetch::<Decoded<StoredEvent>>(self.as_ref(), &statement, &args);
        send_in_batches(rows, batch, batches).await
    }

    async fn stream_changes_after(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<StreamChange>, StoreError> {
        let rows: Vec<(i64, String, i64)> = sql::fetch_all(
            self.as_ref(),
            STREAM_CHANGES_AFTER,
            &[to_db(after_position)?.into(), to_db(limit as u64)?.into()],
        )
        .await
        .context("reading the log's changes")?;
        rows.into_iter()
            .map(|(position, stream_id, version)| {
                let position = from_db(position, 0)?;
                Ok(StreamChange {
                    position,
                    stream_id,
                    stream_version: from_db(version, position)?,
                })
            })
            .collect()
    }

    async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        sql::fetch_optional::<IdempotencyRow>(self.as_ref(), IDEMPOTENCY_RECORD, &[key.into()])
            .await
            .context("reading an idempotency key")?
            .map(idempotency_from_row)
            .transpose()
    }

    async fn claim_owner(
        &self,
        kind: &str,
        value_hash: &[u8; 32],
    ) -> Result<Option<String>, StoreError> {
        let owner: Option<(String,)> = sql::fetch_optional(
            self.as_ref(),
            "SELECT stream_id FROM unique_claims WHERE kind = $1 AND value_hash = $2",
            &[kind.into(), value_hash.as_slice().into()],
        )
        .await
        .context("reading a claim")?;
        Ok(owner.map(|(stream_id,)| stream_id))
    }

    async fn claim_count(&self, kind: &str) -> Result<u64, StoreError> {
        let count: Option<(i64,)> = sql::fetch_optional(
            self.as_ref(),
            "SELECT count(*) FROM unique_claims WHERE kind = $1",
            &[kind.into()],
        )
        .await
        .context("counting claims")?;
        from_db(count.map_or(0, |(count,)| count), 0)
    }

    /// The subjects are bound as one array on PostgreSQL and as one JSON list on SQLite, so the
    /// statement is the same whatever their number.
    async fn data_keys(&self, subjects: &[&str]) -> Result<Vec<DataKeyRecord>, StoreError> {
        let (statement, subjects) = match Dialect::of(self.as_ref()) {
            Dialect::Postgres => (
                "SELECT subject, wrapped_key, master_key_id FROM data_keys WHERE subject = ANY($1)",
                Arg::Array(Column::Text(
                    subjects.iter().map(|s| Some((*s).to_owned())).collect(),
                )),
            ),
            Dialect::Sqlite => (
                "SELECT subject, wrapped_key, master_key_id FROM data_keys \
                 WHERE subject IN (SELECT value FROM json_each($1))",
                serde_json::to_string(subjects)
                    .map_err(|e| StoreError::Batch(e.to_string()))?
                    .into(),
            ),
        };
        let rows: Vec<DataKeyRow> = sql::fetch_all(self.as_ref(), statement, &[subjects])
            .await
            .context("reading data keys")?;
        Ok(rows.into_iter().map(data_key_from_row).collect())
    }

    async fn data_keys_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DataKeyRecord>, StoreError> {
        let rows: Vec<DataKeyRow> = sql::fetch_all(
            self.as_ref(),
            DATA_KEYS_AFTER,
            &[after.unwrap_or("").into(), to_db(limit as u64)?.into()],
        )
        .await
        .context("listing data keys")?;
        Ok(rows.into_iter().map(data_key_from_row).collect())
    }
}

/// Up to `limit` events after `after_position`, in position order, payload and metadata read
/// as `J`.
async fn read_page<J>(
    database: &Database,
    after_position: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent<J>>, StoreError>
where
    RecordedEvent<J>: FromLogRow + Send + Unpin,
{
    let statement = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2"
    );
    let args = [to_db(after_position)?.into(), to_db(limit as u64)?.into()];
    fetch_decoded(database, &statement, &args, "reading the log").await
}

/// Hands rows of a streamed query over in batches of `batch` events.
async fn send_in_batches(
    rows: impl Stream<Item = Result<Decoded<StoredEvent>, sqlx::Error>>,
    batch: usize,
    batches: &mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
) -> Result<(), StoreError> {
    let mut rows = std::pin::pin!(rows);
    let mut events = Vec::with_capacity(batch);
    while let Some(row) = rows.next().await {
        let row = row.map_err(|cause| StoreError::Database {
            context: "reading the log",
            cause,
        })?;
        events.push(row.0?);
        if events.len() == batch {
            let full = std::mem::replace(&mut events, Vec::with_capacity(batch));
            if batches.send(Ok(full)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !events.is_empty() {
        // The receiver may be gone; nothing is left to do either way.
        let _ = batches.send(Ok(events)).await;
    }
    Ok(())
}

/// A row of [`IDEMPOTENCY_RECORD`] as a record.
pub(crate) fn idempotency_from_row(
    (fingerprint, stream_id, stream_version, first_position, last_position): IdempotencyRow,
) -> Result<IdempotencyRecord, StoreError> {
    Ok(IdempotencyRecord {
        fingerprint: hash_from_db(fingerprint, 0)?,
        stream_id,
        stream_version: from_db(stream_version, 0)?,
        first_position: from_db(first_position, 0)?,
        last_position: from_db(last_position, 0)?,
    })
}

/// Replaces a key's wrapping if it is still wrapped by `old_master_id` and not destroyed (on
/// SQLite in this process's turn at the write lock); says whether it was.
pub(crate) async fn replace_wrapped_key(
    database: &Database,
    subject: &str,
    old_master_id: &str,
    wrapped_key: &[u8],
    master_id: &str,
) -> Result<bool, StoreError> {
    let replaced = sql::execute(
        database,
        REPLACE_WRAPPED_KEY,
        &[
            subject.into(),
            old_master_id.into(),
            wrapped_key.into(),
            master_id.into(),
        ],
    )
    .await
    .context("re-wrapping a data key")?;
    Ok(replaced == 1)
}

/// A [`DataKeyRow`] as a record.
pub(crate) fn data_key_from_row(
    (subject, wrapped_key, master_key_id): DataKeyRow,
) -> DataKeyRecord {
    DataKeyRecord {
        subject,
        wrapped_key,
        master_key_id,
    }
}
