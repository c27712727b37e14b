//! The embedded bus: each worker follows the log in process from its own checkpoint.

use crate::{Worker, WorkerError};
use chrono::{DateTime, Utc};
use eventstore::sql::{self, Arg};
use eventstore::{Database, EventLog, RecordedEvent};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How workers retry.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Attempts at an event before it goes to the dead letters.
    pub max_attempts: u32,
    /// First wait after a failure; doubled each time (with jitter), up to `retry_cap`.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_cap: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base: Duration::from_millis(200),
            retry_cap: Duration::from_secs(60),
        }
    }
}

/// An event a worker gave up on.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct WorkerDeadLetter {
    /// Its id (for `idlog workers retry ID`).
    pub id: i64,
    /// The worker.
    pub worker: String,
    /// The event's position.
    pub position: i64,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's stream.
    pub stream_id: String,
    /// The last error.
    pub error: String,
    /// How often it was tried.
    pub attempts: i32,
    /// When it was given up on.
    pub failed_at: DateTime<Utc>,
    /// `retried` once a retry succeeded.
    pub resolution: Option<String>,
}

/// Where a worker is.
#[derive(Debug, Clone, serde::Serialize)]
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

/// What a retry of dead letters did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Handled this time.
    pub succeeded: usize,
    /// Still failing (kept, with the new error).
    pub failed: usize,
}

/// Runs workers on the log.
#[derive(Clone)]
pub struct WorkerRunner {
    pub(crate) database: Database,
    pub(crate) log: EventLog,
    pub(crate) workers: Vec<Arc<dyn Worker>>,
    settings: WorkerSettings,
    bus: Bus,
}

impl std::fmt::Debug for WorkerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRunner")
            .field(
                "workers",
                &self.workers.iter().map(|w| w.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The last position `name` (a worker, or the Kafka relay) finished; 0 before the first.
pub(crate) async fn load_checkpoint(database: &Database, name: &str) -> Result<u64, sqlx::Error> {
    let rows: Vec<(i64,)> = sql::fetch_all(
        database,
        "SELECT position FROM worker_checkpoints WHERE worker = $1",
        &[name.into()],
    )
    .await?;
    Ok(rows
        .first()
        .and_then(|(position,)| u64::try_from(*position).ok())
        .unwrap_or(0))
}

/// Records that `name` finished everything up to `position`.
pub(crate) async fn save_checkpoint(
    database: &Database,
    name: &str,
    position: u64,
) -> Result<(), sqlx::Error> {
    sql::execute(
        database,
        "INSERT INTO worker_checkpoints (worker, position, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (worker) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        &[
            name.into(),
            i64::try_from(position).unwrap_or(i64::MAX).into(),
            Utc::now().into(),
        ],
    )
    .await
    .map(drop)
}

/// How events reach the workers.
#[derive(Debug, Clone, Default)]
pub enum Bus {
    /// In process: each worker follows the log from its own checkpoint.
    #[default]
    Embedded,
    /// Through Kafka: each worker kind is a consumer group on the relay's topic.
    Kafka(crate::kafka::KafkaSettings),
}

/// A worker's checkpoint is saved after this many events, or [`SAVE_AFTER`] after the first
/// handled one, or when the log goes quiet. Handling is idempotent (object puts, the delivery
/// log), so a crash repeats at most that much work, and under load one write per event would
/// cost the database more than the events themselves.
const SAVE_EVERY: u64 = 500;

/// See [`SAVE_EVERY`].
const SAVE_AFTER: Duration = Duration::from_millis(250);

/// How long new events gather before a worker reads them: emails and folders can wait that
/// long, and each read decodes every event it returns.
const GATHER: Duration = Duration::from_millis(20);

impl WorkerRunner {
    /// Workers over `log` on the embedded bus, with their checkpoints and dead letters in
    /// `database`.
    pub fn new(
        database: Database,
        log: EventLog,
        workers: Vec<Arc<dyn Worker>>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            database,
            log,
            workers,
            settings,
            bus: Bus::Embedded,
        }
    }

    /// The same workers fed by `bus`.
    pub fn with_bus(mut self, bus: Bus) -> Self {
        self.bus = bus;
        self
    }

    /// How events reach the workers.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    fn find(&self, name: &str) -> Option<&Arc<dyn Worker>> {
        self.workers.iter().find(|w| w.name() == name)
    }

    async fn checkpoint(&self, name: &str) -> Result<u64, sqlx::Error> {
        load_checkpoint(&self.database, name).await
    }

    async fn save(&self, name: &str, position: u64) -> Result<(), sqlx::Error> {
        save_checkpoint(&self.database, name, position).await
    }

    /// Runs every worker (following the log, or consuming from Kafka) until the returned set
    /// is dropped.
    pub fn spawn(&self) -> tokio::task::JoinSet<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in &self.workers {
            let runner = self.clone();
            let worker = worker.clone();
            match &self.bus {
                Bus::Embedded => tasks.spawn(async move { runner.follow(worker).await }),
                Bus::Kafka(kafka) => {
                    let kafka = kafka.clone();
                    tasks.spawn(async move { crate::kafka::consume(runner, kafka, worker).await })
                }
            };
        }
        tasks
    }

    #[tracing::instrument(skip_all, fields(worker = worker.name()))]
    async fn follow(&self, worker: Arc<dyn Worker>) {
        let name = worker.name();
        loop {
            let start = match self.checkpoint(name).await {
                Ok(position) => position,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the worker's checkpoint; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut subscription = self.log.subscribe(start).gathering(GATHER);
            // Every event up to here has been handled; `unsaved` of them since the last save.
            let mut handled_through = start;
            let mut unsaved = 0;
            // When the first event handled since the last save was handled.
            let mut handled_since: Option<Instant> = None;
            loop {
                let event = match tokio::time::timeout(Duration::from_secs(1), subscription.next())
                    .await
                {
                    Ok(Ok(event)) => event,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "cannot read the log; resuming from the checkpoint");
                        self.save_before_resuming(name, handled_through, unsaved)
                            .await;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                    // Quiet: a good moment to save how far it looked.
                    Err(_) => {
                        if unsaved > 0 {
                            match self.save(name, handled_through).await {
                                Ok(()) => {
                                    unsaved = 0;
                                    handled_since = None;
                                }
                                Err(error) => {
                                    tracing::debug!(%error, "cannot save the worker's checkpoint; trying again later");
                                }
                            }
                        }
                        continue;
                    }
                };
                if worker.wants(&event) {
                    // Runs to its end even if the follower is stopped meanwhile.
                    let delivery = {
                        let (runner, worker, event) = (self.clone(), worker.clone(), event.clone());
                        tokio::spawn(async move { runner.deliver(worker.as_ref(), &event).await })
                    };
                    if delivery.await.is_err() {
                        self.save_before_resuming(name, handled_through, unsaved)
                            .await;
                        break;
                    }
                    handled_since.get_or_insert_with(Instant::now);
                }
                handled_through = event.global_position;
                unsaved += 1;
                if unsaved >= SAVE_EVERY
                    || handled_since.is_some_and(|since| since.elapsed() >= SAVE_AFTER)
                {
                    if let Err(error) = self.save(name, event.global_position).await {
                        tracing::warn!(%error, "cannot save the worker's checkpoint; resuming from the last one");
                        break;
                    }
                    unsaved = 0;
                    handled_since = None;
                }
            }
        }
    }

    /// Before following again from the saved checkpoint, saves how far it got, so that events
    /// already handled (dead-lettered ones included) are not handled again.
    async fn save_before_resuming(&self, name: &str, handled_through: u64, unsaved: u64) {
        if unsaved > 0
            && let Err(error) = self.save(name, handled_through).await
        {
            tracing::warn!(%error, "cannot save the worker's checkpoint; events since the last one will be handled again");
        }
    }

    /// Handles `event`, retrying with backoff; after the last attempt records a dead letter.
    pub(crate) async fn deliver(&self, worker: &dyn Worker, event: &RecordedEvent) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            // A panic is a failed attempt like any other: retried, then dead-lettered, instead
            // of ending the delivery and being handled again from the checkpoint, forever.
            let error = match AssertUnwindSafe(worker.handle(event)).catch_unwind().await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => error,
                Err(panic) => WorkerError::Other(format!(
                    "the worker panicked: {}",
                    panic_message(panic.as_ref())
                )),
            };
            if attempts >= self.settings.max_attempts {
                tracing::error!(%error, attempts, position = event.global_position, "an event keeps failing: dead-lettered");
                self.dead_letter(worker.name(), event, &error, attempts)
                    .await;
                if let Err(error) = worker.gave_up(event).await {
                    tracing::warn!(%error, "cannot record the giving up");
                }
                return;
            }
            tracing::warn!(%error, attempts, position = event.global_position, "an event failed; retrying");
            tokio::time::sleep(eventstore::backoff::delay(
                self.settings.retry_base,
                self.settings.retry_cap,
                attempts,
            ))
            .await;
        }
    }

    async fn dead_letter(
        &self,
        name: &str,
        event: &RecordedEvent,
        error: &WorkerError,
        attempts: u32,
    ) {
        let recorded = sql::execute(
            &self.database,
            "INSERT INTO worker_dead_letters (worker, position, event_id, event_type, stream_id, error, attempts, failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                name.into(),
                i64::try_from(event.global_position).unwrap_or(i64::MAX).into(),
                event.event_id.to_string().into(),
                event.event_type.clone().into(),
                event.stream_id.clone().into(),
                error.to_string().into(),
                i64::from(attempts).into(),
                Utc::now().into(),
            ],
        )
        .await;
        if let Err(error) = recorded {
            // Not recorded: the event would be lost to the operator. Say so loudly.
            tracing::error!(%error, position = event.global_position, "cannot record a dead letter");
        }
    }

    /// Gives every worker every event up to the head, once, as `serve` would (the command line's
    /// and the tests' way); failing events are dead-lettered as usual.
    pub async fn catch_up(&self) -> Result<(), WorkerError> {
        let head = self.log.head().await?.position;
        for worker in &self.workers {
            let mut position = self.checkpoint(worker.name()).await?;
            while position < head {
                let events = self.log.read_all(position, eventstore::READ_BATCH).await?;
                let Some(last) = events.last() else { break };
                for event in events.iter().filter(|e| e.global_position <= head) {
                    if worker.wants(event) {
                        self.deliver(worker.as_ref(), event).await;
                    }
                }
                position = last.global_position.min(head);
                self.save(worker.name(), position).await?;
            }
        }
        Ok(())
    }

    /// Dead letters, newest first (only unresolved ones unless `all`).
    pub async fn dead_letters(&self, all: bool) -> Result<Vec<WorkerDeadLetter>, WorkerError> {
        let filter = if all { "" } else { " WHERE resolution IS NULL" };
        Ok(sql::fetch_all(
            &self.database,
            &format!("SELECT id, worker, position, event_id, event_type, stream_id, error, attempts, failed_at, resolution FROM worker_dead_letters{filter} ORDER BY id DESC"),
            &[],
        )
        .await?)
    }

    /// Tries dead letters again (one by id, or all unresolved ones), once each.
    pub async fn retry(&self, id: Option<i64>) -> Result<RetryReport, WorkerError> {
        let mut report = RetryReport::default();
        let letters = self.dead_letters(false).await?;
        for letter in letters
            .into_iter()
            .filter(|l| id.is_none_or(|id| l.id == id))
        {
            let Some(worker) = self.find(&letter.worker) else {
                continue;
            };
            let position = u64::try_from(letter.position).unwrap_or(0);
            let event = self
                .log
                .read_all(position.saturating_sub(1), 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| WorkerError::Other(format!("no event at position {position}")))?;
            // Claimed first, so that two retries at once (two operators, a double click) do
            // not both send the same message: the one that claims it tries it.
            let claimed = sql::execute(
                &self.database,
                "UPDATE worker_dead_letters SET resolution = 'retrying' WHERE id = $1 AND resolution IS NULL",
                &[Arg::from(letter.id)],
            )
            .await?;
            if claimed == 0 {
                continue;
            }
            match worker.handle(&event).await {
                Ok(()) => {
                    sql::execute(
                        &self.database,
                        "UPDATE worker_dead_letters SET resolution = 'retried', resolved_at = $2 WHERE id = $1",
                        &[Arg::from(letter.id), Utc::now().into()],
                    )
                    .await
                    ?;
                    report.succeeded += 1;
                }
                Err(error) => {
                    sql::execute(
                        &self.database,
                        "UPDATE worker_dead_letters SET resolution = NULL, error = $2, attempts = attempts + 1, failed_at = $3 WHERE id = $1",
                        &[Arg::from(letter.id), error.to_string().into(), Utc::now().into()],
                    )
                    .await
                    ?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Each worker's position, lag and open dead letters. On Kafka, the lag counts the events
    /// the relay has not published yet and the messages the worker's group has not committed.
    pub async fn status(&self) -> Result<Vec<WorkerStatus>, WorkerError> {
        let head = self.log.head().await?.position;
        let kafka_lags = match &self.bus {
            Bus::Embedded => None,
            Bus::Kafka(kafka) => {
                let lags = crate::kafka::group_lags(kafka, &self.workers)
                    .await
                    .inspect_err(|error| tracing::warn!(%error, "Kafka does not answer"))
                    .ok();
                Some((
                    load_checkpoint(&self.database, crate::kafka::RELAY).await?,
                    lags,
                ))
            }
        };
        let mut statuses = Vec::new();
        for worker in &self.workers {
            let (position, connected) = match &kafka_lags {
                None => (self.checkpoint(worker.name()).await?, true),
                Some((relayed, Some(lags))) => (
                    relayed.saturating_sub(lags.get(worker.name()).copied().unwrap_or(0)),
                    true,
                ),
                // Unknown: counted from the start, so the lag shows it.
                Some((_, None)) => (0, false),
            };
            let open: Vec<(i64,)> = sql::fetch_all(
                &self.database,
                "SELECT count(*) FROM worker_dead_letters WHERE worker = $1 AND resolution IS NULL",
                &[worker.name().into()],
            )
            .await?;
            statuses.push(WorkerStatus {
                name: worker.name().to_owned(),
                position,
                lag: head.saturating_sub(position),
                open_dead_letters: open
                    .first()
                    .and_then(|(n,)| u64::try_from(*n).ok())
                    .unwrap_or(0),
                connected,
            });
        }
        Ok(statuses)
    }
}

/// What a panic said, when it said it as text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
