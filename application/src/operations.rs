//! Operators' view of the processing behind the log, for administrators: each read model's
//! position, lag and dead letters (retry, or skip past), and each worker's status and dead
//! letters (retry). The command line's `idlog projections` and `idlog workers` do the same as
//! an operator.

use crate::administration::{WorkerLetter, WorkerRetry, WorkerStatus};
use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, Resource};
use projections::{DeadLetter, ProjectorError, Status};

/// The processing as it stands.
#[derive(Debug)]
pub struct Processing {
    /// The log's last position.
    pub head: u64,
    /// Each read model.
    pub read_models: Vec<Status>,
    /// The read models' unresolved dead letters, newest first.
    pub read_model_letters: Vec<DeadLetter>,
    /// The workers this process runs (`None` when it runs none).
    pub workers: Option<Vec<WorkerStatus>>,
    /// Their unresolved dead letters, newest first.
    pub worker_letters: Vec<WorkerLetter>,
}

fn refused(error: ProjectorError) -> AppError {
    match error {
        ProjectorError::Refused(message) => AppError::NotNow(message),
        error => AppError::internal(error),
    }
}

impl App {
    /// Read models' and workers' positions, lag and dead letters.
    #[tracing::instrument(skip_all)]
    pub async fn processing(&self, who: &Authority) -> Result<Processing, AppError> {
        who.require(
            Operation::ReadProcessing,
            Target::Everything,
            Resource::Anything,
        )?;
        let projector = &self.read.projector;
        let report = projector.status().await.map_err(AppError::internal)?;
        let read_model_letters = projector
            .dead_letters(false)
            .await
            .map_err(AppError::internal)?;
        let (workers, worker_letters) = match &self.workers {
            Some(workers) => (
                Some(workers.status().await.map_err(AppError::internal)?),
                workers.dead_letters().await.map_err(AppError::internal)?,
            ),
            None => (None, Vec::new()),
        };
        Ok(Processing {
            head: self.head_position().await?,
            read_models: report.projections,
            read_model_letters,
            workers,
            worker_letters,
        })
    }

    /// Lets the stopped read model `name` try its dead-lettered event again.
    #[tracing::instrument(skip(self, who))]
    pub async fn retry_read_model(&self, who: &Authority, name: &str) -> Result<(), AppError> {
        self.may_resolve(who, name)?;
        self.read.projector.retry(name).await.map_err(refused)
    }

    /// Moves the stopped read model `name` past its dead-lettered event, which it will never
    /// reflect (until rebuilt); answers the position skipped.
    #[tracing::instrument(skip(self, who))]
    pub async fn skip_read_model(&self, who: &Authority, name: &str) -> Result<u64, AppError> {
        self.may_resolve(who, name)?;
        self.read.projector.skip(name).await.map_err(refused)
    }

    /// Tries workers' dead letters again: the one `id`, or all of them.
    #[tracing::instrument(skip(self, who))]
    pub async fn retry_worker_letters(
        &self,
        who: &Authority,
        id: Option<i64>,
    ) -> Result<WorkerRetry, AppError> {
        who.require(
            Operation::ResolveDeadLetters,
            Target::Everything,
            Resource::Anything,
        )?;
        let workers = self
            .workers
            .as_deref()
            .ok_or_else(|| AppError::Unavailable("this process runs no workers".into()))?;
        workers.retry(id).await.map_err(AppError::internal)
    }

    fn may_resolve(&self, who: &Authority, name: &str) -> Result<(), AppError> {
        who.require(
            Operation::ResolveDeadLetters,
            Target::Everything,
            Resource::Anything,
        )?;
        if self.read.projector.names().contains(&name) {
            Ok(())
        } else {
            Err(AppError::NotFound(Resource::Anything))
        }
    }
}
