//! `idlog maintenance ...`, on SQLite and PostgreSQL: expired tokens and lapsed sessions recorded
//! as such (once), and activity rows pruned only with consent, the log left alone.

use super::common::{self, idlog_on, succeeds, text};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};

test_both_backends!(
    housekeeping_of_tokens_and_sessions,
    prune_activity_asks_first_and_leaves_the_log_alone,
);

/// Appends `events` of aggregate `A` to a new stream, as if they had happened (with times in the
/// past, which no command run now can produce).
async fn seed<A: domain::Aggregate>(url: &str, stream_id: &str, events: &[A::Event]) {
    use domain::DomainEvent;
    let opened = eventstore::open(url, 2).await.expect("open");
    let events = events
        .iter()
        .map(|event| eventstore::NewEvent {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.to_payload().expect("payload"),
            personal_fields: vec![],
        })
        .collect();
    opened
        .log
        .append(eventstore::AppendRequest::new(
            stream_id,
            A::STREAM_TYPE,
            eventstore::ExpectedVersion::NoStream,
            events,
        ))
        .await
        .expect("append");
}

async fn housekeeping_of_tokens_and_sessions(backend: Backend) {
    use domain::session::{SessionAggregate, SessionEvent};
    use domain::user::{ResetPurpose, UserAggregate, UserEvent};
    use domain::values::{Email, PendingToken, TokenHash};
    let db = TestDb::new(backend).await.expect("test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let (dir, url) = (dir.path(), db.url.as_str());
    let now = chrono::Utc::now();
    let long_ago = now - chrono::TimeDelta::days(40);
    // A user invited 40 days ago (the link lasted a week), with a session that ran out.
    let user_id = domain::UserId::from_uuid(uuid::Uuid::now_v7());
    seed::<UserAggregate>(
        url,
        &user_id.to_string(),
        &[
            UserEvent::UserCreated {
                user_id,
                email: Email::parse("old@example.com").expect("email").into(),
                username: None,
                phone: None,
                first_name: None,
                last_name: None,
                roles: Default::default(),
                password_hash: None,
                preferred_language: None,
                at: long_ago,
            },
            UserEvent::PasswordResetRequested {
                purpose: ResetPurpose::Invitation,
                token: PendingToken {
                    token_hash: TokenHash::from_bytes([1; 32]),
                    issued_at: long_ago,
                    expires_at: long_ago + chrono::TimeDelta::days(7),
                },
            },
        ],
    )
    .await;
    let session_id = domain::SessionId::from_uuid(uuid::Uuid::now_v7());
    seed::<SessionAggregate>(
        url,
        &session_id.to_string(),
        &[SessionEvent::SessionStarted {
            session_id,
            user_id,
            client: domain::session::SessionClient::Api,
            device: None,
            ip: None,
            user_agent: None,
            refresh_token_hash: TokenHash::from_bytes([2; 32]),
            idle_timeout_seconds: 1800,
            expires_at: long_ago + chrono::TimeDelta::days(30),
            at: long_ago,
        }],
    )
    .await;
    // A user invited just now: their link stays.
    succeeds(&idlog_on(dir, url, &["users", "create", "new@example.com"]));

    let out = succeeds(&idlog_on(dir, url, &["maintenance", "cleanup-tokens"]));
    assert!(
        out.contains("2 users checked: expired tokens discarded for 1"),
        "{out}"
    );
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", &user_id.to_string()],
    ));
    assert!(history.contains("ExpiredTokensDiscarded"), "{history}");
    let history = succeeds(&idlog_on(
        dir,
        url,
        &["events", "history", "new@example.com"],
    ));
    assert!(!history.contains("ExpiredTokensDiscarded"), "{history}");
    let out = succeeds(&idlog_on(dir, url, &["maintenance", "cleanup-tokens"]));
    assert!(
        out.contains("discarded for 0"),
        "a second run finds nothing: {out}"
    );

    let out = succeeds(&idlog_on(dir, url, &["maintenance", "expire-sessions"]));
    assert!(out.contains("1 expired sessions ended"), "{out}");
    let tail = succeeds(&idlog_on(
        dir,
        url,
        &["events", "tail", "--stream", &session_id.to_string()],
    ));
    assert!(tail.contains("SessionEnded"), "{tail}");
    let out = succeeds(&idlog_on(dir, url, &["maintenance", "expire-sessions"]));
    assert!(out.contains("0 expired sessions ended"), "{out}");
}

async fn prune_activity_asks_first_and_leaves_the_log_alone(backend: Backend) {
    let (db, dir) = common::two_users(backend).await;
    let rebuilt = idlog_on(dir.path(), &db.url, &["projections", "rebuild", "activity"]);
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    let refused = idlog_on(
        dir.path(),
        &db.url,
        &["maintenance", "prune-activity", "--older-than", "90d"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let kept = idlog_on(
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
    let status = idlog_on(dir.path(), &db.url, &["projections", "status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        report["projections"][0]["head"].as_u64(),
        Some(head),
        "the log is untouched"
    );
}
