//! The real `idlog` binary's read-side commands, on SQLite and PostgreSQL: projections status,
//! rebuild (live and past), dead letters, prune-activity, analysts' roles.

use eventstore::testing::{Backend, TestDb};
use eventstore::{AppendRequest, ExpectedVersion, NewEvent, test_both_backends};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::text;

/// `idlog ARGS` in `dir` against `url`.
fn command(dir: &Path, url: &str, args: &[&str]) -> Command {
    common::idlog(dir, args, &[("IDLOG_DATABASE_URL", url)])
}

/// Runs `idlog ARGS` in `dir` against `url`, with no standard input.
fn idlog(dir: &Path, url: &str, args: &[&str]) -> Output {
    common::run(dir, args, &[("IDLOG_DATABASE_URL", url)])
}

/// A log with a few users registered through the command line.
async fn seeded(backend: Backend) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    for email in ["ann@example.com", "bob@example.com"] {
        let output = idlog(dir.path(), &db.url, &["users", "create", email]);
        assert!(output.status.success(), "{}", text(&output));
    }
    (db, dir)
}

async fn projections_status_and_rebuild_report_and_replace_the_read_models(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let status = idlog(dir.path(), &db.url, &["projections", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let head = report["projections"][0]["head"].as_u64().expect("head");
    assert!(head >= 2);
    assert_eq!(
        report["projections"][0]["lag"], head,
        "no server ran: nothing applied yet"
    );

    let rebuilt = idlog(dir.path(), &db.url, &["projections", "rebuild"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let out = text(&rebuilt);
    for name in ["directory", "sessions", "activity", "analytics"] {
        assert!(
            out.contains(&format!("{name}: rebuilt to position {head}")),
            "{out}"
        );
    }
    let status = idlog(dir.path(), &db.url, &["projections", "status"]);
    let out = text(&status);
    assert!(out.contains("caught up"), "{out}");
    assert!(out.contains("directory"), "{out}");

    let past = idlog(
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
        let output = idlog(dir.path(), &db.url, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{stderr}");
    }
}

async fn dead_letters_are_listed_and_skipped_only_with_consent(backend: Backend) {
    let (db, dir) = seeded(backend).await;
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
    let mut server = command(dir.path(), &db.url, &["serve"])
        .env("IDLOG_SERVER_PORT", "0")
        .env("IDLOG_PROJECTIONS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut stopped = false;
    for _ in 0..200 {
        let status = idlog(dir.path(), &db.url, &["projections", "status"]);
        if text(&status).contains(&format!("STOPPED at {poison}")) {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(stopped, "the directory stopped at the poison");
    let letters = idlog(dir.path(), &db.url, &["projections", "dead-letters"]);
    let out = text(&letters);
    assert!(
        out.contains(&format!("directory position {poison} UserRegistered")),
        "{out}"
    );
    // No terminal, no --yes: refused, nothing changed.
    let refused = idlog(dir.path(), &db.url, &["projections", "skip", "directory"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"));
    let skipped = idlog(
        dir.path(),
        &db.url,
        &["projections", "skip", "directory", "--yes"],
    );
    assert!(skipped.status.success(), "{}", text(&skipped));
    assert!(text(&skipped).contains(&format!("skipped position {poison}")));
    let all = idlog(
        dir.path(),
        &db.url,
        &["projections", "dead-letters", "--all"],
    );
    assert!(text(&all).contains("[skipped]"), "{}", text(&all));
}

async fn prune_activity_asks_first_and_leaves_the_log_alone(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let rebuilt = idlog(dir.path(), &db.url, &["projections", "rebuild", "activity"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let refused = idlog(
        dir.path(),
        &db.url,
        &["maintenance", "prune-activity", "--older-than", "90d"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let kept = idlog(
        dir.path(),
        &db.url,
        &[
            "maintenance",
            "prune-activity",
            "--older-than",
            "90d",
            "--yes",
        ],
    );
    assert!(
        text(&kept).contains("removed 0 activity rows"),
        "{}",
        text(&kept)
    );
    let head = db
        .open()
        .await
        .expect("open")
        .log
        .head()
        .await
        .expect("head")
        .position;
    let status = idlog(dir.path(), &db.url, &["projections", "status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        report["projections"][0]["head"].as_u64(),
        Some(head),
        "the log is untouched"
    );
}

async fn analysts_get_a_read_only_role_on_postgresql(backend: Backend) {
    let (db, dir) = seeded(backend).await;
    let mut grant = command(
        dir.path(),
        &db.url,
        &[
            "analysts",
            "grant",
            "idlog_analyst_test",
            "--password-stdin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("idlog runs");
    {
        use std::io::Write;
        let mut stdin = grant.stdin.take().expect("stdin");
        stdin
            .write_all(b"an analyst's passphrase\n")
            .expect("password");
    }
    let output = grant.wait_with_output().expect("finished");
    if backend == Backend::Sqlite {
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(text(&output).contains("PostgreSQL"));
        return;
    }
    assert!(output.status.success(), "{}", text(&output));
    let rebuilt = idlog(
        dir.path(),
        &db.url,
        &["projections", "rebuild", "directory"],
    );
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    // The role reads the (rebuilt, so re-created) views, and nothing else.
    let Some((base, name)) = db.url.rsplit_once('/') else {
        panic!("url")
    };
    let (scheme, rest) = base.split_once("://").expect("scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let analyst_url =
        format!("{scheme}://idlog_analyst_test:an%20analyst%27s%20passphrase@{host}/{name}");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&analyst_url)
        .await
        .expect("the analyst connects");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM analytics.users")
        .fetch_one(&mut connection)
        .await
        .expect("reads the users view");
    assert_eq!(users, 2);
    let events = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await;
    assert!(events.is_err(), "the log is not the analysts'");
    let write = sqlx::query("DELETE FROM analytics.users")
        .execute(&mut connection)
        .await;
    assert!(write.is_err(), "read only");
    let bad = idlog(
        dir.path(),
        &db.url,
        &["analysts", "grant", "Robert'); DROP"],
    );
    assert_eq!(bad.status.code(), Some(2));
}

test_both_backends!(
    projections_status_and_rebuild_report_and_replace_the_read_models,
    dead_letters_are_listed_and_skipped_only_with_consent,
    prune_activity_asks_first_and_leaves_the_log_alone,
    analysts_get_a_read_only_role_on_postgresql,
);
