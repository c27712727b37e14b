//! The Kafka bus. A relay publishes the log to a topic in log order, keyed by stream id (so one
//! user's events stay in order on one partition), with the event type, position and id in
//! headers; it keeps its own checkpoint, saved after the broker acknowledged a batch, so a restart
//! resumes without loss (a batch in flight at a crash is published again: at least once). Only
//! the holder of the relay's lease publishes, so several servers may run it.
//!
//! Each worker kind is a consumer group (`{group_prefix}{worker}`): worker processes share the
//! partitions. A consumer runs up to its worker's [`Worker::concurrency`] effects at once, a
//! stream's one after another in order; a partition's offset is committed only up to its first
//! message whose effect is not done (or dead-lettered), so a crash or a rebalance can only cause
//! redeliveries, which the workers' idempotence absorbs.

use crate::runner::{WorkerRunner, load_checkpoint, save_checkpoint};
use crate::{Worker, WorkerError};
use chrono::Utc;
use eventstore::sql;
use eventstore::{Database, EventLog, RecordedEvent};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The relay's name: its checkpoint's and its lease's key.
pub const RELAY: &str = "kafka-relay";

/// How long the relay's lease lasts unless renewed.
const LEASE: Duration = Duration::from_secs(15);

/// Events published per batch (one checkpoint save per batch).
const RELAY_BATCH: usize = 5_000;

/// How to reach Kafka and which topic carries the log.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// The topic (created if missing).
    pub topic: String,
    /// Partitions of a topic created here.
    pub partitions: i32,
    /// Replication factor of a topic created here.
    pub replication: i32,
    /// Consumer groups are named `{group_prefix}{worker}`.
    pub group_prefix: String,
    /// Most messages the relay's producer puts in one record batch. Kafka serves a consumer
    /// from any offset; tansu 0.6.0 (the test broker) serves nothing from the middle of a batch,
    /// so a consumer resuming there after a rebalance or a crash stalls or skips: the tests set 1.
    pub batch_messages: u32,
    /// librdkafka debug contexts (`cgrp,fetch`, `all`), logged at debug level; unset: none.
    pub debug: Option<String>,
}

impl KafkaSettings {
    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "idlog")
            .set("socket.timeout.ms", "10000");
        if let Some(contexts) = &self.debug {
            config.set("debug", contexts);
        }
        config
    }

    /// The consumer group of `worker`.
    pub fn group(&self, worker: &str) -> String {
        format!("{}{worker}", self.group_prefix)
    }
}

/// Creates the topic unless it exists.
pub async fn ensure_topic(settings: &KafkaSettings) -> Result<(), WorkerError> {
    let admin: AdminClient<DefaultClientContext> = settings.client().create()?;
    let topic = NewTopic::new(
        &settings.topic,
        settings.partitions.max(1),
        TopicReplication::Fixed(settings.replication.max(1)),
    );
    let options =
        AdminOptions::new().operation_timeout(Some(Timeout::After(Duration::from_secs(10))));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(WorkerError::Other(format!(
                    "creating the topic {topic}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Publishes the log to Kafka.
#[derive(Clone)]
pub struct Relay {
    database: Database,
    log: EventLog,
    producer: FutureProducer,
    settings: KafkaSettings,
    holder: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("topic", &self.settings.topic)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// Where the relay is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RelayStatus {
    /// The last position published.
    pub position: u64,
    /// Events not published yet.
    pub lag: u64,
}

impl Relay {
    /// A relay of `log` to `settings.topic`, keeping its checkpoint in `database`.
    pub fn new(
        database: Database,
        log: EventLog,
        settings: KafkaSettings,
    ) -> Result<Self, WorkerError> {
        let producer = settings
            .client()
            // Per-partition order survives retries; acks from all in-sync replicas.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set(
                "batch.num.messages",
                settings.batch_messages.max(1).to_string(),
            )
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self {
            database,
            log,
            producer,
            settings,
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4()),
        })
    }

    /// Takes or renews the lease; `false` while another relay holds it.
    async fn hold_lease(&self) -> Result<bool, WorkerError> {
        let now = Utc::now();
        let expires = now + LEASE;
        let taken = sql::execute(
            &self.database,
            "INSERT INTO worker_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE worker_leases.holder = excluded.holder OR worker_leases.expires_at < $4",
            &[RELAY.into(), self.holder.as_str().into(), expires.into(), now.into()],
        )
        .await?;
        Ok(taken == 1)
    }

    /// Publishes `events` and waits until the broker has them all.
    #[tracing::instrument(skip_all, fields(events = events.len()))]
    pub async fn publish<J: serde::Serialize>(
        &self,
        events: &[RecordedEvent<J>],
    ) -> Result<(), WorkerError> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)
                .map_err(|error| WorkerError::Other(format!("encoding an event: {error}")))?;
            let position = event.global_position.to_string();
            let event_id = event.event_id.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "event_type",
                    value: Some(event.event_type.as_bytes()),
                })
                .insert(Header {
                    key: "stream_type",
                    value: Some(event.stream_type.as_bytes()),
                })
                .insert(Header {
                    key: "position",
                    value: Some(position.as_bytes()),
                })
                .insert(Header {
                    key: "event_id",
                    value: Some(event_id.as_bytes()),
                });
            let mut record = FutureRecord::to(&self.settings.topic)
                .key(event.stream_id.as_bytes())
                .payload(&payload)
                .headers(headers);
            // A full local queue drains as earlier messages are acknowledged.
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                        returned,
                    )) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => return Err(error.into()),
                }
            }
        }
        for delivery in futures::future::join_all(pending).await {
            match delivery {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error.into()),
                Err(_) => return Err(WorkerError::Other("the producer went away".into())),
            }
        }
        Ok(())
    }

    /// Publishes everything after the checkpoint up to the head now (the tests' and the
    /// benchmark's way; `run` does this continuously). Returns how many events it published.
    pub async fn publish_to_head(&self) -> Result<u64, WorkerError> {
        if !self.hold_lease().await? {
            return Err(WorkerError::Other("another relay holds the lease".into()));
        }
        let head = self.log.head().await?.position;
        let mut position = load_checkpoint(&self.database, RELAY).await?;
        let start = position;
        while position < head {
            // As stored: personal data stays sealed in the topic, so forgetting someone (destroying
            // their key) reaches every copy of the log, Kafka's retention included.
            let events = self.log.read_all_stored(position, RELAY_BATCH).await?;
            let Some(last) = events.last() else { break };
            let last = last.global_position;
            self.publish(&events).await?;
            save_checkpoint(&self.database, RELAY, last).await?;
            position = last;
        }
        Ok(position - start)
    }

    /// Where the relay is.
    pub async fn status(&self) -> Result<RelayStatus, WorkerError> {
        let head = self.log.head().await?.position;
        let position = load_checkpoint(&self.database, RELAY).await?;
        Ok(RelayStatus {
            position,
            lag: head.saturating_sub(position),
        })
    }

    /// Relays the log while holding the lease, forever (until the task is dropped).
    #[tracing::instrument(skip_all, fields(topic = %self.settings.topic))]
    pub async fn run(self) {
        if let Err(error) = ensure_topic(&self.settings).await {
            tracing::warn!(%error, "cannot create the topic; the relay will keep trying to publish");
        }
        loop {
            match self.hold_lease().await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(LEASE / 3).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot take the relay's lease; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if let Err(error) = self.relay_while_leased().await {
                tracing::warn!(%error, "relaying stopped; resuming from the checkpoint");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Publishes batches from the checkpoint until the lease is lost or something fails.
    async fn relay_while_leased(&self) -> Result<(), WorkerError> {
        // As stored, like `publish_to_head`: personal data stays sealed in the topic.
        let mut subscription = self
            .log
            .subscribe_stored(load_checkpoint(&self.database, RELAY).await?);
        let mut renewed = Instant::now();
        loop {
            if renewed.elapsed() > LEASE / 3 {
                if !self.hold_lease().await? {
                    tracing::info!("another relay took the lease");
                    return Ok(());
                }
                renewed = Instant::now();
            }
            let first =
                match tokio::time::timeout(Duration::from_secs(1), subscription.next()).await {
                    Ok(event) => event?,
                    Err(_) => continue,
                };
            let mut batch = vec![first];
            while batch.len() < RELAY_BATCH {
                let Some(event) = subscription.next_buffered() else {
                    break;
                };
                batch.push(event);
            }
            // Published in its own task, so stopping the relay never cuts a batch in half.
            let (relay, last) = (self.clone(), subscription.position());
            tokio::spawn(async move {
                relay.publish(&batch).await?;
                tracing::debug!(
                    first = batch.first().map(|e| e.global_position),
                    last,
                    "published"
                );
                save_checkpoint(&relay.database, RELAY, last).await?;
                Ok::<_, WorkerError>(())
            })
            .await
            .map_err(|error| WorkerError::Other(format!("the relay's batch: {error}")))??;
        }
    }
}

/// Consumes the topic in `worker`'s group, handing it each event it wants, until dropped.
#[tracing::instrument(skip_all, fields(worker = worker.name()))]
pub(crate) async fn consume(
    runner: WorkerRunner,
    settings: KafkaSettings,
    worker: Arc<dyn Worker>,
) {
    loop {
        if let Err(error) = consume_until_error(&runner, &settings, &worker).await {
            tracing::warn!(%error, "consuming stopped; reconnecting");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Messages a worker skipped (not wanted) between commits.
const SKIPPED_PER_COMMIT: u32 = 200;

/// How soon skipped messages are committed when nothing else comes: a worker with nothing to
/// do (SMS, with no phone numbers to verify) would otherwise never commit what it skipped, and
/// its group would report a lag forever.
const SKIPPED_COMMIT_DELAY: Duration = Duration::from_secs(1);

/// Says which partitions a worker's consumer gets and gives up.
struct Rebalances(&'static str);

impl rdkafka::ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let worker = self.0;
        let partitions = |list: &rdkafka::TopicPartitionList| {
            list.elements()
                .iter()
                .map(|element| element.partition())
                .collect::<Vec<_>>()
        };
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(worker, partitions = ?partitions(list), "partitions assigned");
            }
            Rebalance::Revoke(list) => {
                tracing::info!(worker, partitions = ?partitions(list), "partitions revoked");
            }
            Rebalance::Error(error) => tracing::warn!(worker, %error, "rebalancing failed"),
        }
    }
}

/// Where each partition's consumption stands: what was received, which effects are not done, what
/// was committed. A partition's committable offset is its first message not done yet, so a crash
/// repeats nothing that is done beyond what idempotence absorbs, and loses nothing.
#[derive(Debug, Default)]
struct PartitionProgress {
    /// Partition -> (highest offset received, offsets whose effect is running, offset committed).
    partitions: HashMap<i32, (i64, BTreeSet<i64>, i64)>,
}

impl PartitionProgress {
    /// Records a received message; `running`: its effect is started and not done yet.
    fn received(&mut self, partition: i32, offset: i64, running: bool) {
        let entry = self
            .partitions
            .entry(partition)
            .or_insert_with(|| (offset - 1, BTreeSet::new(), -1));
        if offset <= entry.0 {
            // Redelivered from an earlier offset (a rebalance gave the partition back): start
            // over from there; effects still running for it finish and are simply not waited for.
            *entry = (offset - 1, BTreeSet::new(), -1);
        }
        entry.0 = offset;
        if running {
            entry.1.insert(offset);
        }
    }

    fn done(&mut self, partition: i32, offset: i64) {
        if let Some(entry) = self.partitions.get_mut(&partition) {
            entry.1.remove(&offset);
        }
    }

    /// The offsets to commit (the next message to consume, per partition) where they moved.
    fn offsets_to_commit(&mut self, topic: &str) -> Option<rdkafka::TopicPartitionList> {
        let mut list = rdkafka::TopicPartitionList::new();
        for (partition, (received, running, committed)) in &mut self.partitions {
            let next = running.first().copied().unwrap_or(*received + 1);
            if next > *committed
                && list
                    .add_partition_offset(topic, *partition, rdkafka::Offset::Offset(next))
                    .is_ok()
            {
                *committed = next;
            }
        }
        (list.count() > 0).then_some(list)
    }
}

/// An effect that ended: where its message was, and which link of its stream's chain it was.
struct Finished {
    partition: i32,
    offset: i64,
    stream_id: String,
    link: u64,
    outcome: Result<(), WorkerError>,
}

async fn consume_until_error(
    runner: &WorkerRunner,
    settings: &KafkaSettings,
    worker: &Arc<dyn Worker>,
) -> Result<(), WorkerError> {
    let consumer: StreamConsumer<Rebalances> = settings
        .client()
        .set("group.id", settings.group(worker.name()))
        // Offsets are committed by hand once the effects before them are done.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // A fetch returns once this long has passed even without `fetch.min.bytes`: some
        // brokers (tansu) hold it the whole time, which was 500 ms of latency per event.
        .set("fetch.wait.max.ms", "50")
        .create_with_context(Rebalances(worker.name()))?;
    consumer.subscribe(&[&settings.topic])?;
    let topic = settings.topic.clone();
    let concurrency = worker.concurrency().max(1);
    let mut progress = PartitionProgress::default();
    // Effects report here when they end. They are spawned, not owned: one running when the
    // consumer stops still runs to its end.
    let (finished_tx, mut finished) = tokio::sync::mpsc::unbounded_channel::<Finished>();
    // Per stream, the last effect started and a receiver that resolves when it ends.
    let mut stream_tails: HashMap<String, (u64, tokio::sync::oneshot::Receiver<()>)> =
        HashMap::new();
    let mut links = 0_u64;
    let mut running = 0_usize;
    let result = async {
        let mut skipped = 0;
        let mut idle = tokio::time::interval(SKIPPED_COMMIT_DELAY);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let message = tokio::select! {
                // Both branches are cancel safe: an unfinished receive loses no message.
                Some(ended) = finished.recv(), if running > 0 => {
                    running -= 1;
                    progress.done(ended.partition, ended.offset);
                    if stream_tails.get(&ended.stream_id).is_some_and(|(link, _)| *link == ended.link) {
                        stream_tails.remove(&ended.stream_id);
                    }
                    ended.outcome?;
                    commit(&consumer, &mut progress, &topic);
                    skipped = 0;
                    continue;
                }
                _ = idle.tick(), if skipped > 0 => {
                    commit(&consumer, &mut progress, &topic);
                    skipped = 0;
                    continue;
                }
                message = consumer.recv(), if running < concurrency => message?,
            };
            tracing::debug!(partition = message.partition(), offset = message.offset(), "received");
            let (partition, offset) = (message.partition(), message.offset());
            let event: Option<RecordedEvent> = match message.payload().map(serde_json::from_slice) {
                Some(Ok(event)) => Some(event),
                Some(Err(error)) => {
                    tracing::error!(%error, partition, offset, "not an idlog event: skipped");
                    None
                }
                None => None,
            };
            drop(message);
            let Some(event) = event.filter(|event| worker.wants(event)) else {
                progress.received(partition, offset, false);
                // Skipped messages are committed with the next effect, every
                // `SKIPPED_PER_COMMIT`, or at the next idle tick.
                skipped += 1;
                if skipped >= SKIPPED_PER_COMMIT {
                    commit(&consumer, &mut progress, &topic);
                    skipped = 0;
                }
                continue;
            };
            progress.received(partition, offset, true);
            running += 1;
            links += 1;
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let previous = stream_tails
                .insert(event.stream_id.clone(), (links, done_rx))
                .map(|(_, previous)| previous);
            let (runner, worker, finished_tx, link) =
                (runner.clone(), worker.clone(), finished_tx.clone(), links);
            tokio::spawn(async move {
                if let Some(previous) = previous {
                    // Ends (as an error) when the earlier effect's task drops its sender.
                    let _ = previous.await;
                }
                let stream_id = event.stream_id.clone();
                // Opened (and upcast) here, as every read of the log is.
                let outcome = match runner.log.decode_stored(vec![event]).await {
                    Ok(mut events) => match events.pop() {
                        Some(event) => {
                            runner.deliver(worker.as_ref(), &event).await;
                            Ok(())
                        }
                        None => Err(WorkerError::Other("an event vanished while decoding".into())),
                    },
                    Err(error) => Err(error.into()),
                };
                drop(done_tx);
                let _ = finished_tx.send(Finished { partition, offset, stream_id, link, outcome });
            });
        }
    }
    .await;
    // Commit what is done before leaving.
    if let Some(list) = progress.offsets_to_commit(&topic)
        && let Err(error) = consumer.commit(&list, CommitMode::Sync)
    {
        tracing::debug!(%error, "nothing committed on leaving");
    }
    result
}

/// Commits the offsets that moved, in the background. A failed commit (a partition given to
/// another member meanwhile, say) only means redeliveries, which idempotence absorbs.
fn commit(consumer: &StreamConsumer<Rebalances>, progress: &mut PartitionProgress, topic: &str) {
    if let Some(list) = progress.offsets_to_commit(topic)
        && let Err(error) = consumer.commit(&list, CommitMode::Async)
    {
        tracing::debug!(%error, "offsets not committed");
    }
}

/// Messages each worker's group has not committed yet, summed over the topic's partitions.
pub(crate) async fn group_lags(
    settings: &KafkaSettings,
    workers: &[Arc<dyn Worker>],
) -> Result<HashMap<String, u64>, WorkerError> {
    let settings = settings.clone();
    let names: Vec<&'static str> = workers.iter().map(|w| w.name()).collect();
    // librdkafka's metadata and offset calls block.
    tokio::task::spawn_blocking(move || {
        let timeout = Timeout::After(Duration::from_secs(5));
        let mut lags = HashMap::new();
        for name in names {
            let consumer: BaseConsumer = settings
                .client()
                .set("group.id", settings.group(name))
                .set("enable.auto.commit", "false")
                .create()?;
            let metadata = consumer.fetch_metadata(Some(&settings.topic), timeout)?;
            let mut partitions = rdkafka::TopicPartitionList::new();
            for topic in metadata.topics() {
                for partition in topic.partitions() {
                    partitions.add_partition(topic.name(), partition.id());
                }
            }
            let committed = consumer.committed_offsets(partitions, timeout)?;
            let mut lag = 0u64;
            for element in committed.elements() {
                let (low, high) =
                    consumer.fetch_watermarks(element.topic(), element.partition(), timeout)?;
                let done = match element.offset() {
                    rdkafka::Offset::Offset(offset) => offset,
                    _ => low,
                };
                lag += u64::try_from(high - done).unwrap_or(0);
            }
            lags.insert(name.to_owned(), lag);
        }
        Ok(lags)
    })
    .await
    .map_err(|error| WorkerError::Other(format!("reading consumer lag: {error}")))?
}

#[cfg(test)]
mod tests {
    use super::PartitionProgress;

    fn committed(progress: &mut PartitionProgress) -> Vec<(i32, i64)> {
        let mut offsets: Vec<(i32, i64)> = progress
            .offsets_to_commit("t")
            .map(|list| {
                list.elements()
                    .iter()
                    .filter_map(|element| match element.offset() {
                        rdkafka::Offset::Offset(offset) => Some((element.partition(), offset)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        offsets.sort_unstable();
        offsets
    }

    #[test]
    fn a_partition_commits_up_to_its_first_effect_not_done() {
        let mut progress = PartitionProgress::default();
        progress.received(0, 10, true);
        progress.received(0, 11, false);
        progress.received(0, 12, true);
        progress.received(1, 5, false);
        // 10 still runs: partition 0 commits nothing past it; partition 1 is all done.
        assert_eq!(committed(&mut progress), vec![(0, 10), (1, 6)]);
        // 12 ends before 10: still nothing past 10.
        progress.done(0, 12);
        assert_eq!(committed(&mut progress), vec![]);
        progress.done(0, 10);
        assert_eq!(committed(&mut progress), vec![(0, 13)]);
        // Nothing moved, nothing to commit.
        assert_eq!(committed(&mut progress), vec![]);
    }

    #[test]
    fn a_partition_given_back_from_an_earlier_offset_starts_over_there() {
        let mut progress = PartitionProgress::default();
        progress.received(0, 20, true);
        progress.received(0, 21, false);
        assert_eq!(committed(&mut progress), vec![(0, 20)]);
        // A rebalance hands the partition back from 18: effects from there are what counts.
        progress.received(0, 18, true);
        assert_eq!(committed(&mut progress), vec![(0, 18)]);
        progress.received(0, 19, false);
        progress.done(0, 18);
        assert_eq!(committed(&mut progress), vec![(0, 20)]);
    }
}
