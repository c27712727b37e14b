//! The projector: checkpoints, batches, live following, dead letters, rebuilds and lag.

use crate::sql::{self, Dialect, Names, Tx};
use crate::{ApplyError, Projection, Tables};
use chrono::{DateTime, Utc};
use eventstore::{Database, EventLog, RecordedEvent, StoreError};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// Up to where a rebuild goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Up to and including this position.
    Position(u64),
    /// Every event recorded at or before this time.
    Time(DateTime<Utc>),
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

/// An event a projection could not apply.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Its id.
    pub id: i64,
    /// The projection.
    pub projection: String,
    /// The event's position.
    pub position: i64,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The last error.
    pub error: String,
    /// How often it was tried.
    pub attempts: i32,
    /// When it was given up on.
    pub failed_at: DateTime<Utc>,
    /// `retried` or `skipped`, once an operator decided.
    pub resolution: Option<String>,
}

/// What a rebuild did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RebuildReport {
    /// The projection.
    pub name: String,
    /// Events applied.
    pub events: u64,
    /// The position the rebuilt tables are at.
    pub position: u64,
    /// How long it took.
    pub seconds: f64,
    /// Whether it replaced the live tables (false for a past view).
    pub swapped: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Checkpoint {
    position: i64,
    generation: String,
    schema: String,
    stopped_at: Option<i64>,
}

/// A rebuild in progress.
struct Rebuild {
    name: String,
    projection: Arc<dyn Projection>,
    /// Its own checkpoint (`<name>@rebuild` or `<name>@as_of`).
    checkpoint: String,
    generation: &'static str,
    schema: String,
}

enum Step {
    /// `events` applied, up to position `last`.
    Applied {
        last: u64,
        events: usize,
    },
    Idle,
    Stopped,
    Raced,
}

enum StepError {
    /// The database or the log could not be reached: try again, it is not the event's fault.
    Transient(ProjectorError),
    /// The batch starting at `first` failed.
    Failed {
        first: Box<RecordedEvent>,
        last: u64,
        error: ProjectorError,
    },
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

const REBUILD_SUFFIX: &str = "@rebuild";
/// How many recently read batches the followers share.
const SHARED_READS: usize = 8;
/// How long a SQLite follower lets new events gather after a wake-up.
const SQLITE_GATHER: Duration = Duration::from_millis(20);
/// How long a PostgreSQL follower lets new events gather after a wake-up, and how long any
/// follower gathers after a busy batch that ended short of the head it had seen.
const SHORT_GATHER: Duration = Duration::from_millis(5);
/// A batch of at least this many events (not full) says the log is busy: the follower then
/// gathers before its next step instead of stepping at once.
const BUSY_BATCH: usize = 8;
const AS_OF_SUFFIX: &str = "@as_of";
const AS_OF_GENERATION: &str = "asof";

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
    /// whose table definitions changed since they were built.
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

    /// Creates the tables of `generation` (dropping any left over), with their indexes unless
    /// `defer_indexes` (a rebuild loads first and indexes after: much faster).
    async fn create_tables(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
        defer_indexes: bool,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        let cascade = match self.inner.dialect {
            Dialect::Postgres => " CASCADE",
            Dialect::Sqlite => "",
        };
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            tx.execute(&format!("DROP TABLE IF EXISTS {name}{cascade}"), &[])
                .await?;
            let create = self
                .inner
                .dialect
                .ddl(&format!("CREATE TABLE {name} ({})", table.columns));
            tx.execute(&create, &[]).await?;
        }
        if !defer_indexes {
            self.create_indexes(tx, projection, generation).await?;
        }
        Ok(())
    }

    async fn create_indexes(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            for (suffix, columns) in table.indexes {
                let index = names.index(table.name, generation, suffix);
                let definition = match (columns.starts_with("USING "), self.inner.dialect) {
                    (false, _) => format!("({columns})"),
                    (true, Dialect::Postgres) => (*columns).to_owned(),
                    (true, Dialect::Sqlite) => continue,
                };
                tx.execute(
                    &format!("CREATE INDEX IF NOT EXISTS {index} ON {name} {definition}"),
                    &[],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn drop_tables(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let name = names.table(table.name, generation);
            tx.execute(&format!("DROP TABLE IF EXISTS {name}"), &[])
                .await?;
        }
        Ok(())
    }

    /// Points the stable views (or, for a past view, the `_as_of` views) at `generation`.
    async fn point_views(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        generation: &str,
        as_of: bool,
    ) -> Result<(), sqlx::Error> {
        let names = Names::new(self.inner.dialect);
        for table in projection.tables() {
            let view = if as_of {
                names.view(&format!("{}_as_of", table.name))
            } else {
                names.view(table.name)
            };
            let source = names.table(table.name, generation);
            tx.execute(&format!("DROP VIEW IF EXISTS {view}"), &[])
                .await?;
            tx.execute(
                &format!("CREATE VIEW {view} AS SELECT * FROM {source}"),
                &[],
            )
            .await?;
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

    /// Applies the next batch of events to the tables of checkpoint `name`, moving it in the
    /// same transaction.
    /// `known`: the checkpoint as this process last left it, if it trusts it: then it is not
    /// read again (the transaction still checks it, so a stale one only makes a race). On
    /// return, the checkpoint as this step left it, or `None` after a race or an error.
    async fn step(
        &self,
        projection: &dyn Projection,
        name: &str,
        batch_size: usize,
        until: Option<Until>,
        known: &mut Option<Checkpoint>,
    ) -> Result<Step, StepError> {
        let step = self
            .step_from(projection, name, batch_size, until, known.take())
            .await;
        if let Ok((Step::Applied { .. } | Step::Idle, checkpoint)) = &step {
            *known = Some(checkpoint.clone());
        }
        step.map(|(step, _)| step)
    }

    /// [`Self::step`], from `known` if given; with the checkpoint it leaves.
    async fn step_from(
        &self,
        projection: &dyn Projection,
        name: &str,
        batch_size: usize,
        until: Option<Until>,
        known: Option<Checkpoint>,
    ) -> Result<(Step, Checkpoint), StepError> {
        let transient = |error: ProjectorError| StepError::Transient(error);
        let mut checkpoint = match known {
            Some(known) => known,
            None => self
                .checkpoint(name)
                .await
                .map_err(|e| transient(e.into()))?
                .ok_or_else(|| {
                    transient(ProjectorError::Refused(format!(
                        "projection {name} has no checkpoint"
                    )))
                })?,
        };
        if checkpoint.stopped_at.is_some() {
            return Ok((Step::Stopped, checkpoint));
        }
        let position = u64::try_from(checkpoint.position).unwrap_or(0);
        let (batch, range) = match until {
            None => self.read_shared(position, batch_size).await,
            Some(_) => self
                .read_after(position, batch_size, until)
                .await
                .map(|events| {
                    let all = 0..events.len();
                    (Arc::new(events), all)
                }),
        }
        .map_err(|e| transient(e.into()))?;
        let step = self
            .apply_batch(projection, name, &checkpoint, &batch[range])
            .await?;
        if let Step::Applied { last, .. } = step {
            checkpoint.position = to_db(last);
        }
        Ok((step, checkpoint))
    }

    /// Up to `limit` events after `position`, from a batch another follower read and decoded
    /// lately if one holds the next event, else read (and kept for the others).
    async fn read_shared(
        &self,
        position: u64,
        limit: usize,
    ) -> Result<(Arc<Vec<RecordedEvent>>, std::ops::Range<usize>), StoreError> {
        let shared = || {
            self.inner.recent_reads.lock().ok().and_then(|recent| {
                recent.iter().find_map(|batch| {
                    let start = batch.partition_point(|event| event.global_position <= position);
                    let next = batch.get(start)?;
                    // The batch must hold the very next event, not a later one.
                    (start > 0 || next.global_position == position + 1)
                        .then(|| (batch.clone(), start..batch.len().min(start + limit)))
                })
            })
        };
        if let Some(shared) = shared() {
            return Ok(shared);
        }
        // Followers woken together would all read the same events: the first reads, the
        // others wait for it and take its batch.
        let _reading = self.inner.reading.lock().await;
        if let Some(shared) = shared() {
            return Ok(shared);
        }
        let events = Arc::new(self.read_after(position, limit, None).await?);
        if !events.is_empty()
            && let Ok(mut recent) = self.inner.recent_reads.lock()
        {
            if recent.len() >= SHARED_READS {
                recent.pop_front();
            }
            recent.push_back(events.clone());
        }
        let all = 0..events.len();
        Ok((events, all))
    }

    /// Up to `limit` events after `position`, none past `until`.
    async fn read_after(
        &self,
        position: u64,
        limit: usize,
        until: Option<Until>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.inner.log.read_all(position, limit).await?;
        match until {
            Some(Until::Position(last)) => events.retain(|e| e.global_position <= last),
            // Times never decrease along the log: stop at the first event after `time`.
            Some(Until::Time(time)) => {
                if let Some(cut) = events.iter().position(|e| e.recorded_at > time) {
                    events.truncate(cut);
                }
            }
            None => {}
        }
        Ok(events)
    }

    /// Applies `events` (which follow `checkpoint`) and moves checkpoint `name` past them, in one
    /// transaction; another writer having moved the checkpoint meanwhile makes it a race.
    async fn apply_batch(
        &self,
        projection: &dyn Projection,
        name: &str,
        checkpoint: &Checkpoint,
        events: &[RecordedEvent],
    ) -> Result<Step, StepError> {
        if events.is_empty() {
            return Ok(Step::Idle);
        }
        let mut tx = Tx::begin_derived(&self.inner.database)
            .await
            .map_err(|e| StepError::Transient(e.into()))?;
        let step = self
            .apply_in(&mut tx, projection, name, checkpoint, events)
            .await?;
        if let Step::Applied { .. } = step {
            tx.commit()
                .await
                .map_err(|e| StepError::Transient(e.into()))?;
            self.inner.progress.send_modify(|n| *n += 1);
            if events
                .iter()
                .any(|event| event.event_type == domain::user::USER_FORGOTTEN)
            {
                let tables = Tables::new(self.inner.dialect, &checkpoint.generation);
                let names = projection
                    .tables()
                    .iter()
                    .map(|table| tables.get(table.name))
                    .collect();
                self.inner.database.scrub_soon(names);
            }
        }
        Ok(step)
    }

    /// [`Self::apply_batch`] inside a transaction the caller commits.
    async fn apply_in(
        &self,
        tx: &mut Tx,
        projection: &dyn Projection,
        name: &str,
        checkpoint: &Checkpoint,
        events: &[RecordedEvent],
    ) -> Result<Step, StepError> {
        let transient = |error: ProjectorError| StepError::Transient(error);
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Step::Idle);
        };
        let last_position = last.global_position;
        let failed = |error: ProjectorError| StepError::Failed {
            first: Box::new(first.clone()),
            last: last_position,
            error,
        };
        // Moving the checkpoint first, only from where this batch starts, both checks that no
        // one else moved it and holds its row (or SQLite's write lock) until the commit.
        let moved = tx
            .execute(
                "UPDATE projection_checkpoints SET position = $2, updated_at = $3 \
                 WHERE name = $1 AND position = $4 AND generation = $5 AND stopped_at IS NULL",
                &[
                    name.into(),
                    to_db(last_position).into(),
                    Utc::now().into(),
                    checkpoint.position.into(),
                    checkpoint.generation.clone().into(),
                ],
            )
            .await
            .map_err(|e| transient(e.into()))?;
        if moved == 0 {
            return Ok(Step::Raced);
        }
        let tables = Tables::new(self.inner.dialect, &checkpoint.generation);
        if let Err(error) = projection.apply(tx, &tables, events).await {
            return Err(match error {
                ApplyError::Database(error) if is_transient(&error) => transient(error.into()),
                other => failed(other.into()),
            });
        }
        Ok(Step::Applied {
            last: last_position,
            events: events.len(),
        })
    }

    /// Follows the log with every projection until the returned set is dropped.
    pub fn spawn(&self) -> tokio::task::JoinSet<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for projection in &self.inner.projections {
            let projector = self.clone();
            let projection = projection.clone();
            tasks.spawn(async move { projector.follow(projection).await });
        }
        tasks
    }

    /// Keeps one projection up to date, forever.
    #[tracing::instrument(skip_all, fields(projection = projection.name()))]
    async fn follow(&self, projection: Arc<dyn Projection>) {
        let settings = &self.inner.settings;
        let mut head = self.inner.log.head_watch();
        let mut failures: u32 = 0;
        // After a batch failed, its events are applied one by one to find the one at fault.
        let mut careful_until: Option<u64> = None;
        // Where this follower left the checkpoint: read again only after something else may
        // have moved it.
        let mut known: Option<Checkpoint> = None;
        loop {
            head.borrow_and_update();
            let batch_size = if careful_until.is_some() {
                1
            } else {
                settings.batch_size
            };
            // The step runs as a task of its own, so that stopping the follower never cuts a
            // transaction short (a SQLite connection could go back to the pool still holding
            // the write lock).
            let step = {
                let projector = self.clone();
                let projection = projection.clone();
                let mut known = known.take();
                tokio::spawn(async move {
                    let step = projector
                        .step(
                            projection.as_ref(),
                            projection.name(),
                            batch_size,
                            None,
                            &mut known,
                        )
                        .await;
                    (step, known)
                })
            };
            let outcome;
            (outcome, known) = step.await.unwrap_or_else(|error| {
                let error = ProjectorError::Refused(format!("the step failed: {error}"));
                (Err(StepError::Transient(error)), None)
            });
            match outcome {
                Ok(Step::Applied { last, events }) => {
                    failures = 0;
                    if careful_until.is_some_and(|until| last >= until) {
                        careful_until = None;
                    }
                    // Under load, stepping again at once would chase the head a few events at
                    // a time, a transaction each: after a busy batch that was not full, wait
                    // and gather as if idle. Under a light load, chase: lag stays low. (On
                    // SQLite this once doubled the lag, while its writers met in SQLite's busy
                    // handler; now that they take turns, it keeps the followers' turns few:
                    // measured, see the README.)
                    if (BUSY_BATCH..batch_size).contains(&events) {
                        // A batch shared with another follower may end before the head this
                        // one already saw: then there is no wake-up to wait for.
                        if last < *head.borrow() {
                            tokio::time::sleep(SHORT_GATHER).await;
                        } else {
                            self.wait_and_gather(&mut head).await;
                        }
                    }
                }
                Ok(Step::Raced) => {}
                Ok(Step::Idle | Step::Stopped) => self.wait_and_gather(&mut head).await,
                Err(StepError::Transient(error)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "projection cannot reach the database; retrying");
                    tokio::time::sleep(backoff(settings, failures)).await;
                }
                Err(StepError::Failed { first, last, error }) => {
                    if batch_size > 1 {
                        tracing::warn!(%error, "a batch failed; applying its events one by one");
                        careful_until = Some(last);
                        continue;
                    }
                    failures = failures.saturating_add(1);
                    if failures < settings.max_attempts {
                        tracing::warn!(%error, failures, position = first.global_position, "an event failed; retrying");
                        tokio::time::sleep(backoff(settings, failures)).await;
                        continue;
                    }
                    tracing::error!(%error, position = first.global_position, "an event keeps failing: dead-lettered, projection stopped");
                    if let Err(error) = self
                        .dead_letter(projection.name(), &first, &error.to_string(), failures)
                        .await
                    {
                        tracing::warn!(%error, "cannot record the dead letter; retrying");
                        tokio::time::sleep(backoff(settings, failures)).await;
                        continue;
                    }
                    failures = 0;
                    careful_until = None;
                }
            }
        }
    }

    /// Waits for new events (or the poll interval), then lets a few commits gather, so that
    /// each follower reads, decodes and writes once for all of them: under load, a transaction
    /// per group commit per read model costs more than the commands. SQLite has one write lock,
    /// shared with the appender, so it waits longer.
    async fn wait_and_gather(&self, head: &mut watch::Receiver<u64>) {
        tokio::select! {
            _ = head.changed() => {}
            () = tokio::time::sleep(self.inner.settings.poll_interval) => {}
        }
        tokio::time::sleep(match self.inner.dialect {
            Dialect::Sqlite => SQLITE_GATHER,
            Dialect::Postgres => SHORT_GATHER,
        })
        .await;
    }

    async fn dead_letter(
        &self,
        name: &str,
        event: &RecordedEvent,
        error: &str,
        attempts: u32,
    ) -> Result<(), sqlx::Error> {
        let position = to_db(event.global_position);
        let mut tx = Tx::begin(&self.inner.database).await?;
        tx.execute(
            "INSERT INTO projection_dead_letters (projection, position, event_id, event_type, error, attempts, failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                name.into(),
                position.into(),
                event.event_id.to_string().into(),
                event.event_type.clone().into(),
                error.into(),
                i64::from(attempts).into(),
                Utc::now().into(),
            ],
        )
        .await?;
        tx.execute(
            "UPDATE projection_checkpoints SET stopped_at = $2, updated_at = $3 WHERE name = $1",
            &[name.into(), position.into(), Utc::now().into()],
        )
        .await?;
        tx.commit().await
    }

    /// Applies every event up to the head to every projection (the command line's way, and the
    /// tests'); returns at a projection that is stopped or failing.
    pub async fn catch_up(&self) -> Result<(), ProjectorError> {
        for projection in &self.inner.projections {
            let name = projection.name();
            let mut known = None;
            loop {
                match self
                    .step(
                        projection.as_ref(),
                        name,
                        self.inner.settings.batch_size,
                        None,
                        &mut known,
                    )
                    .await
                {
                    Ok(Step::Applied { .. } | Step::Raced) => {}
                    Ok(Step::Idle) => break,
                    Ok(Step::Stopped) => {
                        return Err(ProjectorError::Refused(format!(
                            "projection {name} is stopped at a dead letter"
                        )));
                    }
                    Err(StepError::Transient(error) | StepError::Failed { error, .. }) => {
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    }

    /// Replays the log into fresh tables. Without `until` the fresh tables replace the live
    /// ones in one transaction once they caught up (queries keep answering meanwhile); with it,
    /// they become the projection's past view (`<table>_as_of`) and the live tables stay.
    /// `progress` is told (position, head) after each batch.
    pub async fn rebuild(
        &self,
        name: &str,
        until: Option<Until>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<RebuildReport, ProjectorError> {
        self.rebuild_many(&[name], until, progress)
            .await?
            .pop()
            .ok_or_else(|| ProjectorError::Refused(format!("nothing rebuilt for {name}")))
    }

    /// Rebuilds every projection in one pass over the log.
    pub async fn rebuild_all(
        &self,
        until: Option<Until>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<RebuildReport>, ProjectorError> {
        self.rebuild_many(&self.names(), until, progress).await
    }

    /// Rebuilds `names` together: each batch of the log is read and decoded once, then applied
    /// to every projection's fresh tables at once (a transaction each, on its own connection).
    #[tracing::instrument(skip(self, progress))]
    async fn rebuild_many(
        &self,
        names: &[&str],
        until: Option<Until>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Vec<RebuildReport>, ProjectorError> {
        let started = Instant::now();
        let mut works = Vec::with_capacity(names.len());
        for name in names {
            works.push(self.start_rebuild(name, until).await?);
        }
        let head = self.inner.log.head().await?.position;
        let batch_size = self.inner.settings.batch_size;
        let mut position = 0;
        let mut events = self.read_after(position, batch_size, until).await?;
        while let Some(last) = events.last() {
            let last = last.global_position;
            let checkpoint = |work: &Rebuild| Checkpoint {
                position: to_db(position),
                generation: work.generation.to_owned(),
                schema: work.schema.clone(),
                stopped_at: None,
            };
            let outcome = |work: &Rebuild, step: Result<Step, StepError>| match step {
                Ok(Step::Applied { .. } | Step::Idle) => Ok(()),
                Ok(Step::Raced | Step::Stopped) => Err(ProjectorError::Refused(format!(
                    "another rebuild of {} is running",
                    work.name
                ))),
                Err(StepError::Transient(error) | StepError::Failed { error, .. }) => Err(error),
            };
            let apply = async {
                match self.inner.dialect {
                    // One writer at a time: one transaction (one sync) for every projection.
                    Dialect::Sqlite => {
                        let mut tx = Tx::begin(&self.inner.database).await?;
                        for work in &works {
                            let step = self
                                .apply_in(
                                    &mut tx,
                                    work.projection.as_ref(),
                                    &work.checkpoint,
                                    &checkpoint(work),
                                    &events,
                                )
                                .await;
                            outcome(work, step)?;
                        }
                        tx.commit().await?;
                    }
                    // Each projection on its own connection, at once: the server's work overlaps.
                    Dialect::Postgres => {
                        let applied = works.iter().map(|work| {
                            let events = &events;
                            let checkpoint = checkpoint(work);
                            async move {
                                let step = self
                                    .apply_batch(
                                        work.projection.as_ref(),
                                        &work.checkpoint,
                                        &checkpoint,
                                        events,
                                    )
                                    .await;
                                outcome(work, step)
                            }
                        });
                        futures::future::try_join_all(applied).await?;
                    }
                }
                Ok::<_, ProjectorError>(())
            };
            // The next batch is read and decoded while this one is applied: the database's
            // work on one overlaps ours on the other, and, as a task of its own, decoding
            // (decrypting) runs on another core than the applying.
            let reading = {
                let projector = self.clone();
                tokio::spawn(async move { projector.read_after(last, batch_size, until).await })
            };
            let (applied, next) = tokio::join!(apply, reading);
            applied?;
            position = last;
            progress(position, head.max(position));
            events = next.map_err(|error| {
                ProjectorError::Refused(format!("reading the next batch failed: {error}"))
            })??;
        }
        let mut reports = Vec::with_capacity(works.len());
        for work in works {
            // Indexed once loaded; outside the swap, so queries wait only for the swap itself.
            let mut tx = Tx::begin(&self.inner.database).await?;
            self.create_indexes(&mut tx, work.projection.as_ref(), work.generation)
                .await?;
            if until.is_some() {
                self.point_views(&mut tx, work.projection.as_ref(), work.generation, true)
                    .await?;
                tx.commit().await?;
                reports.push(RebuildReport {
                    name: work.name.clone(),
                    events: position,
                    position,
                    seconds: started.elapsed().as_secs_f64(),
                    swapped: false,
                });
                continue;
            }
            tx.commit().await?;
            let swapped_at = self.swap(&work, position).await?;
            reports.push(RebuildReport {
                name: work.name.clone(),
                events: swapped_at,
                position: swapped_at,
                seconds: started.elapsed().as_secs_f64(),
                swapped: true,
            });
        }
        Ok(reports)
    }

    /// Creates a rebuild's fresh tables (indexes come after the load) and its checkpoint.
    async fn start_rebuild(
        &self,
        name: &str,
        until: Option<Until>,
    ) -> Result<Rebuild, ProjectorError> {
        let projection = self.find(name)?;
        let schema = fingerprint(projection.as_ref());
        let live = self
            .checkpoint(name)
            .await?
            .ok_or_else(|| ProjectorError::Refused(format!("projection {name} is not prepared")))?;
        let (checkpoint, generation) = match until {
            Some(_) => (format!("{name}{AS_OF_SUFFIX}"), AS_OF_GENERATION),
            None if live.generation == "a" => (format!("{name}{REBUILD_SUFFIX}"), "b"),
            None => (format!("{name}{REBUILD_SUFFIX}"), "a"),
        };
        let until_time = match until {
            Some(Until::Time(time)) => Some(time),
            _ => None,
        };
        let mut tx = Tx::begin(&self.inner.database).await?;
        self.create_tables(&mut tx, projection.as_ref(), generation, true)
            .await?;
        tx.execute(
            "INSERT INTO projection_checkpoints (name, position, generation, schema, until_time, updated_at) \
             VALUES ($1, 0, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET position = 0, generation = excluded.generation, \
             schema = excluded.schema, stopped_at = NULL, until_time = excluded.until_time, updated_at = excluded.updated_at",
            &[
                checkpoint.clone().into(),
                generation.into(),
                schema.clone().into(),
                until_time.into(),
                Utc::now().into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Rebuild {
            name: name.to_owned(),
            projection,
            checkpoint,
            generation,
            schema,
        })
    }

    /// Makes a rebuild's tables the live ones: with the live checkpoint locked (the live
    /// projector waits), applies what was appended since `position`, then repoints the views and
    /// drops the old tables, all in one transaction. Returns the position it is live at.
    async fn swap(&self, work: &Rebuild, mut position: u64) -> Result<u64, ProjectorError> {
        let name = work.name.as_str();
        let projection = work.projection.as_ref();
        let mut tx = Tx::begin(&self.inner.database).await?;
        let live = self
            .lock_checkpoint(&mut tx, name)
            .await?
            .ok_or_else(|| ProjectorError::Refused(format!("projection {name} vanished")))?;
        let tables = Tables::new(self.inner.dialect, work.generation);
        loop {
            let events = self
                .inner
                .log
                .read_all(position, self.inner.settings.batch_size)
                .await?;
            let Some(last) = events.last() else { break };
            position = last.global_position;
            projection.apply(&mut tx, &tables, &events).await?;
        }
        tx.execute(
            "UPDATE projection_checkpoints SET position = $2, generation = $3, schema = $4, stopped_at = NULL, updated_at = $5 WHERE name = $1",
            &[
                name.into(),
                to_db(position).into(),
                work.generation.into(),
                work.schema.clone().into(),
                Utc::now().into(),
            ],
        )
        .await?;
        tx.execute(
            "DELETE FROM projection_checkpoints WHERE name = $1",
            &[work.checkpoint.clone().into()],
        )
        .await?;
        tx.execute(
            "UPDATE projection_dead_letters SET resolution = 'rebuilt', resolved_at = $2 WHERE projection = $1 AND resolution IS NULL",
            &[name.into(), Utc::now().into()],
        )
        .await?;
        self.point_views(&mut tx, projection, work.generation, false)
            .await?;
        self.drop_tables(&mut tx, projection, &live.generation)
            .await?;
        tx.commit().await?;
        self.inner.progress.send_modify(|n| *n += 1);
        Ok(position)
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

    /// Dead letters, newest first (only unresolved ones unless `all`).
    pub async fn dead_letters(&self, all: bool) -> Result<Vec<DeadLetter>, ProjectorError> {
        let filter = if all { "" } else { " WHERE resolution IS NULL" };
        Ok(sql::fetch_all(
            &self.inner.database,
            &format!("SELECT id, projection, position, event_id, event_type, error, attempts, failed_at, resolution FROM projection_dead_letters{filter} ORDER BY id DESC"),
            &[],
        )
        .await?)
    }

    /// Lets a stopped projection try its dead-lettered event again.
    pub async fn retry(&self, name: &str) -> Result<(), ProjectorError> {
        self.find(name)?;
        let mut tx = Tx::begin(&self.inner.database).await?;
        let checkpoint = self.lock_checkpoint(&mut tx, name).await?;
        if checkpoint.and_then(|c| c.stopped_at).is_none() {
            return Err(ProjectorError::Refused(format!(
                "projection {name} is not stopped"
            )));
        }
        self.resolve(&mut tx, name, "retried").await?;
        tx.execute(
            "UPDATE projection_checkpoints SET stopped_at = NULL, updated_at = $2 WHERE name = $1",
            &[name.into(), Utc::now().into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a stopped projection past its dead-lettered event without applying it; returns
    /// the position skipped.
    pub async fn skip(&self, name: &str) -> Result<u64, ProjectorError> {
        self.find(name)?;
        let mut tx = Tx::begin(&self.inner.database).await?;
        let checkpoint = self.lock_checkpoint(&mut tx, name).await?;
        let Some((position, stopped_at)) =
            checkpoint.and_then(|c| c.stopped_at.map(|s| (c.position, s)))
        else {
            return Err(ProjectorError::Refused(format!(
                "projection {name} is not stopped"
            )));
        };
        if position + 1 != stopped_at {
            return Err(ProjectorError::Refused(format!(
                "projection {name} is at {position}, not right before {stopped_at}"
            )));
        }
        self.resolve(&mut tx, name, "skipped").await?;
        tx.execute(
            "UPDATE projection_checkpoints SET position = $2, stopped_at = NULL, updated_at = $3 WHERE name = $1",
            &[name.into(), stopped_at.into(), Utc::now().into()],
        )
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(stopped_at).unwrap_or(0))
    }

    async fn resolve(&self, tx: &mut Tx, name: &str, how: &str) -> Result<(), sqlx::Error> {
        tx.execute(
            "UPDATE projection_dead_letters SET resolution = $2, resolved_at = $3 WHERE projection = $1 AND resolution IS NULL",
            &[name.into(), how.into(), Utc::now().into()],
        )
        .await?;
        Ok(())
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

/// Whether a database error says nothing about the event (a lost connection, a full pool).
fn is_transient(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
    )
}

/// Exponential backoff with full jitter.
fn backoff(settings: &ProjectorSettings, failures: u32) -> Duration {
    backoff_delay(settings.retry_base, settings.retry_cap, failures)
}

/// The wait before attempt `failures + 1`: `base` doubled per failure up to `cap`, with jitter
/// (between half and all of it), so that retries of many failures spread out.
pub fn backoff_delay(base: Duration, cap: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(rand::thread_rng().gen_range(millis / 2..=millis))
}

/// A fingerprint of a projection's table definitions.
fn fingerprint(projection: &dyn Projection) -> String {
    let mut hasher = Sha256::new();
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
