//! The database side of the log: what it reads ([`LogReads`], one implementation for both
//! databases) and what it writes ([`LogStorage`], implemented for PostgreSQL and SQLite).
//! Everything that does not depend on the database (group commit, hashing, the codec,
//! upcasting, subscriptions, chain verification) lives once, in [`crate::EventLog`].

use crate::error::StoreError;
use crate::model::{CanonicalJson, Claim, Head, IdempotencyRecord, RecordedEvent};
use async_trait::async_trait;
use tokio::sync::mpsc;

/// An event as the log stores and hashes it: payload and metadata as canonical JSON text (sealed
/// personal data stays sealed). What the appender writes and what auditors' tools read.
pub type StoredEvent = RecordedEvent<CanonicalJson>;

/// What one request of a batch needs checked and written besides its events.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// The stream.
    pub stream_id: String,
    /// The version the stream must have now for the batch to apply.
    pub current_version: u64,
    /// Claims to take or release.
    pub claims: Vec<Claim>,
    /// The idempotency key with the result to remember for it.
    pub idempotency: Option<(String, IdempotencyRecord)>,
    /// A data subject whose data key is destroyed with these events (they are forgotten).
    pub forget_subject: Option<String>,
    /// Data keys created for these events, stored with them (by storages that
    /// [`LogStorage::stores_new_keys_with_events`]); a subject whose stored key differs is a
    /// rejection.
    pub new_keys: Vec<DataKeyRecord>,
}

/// A data subject's key as stored: wrapped by a master key, or destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    /// Whose key.
    pub subject: String,
    /// The key encrypted by the master key; `None` once destroyed.
    pub wrapped_key: Option<Vec<u8>>,
    /// Which master key wrapped it.
    pub master_key_id: String,
}

/// A group commit: requests that share no stream, claim or idempotency key, and their events
/// positioned from `expected_head + 1`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The head position the events were positioned and hashed from.
    pub expected_head: u64,
    /// The requests.
    pub requests: Vec<BatchRequest>,
    /// All events of all requests, in position order.
    pub events: Vec<StoredEvent>,
}

/// Why a batch was not written. Nothing of it was.
#[derive(Debug, Clone, Default)]
pub struct Rejections {
    /// The real head, when it is not the batch's `expected_head` (another process appended).
    pub head_moved: Option<Head>,
    /// Requests whose stream is at another version: (request index, actual version).
    pub versions: Vec<(usize, u64)>,
    /// Requests taking a value another stream owns: (request index, claim kind).
    pub claims: Vec<(usize, String)>,
    /// Requests whose idempotency key was seen before: (request index, first result).
    pub idempotency: Vec<(usize, IdempotencyRecord)>,
    /// Requests bringing a new data key for a subject that has another: (request index, subject).
    pub keys: Vec<(usize, String)>,
}

impl Rejections {
    /// Whether anything was rejected.
    pub fn is_empty(&self) -> bool {
        self.head_moved.is_none()
            && self.versions.is_empty()
            && self.claims.is_empty()
            && self.idempotency.is_empty()
            && self.keys.is_empty()
    }
}

/// The outcome of [`LogStorage::commit`].
#[derive(Debug, Clone)]
pub enum BatchOutcome {
    /// The whole batch was written in one transaction.
    Committed,
    /// Nothing was written.
    Rejected(Rejections),
}

/// What the log reads from its database. Written once for both databases
/// (`queries.rs`): every storage that has a [`Database`](crate::Database) reads through it.
#[async_trait]
pub trait LogReads: Send + Sync + 'static {
    /// The last event's position, hash and time.
    async fn head(&self) -> Result<Head, StoreError>;

    /// A stream's events after `after_version`, up to `until_position` if given, as stored.
    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        until_position: Option<u64>,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events after `after_position`, in order, as stored.
    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The same events as [`Self::read_all`], payload and metadata as canonical text: for
    /// hashing and exporting, which need no JSON tree.
    async fn read_all_canonical(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Sends the events after `after_position`, up to `until_position` if given, as
    /// [`Self::read_all_canonical`] reads them, in batches of `batch` through `batches`. One
    /// streamed query: the database keeps sending while the batches are handled. Stops early
    /// when the receiver is dropped.
    async fn stream_canonical(
        &self,
        after_position: u64,
        until_position: Option<u64>,
        batch: usize,
        batches: &mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
    ) -> Result<(), StoreError>;

    /// Up to `limit` events after `after_position`, in order: position, stream and version only.
    async fn stream_changes_after(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<crate::changes::StreamChange>, StoreError>;

    /// The first result remembered for an idempotency key.
    async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// The stream that owns a claimed value, if any.
    async fn claim_owner(
        &self,
        kind: &str,
        value_hash: &[u8; 32],
    ) -> Result<Option<String>, StoreError>;

    /// How many values of a kind are claimed.
    async fn claim_count(&self, kind: &str) -> Result<u64, StoreError>;

    /// The stored keys of these subjects (subjects with none are left out).
    async fn data_keys(&self, subjects: &[&str]) -> Result<Vec<DataKeyRecord>, StoreError>;

    /// Up to `limit` keys after `after` in subject order (destroyed ones included).
    async fn data_keys_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DataKeyRecord>, StoreError>;
}

/// The database operations the log needs: its reads, and the writes each database does its own
/// way (appends under the append lock, data keys).
#[async_trait]
pub trait LogStorage: LogReads {
    /// Under the append lock: checks the batch and writes all of it, or nothing.
    async fn commit(&self, batch: &Batch) -> Result<BatchOutcome, StoreError>;

    /// Whether new data keys are best written in the transaction of the events they seal
    /// ([`BatchRequest::new_keys`]) rather than on their own ([`Self::data_key_or_insert`]): true
    /// where another writer would wait for the log's single write lock (SQLite).
    fn stores_new_keys_with_events(&self) -> bool {
        false
    }

    /// Stores a new subject's key unless the subject has one already (which then stays, even
    /// destroyed); returns the stored one. One round trip.
    async fn data_key_or_insert(&self, record: &DataKeyRecord)
    -> Result<DataKeyRecord, StoreError>;

    /// Replaces a key's wrapping if it is still wrapped by `old_master_id` and not destroyed;
    /// says whether it was.
    async fn replace_wrapped_key(
        &self,
        subject: &str,
        old_master_id: &str,
        wrapped_key: &[u8],
        master_id: &str,
    ) -> Result<bool, StoreError>;
}

/// Stores a subject's first key and returns it; a later key for the same subject is ignored and
/// nothing is returned (the caller reads the stored one). (Both databases.)
///
/// PostgreSQL commits it without waiting for the disk (`synchronous_commit = off`): a key
/// matters only once an event sealed with it is committed, and that later commit flushes the
/// write-ahead log up to itself, this row included. A crash before then loses a key nothing used.
/// (SQLite stores new keys in the events' own transaction instead.)
pub(crate) const INSERT_DATA_KEY: &str = "INSERT INTO data_keys (subject, wrapped_key, master_key_id, created_at) \
     VALUES ($1, $2, $3, CURRENT_TIMESTAMP) ON CONFLICT (subject) DO NOTHING \
     RETURNING subject, wrapped_key, master_key_id";

/// One subject's stored key. (Both databases.)
pub(crate) const SELECT_DATA_KEY: &str =
    "SELECT subject, wrapped_key, master_key_id FROM data_keys WHERE subject = $1";

/// Destroys a subject's key: their sealed data can never be read again. (Both databases.)
/// An upsert: a subject with no key yet (their events predate encryption) gets a destroyed one,
/// so no process can create a live key for them later.
pub(crate) const DESTROY_DATA_KEY: &str = "INSERT INTO data_keys (subject, wrapped_key, master_key_id, created_at, destroyed_at) \
     VALUES ($1, NULL, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) \
     ON CONFLICT (subject) DO UPDATE SET wrapped_key = NULL, destroyed_at = CURRENT_TIMESTAMP";

/// sqlx reports statements slower than this...
pub(crate) const SLOW_STATEMENT: std::time::Duration = std::time::Duration::from_secs(1);
/// ...at debug level, not as warnings: the auditors' streamed reads of the whole log
/// ([`LogStorage::stream_canonical`]) are long by design. The database's own statement log
/// (PostgreSQL's `log_min_duration_statement`) is the tool for slow queries.
pub(crate) const SLOW_STATEMENT_LEVEL: tracing::log::LevelFilter = tracing::log::LevelFilter::Debug;

/// Converts a count or position for the database.
pub(crate) fn to_db(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt {
        position: 0,
        message: format!("{value} is out of range"),
    })
}

/// Converts a count or position from the database.
pub(crate) fn from_db(value: i64, position: u64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        position,
        message: format!("negative value {value}"),
    })
}

/// Reads a 32-byte hash column.
pub(crate) fn hash_from_db(bytes: Vec<u8>, position: u64) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        message: "a hash is not 32 bytes".into(),
    })
}

/// A pool of at most `max_connections` that waits `acquire_timeout` for a free connection and
/// pings one before use only if it sat idle for a while ([`ping_if_idle`]).
pub(crate) fn pool_options<DB: sqlx::Database>(
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .before_acquire(ping_if_idle::<DB>)
        .acquire_timeout(acquire_timeout)
}

/// Pings a pooled connection before use only if it sat idle for a while (a database restart
/// may have cut it). sqlx's default pings before *every* use: one more round trip per query.
fn ping_if_idle<DB: sqlx::Database>(
    connection: &mut DB::Connection,
    metadata: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if metadata.idle_for > std::time::Duration::from_secs(1) {
            sqlx::Connection::ping(connection).await?;
        }
        Ok(true)
    })
}
