//! Rebuilding: a projection replayed from the start of the log into fresh tables, which then
//! replace the live ones in one transaction, or become its past view (up to a position or a
//! time).

use super::following::{Step, StepError};
use super::{Checkpoint, Projector, ProjectorError, fingerprint, to_db};
use crate::{Projection, Tables};
use chrono::{DateTime, Utc};
use eventstore::sql::{Dialect, Tx};
use std::sync::Arc;
use std::time::Instant;

/// Up to where a rebuild goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Up to and including this position.
    Position(u64),
    /// Every event recorded at or before this time.
    Time(DateTime<Utc>),
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

/// A rebuild in progress.
struct Rebuild {
    name: String,
    projection: Arc<dyn Projection>,
    /// Its own checkpoint (`<name>@rebuild` or `<name>@as_of`).
    checkpoint: String,
    generation: &'static str,
    schema: String,
}

const REBUILD_SUFFIX: &str = "@rebuild";
const AS_OF_SUFFIX: &str = "@as_of";
const AS_OF_GENERATION: &str = "asof";

impl Projector {
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
}
