//! Per-person encryption and crypto-shredding in the log, on SQLite and PostgreSQL alike.

use eventstore::encryption::{MasterKey, MasterKeys, erased_value};
use eventstore::testing::{Backend, TEST_MASTER_KEY, TestDb, as_trees};
use eventstore::{
    AppendRequest, Database, EventLog, ExpectedVersion, NewEvent, Opened, test_both_backends,
};
use serde_json::{Value, json};

fn registered(email: &str) -> NewEvent {
    NewEvent {
        event_type: "Registered".into(),
        schema_version: 1,
        payload: json!({ "email": email, "phone": null, "plan": "free" }),
        personal_fields: vec!["/email".into(), "/phone".into()],
    }
}

fn append_for(subject: &str, event: NewEvent, version: ExpectedVersion) -> AppendRequest {
    let mut request = AppendRequest::new(subject, "user", version, vec![event]);
    request.data_subject = Some(subject.into());
    request.metadata.actor.id = Some(subject.into());
    request.metadata.ip = Some("192.0.2.7".into());
    request.metadata.user_agent = Some("curl/8.5".into());
    request
}

async fn open_with(db: &TestDb, masters: MasterKeys) -> Opened {
    eventstore::open_with(&db.url, 4, |builder| builder.encrypt_personal_data(masters))
        .await
        .expect("open")
}

fn test_masters() -> MasterKeys {
    MasterKeys::new(MasterKey::from_bytes(TEST_MASTER_KEY))
}

/// Every text of the stored log, as the database returns it.
async fn stored_text(log: &EventLog) -> String {
    let events = log.read_all_stored(0, 10_000).await.expect("stored");
    serde_json::to_string(&events).expect("json")
}

async fn personal_fields_are_stored_encrypted_and_read_back_in_clear(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let Opened { log, .. } = db.open().await.expect("open");
    log.append(append_for(
        "user-1",
        registered("ann@example.com"),
        ExpectedVersion::NoStream,
    ))
    .await
    .expect("append");

    let stored = as_trees(log.read_all_stored(0, 10).await.expect("stored"));
    let text = stored_text(&log).await;
    assert!(
        !text.contains("ann@example.com"),
        "no address in clear: {text}"
    );
    assert!(!text.contains("192.0.2.7") && !text.contains("curl/8.5"));
    assert_eq!(
        stored[0].payload["plan"], "free",
        "non-personal fields in clear"
    );
    assert_eq!(stored[0].payload["phone"], Value::Null, "nulls stay null");
    assert_eq!(stored[0].payload["email"], json!({"$sealed": true}));
    // The subject is the stream's: left implicit.
    let sealed = stored[0].payload["$personal"].as_str().expect("sealed");
    assert!(!sealed.contains(':'), "{sealed}");
    // Altered sealed data is refused, not read, and so is data moved to another stream.
    let mut altered = stored.clone();
    altered[0].payload["$personal"] = json!(format!("A{sealed}"));
    assert!(log.decode_stored(altered).await.is_err());
    let mut moved = stored.clone();
    moved[0].stream_id = "user-2".into();
    assert!(log.decode_stored(moved).await.is_err());

    // An administrator's address is theirs: sealed under their own key, named.
    let mut by_admin = append_for(
        "user-1",
        registered("ann@example.org"),
        ExpectedVersion::Exact(1),
    );
    by_admin.metadata.actor.id = Some("admin-1".into());
    log.append(by_admin).await.expect("append");
    let stored = as_trees(log.read_all_stored(0, 10).await.expect("stored"));
    assert!(
        stored[1].metadata["$personal"]
            .as_str()
            .expect("sealed")
            .starts_with("admin-1:")
    );
    assert!(
        !stored[1].payload["$personal"]
            .as_str()
            .expect("sealed")
            .contains(':')
    );
    let read = log.read_stream("user-1").await.expect("read");
    assert_eq!(read[1].payload["email"], "ann@example.org");
    assert_eq!(read[1].metadata["ip"], "192.0.2.7");

    let read = log.read_stream("user-1").await.expect("read");
    assert_eq!(read[0].payload["email"], "ann@example.com");
    assert_eq!(read[0].metadata["ip"], "192.0.2.7");
    assert_eq!(read[0].metadata["user_agent"], "curl/8.5");

    // A second process with the same master key reads it; one with another key cannot.
    let again = open_with(&db, test_masters()).await;
    assert_eq!(
        again.log.read_stream("user-1").await.expect("read")[0].payload["email"],
        "ann@example.com"
    );
    let stranger = open_with(&db, MasterKeys::new(MasterKey::generate())).await;
    assert!(stranger.log.read_stream("user-1").await.is_err());
}

async fn forgetting_destroys_the_key_and_the_chain_still_verifies(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let Opened { log, database } = db.open().await.expect("open");
    // Another process that has read (and cached) the user's key before they are forgotten.
    let other = open_with(&db, test_masters()).await.log;
    log.append(append_for(
        "user-1",
        registered("ann@example.com"),
        ExpectedVersion::NoStream,
    ))
    .await
    .expect("append");
    log.append(append_for(
        "user-2",
        registered("bob@example.com"),
        ExpectedVersion::NoStream,
    ))
    .await
    .expect("append");
    assert_eq!(
        other.read_stream("user-1").await.expect("read")[0].payload["email"],
        "ann@example.com"
    );
    let head_before = log.head().await.expect("head");

    let mut forget = append_for(
        "user-1",
        NewEvent {
            event_type: "Forgotten".into(),
            schema_version: 1,
            payload: json!({}),
            personal_fields: vec![],
        },
        ExpectedVersion::Exact(1),
    );
    forget.forget_data_subject = true;
    log.append(forget).await.expect("forget");

    let read = log.read_stream("user-1").await.expect("read");
    assert_eq!(
        read[0].payload["email"],
        erased_value(),
        "erased, not an error"
    );
    assert_eq!(read[0].payload["plan"], "free");
    assert_eq!(read[0].metadata["ip"], erased_value());
    assert_eq!(read[1].metadata["forgot_subject"], "user-1");
    assert_eq!(
        log.read_stream("user-2").await.expect("read")[0].payload["email"],
        "bob@example.com",
        "others are untouched"
    );

    // The other process forgets them as soon as it reads the event that forgot them.
    let tail = other
        .read_all(head_before.position, 10)
        .await
        .expect("tail");
    assert_eq!(tail.len(), 1);
    assert_eq!(
        other.read_stream("user-1").await.expect("read")[0].payload["email"],
        erased_value()
    );

    let report = log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!(report.broken, None, "the chain covers the stored bytes");
    assert_eq!(report.verified, 3);

    // The key row is there, destroyed, and cannot be brought back.
    let keys = match &database {
        Database::Postgres(pool) => sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM data_keys WHERE subject = 'user-1' AND wrapped_key IS NULL AND destroyed_at IS NOT NULL",
        )
        .fetch_one(pool)
        .await
        .expect("count"),
        Database::Sqlite(pool) => sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM data_keys WHERE subject = 'user-1' AND wrapped_key IS NULL AND destroyed_at IS NOT NULL",
        )
        .fetch_one(pool)
        .await
        .expect("count"),
    };
    assert_eq!(keys, 1);
    let restore = TestDb::execute(
        &database,
        "UPDATE data_keys SET wrapped_key = (SELECT wrapped_key FROM data_keys WHERE subject = 'user-2'), destroyed_at = NULL WHERE subject = 'user-1'",
    )
    .await;
    assert!(restore.is_err(), "a destroyed key stays destroyed");

    // Nothing new is sealed for someone forgotten.
    let late = log
        .append(append_for(
            "user-1",
            registered("ann@example.com"),
            ExpectedVersion::Exact(2),
        ))
        .await;
    assert!(late.is_err(), "{late:?}");
}

async fn events_written_in_clear_before_encryption_read_as_they_are(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let plain = eventstore::open(&db.url, 4).await.expect("open plain").log;
    plain
        .append(append_for(
            "user-1",
            registered("old@example.com"),
            ExpectedVersion::NoStream,
        ))
        .await
        .expect("plain append");
    drop(plain);
    let Opened { log, .. } = db.open().await.expect("open encrypted");
    log.append(append_for(
        "user-2",
        registered("new@example.com"),
        ExpectedVersion::NoStream,
    ))
    .await
    .expect("append");
    let events = log.read_all(0, 10).await.expect("read");
    assert_eq!(events[0].payload["email"], "old@example.com");
    assert_eq!(events[0].metadata["ip"], "192.0.2.7");
    assert_eq!(events[1].payload["email"], "new@example.com");
    let text = stored_text(&log).await;
    assert!(text.contains("old@example.com") && !text.contains("new@example.com"));
    assert_eq!(log.verify_chain(|_| {}).await.expect("verify").broken, None);
}

async fn a_new_master_key_rewraps_data_keys_without_touching_the_log(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let Opened { log, .. } = db.open().await.expect("open");
    for n in 0..3 {
        let subject = format!("user-{n}");
        log.append(append_for(
            &subject,
            registered(&format!("u{n}@example.com")),
            ExpectedVersion::NoStream,
        ))
        .await
        .expect("append");
    }
    let stored_before = stored_text(&log).await;
    let new_master = MasterKey::generate();
    let rotating = open_with(
        &db,
        MasterKeys {
            current: new_master.clone(),
            previous: vec![MasterKey::from_bytes(TEST_MASTER_KEY)],
        },
    )
    .await
    .log;
    let mut seen = 0;
    let rewrapped = rotating
        .rewrap_data_keys(|count| seen = count)
        .await
        .expect("rewrap");
    assert_eq!((rewrapped, seen), (3, 3));
    assert_eq!(
        rotating.rewrap_data_keys(|_| {}).await.expect("again"),
        0,
        "nothing left to re-wrap"
    );
    // Only the new key is needed now; the old one alone no longer opens anything.
    let fresh = open_with(&db, MasterKeys::new(new_master)).await.log;
    assert_eq!(
        fresh.read_stream("user-2").await.expect("read")[0].payload["email"],
        "u2@example.com"
    );
    assert!(
        open_with(&db, test_masters())
            .await
            .log
            .read_stream("user-2")
            .await
            .is_err()
    );
    assert_eq!(
        stored_text(&fresh).await,
        stored_before,
        "the log is untouched"
    );
}

async fn two_processes_creating_one_subjects_key_agree_on_one(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let first = db.open().await.expect("open").log;
    let second = open_with(&db, test_masters()).await.log;
    // The first process seals for a new subject, but its append is refused: on SQLite the new
    // key is not stored then (it goes in with the events), on PostgreSQL it is.
    let refused = first
        .append(append_for(
            "user-1",
            registered("ann@example.com"),
            ExpectedVersion::Exact(5),
        ))
        .await;
    assert!(refused.is_err());
    // The second process creates and stores the key of its own.
    second
        .append(append_for(
            "user-1",
            registered("ann@example.com"),
            ExpectedVersion::NoStream,
        ))
        .await
        .expect("second");
    // The first one's next append finds the stored key (sealing again if it had its own).
    first
        .append(append_for(
            "user-1",
            registered("ann@example.org"),
            ExpectedVersion::Exact(1),
        ))
        .await
        .expect("first, again");
    for log in [&first, &second] {
        let events = log.read_stream("user-1").await.expect("read");
        assert_eq!(events[0].payload["email"], "ann@example.com");
        assert_eq!(events[1].payload["email"], "ann@example.org");
    }
}

async fn concurrent_appends_for_a_new_subject_seal_under_one_key(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let log = db.open().await.expect("open").log;
    // Thirty appends at once on the runtime's threads, each a stream of its own (so they may be
    // committed together), all sealing for one subject who has no key yet.
    let appends = (0..30).map(|n| {
        let log = log.clone();
        tokio::spawn(async move {
            let mut request = append_for(
                "user-9",
                registered(&format!("ann{n}@example.com")),
                ExpectedVersion::NoStream,
            );
            request.stream_id = format!("session-{n}");
            log.append(request).await
        })
    });
    for appended in futures::future::join_all(appends).await {
        appended.expect("task").expect("append");
    }
    // Another process, with nothing cached, reads every one of them.
    let other = open_with(&db, test_masters()).await.log;
    for n in 0..30 {
        let events = other
            .read_stream(&format!("session-{n}"))
            .await
            .expect("readable");
        assert_eq!(events[0].payload["email"], format!("ann{n}@example.com"));
    }
}

async fn forgetting_someone_without_a_key_leaves_a_destroyed_one(backend: Backend) {
    let db = TestDb::new(backend).await.expect("db");
    let log = db.open().await.expect("open").log;
    // Nothing of theirs was ever sealed: they have no key.
    let mut forget = append_for(
        "user-3",
        NewEvent {
            event_type: "Forgotten".into(),
            schema_version: 1,
            payload: json!({}),
            personal_fields: vec![],
        },
        ExpectedVersion::Any,
    );
    forget.metadata.actor.id = Some("admin-1".into());
    forget.forget_data_subject = true;
    log.append(forget).await.expect("forget");
    // Another process may not create a key for them now.
    let other = open_with(&db, test_masters()).await.log;
    let sealing = other
        .append(append_for(
            "user-3",
            registered("carl@example.com"),
            ExpectedVersion::Any,
        ))
        .await;
    assert!(sealing.is_err(), "{sealing:?}");
}

test_both_backends!(
    concurrent_appends_for_a_new_subject_seal_under_one_key,
    forgetting_someone_without_a_key_leaves_a_destroyed_one,
    two_processes_creating_one_subjects_key_agree_on_one,
    personal_fields_are_stored_encrypted_and_read_back_in_clear,
    forgetting_destroys_the_key_and_the_chain_still_verifies,
    events_written_in_clear_before_encryption_read_as_they_are,
    a_new_master_key_rewraps_data_keys_without_touching_the_log,
);
