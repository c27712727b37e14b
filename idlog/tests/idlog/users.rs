//! `idlog users ...`, on SQLite and PostgreSQL: create (and its errors, with nothing appended),
//! list in each format, lifecycle commands, unlock-all, delete and clear-all (refused without a
//! terminal unless `--yes`), show as of a past point.

use super::common::{self, idlog_on, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

const PASSWORD: &str = "correct horse battery staple";

/// Runs `idlog ARGS` with `input` on standard input.
fn idlog_with_input(dir: &Path, url: &str, args: &[&str], input: &str) -> Output {
    let mut child = common::idlog(dir, args, &[("IDLOG_DATABASE_URL", url)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child.wait_with_output().expect("run")
}

/// The log's length, from `idlog events verify`.
fn log_length(dir: &Path, url: &str) -> u64 {
    let out = succeeds(&idlog_on(dir, url, &["events", "verify"]));
    out.split("intact: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

fn listed(dir: &Path, url: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["users", "list", "--format", "json"];
    all.extend_from_slice(args);
    let output = idlog_on(dir, url, &all);
    serde_json::from_slice(&succeeds_output(&output).stdout).expect("a JSON array")
}

fn succeeds_output(output: &Output) -> &Output {
    assert!(output.status.success(), "{}", text(output));
    output
}

fn emails(users: &[serde_json::Value]) -> Vec<String> {
    let mut emails: Vec<String> = users
        .iter()
        .map(|user| user["email"].as_str().expect("email").to_owned())
        .collect();
    emails.sort();
    emails
}

test_both_backends!(
    creating_users_and_the_errors_that_append_nothing,
    listing_in_each_format_and_filtering,
    lifecycle_commands_and_point_in_time_views,
    deleting_asks_first_and_goes_through_commands,
);

async fn creating_users_and_the_errors_that_append_nothing(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dir, url) = (dir.path(), db.url.as_str());
    succeeds(&idlog_on(
        dir,
        url,
        &[
            "users",
            "create",
            "ann@example.com",
            "--role",
            "admin",
            "--password",
            PASSWORD,
        ],
    ));
    let out = succeeds(&idlog_with_input(
        dir,
        url,
        &["users", "create", "bob@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    ));
    assert!(out.contains("created user"), "{out}");
    let out = succeeds(&idlog_on(
        dir,
        url,
        &["users", "create", "cat@example.com", "--invite"],
    ));
    assert!(out.contains("invitation"), "{out}");
    let before = log_length(dir, url);

    for (args, message) in [
        (
            vec!["users", "create", "BOB@example.com", "--password", PASSWORD],
            "already taken",
        ),
        (
            vec!["users", "create", "dan@example.com", "--password", "short"],
            "the password must be at least",
        ),
        (
            vec![
                "users",
                "create",
                "dan@example.com",
                "--password",
                "1qaz2wsx3edc",
            ],
            "common",
        ),
        (
            vec!["users", "create", "dan@example.com", "--role", "wizard"],
            "unknown role wizard",
        ),
        (vec!["users", "create", "not-an-email"], "not-an-email"),
        (
            vec![
                "users",
                "create",
                "dan@example.com",
                "--organization",
                "0193c2c8-0000-7000-8000-000000000000",
                "--organization-role",
                "member",
            ],
            "no organization",
        ),
        (
            vec!["users", "create", "dan@example.com", "--phone", "12"],
            "--phone \"12\"",
        ),
        (
            vec!["users", "create", "dan@example.com", "--username", "a b"],
            "--username",
        ),
        (
            vec!["users", "create", "dan@example.com", "--temporary-password"],
            "--temporary-password needs a password",
        ),
    ] {
        let output = idlog_on(dir, url, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    assert_eq!(
        log_length(dir, url),
        before,
        "the refused commands appended nothing"
    );

    // The operator is recorded as the actor.
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "bob@example.com"],
    ));
    assert!(history.contains("UserCreated"), "{history}");
    assert!(history.contains("actor=system:cli:"), "{history}");

    // Without USER and LOGNAME (cron, containers) the process's account is named instead.
    let output = common::idlog(
        dir,
        &[
            "users",
            "create",
            "cron@example.com",
            "--password",
            PASSWORD,
        ],
        &[("IDLOG_DATABASE_URL", url)],
    )
    .env_remove("USER")
    .env_remove("LOGNAME")
    .stdin(std::process::Stdio::null())
    .output()
    .expect("runs");
    succeeds(&output);
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "cron@example.com"],
    ));
    let account = whoami::username();
    assert!(
        history.contains(&format!("actor=system:cli:{account}")),
        "{history}"
    );
    assert!(!history.contains("system:cli:unknown"), "{history}");

    // Every identity field at creation, and a password to change at the first sign-in.
    succeeds(&idlog_on(
        dir,
        url,
        &[
            "users",
            "create",
            "dora@example.com",
            "--password",
            PASSWORD,
            "--temporary-password",
            "--username",
            "dora",
            "--first-name",
            "Dora",
            "--last-name",
            "Lee",
            "--phone",
            "+1 415 555 0199",
        ],
    ));
    let shown: serde_json::Value = serde_json::from_slice(
        &succeeds_output(&idlog_on(dir, url, &["users", "show", "dora@example.com"])).stdout,
    )
    .expect("json");
    let user = &shown["user"];
    assert_eq!(user["username"], "dora", "{shown}");
    assert_eq!(user["first_name"], "Dora");
    assert_eq!(user["last_name"], "Lee");
    assert_eq!(user["phone"], "+14155550199");
    assert_eq!(user["password_change_required"], true, "{shown}");
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "dora@example.com"],
    ));
    assert!(history.contains("PasswordChangeRequired"), "{history}");
}

async fn listing_in_each_format_and_filtering(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dir, url) = (dir.path(), db.url.as_str());
    for (email, role) in [
        ("ann@example.com", "admin"),
        ("bob@example.com", "user"),
        ("cat@example.com", "user"),
    ] {
        succeeds(&idlog_on(
            dir,
            url,
            &["users", "create", email, "--role", role],
        ));
    }
    let table = idlog_on(dir, url, &["users", "list"]);
    let table = String::from_utf8_lossy(&succeeds_output(&table).stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("EMAIL"), "{table}");
    assert_eq!(lines.len(), 4, "a header and three users: {table}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("bob@example.com") && line.contains("active"))
    );

    let json = listed(dir, url, &[]);
    assert_eq!(
        emails(&json),
        ["ann@example.com", "bob@example.com", "cat@example.com"]
    );
    assert!(
        json.iter()
            .all(|user| user["id"].is_string() && user["roles"].is_array())
    );

    let csv = idlog_on(dir, url, &["users", "list", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&succeeds_output(&csv).stdout).into_owned();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "email,id,roles,status,created_at");
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(
        rows.iter()
            .any(|row| row.starts_with("ann@example.com,") && row.contains(",admin,active,"))
    );

    assert_eq!(
        emails(&listed(dir, url, &["--role", "admin"])),
        ["ann@example.com"]
    );
    assert!(listed(dir, url, &["--status", "locked"]).is_empty());
    let bad = idlog_on(dir, url, &["users", "list", "--status", "sleepy"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

async fn lifecycle_commands_and_point_in_time_views(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dir, url) = (dir.path(), db.url.as_str());
    let before_creation = chrono::Utc::now();
    succeeds(&idlog_on(
        dir,
        url,
        &["users", "create", "bob@example.com", "--password", PASSWORD],
    ));
    succeeds(&idlog_on(
        dir,
        url,
        &["users", "create", "cat@example.com", "--password", PASSWORD],
    ));
    let created_at_position = log_length(dir, url);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before_lock = chrono::Utc::now();

    let out = succeeds(&idlog_on(
        dir,
        url,
        &["users", "lock", "bob@example.com", "--reason", "audit"],
    ));
    assert!(out.contains("locked"), "{out}");
    succeeds(&idlog_on(dir, url, &["users", "lock", "cat@example.com"]));
    assert_eq!(
        emails(&listed(dir, url, &["--status", "locked"])),
        ["bob@example.com", "cat@example.com"]
    );
    // Unlocking a user who is not locked is refused plainly.
    succeeds(&idlog_on(dir, url, &["users", "unlock", "cat@example.com"]));
    let again = idlog_on(dir, url, &["users", "unlock", "cat@example.com"]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("not locked"), "{}", text(&again));
    succeeds(&idlog_on(dir, url, &["users", "lock", "cat@example.com"]));

    // Now, and as of before the lock: by time and by position.
    let show = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["users", "show", "bob@example.com"];
        all.extend_from_slice(args);
        serde_json::from_slice(&succeeds_output(&idlog_on(dir, url, &all)).stdout).expect("json")
    };
    assert_eq!(show(&[])["user"]["locked"], true);
    let before = before_lock.to_rfc3339();
    let then = show(&["--as-of", &before]);
    assert_eq!(then["user"]["locked"], false, "{then}");
    assert_eq!(then["user"]["email"], "bob@example.com");
    let position = created_at_position.to_string();
    assert_eq!(show(&["--at-position", &position])["user"]["locked"], false);
    let too_early = idlog_on(
        dir,
        url,
        &[
            "users",
            "show",
            "bob@example.com",
            "--as-of",
            &before_creation.to_rfc3339(),
        ],
    );
    assert_eq!(too_early.status.code(), Some(2), "{}", text(&too_early));
    assert!(
        text(&too_early).contains("did not exist"),
        "{}",
        text(&too_early)
    );

    let out = succeeds(&idlog_on(dir, url, &["users", "unlock-all"]));
    assert!(out.contains("unlocked 2 users"), "{out}");
    assert!(listed(dir, url, &["--status", "locked"]).is_empty());

    succeeds(&idlog_on(
        dir,
        url,
        &["users", "deactivate", "bob@example.com", "--reason", "left"],
    ));
    assert_eq!(
        emails(&listed(dir, url, &["--status", "inactive"])),
        ["bob@example.com"]
    );
    let refused = idlog_on(dir, url, &["users", "reset-password", "bob@example.com"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "deactivated: {}",
        text(&refused)
    );
    succeeds(&idlog_on(
        dir,
        url,
        &["users", "reactivate", "bob@example.com"],
    ));
    let out = succeeds(&idlog_on(
        dir,
        url,
        &["users", "reset-password", "bob@example.com"],
    ));
    assert!(out.contains("password reset link"), "{out}");
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "bob@example.com"],
    ));
    assert!(history.contains("PasswordResetRequested"), "{history}");

    // Setting a password: the policy holds, and the event is recorded.
    let weak = idlog_on(
        dir,
        url,
        &[
            "users",
            "set-password",
            "bob@example.com",
            "--password",
            "short",
        ],
    );
    assert_eq!(weak.status.code(), Some(2), "{}", text(&weak));
    let out = succeeds(&idlog_on(
        dir,
        url,
        &[
            "users",
            "set-password",
            "bob@example.com",
            "--password",
            "from the operator's desk",
        ],
    ));
    assert!(out.contains("set the password of"), "{out}");
    // Verifying by hand needs a reason; a phone number the user lacks is refused plainly.
    let without_reason = idlog_on(dir, url, &["users", "verify", "bob@example.com", "email"]);
    assert_eq!(
        without_reason.status.code(),
        Some(2),
        "{}",
        text(&without_reason)
    );
    let out = succeeds(&idlog_on(
        dir,
        url,
        &[
            "users",
            "verify",
            "bob@example.com",
            "email",
            "--reason",
            "confirmed by phone call",
        ],
    ));
    assert!(out.contains("verified the email address of"), "{out}");
    let no_phone = idlog_on(
        dir,
        url,
        &[
            "users",
            "verify",
            "bob@example.com",
            "phone",
            "--reason",
            "x",
        ],
    );
    assert_eq!(no_phone.status.code(), Some(2), "{}", text(&no_phone));
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "bob@example.com"],
    ));
    assert!(history.contains("PasswordSet"), "{history}");
    assert!(history.contains("EmailVerified"), "{history}");
    assert!(show(&[])["user"]["email_verified_at"].is_string());

    let unknown = idlog_on(dir, url, &["users", "lock", "nobody@example.com"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("no user has the email address"));
}

async fn deleting_asks_first_and_goes_through_commands(backend: Backend) {
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dir, url) = (dir.path(), db.url.as_str());
    for email in ["ann@example.com", "bob@example.com", "cat@example.com"] {
        succeeds(&idlog_on(dir, url, &["users", "create", email]));
    }
    let bob = listed(dir, url, &[])
        .into_iter()
        .find(|user| user["email"] == "bob@example.com")
        .expect("bob")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // No terminal to confirm on: refused, nothing changed.
    let refused = idlog_on(dir, url, &["users", "delete", "bob@example.com"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    assert_eq!(listed(dir, url, &[]).len(), 3);

    let out = succeeds(&idlog_on(
        dir,
        url,
        &["users", "delete", "bob@example.com", "--yes"],
    ));
    assert!(out.contains("deleted"), "{out}");
    assert_eq!(
        emails(&listed(dir, url, &[])),
        ["ann@example.com", "cat@example.com"]
    );
    assert_eq!(
        emails(&listed(dir, url, &["--status", "deleted"])),
        ["bob@example.com"]
    );
    // The email is free again; the deleted user is still shown by id, with the history.
    succeeds(&idlog_on(dir, url, &["users", "create", "bob@example.com"]));
    let shown: serde_json::Value = serde_json::from_slice(
        &succeeds_output(&idlog_on(dir, url, &["users", "show", &bob])).stdout,
    )
    .expect("json");
    assert_eq!(shown["user"]["status"], "deleted");
    // Restoring them now would take an address someone else holds: refused, naming it.
    let clash = idlog_on(dir, url, &["users", "restore", &bob]);
    assert_eq!(clash.status.code(), Some(2), "{}", text(&clash));
    assert!(text(&clash).contains("email"), "{}", text(&clash));

    let refused = idlog_on(dir, url, &["users", "clear-all"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert_eq!(listed(dir, url, &[]).len(), 3);
    let out = succeeds(&idlog_on(dir, url, &["users", "clear-all", "--yes"]));
    assert!(out.contains("deleted 3 users"), "{out}");
    assert!(listed(dir, url, &[]).is_empty());
    assert_eq!(listed(dir, url, &["--status", "deleted"]).len(), 4);
    let history = succeeds(&idlog_on(dir, url, &["events", "history", &bob]));
    assert!(
        history.contains("UserDeleted"),
        "the log keeps it: {history}"
    );
    let out = succeeds(&idlog_on(dir, url, &["users", "clear-all", "--yes"]));
    assert!(out.contains("no users"), "{out}");
}
