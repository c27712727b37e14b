//! The event store's behaviour, run against SQLite and PostgreSQL alike.

use eventstore::codec::PersonalDataCodec;
use eventstore::postgres::PostgresStorage;
use eventstore::sqlite::SqliteStorage;
use eventstore::storage::{Batch, BatchOutcome, DataKeyRecord, LogReads, LogStorage};
use eventstore::testing::{Backend, TestDb, as_trees};
use eventstore::upcast::Upcasters;
use eventstore::{
    Actor, ActorKind, AppendError, AppendRequest, Claim, EventLog, EventMetadata, ExpectedVersion,
    Head, IdempotencyKey, IdempotencyRecord, NewEvent, Opened, RecordedEvent, StoreError,
    test_both_backends,
};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

async fn fresh(backend: Backend) -> (TestDb, Opened) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open log");
    (db, opened)
}

fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_type: kind.into(),
        schema_version: 1,
        payload,
        personal_fields: vec![],
    }
}

fn request(stream: &str, expected: ExpectedVersion, count: usize) -> AppendRequest {
    let events = (0..count)
        .map(|n| event("Happened", json!({ "n": n, "stream": stream })))
        .collect();
    AppendRequest::new(stream, "thing", expected, events)
}

fn claim(value: u8, take: bool) -> Claim {
    Claim {
        kind: "email".into(),
        value_hash: [value; 32],
        take,
    }
}

async fn appends_and_reads_back_streams(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    let mut first = request("a", ExpectedVersion::NoStream, 2);
    first.metadata = EventMetadata {
        actor: Actor {
            kind: ActorKind::Admin,
            id: Some("admin-1".into()),
        },
        correlation_id: Some(uuid::Uuid::now_v7()),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("curl/8".into()),
        ..Default::default()
    };
    let appended = log.append(first.clone()).await.expect("append");
    assert_eq!(
        (
            appended.first_position,
            appended.last_position,
            appended.stream_version
        ),
        (1, 2, 2)
    );
    let appended = log
        .append(request("b", ExpectedVersion::NoStream, 1))
        .await
        .expect("append");
    assert_eq!((appended.first_position, appended.stream_version), (3, 1));
    let appended = log
        .append(request("a", ExpectedVersion::Exact(2), 1))
        .await
        .expect("append");
    assert_eq!((appended.first_position, appended.stream_version), (4, 3));

    let stream = log.read_stream("a").await.expect("read");
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        stream.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    assert_eq!(stream[0].payload, json!({"n": 0, "stream": "a"}));
    assert_eq!(stream[0].stream_type, "thing");
    assert_eq!(stream[0].metadata().expect("metadata"), first.metadata);
    assert_eq!(stream[1].prev_hash, stream[0].hash);
    assert!(stream[0].recorded_at <= stream[2].recorded_at);
    assert_eq!(log.read_stream_until("a", 2).await.expect("read").len(), 2);
    assert_eq!(log.head().await.expect("head").position, 4);
    assert!(log.read_stream("missing").await.expect("read").is_empty());
}

async fn refuses_an_append_at_the_wrong_version(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    log.append(request("a", ExpectedVersion::NoStream, 1))
        .await
        .expect("append");
    let error = log
        .append(request("a", ExpectedVersion::NoStream, 1))
        .await
        .expect_err("stream exists");
    assert!(
        matches!(error, AppendError::WrongExpectedVersion { actual: 1, .. }),
        "{error}"
    );
    let error = log
        .append(request("a", ExpectedVersion::Exact(5), 1))
        .await
        .expect_err("wrong version");
    assert!(
        matches!(error, AppendError::WrongExpectedVersion { actual: 1, .. }),
        "{error}"
    );
    let error = log
        .append(request("b", ExpectedVersion::Exact(1), 1))
        .await
        .expect_err("no stream");
    assert!(
        matches!(error, AppendError::WrongExpectedVersion { actual: 0, .. }),
        "{error}"
    );
    let appended = log
        .append(request("a", ExpectedVersion::Any, 2))
        .await
        .expect("any");
    assert_eq!(appended.stream_version, 3);
    assert_eq!(
        log.head().await.expect("head").position,
        3,
        "refused appends wrote nothing"
    );
    let error = log
        .append(request("a", ExpectedVersion::Any, 0))
        .await
        .expect_err("empty");
    assert!(matches!(error, AppendError::Invalid(_)));
}

async fn concurrent_appends_with_the_same_expected_version_have_one_winner(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    log.append(request("contested", ExpectedVersion::NoStream, 1))
        .await
        .expect("append");
    let attempts: Vec<_> = (0..32)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                log.append(request("contested", ExpectedVersion::Exact(1), 1))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(appended) => {
                wins += 1;
                assert_eq!(appended.stream_version, 2);
            }
            Err(AppendError::WrongExpectedVersion { actual: 2, .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(log.read_stream("contested").await.expect("read").len(), 2);
}

/// 64 writers append to random streams while 4 readers tail the log from position 0: every
/// reader sees exactly positions 1..N in order, and the events are the ones written.
async fn tailing_readers_see_every_position_once_in_order(backend: Backend) {
    const WRITERS: usize = 64;
    const APPENDS_PER_WRITER: usize = 15;
    const READERS: usize = 4;
    let (_db, Opened { log, .. }) = fresh(backend).await;

    let mut expected_total = 0;
    let mut plans = Vec::new();
    let mut rng = rand::thread_rng();
    for writer in 0..WRITERS {
        let plan: Vec<(String, usize)> = (0..APPENDS_PER_WRITER)
            .map(|_| {
                (
                    format!("stream-{}", rng.gen_range(0..40)),
                    rng.gen_range(1..=3),
                )
            })
            .collect();
        expected_total += plan.iter().map(|(_, count)| count).sum::<usize>();
        plans.push((writer, plan));
    }

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let mut subscription = log.subscribe(0);
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(expected_total);
                while seen.len() < expected_total {
                    seen.push(subscription.next().await.expect("next event"));
                }
                seen
            })
        })
        .collect();

    let writers: Vec<_> = plans
        .into_iter()
        .map(|(writer, plan)| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for (index, (stream, count)) in plan.into_iter().enumerate() {
                    let events: Vec<NewEvent> = (0..count)
                        .map(|n| {
                            event(
                                "Written",
                                json!({ "writer": writer, "append": index, "n": n }),
                            )
                        })
                        .collect();
                    let payloads: Vec<Value> = events.iter().map(|e| e.payload.clone()).collect();
                    let appended = log
                        .append(AppendRequest::new(
                            stream.clone(),
                            "thing",
                            ExpectedVersion::Any,
                            events,
                        ))
                        .await
                        .expect("append");
                    for (offset, payload) in payloads.into_iter().enumerate() {
                        written.push((
                            appended.first_position + offset as u64,
                            stream.clone(),
                            payload,
                        ));
                    }
                }
                written
            })
        })
        .collect();

    let mut written: HashMap<u64, (String, Value)> = HashMap::new();
    for writer in writers {
        for (position, stream, payload) in writer.await.expect("writer") {
            assert!(
                written.insert(position, (stream, payload)).is_none(),
                "position {position} handed out twice"
            );
        }
    }
    assert_eq!(written.len(), expected_total);

    for reader in readers {
        let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
            .await
            .expect("reader finished")
            .expect("reader task");
        let positions: Vec<u64> = seen.iter().map(|e| e.global_position).collect();
        assert_eq!(positions, (1..=expected_total as u64).collect::<Vec<_>>());
        for event in &seen {
            let (stream, payload) = &written[&event.global_position];
            assert_eq!((&event.stream_id, &event.payload), (stream, payload));
        }
    }
    // Stream versions are gap-free too.
    let mut versions: HashMap<String, Vec<u64>> = HashMap::new();
    for event in log.read_all(0, expected_total + 1).await.expect("read all") {
        versions
            .entry(event.stream_id)
            .or_default()
            .push(event.stream_version);
    }
    for (stream, versions) in versions {
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{stream}"
        );
    }
    let report = log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!(
        (report.verified, report.broken),
        (expected_total as u64, None)
    );
}

async fn claims_are_unique_and_released_with_events(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    let mut first = request("user-1", ExpectedVersion::NoStream, 1);
    first.claims = vec![claim(1, true)];
    log.append(first).await.expect("first claim");

    let mut second = request("user-2", ExpectedVersion::NoStream, 1);
    second.claims = vec![claim(1, true)];
    let error = log.append(second.clone()).await.expect_err("taken");
    assert!(
        matches!(&error, AppendError::DuplicateClaim { kind } if kind == "email"),
        "{error}"
    );
    assert!(
        log.read_stream("user-2").await.expect("read").is_empty(),
        "nothing appended"
    );

    // The owner may claim its own value again (no change), and release it.
    let mut again = request("user-1", ExpectedVersion::Exact(1), 1);
    again.claims = vec![claim(1, true)];
    log.append(again).await.expect("own claim");
    let mut release = request("user-1", ExpectedVersion::Exact(2), 1);
    release.claims = vec![claim(1, false), claim(2, true)];
    log.append(release).await.expect("move claim");
    assert_eq!(
        log.claim_owner("email", &[2; 32])
            .await
            .expect("owner")
            .as_deref(),
        Some("user-1")
    );

    log.append(second)
        .await
        .expect("released value can be taken");
    assert_eq!(
        log.claim_owner("email", &[1; 32])
            .await
            .expect("owner")
            .as_deref(),
        Some("user-2")
    );
    assert_eq!(log.claim_count("email").await.expect("count"), 2);
}

async fn idempotency_keys_return_the_first_result(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    let key = |fingerprint: u8| {
        Some(IdempotencyKey {
            key: "key-1".into(),
            fingerprint: [fingerprint; 32],
        })
    };
    let mut first = request("a", ExpectedVersion::NoStream, 2);
    first.idempotency = key(1);
    let original = log.append(first.clone()).await.expect("first");
    assert!(!original.replayed);

    // The same command again (even with a now-stale expected version) returns the first result.
    let replay = log.append(first.clone()).await.expect("replay");
    assert!(replay.replayed);
    assert_eq!(
        (
            replay.first_position,
            replay.last_position,
            replay.stream_version
        ),
        (1, 2, 2)
    );
    assert_eq!(
        log.head().await.expect("head").position,
        2,
        "nothing appended"
    );

    let mut other = request("b", ExpectedVersion::NoStream, 1);
    other.idempotency = key(2);
    let error = log.append(other).await.expect_err("reused key");
    assert!(
        matches!(error, AppendError::IdempotencyKeyReused),
        "{error}"
    );

    // Racing retries of one command append once.
    let mut racing = request("c", ExpectedVersion::NoStream, 1);
    racing.idempotency = Some(IdempotencyKey {
        key: "key-2".into(),
        fingerprint: [3; 32],
    });
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (log, racing) = (log.clone(), racing.clone());
            tokio::spawn(async move { log.append(racing).await })
        })
        .collect();
    let mut positions = HashSet::new();
    for task in tasks {
        positions.insert(
            task.await
                .expect("task")
                .expect("append or replay")
                .first_position,
        );
    }
    assert_eq!(positions.len(), 1);
    assert_eq!(log.read_stream("c").await.expect("read").len(), 1);
    let record = log
        .idempotency_record("key-2")
        .await
        .expect("record")
        .expect("stored");
    assert_eq!(record.stream_id, "c");
}

async fn an_edited_event_breaks_the_chain_at_its_position(backend: Backend) {
    let (_db, Opened { log, database }) = fresh(backend).await;
    for stream in ["a", "b", "c", "d"] {
        log.append(request(stream, ExpectedVersion::NoStream, 2))
            .await
            .expect("append");
    }
    let report = log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!((report.verified, report.broken), (8, None));
    assert_eq!(report.last_hash, log.head().await.expect("head").hash);

    // The log refuses edits...
    let edit =
        "UPDATE events SET payload = '{\"n\": 99, \"stream\": \"c\"}' WHERE global_position = 5";
    assert!(
        TestDb::execute(&database, edit).await.is_err(),
        "append-only trigger"
    );
    // ...and someone who gets past that is still caught.
    let disable = match backend {
        Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER events_append_only",
        Backend::Sqlite => "DROP TRIGGER events_no_update",
    };
    TestDb::execute(&database, disable)
        .await
        .expect("disable trigger");
    assert_eq!(TestDb::execute(&database, edit).await.expect("tamper"), 1);
    let report = log.verify_chain(|_| {}).await.expect("verify");
    let broken = report.broken.expect("tampering found");
    assert_eq!(broken.position, 5);
    assert_eq!(broken.kind, eventstore::chain::BreakKind::ContentAltered);
    assert_eq!(report.verified, 4);
}

/// PostgreSQL's `jsonb` reorders keys, drops duplicates and rewrites numbers; what the log reads
/// back as canonical text must still be exactly what was hashed.
async fn awkward_json_reads_back_as_the_canonical_text_it_was_hashed_as(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    let payloads = [
        json!({"bb": 1, "a": 2, "ccc": {"zz": [1, 2.5, -3, 1e300, 0.1, 18446744073709551615_u64], "y": null}}),
        json!({"text": "quote \" backslash \\ newline \n tab \t bell \u{7} é € 😀 \u{2028} /", "": true}),
        json!({"nested": [[[{"b": [], "a": {}}]]], "big": -9223372036854775808_i64, "f": -1.25e-7}),
        json!([1, "two", {"three": 3}]),
        json!("just a string"),
    ];
    let events = payloads
        .iter()
        .map(|payload| event("Awkward", payload.clone()))
        .collect();
    log.append(AppendRequest::new(
        "awkward",
        "thing",
        ExpectedVersion::NoStream,
        events,
    ))
    .await
    .expect("append");
    let stored = log.read_all_stored(0, 10).await.expect("stored");
    let texts: Vec<&str> = stored.iter().map(|event| event.payload.as_str()).collect();
    let expected: Vec<String> = payloads
        .iter()
        .map(eventstore::chain::canonical_json)
        .collect();
    assert_eq!(texts, expected);
    for event in &stored {
        assert_eq!(eventstore::chain::recompute_hash(event), event.hash);
    }
    let report = log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!((report.verified, report.broken), (5, None));
}

async fn a_restart_keeps_the_log_the_chain_and_the_claims(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let head = {
        let Opened { log, .. } = db.open().await.expect("open");
        let mut first = request("user-1", ExpectedVersion::NoStream, 3);
        first.claims = vec![claim(7, true)];
        first.idempotency = Some(IdempotencyKey {
            key: "k".into(),
            fingerprint: [1; 32],
        });
        log.append(first).await.expect("append");
        log.head().await.expect("head")
    };
    let Opened { log, .. } = db.open().await.expect("reopen");
    assert_eq!(log.head().await.expect("head"), head);
    assert_eq!(
        log.claim_owner("email", &[7; 32])
            .await
            .expect("owner")
            .as_deref(),
        Some("user-1")
    );
    assert!(log.idempotency_record("k").await.expect("record").is_some());
    log.append(request("user-1", ExpectedVersion::Exact(3), 1))
        .await
        .expect("append after restart");
    let report = log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!((report.verified, report.broken), (4, None));
}

/// A second process (here a second log on the same database) appends: the first one's cached
/// head is stale, its next append still lands right after, and its subscribers see both.
async fn two_processes_share_one_gap_free_log(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let Opened { log: first, .. } = db.open().await.expect("open");
    let Opened { log: second, .. } = db.open().await.expect("open again");
    let mut subscription = first.subscribe(0);
    first
        .append(request("a", ExpectedVersion::NoStream, 1))
        .await
        .expect("first");
    second
        .append(request("b", ExpectedVersion::NoStream, 2))
        .await
        .expect("second");
    let appended = first
        .append(request("a", ExpectedVersion::Exact(1), 1))
        .await
        .expect("first again");
    assert_eq!(appended.first_position, 4);
    let mut positions = Vec::new();
    for _ in 0..4 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), subscription.next());
        positions.push(next.await.expect("woken").expect("event").global_position);
    }
    assert_eq!(positions, vec![1, 2, 3, 4]);
    assert_eq!(
        first.verify_chain(|_| {}).await.expect("verify").broken,
        None
    );
}

/// Wraps sealed fields as `{"sealed": value}`: enough to see the codec is on the path.
struct WrappingCodec;

#[async_trait::async_trait]
impl PersonalDataCodec for WrappingCodec {
    async fn seal(
        &self,
        subject: &str,
        _implied_subject: &str,
        document: &mut Value,
        pointers: &[&str],
    ) -> Result<Option<eventstore::storage::DataKeyRecord>, String> {
        for pointer in pointers {
            if let Some(field) = document.pointer_mut(pointer) {
                *field = json!({ "sealed": field.take(), "subject": subject });
            }
        }
        Ok(None)
    }

    async fn open(&self, documents: &mut [(&str, &mut Value)]) -> Result<(), String> {
        for (_, document) in documents.iter_mut() {
            if let Value::Object(map) = document {
                for field in map.values_mut() {
                    if let Some(inner) = field.get_mut("sealed") {
                        *field = inner.take();
                    }
                }
            }
        }
        Ok(())
    }
}

async fn personal_data_goes_through_the_codec_and_old_schemas_are_upcast(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let upcasters = Upcasters::new().register("Registered", 1, |mut payload| {
        payload["name"] = payload["email"].clone();
        payload
    });
    let log: EventLog = eventstore::open_with(&db.url, 4, |builder| {
        builder.codec(Arc::new(WrappingCodec)).upcasters(upcasters)
    })
    .await
    .expect("open")
    .log;
    let mut append = AppendRequest::new(
        "user-1",
        "user",
        ExpectedVersion::NoStream,
        vec![NewEvent {
            event_type: "Registered".into(),
            schema_version: 1,
            payload: json!({ "email": "ann@example.com", "plan": "free" }),
            personal_fields: vec!["/email".into()],
        }],
    );
    append.data_subject = Some("user-1".into());
    append.metadata.ip = Some("192.0.2.9".into());
    log.append(append).await.expect("append");

    let stored = as_trees(log.read_all_stored(0, 10).await.expect("stored"));
    assert_eq!(
        stored[0].payload["email"],
        json!({ "sealed": "ann@example.com", "subject": "user-1" })
    );
    assert_eq!(
        stored[0].payload["plan"], "free",
        "non-personal fields stay in clear"
    );
    assert_eq!(stored[0].metadata["ip"]["sealed"], "192.0.2.9");
    let read = log.read_stream("user-1").await.expect("read");
    assert_eq!(read[0].schema_version, 2);
    assert_eq!(
        read[0].payload,
        json!({ "email": "ann@example.com", "name": "ann@example.com", "plan": "free" })
    );
    assert_eq!(read[0].metadata["ip"], "192.0.2.9");
    assert_eq!(
        log.verify_chain(|_| {}).await.expect("verify").broken,
        None,
        "the chain covers stored bytes"
    );
}

async fn refuses_text_the_databases_cannot_store(backend: Backend) {
    let (_db, Opened { log, .. }) = fresh(backend).await;
    let bad = AppendRequest::new(
        "a",
        "thing",
        ExpectedVersion::Any,
        vec![event("Happened", json!({"name": "a\u{0}b"}))],
    );
    assert!(matches!(
        log.append(bad).await,
        Err(AppendError::Invalid(_))
    ));
    // PostgreSQL's numbers have no negative zero: it would read back as 0.0, a false alarm.
    let negative_zero = AppendRequest::new(
        "a",
        "thing",
        ExpectedVersion::Any,
        vec![event("Happened", json!({"readings": [1.5, -0.0]}))],
    );
    assert!(matches!(
        log.append(negative_zero).await,
        Err(AppendError::Invalid(reason)) if reason.contains("negative zero")
    ));
    // One bad request in a group commit does not fail its neighbours.
    let good = log
        .append(request("b", ExpectedVersion::NoStream, 1))
        .await
        .expect("append");
    assert_eq!(good.first_position, 1);
}

/// Commits for real, then reports a lost connection once: the answer, not the commit, is lost.
struct LosesOneAnswer {
    inner: Arc<dyn LogStorage>,
    lost: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl LogReads for LosesOneAnswer {
    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }
    async fn read_stream(
        &self,
        id: &str,
        after: u64,
        until: Option<u64>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(id, after, until).await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn read_all_canonical(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<eventstore::storage::StoredEvent>, StoreError> {
        self.inner.read_all_canonical(after, limit).await
    }
    async fn stream_canonical(
        &self,
        after: u64,
        until: Option<u64>,
        batch: usize,
        batches: &tokio::sync::mpsc::Sender<
            Result<Vec<eventstore::storage::StoredEvent>, StoreError>,
        >,
    ) -> Result<(), StoreError> {
        self.inner
            .stream_canonical(after, until, batch, batches)
            .await
    }
    async fn stream_changes_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<eventstore::StreamChange>, StoreError> {
        self.inner.stream_changes_after(after, limit).await
    }
    async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency_record(key).await
    }
    async fn claim_owner(&self, kind: &str, hash: &[u8; 32]) -> Result<Option<String>, StoreError> {
        self.inner.claim_owner(kind, hash).await
    }
    async fn claim_count(&self, kind: &str) -> Result<u64, StoreError> {
        self.inner.claim_count(kind).await
    }
    async fn data_keys(&self, subjects: &[&str]) -> Result<Vec<DataKeyRecord>, StoreError> {
        self.inner.data_keys(subjects).await
    }
    async fn data_keys_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DataKeyRecord>, StoreError> {
        self.inner.data_keys_after(after, limit).await
    }
}

#[async_trait::async_trait]
impl LogStorage for LosesOneAnswer {
    async fn commit(&self, batch: &Batch) -> Result<BatchOutcome, StoreError> {
        let outcome = self.inner.commit(batch).await?;
        if !self.lost.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Batch("connection reset after COMMIT".into()));
        }
        Ok(outcome)
    }
    async fn data_key_or_insert(
        &self,
        record: &DataKeyRecord,
    ) -> Result<DataKeyRecord, StoreError> {
        self.inner.data_key_or_insert(record).await
    }
    async fn replace_wrapped_key(
        &self,
        subject: &str,
        old: &str,
        wrapped: &[u8],
        master: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .replace_wrapped_key(subject, old, wrapped, master)
            .await
    }
}

async fn a_commit_whose_answer_is_lost_is_not_written_twice(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let inner: Arc<dyn LogStorage> = match backend {
        Backend::Postgres => {
            let storage = PostgresStorage::connect(&db.url, 4).await.expect("connect");
            storage.migrate().await.expect("migrate");
            Arc::new(storage)
        }
        Backend::Sqlite => {
            let storage = SqliteStorage::open(&db.url, 4).await.expect("open");
            storage.migrate().await.expect("migrate");
            Arc::new(storage)
        }
    };
    let storage = LosesOneAnswer {
        inner,
        lost: std::sync::atomic::AtomicBool::new(false),
    };
    let log = EventLog::builder(Arc::new(storage))
        .build()
        .await
        .expect("log");
    let appended = log
        .append(request("a", ExpectedVersion::Any, 2))
        .await
        .expect("the append stands");
    assert_eq!((appended.first_position, appended.last_position), (1, 2));
    assert_eq!(
        log.read_stream("a").await.expect("read").len(),
        2,
        "written once"
    );
    let next = log
        .append(request("a", ExpectedVersion::Exact(2), 1))
        .await
        .expect("next append");
    assert_eq!(next.first_position, 3);
}

/// Records the changes it is told of.
#[derive(Default)]
struct ChangeRecorder(std::sync::Mutex<Vec<eventstore::StreamChange>>);

impl eventstore::ChangeObserver for ChangeRecorder {
    fn changed(&self, changes: &[eventstore::StreamChange]) {
        self.0.lock().expect("lock").extend_from_slice(changes);
    }
}

/// Observers hear of this process's appends before the appends return, and of another
/// process's once its wake-up arrives; each change once, in log order.
async fn change_observers_hear_of_every_append_once_in_order(backend: Backend) {
    let (db, Opened { log, .. }) = fresh(backend).await;
    let other = db.open().await.expect("second process").log;
    let recorder = Arc::new(ChangeRecorder::default());
    let observer: Arc<dyn eventstore::ChangeObserver> = recorder.clone();
    log.observe_changes(&observer);
    log.append(request("a", ExpectedVersion::NoStream, 2))
        .await
        .expect("append");
    assert!(log.changes_caught_up());
    assert_eq!(
        recorder.0.lock().expect("lock").len(),
        2,
        "told before the append returned"
    );
    other
        .append(request("b", ExpectedVersion::NoStream, 3))
        .await
        .expect("append elsewhere");
    // Ours after theirs: it waits for theirs to be read, then all arrive in order.
    log.append(request("a", ExpectedVersion::Exact(2), 1))
        .await
        .expect("append");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while recorder.0.lock().expect("lock").len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the other process's appends were not noticed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(log.changes_caught_up());
    let seen: Vec<(u64, String, u64)> = recorder
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|change| {
            (
                change.position,
                change.stream_id.clone(),
                change.stream_version,
            )
        })
        .collect();
    let expected: Vec<(u64, String, u64)> = [
        (1, "a", 1),
        (2, "a", 2),
        (3, "b", 1),
        (4, "b", 2),
        (5, "b", 3),
        (6, "a", 3),
    ]
    .into_iter()
    .map(|(position, stream, version)| (position, stream.to_owned(), version))
    .collect();
    assert_eq!(seen, expected);
    assert_eq!(log.changes_through(), 6);
}

test_both_backends!(
    a_commit_whose_answer_is_lost_is_not_written_twice,
    change_observers_hear_of_every_append_once_in_order,
    appends_and_reads_back_streams,
    refuses_an_append_at_the_wrong_version,
    concurrent_appends_with_the_same_expected_version_have_one_winner,
    tailing_readers_see_every_position_once_in_order,
    claims_are_unique_and_released_with_events,
    idempotency_keys_return_the_first_result,
    an_edited_event_breaks_the_chain_at_its_position,
    awkward_json_reads_back_as_the_canonical_text_it_was_hashed_as,
    a_restart_keeps_the_log_the_chain_and_the_claims,
    two_processes_share_one_gap_free_log,
    personal_data_goes_through_the_codec_and_old_schemas_are_upcast,
    refuses_text_the_databases_cannot_store,
);
