//! `idlog events ...` (and `idlog keys checkpoint-public`), on SQLite and PostgreSQL: export,
//! checkpoint, offline verification (and each kind of tampering named), history, tail, and a
//! tampered database row found by `events verify` at its position.

use super::common::{self, idlog_on, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use std::path::Path;
use std::process::Output;

/// What a successful run printed on standard output.
fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A log with a few users created and one locked through the command line.
async fn seeded(backend: Backend) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    for email in ["ann@example.com", "bob@example.com", "cat@example.com"] {
        succeeds(&idlog_on(dir.path(), &db.url, &["users", "create", email]));
    }
    succeeds(&idlog_on(
        dir.path(),
        &db.url,
        &["users", "lock", "bob@example.com"],
    ));
    (db, dir)
}

test_both_backends!(
    an_export_verifies_offline_against_a_signed_checkpoint,
    tampering_with_an_export_is_named,
    a_tampered_database_row_is_found_at_its_position,
    history_and_tail_show_who_did_what,
);

/// Signs a checkpoint and exports the log; returns (export, checkpoint, public key).
fn checkpoint_and_export(dir: &Path, url: &str, format: &str) -> (String, String, String) {
    let checkpoint = dir.join("checkpoint.json");
    let out = succeeds(&idlog_on(
        dir,
        url,
        &[
            "events",
            "checkpoint",
            "-o",
            checkpoint.to_str().expect("path"),
        ],
    ));
    assert!(out.contains("\"signature\""), "{out}");
    let key = succeeds(&idlog_on(dir, url, &["keys", "checkpoint-public"]));
    let key = key.trim().to_owned();
    assert_eq!(key.len(), 64, "{key}");
    let export = dir.join(format!("log.{format}"));
    let out = succeeds(&idlog_on(
        dir,
        url,
        &[
            "events",
            "export",
            "--format",
            format,
            "-o",
            export.to_str().expect("path"),
            "--yes",
        ],
    ));
    assert!(out.contains("exported"), "{out}");
    (
        export.to_str().expect("path").to_owned(),
        checkpoint.to_str().expect("path").to_owned(),
        key,
    )
}

fn verify_offline(dir: &Path, export: &str, checkpoint: &str, key: &str) -> Output {
    // No database: a URL that goes nowhere proves it is not used.
    common::run(
        dir,
        &[
            "events",
            "verify",
            "--export",
            export,
            "--checkpoint",
            checkpoint,
            "--public-key",
            key,
        ],
        &[("IDLOG_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
    )
}

async fn an_export_verifies_offline_against_a_signed_checkpoint(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let (dir, url) = (dir.path(), db.url.as_str());
    for format in ["ndjson", "csv"] {
        let (export, checkpoint, key) = checkpoint_and_export(dir, url, format);
        let out = succeeds(&verify_offline(dir, &export, &checkpoint, &key));
        assert!(
            out.contains("complete and unaltered up to the signed checkpoint"),
            "{out}"
        );
    }
    // The checkpoints are in the log, and each was taken at a later head.
    let tail = succeeds(&idlog_on(
        dir,
        url,
        &["events", "tail", "--type", "CheckpointSigned"],
    ));
    assert_eq!(tail.lines().count(), 2, "{tail}");

    // Another key does not vouch for the checkpoint.
    let (export, checkpoint, _) = checkpoint_and_export(dir, url, "ndjson");
    // A process configured with another key refuses to sign for (or print a key for) this log.
    let other = "11".repeat(32);
    for args in [["keys", "checkpoint-public"], ["events", "checkpoint"]] {
        let output = common::run(
            dir,
            &args,
            &[
                ("IDLOG_DATABASE_URL", url),
                ("IDLOG_SECURITY_CHECKPOINT_KEY", &other),
            ],
        );
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            text(&output).contains("not the key this database's checkpoints are signed with"),
            "{}",
            text(&output)
        );
    }
    let other_public = audit::CheckpointKey::from_seed(&[0x11; 32])
        .public_key()
        .to_string();
    let refused = verify_offline(dir, &export, &checkpoint, &other_public);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("not by the trusted key"),
        "{}",
        text(&refused)
    );

    // A range export verifies on its own; with a checkpoint it must start at 1.
    let range = dir.join("range.ndjson");
    succeeds(&idlog_on(
        dir,
        url,
        &[
            "events",
            "export",
            "--from",
            "3",
            "--to",
            "6",
            "-o",
            range.to_str().expect("path"),
        ],
    ));
    let range = range.to_str().expect("path");
    let out = succeeds(&common::run(
        dir,
        &["events", "verify", "--export", range],
        &[],
    ));
    assert!(out.contains("positions 3 to 6"), "{out}");
    let key = succeeds(&idlog_on(dir, url, &["keys", "checkpoint-public"]));
    let refused = verify_offline(dir, range, &checkpoint, key.trim());
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("starts at position 3"),
        "{}",
        text(&refused)
    );

    // Exporting over an existing file asks first.
    let refused = idlog_on(dir, url, &["events", "export", "-o", range]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
}

fn rewrite(path: &str, change: impl FnOnce(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .expect("export")
        .lines()
        .map(str::to_owned)
        .collect();
    change(&mut lines);
    let tampered = format!("{path}.tampered");
    std::fs::write(&tampered, lines.join("\n") + "\n").expect("write");
    tampered
}

async fn tampering_with_an_export_is_named(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let (dir, url) = (dir.path(), db.url.as_str());
    let (export, checkpoint, key) = checkpoint_and_export(dir, url, "ndjson");
    let failure = |tampered: &str| -> String {
        let output = verify_offline(dir, tampered, &checkpoint, &key);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        text(&output)
    };

    // One byte flipped in bob's roles (line 3 is his UserCreated; his address is sealed): that
    // event is named.
    let flipped = rewrite(&export, |lines| {
        let line = &mut lines[2];
        assert!(
            line.contains("UserCreated") && line.contains("$sealed"),
            "{line}"
        );
        *line = line.replacen(r#""roles":["user"]"#, r#""roles":["usex"]"#, 1);
    });
    let message = failure(&flipped);
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("position 3"), "{message}");
    assert!(
        message.contains("content does not match its hash"),
        "{message}"
    );

    // One line dropped: the gap is named.
    let dropped = rewrite(&export, |lines| {
        lines.remove(1);
    });
    let message = failure(&dropped);
    assert!(message.contains("position 2"), "{message}");
    assert!(message.contains("missing or out of order"), "{message}");

    // Two lines swapped.
    let reordered = rewrite(&export, |lines| lines.swap(4, 5));
    let message = failure(&reordered);
    assert!(message.contains("position 5"), "{message}");
    assert!(message.contains("missing or out of order"), "{message}");

    // Cut before the checkpoint.
    let cut = rewrite(&export, |lines| lines.truncate(3));
    let message = failure(&cut);
    assert!(message.contains("events are missing"), "{message}");

    // The checkpoint itself altered.
    let forged_checkpoint = dir.join("forged.json");
    let text = std::fs::read_to_string(&checkpoint).expect("checkpoint");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value["position"] = serde_json::json!(2);
    std::fs::write(&forged_checkpoint, value.to_string()).expect("write");
    let output = verify_offline(
        dir,
        &export,
        forged_checkpoint.to_str().expect("path"),
        &key,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(common::text(&output).contains("signature does not verify"));
}

async fn a_tampered_database_row_is_found_at_its_position(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let (dir, url) = (dir.path(), db.url.as_str());
    let out = succeeds(&idlog_on(dir, url, &["events", "verify"]));
    assert!(out.contains("the chain is intact"), "{out}");
    assert!(out.contains("head hash"), "{out}");

    let opened = db.open().await.expect("open");
    let disable = match backend {
        Backend::Postgres => "ALTER TABLE events DISABLE TRIGGER events_append_only",
        Backend::Sqlite => "DROP TRIGGER events_no_update",
    };
    TestDb::execute(&opened.database, disable)
        .await
        .expect("disable the append-only trigger");
    let tamper = "UPDATE events SET stream_type = 'usr' WHERE global_position = 3";
    assert_eq!(
        TestDb::execute(&opened.database, tamper)
            .await
            .expect("tamper"),
        1
    );
    let output = idlog_on(dir, url, &["events", "verify"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = text(&output);
    assert!(message.contains("breaks at position 3"), "{message}");
    assert!(message.contains("expected"), "{message}");
    assert!(message.contains("found"), "{message}");
    assert!(message.contains("2 events before it verified"), "{message}");
    // A range after the tampered row still verifies.
    let out = succeeds(&idlog_on(dir, url, &["events", "verify", "--from", "4"]));
    assert!(out.contains("intact"), "{out}");
}

async fn history_and_tail_show_who_did_what(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let (dir, url) = (dir.path(), db.url.as_str());
    let history = idlog_on(
        dir,
        url,
        &["events", "history", "bob@example.com", "--json"],
    );
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&history.stdout).unwrap_or_else(|_| panic!("{}", text(&history)));
    let types: Vec<&str> = entries
        .iter()
        .map(|entry| entry["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        ["UserCreated", "PasswordResetRequested", "AccountLocked"]
    );
    for entry in &entries {
        assert!(
            entry["actor"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("system:cli:")),
            "{entry}"
        );
        assert_eq!(entry["hash"].as_str().map(str::len), Some(64));
    }
    let tail = stdout(&idlog_on(dir, url, &["events", "tail", "-n", "2"]));
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.contains("AccountLocked"), "{tail}");
    let json = idlog_on(dir, url, &["events", "tail", "-n", "1", "--json"]);
    let last: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON event");
    assert_eq!(last["event_type"], "AccountLocked");
}
