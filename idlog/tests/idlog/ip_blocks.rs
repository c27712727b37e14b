//! `idlog ip-blocks`: blocks made from the command line reach a running server (another
//! process) before its next sign-in; lifting one asks first.

use crate::common::{idlog_on, start, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use serde_json::json;

async fn a_block_from_the_command_line_stops_a_running_servers_sign_ins(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("folder");
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    succeeds(&on(&["migrate"]));
    let server = start(
        dir.path(),
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_SERVER_PORT", "0"),
        ],
    );
    let client = reqwest::Client::new();
    let register = |email: &'static str| {
        client
            .post(format!("{}/api/v1/auth/register", server.address))
            .json(&json!({"email": email, "password": "correct horse battery staple"}))
            .send()
    };
    assert_eq!(
        register("ann@example.com")
            .await
            .expect("register")
            .status(),
        201
    );

    let garbage = on(&["ip-blocks", "block", "127.0.0", "--reason", "abuse"]);
    assert_eq!(garbage.status.code(), Some(2), "{}", text(&garbage));
    let unreasoned = on(&["ip-blocks", "block", "127.0.0.1", "--reason", " "]);
    assert_eq!(unreasoned.status.code(), Some(2), "{}", text(&unreasoned));
    succeeds(&on(&[
        "ip-blocks",
        "block",
        "127.0.0.0/8",
        "--reason",
        "abuse from the lab",
        "--expires-in-hours",
        "2",
    ]));
    let listed = succeeds(&on(&["ip-blocks", "list"]));
    assert!(
        listed.contains("127.0.0.0/8\tin force\t") && listed.contains("abuse from the lab"),
        "{listed}"
    );
    // The server learns of the other process's block before serving a sign-up.
    let mut refused = None;
    for _ in 0..100 {
        let answer = register("bob@example.com").await.expect("register");
        if answer.status() == 403 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status(), 201, "only bob's first try may pass");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused: serde_json::Value = refused
        .expect("refused within 5 s")
        .json()
        .await
        .expect("json");
    assert_eq!(refused["type"], "urn:idlog:problem:address-blocked");

    let unasked = on(&["ip-blocks", "unblock", "127.0.0.0/8"]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    succeeds(&on(&["ip-blocks", "unblock", "127.1.2.3/8", "--yes"]));
    let again = on(&["ip-blocks", "unblock", "127.0.0.0/8", "--yes"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("not blocked"), "{}", text(&again));
    assert!(
        succeeds(&on(&["ip-blocks", "list", "--json"]))
            .trim()
            .is_empty()
    );
    drop(server);
}

test_both_backends!(a_block_from_the_command_line_stops_a_running_servers_sign_ins);
