//! The Kafka relay against a real Kafka-protocol broker (tansu at `TEST_KAFKA_BROKERS`, started by
//! the test command), on SQLite and PostgreSQL: the log arrives in order per stream, keyed by
//! stream id, with its headers, each event once; the checkpoint resumes where it stopped; the
//! lease keeps a second relay out.

use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, ExpectedVersion, NewEvent, RecordedEvent};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use std::collections::BTreeMap;
use workers::kafka::{KafkaSettings, Relay};

fn settings() -> KafkaSettings {
    let run = uuid::Uuid::new_v4().simple().to_string();
    KafkaSettings {
        brokers: std::env::var("TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic: format!("idlog-relay-{run}"),
        partitions: 3,
        replication: 1,
        group_prefix: format!("relay-{run}-"),
        batch_messages: 1,
        debug: None,
    }
}

async fn append(log: &eventstore::EventLog, stream: &str, count: usize) {
    let events = (0..count)
        .map(|n| NewEvent {
            event_type: "Counted".into(),
            schema_version: 1,
            payload: serde_json::json!({ "n": n }),
            personal_fields: Vec::new(),
        })
        .collect();
    log.append(AppendRequest::new(
        stream,
        "counter",
        ExpectedVersion::Any,
        events,
    ))
    .await
    .expect("appended");
}

/// Reads `count` messages from the topic's start (a fresh group), or fails after a while.
async fn read_back(settings: &KafkaSettings, count: usize) -> Vec<(String, RecordedEvent, String)> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", settings.group("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&settings.topic]).expect("subscribed");
    let mut read = Vec::new();
    while read.len() < count {
        let message = tokio::time::timeout(std::time::Duration::from_secs(30), consumer.recv())
            .await
            .expect("a message within 30 s")
            .expect("a message");
        let key = String::from_utf8_lossy(message.key().expect("a key")).into_owned();
        let event: RecordedEvent =
            serde_json::from_slice(message.payload().expect("a payload")).expect("an event");
        let headers = message.headers().expect("headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("event_type"), event.event_type);
        assert_eq!(header("position"), event.global_position.to_string());
        assert_eq!(header("event_id"), event.event_id.to_string());
        read.push((key, event, header("stream_type")));
    }
    read
}

/// A relay of `opened`'s log to the settings' topic, created first.
async fn relay_on_new_topic(opened: &eventstore::Opened, settings: &KafkaSettings) -> Relay {
    workers::kafka::ensure_topic(settings).await.expect("topic");
    Relay::new(
        opened.database.clone(),
        opened.log.clone(),
        settings.clone(),
    )
    .expect("relay")
}

async fn the_relay_publishes_the_log_once_in_order_by_stream(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    for stream in ["ann", "bob", "cat"] {
        append(&opened.log, stream, 10).await;
    }
    let settings = settings();
    let relay = relay_on_new_topic(&opened, &settings).await;
    assert_eq!(relay.publish_to_head().await.expect("published"), 30);
    // The checkpoint: nothing twice.
    assert_eq!(relay.publish_to_head().await.expect("nothing new"), 0);
    append(&opened.log, "bob", 5).await;
    assert_eq!(relay.publish_to_head().await.expect("the rest"), 5);
    assert_eq!(relay.status().await.expect("status").lag, 0);

    // Another relay waits for the lease.
    let other = Relay::new(
        opened.database.clone(),
        opened.log.clone(),
        settings.clone(),
    )
    .expect("relay");
    assert!(other.publish_to_head().await.is_err());

    let read = read_back(&settings, 35).await;
    let mut by_stream: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, event, stream_type) in &read {
        assert_eq!(key, &event.stream_id);
        assert_eq!(stream_type, "counter");
        by_stream
            .entry(key.clone())
            .or_default()
            .push(event.global_position);
    }
    let mut positions: Vec<u64> = read.iter().map(|(_, e, _)| e.global_position).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=35).collect::<Vec<_>>(), "each event once");
    for (stream, positions) in by_stream {
        assert!(positions.is_sorted(), "{stream}: {positions:?}");
    }
    // What arrived is what the log holds, hashes included.
    let stored = opened.log.read_all(0, 100).await.expect("log");
    let first = read
        .iter()
        .find(|(_, e, _)| e.global_position == 1)
        .map(|(_, e, _)| e.clone())
        .expect("position 1");
    assert_eq!(first, stored[0]);
}

/// The relay's continuous path (what `idlog serve` runs) publishes the log as stored: sealed
/// personal data, hashes that still verify.
async fn the_running_relay_publishes_personal_data_sealed(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    let mut request = AppendRequest::new(
        "ann",
        "user",
        ExpectedVersion::NoStream,
        vec![NewEvent {
            event_type: "Registered".into(),
            schema_version: 1,
            payload: serde_json::json!({ "email": "ann@example.com", "plan": "free" }),
            personal_fields: vec!["/email".into()],
        }],
    );
    request.data_subject = Some("ann".into());
    request.metadata.ip = Some("192.0.2.7".into());
    opened.log.append(request).await.expect("appended");
    let settings = settings();
    let relay = relay_on_new_topic(&opened, &settings).await;
    let running = tokio::spawn(relay.run());
    let read = read_back(&settings, 1).await;
    running.abort();
    let event = &read[0].1;
    let text = serde_json::to_string(event).expect("json");
    assert!(
        !text.contains("ann@example.com") && !text.contains("192.0.2.7"),
        "sealed in the topic: {text}"
    );
    assert_eq!(event.payload["plan"], "free");
    assert_eq!(eventstore::chain::recompute_hash(event), event.hash);
    let decoded = opened
        .log
        .decode_stored(vec![event.clone()])
        .await
        .expect("decoded");
    assert_eq!(decoded[0].payload["email"], "ann@example.com");
}

test_both_backends!(
    the_relay_publishes_the_log_once_in_order_by_stream,
    the_running_relay_publishes_personal_data_sealed,
);
