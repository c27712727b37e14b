//! idlog's read side: the projector and the read models with their queries.
//!
//! A [`Projection`] folds events into its own tables. The [`Projector`] feeds it the log in
//! batches and moves its checkpoint in the same transaction as its writes, so a crash at any
//! point neither loses nor repeats an event; it follows the log live, stops a projection at an
//! event that keeps failing (dead letters), and rebuilds a projection into fresh tables that are
//! swapped in whole.
//!
//! Every read-model table exists in generations (`users_a`, `users_b`, `users_asof`): the live
//! one, the one a rebuild fills, and a past view. Queries and analysts read stable views
//! (`analytics.users` on PostgreSQL) that a swap repoints in one transaction.

pub mod activity;
pub mod analytics;
pub mod devices;
pub mod directory;
mod events;
pub mod names;
pub mod partners;
mod projector;
pub mod queries;
pub mod sessions;

pub use events::Fact;
pub use projector::{
    DeadLetter, LagReport, Projector, ProjectorError, ProjectorSettings, RebuildReport, Status,
    Until,
};

use async_trait::async_trait;
use eventstore::RecordedEvent;
use eventstore::sql::{Dialect, Tx};
use names::Names;
use std::sync::Arc;

/// A read-model table: its name, columns (DDL with `{time}`, `{date}`, `{json}`, `{int}`,
/// `{bool}` type placeholders) and indexes.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The name, unique among all projections.
    pub name: &'static str,
    /// Column and constraint definitions, between the parentheses of `CREATE TABLE`.
    pub columns: &'static str,
    /// Indexes: a name suffix and the indexed expression list, or a clause starting with
    /// `USING` for a PostgreSQL-only index (left out on SQLite).
    pub indexes: &'static [(&'static str, &'static str)],
}

/// The tables of one generation of a projection, by name.
#[derive(Debug, Clone)]
pub struct Tables {
    names: Names,
    generation: String,
}

impl Tables {
    /// The tables of `generation` on `dialect`.
    pub fn new(dialect: Dialect, generation: &str) -> Self {
        Self {
            names: Names::new(dialect),
            generation: generation.to_owned(),
        }
    }

    /// The qualified name of table `name` in this generation.
    pub fn get(&self, name: &str) -> String {
        self.names.table(name, &self.generation)
    }
}

/// Why a batch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An event cannot be applied (it does not parse, or breaks what the model expects).
    #[error("event at position {position} cannot be applied: {message}")]
    Event {
        /// Where.
        position: u64,
        /// Why.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A read model folded from the log.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint's key and the command line's argument.
    fn name(&self) -> &'static str;

    /// Its tables.
    fn tables(&self) -> &'static [Table];

    /// The revision of how it folds events: raising it rebuilds the read model at the next
    /// start, as a change to its tables does, so that logs already folded are folded anew.
    fn revision(&self) -> u32 {
        1
    }

    /// Applies `events` (consecutive, in order, each after the checkpoint) to `tables`, inside
    /// the transaction that will also move the checkpoint.
    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError>;
}

/// Every read model idlog keeps.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(directory::Directory),
        Arc::new(sessions::Sessions),
        Arc::new(activity::Activity),
        Arc::new(analytics::Analytics),
        Arc::new(devices::Devices),
        Arc::new(partners::Partners),
    ]
}
