//! Export, checkpoint and offline verification against real databases.

use audit::checkpoint::{latest_checkpoints, record_checkpoint};
use audit::{
    CheckpointKey, ExportFilter, ExportFormat, ExportProblem, ExportWriter, verify_export,
};
use commands::{ClaimHasher, CommandHandler};
use eventstore::chain::BreakKind;
use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, EventMetadata, ExpectedVersion, NewEvent, Opened};
use serde_json::json;

eventstore::test_both_backends!(
    an_export_verifies_offline_against_a_signed_checkpoint,
    tampered_exports_are_caught_and_named,
    filters_and_ranges_select_events,
    verifying_a_range_of_the_log,
);

/// A log with `streams` streams of three events each.
async fn log_with_events(backend: Backend, streams: usize) -> (TestDb, Opened) {
    let db = TestDb::new(backend).await.expect("test database");
    let opened = db.open().await.expect("open");
    for stream in 0..streams {
        let events = (0..3)
            .map(|n| NewEvent {
                event_type: if n == 0 { "Started" } else { "Moved" }.into(),
                schema_version: 1,
                payload: json!({"n": n, "name": format!("stream {stream}"), "z": {"b": 1, "a": [true, null]}}),
                personal_fields: vec![],
            })
            .collect();
        opened
            .log
            .append(AppendRequest::new(
                format!("s{stream}"),
                "thing",
                ExpectedVersion::NoStream,
                events,
            ))
            .await
            .expect("append");
    }
    (db, opened)
}

async fn export_bytes(opened: &Opened, filter: &ExportFilter, format: ExportFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = ExportWriter::new(format, &mut bytes).expect("writer");
    audit::export::export(&opened.log, filter, &mut writer, |_| {})
        .await
        .expect("export");
    writer.finish().expect("finish");
    bytes
}

fn handler(opened: &Opened) -> CommandHandler {
    CommandHandler::new(opened.log.clone(), ClaimHasher::new([3; 32]))
}

async fn an_export_verifies_offline_against_a_signed_checkpoint(backend: Backend) {
    let (_db, opened) = log_with_events(backend, 10).await;
    let key = CheckpointKey::from_seed(&[5; 32]);
    let checkpoint = record_checkpoint(
        &handler(&opened),
        &key,
        EventMetadata::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("checkpoint");
    assert_eq!(checkpoint.position, 30, "signs the head before it");
    assert_eq!(
        latest_checkpoints(&opened.log, 5).await.expect("latest"),
        vec![checkpoint.clone()]
    );
    // The checkpoint's own event comes after the position it signs: verified, not covered.
    for format in [ExportFormat::Ndjson, ExportFormat::Csv] {
        let bytes = export_bytes(&opened, &ExportFilter::default(), format).await;
        let verdict = verify_export(
            bytes.as_slice(),
            Some((&checkpoint, &key.public_key())),
            |_| {},
        )
        .expect("verifies");
        assert_eq!(verdict.events, 31, "30 events and the checkpoint's own");
        assert_eq!(verdict.proven_up_to, Some(30));
        assert_eq!(
            verdict.last_hash,
            opened.log.head().await.expect("head").hash
        );
    }
    // A second checkpoint only moves forward.
    let again = record_checkpoint(
        &handler(&opened),
        &key,
        EventMetadata::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("second checkpoint");
    assert_eq!(again.position, 31);
    let latest = latest_checkpoints(&opened.log, 1).await.expect("latest");
    assert_eq!(latest, vec![again]);
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn joined(lines: &[String]) -> Vec<u8> {
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

async fn tampered_exports_are_caught_and_named(backend: Backend) {
    let (_db, opened) = log_with_events(backend, 5).await;
    let key = CheckpointKey::from_seed(&[5; 32]);
    let checkpoint = record_checkpoint(
        &handler(&opened),
        &key,
        EventMetadata::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("checkpoint");
    let trusted = key.public_key();
    let verify = |bytes: &[u8]| verify_export(bytes, Some((&checkpoint, &trusted)), |_| {});
    let original =
        lines(&export_bytes(&opened, &ExportFilter::default(), ExportFormat::Ndjson).await);

    // One byte flipped inside a payload value: that event's content no longer matches its hash.
    let mut flipped = original.clone();
    flipped[6] = flipped[6].replacen("stream 2", "stream 3", 1);
    match verify(&joined(&flipped)) {
        Err(ExportProblem::Broken { line, link }) => {
            assert_eq!(
                (line, link.position, link.kind),
                (7, 7, BreakKind::ContentAltered)
            );
        }
        other => panic!("flipped byte: {other:?}"),
    }

    // One line dropped: a gap where it was.
    let mut dropped = original.clone();
    dropped.remove(3);
    match verify(&joined(&dropped)) {
        Err(ExportProblem::Broken { line, link }) => {
            assert_eq!(
                (line, link.position, link.kind),
                (4, 4, BreakKind::PositionGap)
            );
        }
        other => panic!("dropped line: {other:?}"),
    }

    // Two lines swapped: the first of them is out of place.
    let mut reordered = original.clone();
    reordered.swap(8, 9);
    match verify(&joined(&reordered)) {
        Err(ExportProblem::Broken { line, link }) => {
            assert_eq!(
                (line, link.position, link.kind),
                (9, 9, BreakKind::PositionGap)
            );
        }
        other => panic!("reordered lines: {other:?}"),
    }

    // Cut short before the checkpoint: incomplete.
    let short = &original[..10];
    assert_eq!(
        verify(&joined(short)),
        Err(ExportProblem::EndsEarly {
            last: 10,
            checkpoint: 15
        })
    );

    // A whole forged tail, rehashed consistently, does not match the signed head.
    let mut forged: Vec<eventstore::RecordedEvent> = original
        .iter()
        .map(|line| serde_json::from_str(line).expect("event"))
        .collect();
    forged[14].payload = json!({"n": 2, "name": "forged"});
    forged[14].hash = eventstore::chain::recompute_hash(&forged[14]);
    let prev = forged[14].hash;
    forged[15].prev_hash = prev;
    forged[15].hash = eventstore::chain::recompute_hash(&forged[15]);
    let forged_lines: Vec<String> = forged
        .iter()
        .map(|event| serde_json::to_string(event).expect("json"))
        .collect();
    assert!(matches!(
        verify(&joined(&forged_lines)),
        Err(ExportProblem::CheckpointMismatch { position: 15, .. })
    ));

    // Garbage on a line is named by its line.
    let mut garbage = original.clone();
    garbage[2].insert(0, 'x');
    assert!(matches!(
        verify(&joined(&garbage)),
        Err(ExportProblem::Unreadable(line)) if line.line == 3
    ));

    // A checkpoint whose position was altered does not verify.
    let mut altered = checkpoint.clone();
    altered.position = 14;
    assert!(matches!(
        verify_export(
            joined(&original).as_slice(),
            Some((&altered, &trusted)),
            |_| {}
        ),
        Err(ExportProblem::Checkpoint(_))
    ));
}

async fn filters_and_ranges_select_events(backend: Backend) {
    let (_db, opened) = log_with_events(backend, 4).await;
    let read = |bytes: Vec<u8>| -> Vec<u64> {
        audit::ExportReader::new(bytes.as_slice())
            .expect("reader")
            .map(|item| item.expect("event").1.global_position)
            .collect()
    };
    let range = ExportFilter {
        from_position: Some(4),
        to_position: Some(9),
        ..Default::default()
    };
    let ranged = export_bytes(&opened, &range, ExportFormat::Csv).await;
    assert_eq!(read(ranged.clone()), (4..=9).collect::<Vec<_>>());
    // A range not from 1 verifies on its own, trusting its first link.
    let verdict = verify_export(ranged.as_slice(), None, |_| {}).expect("range verifies");
    assert_eq!((verdict.first_position, verdict.last_position), (4, 9));

    let stream = ExportFilter {
        stream: Some("s2".into()),
        ..Default::default()
    };
    assert_eq!(
        read(export_bytes(&opened, &stream, ExportFormat::Ndjson).await),
        vec![7, 8, 9]
    );
    let started = ExportFilter {
        event_type: Some("Started".into()),
        ..Default::default()
    };
    assert_eq!(
        read(export_bytes(&opened, &started, ExportFormat::Ndjson).await),
        vec![1, 4, 7, 10]
    );
    let head = opened.log.head().await.expect("head");
    let until_now = ExportFilter {
        to_time: head.recorded_at,
        from_time: head.recorded_at.map(|at| at - chrono::TimeDelta::days(1)),
        ..Default::default()
    };
    assert_eq!(
        read(export_bytes(&opened, &until_now, ExportFormat::Ndjson).await).len(),
        12
    );
    let before_all = ExportFilter {
        to_time: head.recorded_at.map(|at| at - chrono::TimeDelta::days(1)),
        ..Default::default()
    };
    assert!(read(export_bytes(&opened, &before_all, ExportFormat::Ndjson).await).is_empty());
}

async fn verifying_a_range_of_the_log(backend: Backend) {
    let (_db, opened) = log_with_events(backend, 4).await;
    let whole = opened.log.verify_chain(|_| {}).await.expect("verify");
    assert_eq!((whole.verified, whole.broken), (12, None));
    let range = opened
        .log
        .verify_chain_range(5, Some(9), |_| {})
        .await
        .expect("verify range");
    assert_eq!((range.verified, range.broken), (5, None));
    let events = opened.log.read_all_stored(8, 1).await.expect("read");
    assert_eq!(range.last_hash, events[0].hash);

    // A range starting at a removed event is a gap there, not an intact shorter range.
    let disable = match backend {
        Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER events_append_only",
        Backend::Sqlite => "DROP TRIGGER events_no_delete",
    };
    TestDb::execute(&opened.database, disable)
        .await
        .expect("disable the trigger");
    TestDb::execute(
        &opened.database,
        "DELETE FROM events WHERE global_position = 5",
    )
    .await
    .expect("remove an event");
    let range = opened
        .log
        .verify_chain_range(5, Some(9), |_| {})
        .await
        .expect("verify range");
    let broken = range.broken.expect("the gap is found");
    assert_eq!((broken.position, broken.kind), (5, BreakKind::PositionGap));
}
