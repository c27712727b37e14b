//! `idlog partners ...`, on SQLite and PostgreSQL: a partner's transactions recorded (once per
//! idempotency key), listed, counted in its figures and across partners; the action catalog
//! extended and an action retired only with consent; bad input refused with exit code 2.

use super::common::{idlog_on, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};

async fn transactions_are_recorded_listed_and_counted(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    let created = on(&[
        "organizations",
        "create",
        "acme",
        "--partner-code",
        "ACME001",
        "--sender",
        "ACMESEND",
        "--receiver",
        "IDLOGRECV",
    ]);
    let acme: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&succeeds_out(&created))).expect("json");
    let id = acme["id"].as_str().expect("id").to_owned();
    let sent = [
        "partners",
        "record",
        &id,
        "transaction_sent",
        "--status",
        "ok",
        "--document-type",
        "850",
        "--resource-id",
        "PO-1",
        "--idempotency-key",
        "po-1",
    ];
    succeeds(&on(&sent));
    // The same key again records nothing.
    let again = on(&sent);
    assert!(text(&again).contains("nothing new"), "{}", text(&again));
    succeeds(&on(&[
        "partners",
        "record",
        &id,
        "transaction_received",
        "--status",
        "error",
    ]));
    let listed = succeeds(&on(&["partners", "activity", &id]));
    assert_eq!(
        listed
            .lines()
            .filter(|line| line.contains("transaction_"))
            .count(),
        2,
        "{listed}"
    );
    assert!(
        listed.contains("PO-1") && listed.contains("error"),
        "{listed}"
    );
    let figures: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&succeeds_out(&on(&[
            "partners", "figures", &id, "--days", "7",
        ]))))
        .expect("json");
    assert_eq!(figures["figures"]["sent"], 1, "{figures}");
    assert_eq!(figures["figures"]["failed"], 1);
    let overview = succeeds(&on(&["partners", "transactions"]));
    assert!(
        overview.contains("1 sent, 1 received, 1 failed; success rate 50.0%"),
        "{overview}"
    );
    assert!(overview.contains("ACME001"), "{overview}");

    // Refused: a transaction without a status, an unknown action, a bad status.
    for args in [
        &["partners", "record", &id, "transaction_sent"][..],
        &["partners", "record", &id, "teleported"][..],
        &[
            "partners",
            "record",
            &id,
            "transaction_sent",
            "--status",
            "maybe",
        ][..],
        &["partners", "record", "not-an-id", "file_uploaded"][..],
    ] {
        let refused = on(args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
    }
}

/// A run's standard output, once it succeeded.
fn succeeds_out(output: &std::process::Output) -> Vec<u8> {
    succeeds(output);
    output.stdout.clone()
}

test_both_backends!(transactions_are_recorded_listed_and_counted);

async fn actions_are_defined_and_retired_with_consent(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    succeeds(&on(&[
        "partners",
        "define-action",
        "acknowledgment_received",
        "--kind",
        "transaction",
        "--direction",
        "received",
    ]));
    let listed = succeeds(&on(&["partners", "actions"]));
    assert!(
        listed.contains("file_uploaded (file sent)")
            && listed.contains("acknowledgment_received (transaction received)"),
        "{listed}"
    );
    let unasked = on(&["partners", "retire-action", "acknowledgment_received"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    let builtin = on(&["partners", "retire-action", "file_uploaded", "--yes"]);
    assert_eq!(builtin.status.code(), Some(2), "{}", text(&builtin));
    succeeds(&on(&[
        "partners",
        "retire-action",
        "acknowledgment_received",
        "--yes",
    ]));
    let listed = succeeds(&on(&["partners", "actions"]));
    assert!(listed.contains("received, retired)"), "{listed}");
}

test_both_backends!(actions_are_defined_and_retired_with_consent);
