//! Administrators' operations on what the workers keep: the storage folders and the delivery
//! log, and the workers' own status.
//!
//! The workers live outside this layer (they build Kafka and S3 clients): the binary hands them
//! in behind [`WorkerAdministration`], so the application and its front ends never depend on
//! them.

use crate::authority::Authority;
use crate::policy::{Operation, Target};
use crate::{App, AppError, Resource};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// One worker's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    /// The worker.
    pub name: String,
    /// The last position it finished.
    pub position: u64,
    /// Events not looked at yet.
    pub lag: u64,
    /// Dead letters waiting for an operator.
    pub open_dead_letters: u64,
    /// Whether its bus answers (the embedded bus always does; Kafka's broker may not).
    pub connected: bool,
}

/// The differences between the object store and the users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageReport {
    /// How many users were checked.
    pub checked_users: usize,
    /// (user, key) that should be there and are not.
    pub missing: Vec<(String, String)>,
    /// Keys of no current user (deleted, unknown, or foreign files).
    pub orphans: Vec<String>,
}

/// What a storage repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Users whose folder was recreated or completed.
    pub users_repaired: usize,
    /// Orphaned folders and objects removed.
    pub orphans_removed: usize,
}

/// Which messages of the delivery log to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this status: `sending`, `sent`, `failed` or `dead`.
    pub status: Option<String>,
    /// Only this template.
    pub template: Option<String>,
    /// Only to this recipient.
    pub recipient: Option<String>,
    /// Only for this event.
    pub event_id: Option<String>,
    /// Only messages of events before this position (the next page's cursor).
    pub before_position: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// One message (email or SMS) in the delivery log.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Unique per event and template (the email's `Message-ID`).
    pub message_id: String,
    /// The worker that sends it.
    pub worker: String,
    /// The event that called for it.
    pub event_id: String,
    /// That event's position in the log.
    pub position: i64,
    /// `email` or `sms`.
    pub channel: String,
    /// The template's name.
    pub template: String,
    /// Address or phone number.
    pub recipient: String,
    /// Attempts so far.
    pub attempts: i32,
    /// `sending`, `sent`, `failed` (to be retried) or `dead` (dead-lettered).
    pub status: String,
    /// The last failure.
    pub last_error: Option<String>,
    /// First attempt.
    #[serde(serialize_with = "domain::time::micros")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "domain::time::micros")]
    pub updated_at: DateTime<Utc>,
    /// When the transport accepted it.
    #[serde(serialize_with = "domain::time::micros_option")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// An event a worker gave up on.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerLetter {
    /// Its id (to retry it by).
    pub id: i64,
    /// The worker.
    pub worker: String,
    /// The event's position.
    pub position: i64,
    /// The event's type.
    pub event_type: String,
    /// The last error.
    pub error: String,
    /// How often it was tried.
    pub attempts: i32,
    /// When it was given up on.
    #[serde(serialize_with = "domain::time::micros")]
    pub failed_at: DateTime<Utc>,
}

/// What trying dead letters again did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkerRetry {
    /// Handled this time.
    pub succeeded: usize,
    /// Still failing (still dead letters).
    pub failed: usize,
}

/// A failure of the workers' side, told as text (it is logged, not shown).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WorkerFailure(pub String);

/// What the workers offer administrators. The binary implements it over the workers it runs.
#[async_trait::async_trait]
pub trait WorkerAdministration: std::fmt::Debug + Send + Sync {
    /// Each worker's position, lag and open dead letters.
    async fn status(&self) -> Result<Vec<WorkerStatus>, WorkerFailure>;

    /// Compares the object store with `users` (every user that should have a folder).
    async fn verify_storage(
        &self,
        users: &BTreeSet<String>,
    ) -> Result<StorageReport, WorkerFailure>;

    /// Repairs what [`Self::verify_storage`] found; with `prune`, removes the orphans.
    async fn repair_storage(
        &self,
        report: &StorageReport,
        prune: bool,
    ) -> Result<RepairReport, WorkerFailure>;

    /// Messages of the delivery log, newest event first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, WorkerFailure>;

    /// The workers' unresolved dead letters, newest first (none when this process runs none).
    async fn dead_letters(&self) -> Result<Vec<WorkerLetter>, WorkerFailure>;

    /// Tries dead letters again: the one `id`, or all of them.
    async fn retry(&self, id: Option<i64>) -> Result<WorkerRetry, WorkerFailure>;
}

/// The statuses a delivery can have.
pub const DELIVERY_STATUSES: &[&str] = &["sending", "sent", "failed", "dead"];

impl App {
    fn worker_administration(
        &self,
        who: &Authority,
    ) -> Result<&dyn WorkerAdministration, AppError> {
        who.require(
            Operation::ManageStorage,
            Target::Everything,
            Resource::Anything,
        )?;
        self.workers
            .as_deref()
            .ok_or_else(|| AppError::Unavailable("this process runs no workers".into()))
    }

    /// Every user the directory holds (brought up to date first) against the object store.
    #[tracing::instrument(skip_all)]
    pub async fn verify_storage(&self, who: &Authority) -> Result<StorageReport, AppError> {
        let workers = self.worker_administration(who)?;
        let users = self.live_users().await?;
        workers
            .verify_storage(&users)
            .await
            .map_err(AppError::internal)
    }

    /// Recreates what is missing from users' folders and, with `prune`, removes orphans.
    #[tracing::instrument(skip_all)]
    pub async fn rebuild_storage(
        &self,
        who: &Authority,
        prune: bool,
    ) -> Result<RepairReport, AppError> {
        let workers = self.worker_administration(who)?;
        let users = self.live_users().await?;
        let report = workers
            .verify_storage(&users)
            .await
            .map_err(AppError::internal)?;
        let repaired = workers
            .repair_storage(&report, prune)
            .await
            .map_err(AppError::internal)?;
        tracing::info!(
            users = repaired.users_repaired,
            orphans = repaired.orphans_removed,
            "storage repaired"
        );
        Ok(repaired)
    }

    /// A page of the delivery log.
    #[tracing::instrument(skip_all)]
    pub async fn deliveries(
        &self,
        who: &Authority,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Delivery>, AppError> {
        let workers = self.worker_administration(who)?;
        if let Some(status) = filter
            .status
            .as_deref()
            .filter(|status| !DELIVERY_STATUSES.contains(status))
        {
            return Err(AppError::InvalidQuery {
                field: "/status",
                message: format!("{status:?} is not one of {DELIVERY_STATUSES:?}"),
            });
        }
        if !(1..=1000).contains(&filter.limit) {
            return Err(AppError::InvalidQuery {
                field: "/limit",
                message: "must be 1 to 1000".into(),
            });
        }
        workers.deliveries(filter).await.map_err(AppError::internal)
    }

    /// The ids of every user who should have a folder, from the directory once it has caught up
    /// with the log's head.
    async fn live_users(&self) -> Result<BTreeSet<String>, AppError> {
        let head = self.head_position().await?;
        let reached = self
            .read
            .projector
            .wait_for(
                head,
                &[projections::directory::NAME],
                self.read.wait_timeout,
            )
            .await
            .map_err(AppError::internal)?;
        if !reached {
            return Err(AppError::Unavailable(
                "the users read model has not caught up; try again shortly".into(),
            ));
        }
        self.read
            .queries
            .live_user_ids()
            .await
            .map_err(AppError::internal)
    }
}
