//! The projector: runs projections, keeping each one's tables in step with the log. Its
//! checkpoints and status live here; following the log live, rebuilding, dead letters and the
//! tables of each generation have modules of their own.

mod dead_letters;
mod following;
mod rebuilding;
mod tables;

pub use dead_letters::DeadLetter;
pub use rebuilding::{RebuildReport, Until};

use crate::{ApplyError, Projection};
use chrono::Utc;
use eventstore::sql::{self, Dialect, Tx};
use eventstore::{Database, EventLog, RecordedEvent, StoreError};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How the projector works.
#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// Events applied per transaction.
    pub batch_size: usize,
    /// Attempts at one event before it goes to the dead letters and its projection stops.
    pub max_attempts: u32,
    /// First wait after a failure; doubled each time (with jitter), up to `retry_cap`.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_cap: Duration,
    /// How often followers look for new events without a wake-up (appends by another process
    /// on SQLite send none).
    pub poll_interval: Duration,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_attempts: 5,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// Why the projector could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// There is no projection of that name.
    #[error("there is no projection named {0:?} (known: {1})")]
    Unknown(String, String),
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read-model database failed.
    #[error("read models: {0}")]
    Database(#[from] sqlx::Error),
    /// An event could not be applied.
    #[error(transparent)]
    Apply(ApplyError),
    /// The operator's request does not fit the projection's state.
    #[error("{0}")]
    Refused(String),
}

impl From<ApplyError> for ProjectorError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Database(error) => Self::Database(error),
            other => Self::Apply(other),
        }
    }
}

/// A projection's state, for operators and readiness.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The projection.
    pub name: String,
    /// The last position applied.
    pub position: u64,
    /// The log's head.
    pub head: u64,
    /// Events not applied yet.
    pub lag: u64,
    /// Age of the oldest event not applied yet, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// The position of the event it stopped at, waiting for an operator.
    pub stopped_at: Option<u64>,
    /// Dead letters no operator has resolved.
    pub open_dead_letters: u64,
    /// The live generation of its tables.
    pub generation: String,
}

/// Lag of every projection.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LagReport {
    /// Per projection.
    pub projections: Vec<Status>,
}

impl LagReport {
    /// The largest lag in events.
    pub fn max_lag(&self) -> u64 {
        self.projections.iter().map(|p| p.lag).max().unwrap_or(0)
    }

    /// Whether any projection is stopped at a dead letter.
    pub fn any_stopped(&self) -> bool {
        self.projections.iter().any(|p| p.stopped_at.is_some())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Checkpoint {
    position: i64,
    generation: String,
    schema: String,
    stopped_at: Option<i64>,
}

/// Runs projections: keeps each one's tables in step with the log.
#[derive(Clone)]
pub struct Projector {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    log: EventLog,
    projections: Vec<Arc<dyn Projection>>,
    settings: ProjectorSettings,
    dialect: Dialect,
    /// Bumped after every commit of this process's projector, to wake `wait_for`.
    progress: watch::Sender<u64>,
    /// The last batches the followers read and decoded, oldest first: the other followers,
    /// woken by the same commits, usually need the same events next.
    recent_reads: std::sync::Mutex<VecDeque<Arc<Vec<RecordedEvent>>>>,
    /// Held while a follower reads for the others: one read per batch, not one per follower.
    reading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("projections", &self.names())
            .finish_non_exhaustive()
    }
}

impl Projector {
    /// A projector for `projections`, reading `log` and writing to `database`.
    pub fn new(
        database: Database,
        log: EventLog,
        projections: Vec<Arc<dyn Projection>>,
        settings: ProjectorSettings,
    ) -> Self {
        let dialect = Dialect::of(&database);
        Self {
            inner: Arc::new(Inner {
                database,
                log,
                projections,
                settings,
                dialect,
                progress: watch::Sender::new(0),
                recent_reads: std::sync::Mutex::new(VecDeque::new()),
                reading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The projections' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.inner.projections.iter().map(|p| p.name()).collect()
    }

    /// The database the read models live in.
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    fn find(&self, name: &str) -> Result<Arc<dyn Projection>, ProjectorError> {
        self.inner
            .projections
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .ok_or_else(|| ProjectorError::Unknown(name.to_owned(), self.names().join(", ")))
    }

    /// Creates the tables and checkpoint of every projection that has none, and rebuilds those
    /// whose table definitions or revision changed since they were built.
    #[tracing::instrument(skip(self))]
    pub async fn prepare(&self) -> Result<(), ProjectorError> {
        for projection in &self.inner.projections {
            let schema = fingerprint(projection.as_ref());
            let mut tx = Tx::begin(&self.inner.database).await?;
            let inserted = tx
                .execute(
                    "INSERT INTO projection_checkpoints (name, position, generation, schema, updated_at) \
                     VALUES ($1, 0, 'a', $2, $3) ON CONFLICT (name) DO NOTHING",
                    &[projection.name().into(), schema.clone().into(), Utc::now().into()],
                )
                .await?;
            if inserted == 1 {
                self.create_tables(&mut tx, projection.as_ref(), "a", false)
                    .await?;
                self.point_views(&mut tx, projection.as_ref(), "a", false)
                    .await?;
                tx.commit().await?;
                continue;
            }
            tx.commit().await?;
            let checkpoint = self.checkpoint(projection.name()).await?;
            if checkpoint.is_some_and(|c| c.schema != schema) {
                tracing::info!(
                    projection = projection.name(),
                    "table definitions changed: rebuilding"
                );
                self.rebuild(projection.name(), None, &|_, _| {}).await?;
            }
        }
        Ok(())
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, sqlx::Error> {
        sql::fetch_optional(
            &self.inner.database,
            "SELECT position, generation, schema, stopped_at FROM projection_checkpoints WHERE name = $1",
            &[name.into()],
        )
        .await
    }

    async fn lock_checkpoint(
        &self,
        tx: &mut Tx,
        name: &str,
    ) -> Result<Option<Checkpoint>, sqlx::Error> {
        let lock = match tx.dialect() {
            Dialect::Postgres => " FOR UPDATE",
            // The transaction began IMMEDIATE: it holds the database's write lock already.
            Dialect::Sqlite => "",
        };
        Ok(tx
            .fetch_all::<Checkpoint>(
                &format!("SELECT position, generation, schema, stopped_at FROM projection_checkpoints WHERE name = $1{lock}"),
                &[name.into()],
            )
            .await?
            .into_iter()
            .next())
    }

    /// Each projection's position, lag and state.
    #[tracing::instrument(skip(self))]
    pub async fn status(&self) -> Result<LagReport, ProjectorError> {
        let head = self.inner.log.head().await?.position;
        let mut projections = Vec::new();
        for projection in &self.inner.projections {
            let name = projection.name();
            let Some(checkpoint) = self.checkpoint(name).await? else {
                continue;
            };
            let position = u64::try_from(checkpoint.position).unwrap_or(0);
            let lag = head.saturating_sub(position);
            let lag_seconds = if lag == 0 {
                0.0
            } else {
                self.inner
                    .log
                    .read_all_stored(position, 1)
                    .await?
                    .first()
                    .map_or(0.0, |oldest| {
                        (Utc::now() - oldest.recorded_at)
                            .to_std()
                            .unwrap_or_default()
                            .as_secs_f64()
                    })
            };
            let open: Vec<(i64,)> = sql::fetch_all(
                &self.inner.database,
                "SELECT count(*) FROM projection_dead_letters WHERE projection = $1 AND resolution IS NULL",
                &[name.into()],
            )
            .await?;
            projections.push(Status {
                name: name.to_owned(),
                position,
                head,
                lag,
                lag_seconds,
                stopped_at: checkpoint.stopped_at.and_then(|p| u64::try_from(p).ok()),
                open_dead_letters: open
                    .first()
                    .and_then(|(n,)| u64::try_from(*n).ok())
                    .unwrap_or(0),
                generation: checkpoint.generation,
            });
        }
        Ok(LagReport { projections })
    }

    /// Waits until every projection named (all when empty) has applied `position`, or `timeout`
    /// passed; returns whether they did.
    pub async fn wait_for(
        &self,
        position: u64,
        names: &[&str],
        timeout: Duration,
    ) -> Result<bool, ProjectorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut progress = self.inner.progress.subscribe();
        let names: Vec<&str> = if names.is_empty() {
            self.names()
        } else {
            names.to_vec()
        };
        loop {
            progress.borrow_and_update();
            let mut reached = true;
            for name in &names {
                let at = self.checkpoint(name).await?.map_or(0, |c| c.position);
                if u64::try_from(at).unwrap_or(0) < position {
                    reached = false;
                    break;
                }
            }
            if reached {
                return Ok(true);
            }
            // Another process's projector sends no wake-up: look again soon regardless.
            let poll = tokio::time::sleep(Duration::from_millis(20));
            tokio::select! {
                _ = progress.changed() => {}
                () = poll => {}
                () = tokio::time::sleep_until(deadline) => return Ok(false),
            }
        }
    }
}

/// A fingerprint of a projection's table definitions and revision.
fn fingerprint(projection: &dyn Projection) -> String {
    let mut hasher = Sha256::new();
    // The first revision adds nothing, so read models built before revisions existed keep
    // their fingerprint.
    if projection.revision() > 1 {
        hasher.update(projection.revision().to_be_bytes());
    }
    for table in projection.tables() {
        hasher.update(table.name);
        hasher.update([0]);
        hasher.update(table.columns);
        for (suffix, columns) in table.indexes {
            hasher.update([0]);
            hasher.update(suffix);
            hasher.update([0]);
            hasher.update(columns);
        }
        hasher.update([1]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// A position as stored.
pub(crate) fn to_db(position: u64) -> i64 {
    i64::try_from(position).unwrap_or(i64::MAX)
}
