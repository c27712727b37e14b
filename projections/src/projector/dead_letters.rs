//! Dead letters: events a projection could not apply. Recording one stops the projection;
//! operators list them, retry the event or skip it.

use super::{Projector, ProjectorError, to_db};
use chrono::{DateTime, Utc};
use eventstore::RecordedEvent;
use eventstore::sql::{self, Tx};

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
    #[serde(serialize_with = "domain::time::micros")]
    pub failed_at: DateTime<Utc>,
    /// `retried` or `skipped`, once an operator decided.
    pub resolution: Option<String>,
}

impl Projector {
    pub(super) async fn dead_letter(
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
}
