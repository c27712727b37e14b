//! Following the log: each projection applies batches of new events and moves its checkpoint in
//! the same transaction, live (woken by appends, gathering a few commits at a time) or to the
//! head at once (`catch_up`); an event that keeps failing is dead-lettered and stops its
//! projection.

use super::{Checkpoint, Projector, ProjectorError, ProjectorSettings, Until, to_db};
use crate::{ApplyError, Projection, Tables};
use chrono::Utc;
use eventstore::sql::{Dialect, Tx};
use eventstore::{RecordedEvent, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

/// What a step did.
pub(super) enum Step {
    /// `events` applied, up to position `last`.
    Applied {
        last: u64,
        events: usize,
    },
    Idle,
    Stopped,
    Raced,
}

/// Why a step did not apply its batch.
pub(super) enum StepError {
    /// The database or the log could not be reached: try again, it is not the event's fault.
    Transient(ProjectorError),
    /// The batch starting at `first` failed.
    Failed {
        first: Box<RecordedEvent>,
        last: u64,
        error: ProjectorError,
    },
}

impl Projector {
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
    pub(super) async fn read_after(
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
    pub(super) async fn apply_batch(
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
    pub(super) async fn apply_in(
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
                    // and gather as if idle. Under a light load, chase: lag stays low. On
                    // SQLite it keeps the followers' turns at the write lock few (see
                    // docs/benchmarks.md, "Live read-model lag").
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
    eventstore::backoff::delay(settings.retry_base, settings.retry_cap, failures)
}
