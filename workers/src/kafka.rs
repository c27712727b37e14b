//! The Kafka bus. A relay publishes the log to a topic in log order, keyed by stream id (so one
//! user's events stay in order on one partition), with the event type, position and id in
//! headers; it keeps its own checkpoint, saved after the broker acknowledged a batch, so a restart
//! resumes without loss (a batch in flight at a crash is published again: at least once). Only
//! the holder of the relay's lease publishes, so several servers may run it.
//!
//! Each worker kind is a consumer group (`{group_prefix}{worker}`): worker processes share the
//! partitions, and a message's offset is stored only after its effect is done (or dead-lettered),
//! then committed in the background; redeliveries after a crash or a rebalance are absorbed by
//! the workers' idempotence.

use crate::runner::{WorkerRunner, load_checkpoint, save_checkpoint};
use crate::{Worker, WorkerError};
use chrono::Utc;
use eventstore::{Database, EventLog, RecordedEvent};
use projections::sql;
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
use std::collections::HashMap;
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
    pub async fn publish(&self, events: &[RecordedEvent]) -> Result<(), WorkerError> {
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
        let mut subscription = self
            .log
            .subscribe(load_checkpoint(&self.database, RELAY).await?);
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

async fn consume_until_error(
    runner: &WorkerRunner,
    settings: &KafkaSettings,
    worker: &Arc<dyn Worker>,
) -> Result<(), WorkerError> {
    let consumer: StreamConsumer<Rebalances> = settings
        .client()
        .set("group.id", settings.group(worker.name()))
        // Offsets are committed by hand once the effect is done.
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
    let result = async {
        let mut skipped = 0;
        loop {
            let message = consumer.recv().await?;
            tracing::debug!(partition = message.partition(), offset = message.offset(), "received");
            let event: Option<RecordedEvent> = match message.payload().map(serde_json::from_slice) {
                Some(Ok(event)) => Some(event),
                Some(Err(error)) => {
                    tracing::error!(%error, partition = message.partition(), offset = message.offset(), "not an idlog event: skipped");
                    None
                }
                None => None,
            };
            let wanted = event.filter(|event| worker.wants(event));
            let effect = wanted.is_some();
            if let Some(event) = wanted {
                // Opened (and upcast) here, as every read of the log is.
                let event = runner
                    .log
                    .decode_stored(vec![event])
                    .await?
                    .pop()
                    .ok_or_else(|| WorkerError::Other("an event vanished while decoding".into()))?;
                // Runs to its end even if the consumer is stopped meanwhile.
                let (runner, worker) = (runner.clone(), worker.clone());
                tokio::spawn(async move { runner.deliver(worker.as_ref(), &event).await })
                    .await
                    .map_err(|error| WorkerError::Other(format!("delivering: {error}")))?;
            }
            consumer.store_offset_from_message(&message)?;
            // After an effect, commit at once (a crash then repeats nothing done); messages the
            // worker skips are committed with the next effect or every `SKIPPED_PER_COMMIT`.
            skipped = if effect { 0 } else { skipped + 1 };
            if effect || skipped >= SKIPPED_PER_COMMIT {
                consumer.commit_consumer_state(CommitMode::Async)?;
                skipped = 0;
            }
        }
    }
    .await;
    // Commit what is done before leaving (the message borrowed from the consumer is gone).
    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(%error, "nothing committed on leaving");
    }
    result
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
