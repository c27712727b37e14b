//! `idlog wallets`: users created before any server ran get their wallets when a server's
//! wallet worker first replays the log; credits and debits from the command line move once per
//! key and never below zero; freezing asks first.

use crate::common::{idlog_on, start, succeeds, text, two_users};
use eventstore::test_both_backends;
use eventstore::testing::Backend;

async fn users_from_before_get_wallets_and_operators_move_credits(backend: Backend) {
    let (db, dir) = two_users(backend).await;
    let on = |args: &[&str]| idlog_on(dir.path(), &db.url, args);
    let none = on(&["wallets", "show", "ann@example.com"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(text(&none).contains("no wallet yet"), "{}", text(&none));
    // A server's wallet worker starts at the log's beginning: both users get theirs.
    let server = start(
        dir.path(),
        &[
            ("IDLOG_DATABASE_URL", db.url.as_str()),
            ("IDLOG_SERVER_PORT", "0"),
        ],
    );
    for user in ["ann@example.com", "bob@example.com"] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !on(&["wallets", "show", user]).status.success() {
            assert!(std::time::Instant::now() < deadline, "{user}: no wallet");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    drop(server);
    assert_eq!(
        succeeds(&on(&["wallets", "show", "ann@example.com"])).trim(),
        "balance 0 credits, active"
    );
    let credit = [
        "wallets",
        "credit",
        "ann@example.com",
        "30",
        "--reason",
        "welcome credits",
        "--idempotency-key",
        "welcome-ann",
    ];
    assert!(succeeds(&on(&credit)).contains("balance 30 credits"));
    // Run again: nothing moves.
    let again = succeeds(&on(&credit));
    assert!(
        again.contains("balance 30 credits") && again.contains("nothing moved"),
        "{again}"
    );
    let overdrawn = on(&[
        "wallets",
        "debit",
        "ann@example.com",
        "31",
        "--reason",
        "too much",
        "--idempotency-key",
        "too-much",
    ]);
    assert_eq!(overdrawn.status.code(), Some(2), "{}", text(&overdrawn));
    assert!(
        text(&overdrawn).contains("insufficient funds"),
        "{}",
        text(&overdrawn)
    );
    let unkeyed = on(&["wallets", "debit", "ann@example.com", "1", "--reason", "r"]);
    assert_eq!(unkeyed.status.code(), Some(2), "{}", text(&unkeyed));
    let unasked = on(&[
        "wallets",
        "freeze",
        "ann@example.com",
        "--reason",
        "dispute",
    ]);
    assert_eq!(unasked.status.code(), Some(2), "{}", text(&unasked));
    assert!(
        succeeds(&on(&[
            "wallets",
            "freeze",
            "ann@example.com",
            "--reason",
            "dispute",
            "--yes"
        ]))
        .contains("frozen")
    );
    let history = succeeds(&on(&["wallets", "history", "ann@example.com"]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].ends_with("frozen: dispute"), "{history}");
    assert!(
        lines[1].ends_with("credited 30 (balance 30): welcome credits"),
        "{history}"
    );
    assert!(
        lines[2].contains("worker:wallets") && lines[2].ends_with("opened"),
        "{history}"
    );
}

test_both_backends!(users_from_before_get_wallets_and_operators_move_credits);
