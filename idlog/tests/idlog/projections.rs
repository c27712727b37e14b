//! `idlog projections ...`, on SQLite and PostgreSQL: status, rebuild (live and past), dead
//! letters retried or skipped (only with consent), and bad input refused with exit code 2.

use super::common::{self, command_on, idlog_on, text};
use eventstore::testing::Backend;
use eventstore::{AppendRequest, ExpectedVersion, NewEvent, test_both_backends};
use std::process::Stdio;

async fn projections_status_and_rebuild_report_and_replace_the_read_models(backend: Backend) {
    let (db, dir) = common::two_users(backend).await;
    let status = idlog_on(dir.path(), &db.url, &["projections", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let head = report["projections"][0]["head"].as_u64().expect("head");
    assert!(head >= 2);
    assert_eq!(
        report["projections"][0]["lag"], head,
        "no server ran: nothing applied yet"
    );

    let rebuilt = idlog_on(dir.path(), &db.url, &["projections", "rebuild"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let out = text(&rebuilt);
    for name in ["directory", "sessions", "activity", "analytics"] {
        assert!(
            out.contains(&format!("{name}: rebuilt to position {head}")),
            "{out}"
        );
    }
    let status = idlog_on(dir.path(), &db.url, &["projections", "status"]);
    let out = text(&status);
    assert!(out.contains("caught up"), "{out}");
    assert!(out.contains("directory"), "{out}");

    let past = idlog_on(
        dir.path(),
        &db.url,
        &["projections", "rebuild", "directory", "--until", "1"],
    );
    assert!(past.status.success(), "{}", text(&past));
    assert!(text(&past).contains("past view at position 1"));
    // Bad input: exit code 2 and a plain message.
    for args in [
        &["projections", "rebuild", "nonsense"][..],
        &[
            "projections",
            "rebuild",
            "directory",
            "--until",
            "yesterday-ish",
        ][..],
        &["projections", "retry", "directory"][..],
        &[
            "maintenance",
            "prune-activity",
            "--older-than",
            "soon",
            "--yes",
        ][..],
    ] {
        let output = idlog_on(dir.path(), &db.url, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{stderr}");
    }
}

async fn dead_letters_are_listed_and_skipped_only_with_consent(backend: Backend) {
    let (db, dir) = common::two_users(backend).await;
    let opened = db.open().await.expect("open");
    let poison = opened
        .log
        .append(AppendRequest::new(
            "not-a-real-user",
            "user",
            ExpectedVersion::Any,
            vec![NewEvent {
                event_type: "UserRegistered".into(),
                schema_version: 1,
                payload: serde_json::json!({"garbage": true}),
                personal_fields: Vec::new(),
            }],
        ))
        .await
        .expect("appended")
        .last_position;
    drop(opened);
    // A server follows the log until the poison stops the directory.
    let mut server = command_on(dir.path(), &db.url, &["serve"])
        .env("IDLOG_SERVER_PORT", "0")
        .env("IDLOG_PROJECTIONS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut stopped = false;
    for _ in 0..200 {
        let status = idlog_on(dir.path(), &db.url, &["projections", "status"]);
        if text(&status).contains(&format!("STOPPED at {poison}")) {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(stopped, "the directory stopped at the poison");
    let letters = idlog_on(dir.path(), &db.url, &["projections", "dead-letters"]);
    let out = text(&letters);
    assert!(
        out.contains(&format!("directory position {poison} UserRegistered")),
        "{out}"
    );
    // No terminal, no --yes: refused, nothing changed.
    let refused = idlog_on(dir.path(), &db.url, &["projections", "skip", "directory"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"));
    let skipped = idlog_on(
        dir.path(),
        &db.url,
        &["projections", "skip", "directory", "--yes"],
    );
    assert!(skipped.status.success(), "{}", text(&skipped));
    assert!(text(&skipped).contains(&format!("skipped position {poison}")));
    let all = idlog_on(
        dir.path(),
        &db.url,
        &["projections", "dead-letters", "--all"],
    );
    assert!(text(&all).contains("[skipped]"), "{}", text(&all));
}

test_both_backends!(
    projections_status_and_rebuild_report_and_replace_the_read_models,
    dead_letters_are_listed_and_skipped_only_with_consent,
);
