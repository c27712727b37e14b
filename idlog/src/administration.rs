//! The workers as the application's administrators see them
//! ([`application::administration::WorkerAdministration`]): their status, the storage folders
//! and the delivery log.

use application::administration::{
    Delivery, DeliveryFilter, RepairReport, StorageReport, WorkerAdministration, WorkerFailure,
    WorkerLetter, WorkerRetry, WorkerStatus,
};
use std::collections::BTreeSet;
use workers::deliveries::DeliveryLog;
use workers::storage::StorageWorker;

/// The workers of this process (if it runs them), the storage worker and the delivery log.
#[derive(Debug)]
pub struct Workers {
    /// The workers this process runs, for their status; `None` in processes that run none.
    pub runner: Option<workers::WorkerRunner>,
    /// Checks and repairs the storage folders.
    pub storage: StorageWorker,
    /// The delivery log.
    pub deliveries: DeliveryLog,
}

fn failure(error: workers::WorkerError) -> WorkerFailure {
    WorkerFailure(error.to_string())
}

fn storage_report(report: workers::storage::StorageReport) -> StorageReport {
    StorageReport {
        checked_users: report.checked_users,
        missing: report.missing,
        orphans: report.orphans,
    }
}

#[async_trait::async_trait]
impl WorkerAdministration for Workers {
    async fn status(&self) -> Result<Vec<WorkerStatus>, WorkerFailure> {
        let Some(runner) = &self.runner else {
            return Ok(Vec::new());
        };
        let statuses = runner.status().await.map_err(failure)?;
        Ok(statuses
            .into_iter()
            .map(|status| WorkerStatus {
                name: status.name,
                position: status.position,
                lag: status.lag,
                open_dead_letters: status.open_dead_letters,
                connected: status.connected,
            })
            .collect())
    }

    async fn verify_storage(
        &self,
        users: &BTreeSet<String>,
    ) -> Result<StorageReport, WorkerFailure> {
        self.storage
            .verify(users)
            .await
            .map(storage_report)
            .map_err(failure)
    }

    async fn repair_storage(
        &self,
        report: &StorageReport,
        prune: bool,
    ) -> Result<RepairReport, WorkerFailure> {
        let report = workers::storage::StorageReport {
            checked_users: report.checked_users,
            missing: report.missing.clone(),
            orphans: report.orphans.clone(),
        };
        let repaired = self
            .storage
            .repair(&report, prune, &|_, _| {})
            .await
            .map_err(failure)?;
        Ok(RepairReport {
            users_repaired: repaired.users_repaired,
            orphans_removed: repaired.orphans_removed,
        })
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, WorkerFailure> {
        let filter = workers::deliveries::DeliveryFilter {
            status: filter.status.clone(),
            template: filter.template.clone(),
            recipient: filter.recipient.clone(),
            event_id: filter.event_id.clone(),
            before_position: filter.before_position,
            limit: filter.limit,
        };
        let listed = self.deliveries.list(&filter).await.map_err(failure)?;
        Ok(listed
            .into_iter()
            .map(|delivery| Delivery {
                message_id: delivery.message_id,
                worker: delivery.worker,
                event_id: delivery.event_id,
                position: delivery.position,
                channel: delivery.channel,
                template: delivery.template,
                recipient: delivery.recipient,
                attempts: delivery.attempts,
                status: delivery.status,
                last_error: delivery.last_error,
                created_at: delivery.created_at,
                updated_at: delivery.updated_at,
                sent_at: delivery.sent_at,
            })
            .collect())
    }

    async fn dead_letters(&self) -> Result<Vec<WorkerLetter>, WorkerFailure> {
        let Some(runner) = &self.runner else {
            return Ok(Vec::new());
        };
        Ok(runner
            .dead_letters(false)
            .await
            .map_err(failure)?
            .into_iter()
            .map(|letter| WorkerLetter {
                id: letter.id,
                worker: letter.worker,
                position: letter.position,
                event_type: letter.event_type,
                error: letter.error,
                attempts: letter.attempts,
                failed_at: letter.failed_at,
            })
            .collect())
    }

    async fn retry(&self, id: Option<i64>) -> Result<WorkerRetry, WorkerFailure> {
        let Some(runner) = &self.runner else {
            return Err(WorkerFailure("this process runs no workers".into()));
        };
        let report = runner.retry(id).await.map_err(failure)?;
        Ok(WorkerRetry {
            succeeded: report.succeeded,
            failed: report.failed,
        })
    }
}
