//! idlog's workers: reactions to events (the user's object-storage folders, emails, SMS codes).
//!
//! Delivery is at least once. A [`Worker`] says which events it wants and handles one at a time;
//! its effects are idempotent (they converge on what the log says now), so an event delivered
//! twice does no harm. The [`runner`] feeds each worker the log from its own checkpoint (the
//! embedded bus: an in-process subscription), retries a failing event with exponential backoff
//! and jitter, and after the configured attempts records it as a dead letter and goes on: one
//! poison event holds up the others only for its retries.

pub mod deliveries;
pub mod email;
pub mod kafka;
pub mod runner;
pub mod sms;
pub mod storage;
pub mod wallets;

pub use runner::{Bus, WorkerDeadLetter, WorkerRunner, WorkerSettings};

use async_trait::async_trait;
use eventstore::RecordedEvent;

/// Why a worker could not handle an event.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Object storage failed.
    #[error(transparent)]
    Objects(#[from] objects::ObjectError),
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] eventstore::StoreError),
    /// Kafka failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}

/// A reaction to events.
#[async_trait]
pub trait Worker: Send + Sync + 'static {
    /// Stable name: the checkpoint's key, the consumer group's name.
    fn name(&self) -> &'static str;

    /// Whether the worker reacts to `event` (a cheap look at its type).
    fn wants(&self, event: &RecordedEvent) -> bool;

    /// Does what `event` calls for. Must be idempotent: it may run again for the same event.
    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkerError>;

    /// How many effects a Kafka consumer of this worker runs at once (each stream's still one
    /// after another, in order). A crash repeats every effect running at that moment whose
    /// record was not written yet: an effect idempotent by nature (an object written again)
    /// may run many at once; one that hands something to another server (a message) keeps
    /// the default, one, so a crash can repeat at most one.
    fn concurrency(&self) -> usize {
        1
    }

    /// The runner gave up on `event` (it is dead-lettered): a chance to record that.
    async fn gave_up(&self, _event: &RecordedEvent) -> Result<(), WorkerError> {
        Ok(())
    }
}
