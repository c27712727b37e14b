//! idlog's event log: an append-only, hash-chained log of events with optimistic concurrency,
//! unique-value claims and idempotency keys, on PostgreSQL or a SQLite file.
//!
//! - Appends are serialized, so `global_position` is gap-free and equal to commit order; a
//!   reader can never pass an event that commits later with a smaller position.
//! - Throughput comes from group commit ([`appender`]): concurrent appends share a transaction,
//!   each still checked and accepted or refused on its own.
//! - Each event's SHA-256 covers its canonical bytes and the previous hash ([`chain`]).
//! - Personal data passes through one codec ([`codec`]), encrypted per person ([`encryption`]);
//!   old schemas are upcast on read ([`upcast`]).
//! - Reads are written once for both databases ([`storage::LogReads`]); so are the statements of
//!   the crates that keep their own tables next to the log ([`sql`]).

mod appender;
pub mod backoff;
pub mod chain;
mod changes;
pub mod codec;
pub mod encryption;
mod error;
mod log;
mod model;
pub mod postgres;
mod queries;
pub mod sql;
pub mod sqlite;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upcast;

pub use changes::{ChangeObserver, StreamChange};
pub use error::{AppendError, StoreError};
pub use log::{
    ChainReport, EventLog, EventLogBuilder, READ_BATCH, SubscribedJson, Subscription, VERIFY_BATCH,
};
pub use model::{
    Actor, ActorKind, AppendRequest, Appended, CanonicalJson, Claim, EventMetadata,
    ExpectedVersion, Head, IdempotencyKey, IdempotencyRecord, NewEvent, RecordedEvent,
};

use crate::error::DbContext;
use std::sync::Arc;

/// The largest log position there can be: positions are stored as signed 64-bit integers, so a
/// position asked for beyond it is a bad request, not one to wait for.
pub const MAX_POSITION: u64 = i64::MAX as u64;

/// The database behind a log, for the crates that keep their own tables next to it.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// A SQLite file.
    Sqlite(sqlx::SqlitePool),
}

impl Database {
    /// Takes erased personal data out of the disk's reach once the rows that held it changed
    /// (`tables`, by their names in this database). On SQLite, whose freed space is zeroed
    /// (`secure_delete`), the write-ahead log with the old page images is folded in and
    /// emptied. On PostgreSQL the tables are vacuumed, so their dead row versions are pruned;
    /// freed space is not overwritten there, and WAL archives and backups keep old pages (see
    /// the privacy documentation).
    #[tracing::instrument(skip(self))]
    pub async fn scrub(&self, tables: &[String]) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                if !sqlite::truncate_wal(pool, SCRUB_PATIENCE).await? {
                    tracing::warn!(
                        "readers kept the write-ahead log from being emptied for {SCRUB_PATIENCE:?}; \
                         erased data stays in it until the next checkpoint"
                    );
                }
            }
            Self::Postgres(pool) => {
                for table in tables {
                    // Names come from code, never from a request; VACUUM takes no parameters.
                    sqlx::query(&format!("VACUUM {table}"))
                        .execute(pool)
                        .await
                        .context("vacuuming a table that held erased data")?;
                }
            }
        }
        Ok(())
    }

    /// [`Self::scrub`] in the background: erasing is done, what is left is housekeeping, and a
    /// failure is logged.
    pub fn scrub_soon(&self, tables: Vec<String>) {
        let database = self.clone();
        tokio::spawn(async move {
            if let Err(error) = database.scrub(&tables).await {
                tracing::warn!(%error, "scrubbing erased data failed");
            }
        });
    }
}

/// How long a scrub waits for SQLite's readers to let the write-ahead log be emptied.
const SCRUB_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// An opened log and its database.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The log.
    pub log: EventLog,
    /// Its database.
    pub database: Database,
}

/// Opens the log at `url` (`postgres://...` or `sqlite:PATH`), migrating the schema first.
pub async fn open(url: &str, max_connections: u32) -> Result<Opened, StoreError> {
    open_with(url, max_connections, |builder| builder).await
}

/// Opens the log at `url`, letting the caller set the codec and upcasters.
pub async fn open_with(
    url: &str,
    max_connections: u32,
    configure: impl FnOnce(EventLogBuilder) -> EventLogBuilder,
) -> Result<Opened, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let storage = postgres::PostgresStorage::connect(url, max_connections).await?;
        storage.migrate().await?;
        let database = Database::Postgres(storage.pool().clone());
        let listener = storage.clone();
        let log = configure(EventLog::builder(Arc::new(storage)))
            .wake_ups(move |head_tx| listener.listen(head_tx))
            .build()
            .await?;
        Ok(Opened { log, database })
    } else if url.starts_with("sqlite:") {
        let storage = sqlite::SqliteStorage::open(url, max_connections).await?;
        storage.migrate().await?;
        let database = Database::Sqlite(storage.pool().clone());
        let log = configure(EventLog::builder(Arc::new(storage)))
            .build()
            .await?;
        Ok(Opened { log, database })
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

impl Database {
    /// Closes every connection: what is in flight finishes, anything after fails.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }

    /// Records `value` under `name` unless a value is there already; returns the stored value.
    pub async fn settle_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sql::execute(
            self,
            "INSERT INTO idlog_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[name.into(), value.into()],
        )
        .await
        .context("settling a setting")?;
        let stored: Option<(String,)> = sql::fetch_optional(
            self,
            "SELECT value FROM idlog_settings WHERE name = $1",
            &[name.into()],
        )
        .await
        .context("settling a setting")?;
        stored.map(|(value,)| value).ok_or(StoreError::Database {
            context: "settling a setting",
            cause: sqlx::Error::RowNotFound,
        })
    }
}

/// A database URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://idlog:s3cret@db:5432/idlog"),
            "postgres://idlog:***@db:5432/idlog"
        );
        assert_eq!(
            redact_url("postgres://idlog@db/idlog"),
            "postgres://idlog@db/idlog"
        );
        assert_eq!(
            redact_url("sqlite:./idlog-data/idlog.db"),
            "sqlite:./idlog-data/idlog.db"
        );
    }
}
