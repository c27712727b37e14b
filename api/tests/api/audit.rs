//! Auditors over real HTTP, on SQLite and PostgreSQL: a user's state at a past time or
//! position, their history, the log as NDJSON (verified offline), chain verification and
//! signed checkpoints; and who may see them.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

test_both_backends!(
    a_user_as_of_a_past_time_or_position,
    auditors_read_histories_the_log_and_checkpoints,
    positions_beyond_any_log_are_bad_requests,
);

/// Positions are stored as signed 64-bit integers: one beyond is refused at once, never waited
/// for nor read as a corrupt row.
async fn positions_beyond_any_log_are_bad_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin_id, admin) = app.admin().await;
    let beyond = "9223372036854775808";
    for path in [
        // Beyond the head: no command ever answered with it.
        "/api/v1/users?min_position=1000000".to_owned(),
        format!("/api/v1/users?min_position={beyond}"),
        format!("/api/v1/activity?min_position={beyond}"),
        format!("/api/v1/audit/events?to={beyond}"),
        format!("/api/v1/audit/events?from={beyond}"),
        format!("/api/v1/audit/verify?from={beyond}"),
        format!("/api/v1/audit/verify?to={beyond}"),
        format!("/api/v1/users/{admin_id}?at_position={beyond}"),
    ] {
        problem(get(&app, &path, &admin).await, 400).await;
    }
    let header = app
        .send(
            reqwest::Method::GET,
            "/api/v1/users",
            &admin,
            None,
            &[("x-min-position", beyond)],
        )
        .await;
    problem(header, 400).await;
    // The largest position there can be is merely not reached yet.
    let largest = get(&app, "/api/v1/audit/events?to=9223372036854775807", &admin).await;
    assert_eq!(largest.status(), 200);
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.send(reqwest::Method::GET, path, token, None, &[]).await
}

async fn a_user_as_of_a_past_time_or_position(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let before_registration = chrono::Utc::now();
    let ann = app.register("ann@example.com", PASSWORD).await;
    let registered_at = app.head_position().await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let before_lock = chrono::Utc::now();
    let locked = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/lock"),
            &admin,
            Some(json!({"reason": "audit"})),
            &[],
        )
        .await;
    assert_eq!(locked.status(), 200);

    let now: Value = get(&app, &format!("/api/v1/users/{ann}"), &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(now["locked"], true);

    let as_of = |time: chrono::DateTime<chrono::Utc>| {
        format!(
            "/api/v1/users/{ann}?as_of={}",
            time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .replace('+', "%2B")
        )
    };
    let then = get(&app, &as_of(before_lock), &admin).await;
    assert_eq!(then.status(), 200);
    assert!(
        then.headers().get("etag").is_none(),
        "a past view is not a version to edit"
    );
    let position: u64 = then.headers()["x-as-of-position"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a position");
    assert!(position >= registered_at - 1, "{position}");
    let then: Value = then.json().await.expect("json");
    assert_eq!(then["locked"], false, "{then}");
    assert_eq!(then["email"], "ann@example.com");

    let at = get(
        &app,
        &format!("/api/v1/users/{ann}?at_position={registered_at}"),
        &admin,
    )
    .await;
    assert_eq!(at.status(), 200);
    let at: Value = at.json().await.expect("json");
    assert_eq!(at["locked"], false);

    let missing = get(&app, &as_of(before_registration), &admin).await;
    let body = problem(missing, 404).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("did not exist")
    );
    let both = get(
        &app,
        &format!("/api/v1/users/{ann}?at_position=1&as_of=2026-01-01T00:00:00Z"),
        &admin,
    )
    .await;
    problem(both, 400).await;

    // Ann is locked out now: a second user sees their own past, and not Ann's.
    let bob = app.register("bob@example.com", PASSWORD).await;
    let bob_token = app.login("bob@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let own = get(
        &app,
        &format!(
            "/api/v1/users/{bob}?at_position={}",
            app.head_position().await
        ),
        &bob_token,
    )
    .await;
    assert_eq!(own.status(), 200);
    let other = get(&app, &as_of(before_lock), &bob_token).await;
    problem(other, 404).await;
}

async fn auditors_read_histories_the_log_and_checkpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let created = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users",
            &admin,
            Some(
                json!({"email": "audrey@example.com", "password": PASSWORD, "roles": ["auditor"]}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        created.status(),
        201,
        "{}",
        created.text().await.unwrap_or_default()
    );
    let auditor = app.login("audrey@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let ann = app.register("ann@example.com", PASSWORD).await;
    let ann_token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // A user's history: every event with actor, address and hashes.
    let history = get(&app, &format!("/api/v1/users/{ann}/history"), &auditor).await;
    assert_eq!(history.status(), 200);
    let history: Value = history.json().await.expect("json");
    let events = history["events"].as_array().expect("events");
    let types: Vec<&str> = events
        .iter()
        .map(|event| event["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        &types[..3],
        [
            "UserRegistered",
            "EmailVerificationRequested",
            "LoginSucceeded"
        ]
    );
    assert!(
        events[0]["payload"].get("password_hash").is_none(),
        "secrets stay out of histories: {}",
        events[0]
    );
    assert_eq!(events[0]["payload"]["email"], "ann@example.com");
    let login = &events[2];
    assert_eq!(login["actor"]["id"], json!(ann));
    assert_eq!(login["ip"], "127.0.0.1");
    assert_eq!(login["hash"].as_str().map(str::len), Some(64));
    // A person reads their own history; someone else's is not theirs to see.
    let own = get(&app, &format!("/api/v1/users/{ann}/history"), &ann_token).await;
    assert_eq!(own.status(), 200);
    let anyone = get(&app, "/api/v1/audit/events", &ann_token).await;
    problem(anyone, 403).await;

    // The log as NDJSON: it verifies offline, and a filter selects.
    app.quiet().await;
    let head = app.log.head().await.expect("head");
    let body = get(&app, "/api/v1/audit/events", &auditor).await;
    assert_eq!(body.status(), 200);
    assert_eq!(body.headers()["content-type"], "application/x-ndjson");
    let bytes = body.bytes().await.expect("body");
    let verdict = audit::verify_export(bytes.as_ref(), None, |_| {}).expect("intact");
    assert_eq!(verdict.last_position, head.position);
    assert_eq!(verdict.last_hash, head.hash);
    let ann_only = get(
        &app,
        &format!("/api/v1/audit/events?stream={ann}&type=LoginSucceeded"),
        &auditor,
    )
    .await
    .text()
    .await
    .expect("text");
    assert_eq!(ann_only.lines().count(), 1, "{ann_only}");
    let ranged = get(&app, "/api/v1/audit/events?from=2&to=3", &auditor)
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(ranged.lines().count(), 2, "{ranged}");
    problem(
        get(&app, "/api/v1/audit/events?from=yesterday", &auditor).await,
        400,
    )
    .await;

    // Chain verification over the whole log and over a range.
    let verified: Value = get(&app, "/api/v1/audit/verify", &auditor)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["verified"], json!(head.position));
    assert_eq!(verified["last_hash"], json!(hex::encode(head.hash)));
    let range: Value = get(&app, "/api/v1/audit/verify?from=2&to=4", &auditor)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(range["verified"], 3, "{range}");

    // Checkpoints, as `idlog events checkpoint` records them.
    let none: Value = get(&app, "/api/v1/audit/checkpoints", &auditor)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(none["checkpoints"], json!([]));
    let key = audit::CheckpointKey::from_seed(&[9; 32]);
    let signed = audit::checkpoint::record_checkpoint(
        &app.commands,
        &key,
        eventstore::EventMetadata::default(),
        chrono::Utc::now(),
    )
    .await
    .expect("checkpoint");
    let listed: Value = get(&app, "/api/v1/audit/checkpoints", &auditor)
        .await
        .json()
        .await
        .expect("json");
    let first: domain::audit::SignedCheckpoint =
        serde_json::from_value(listed["checkpoints"][0].clone()).expect("a checkpoint");
    assert_eq!(first, signed);
    assert_eq!(
        audit::checkpoint::verify_signature(&first, &key.public_key()),
        Ok(head_hash_at(&app, first.position).await)
    );

    // Only auditors and administrators.
    for path in [
        "/api/v1/audit/events",
        "/api/v1/audit/verify",
        "/api/v1/audit/checkpoints",
    ] {
        problem(get(&app, path, &ann_token).await, 403).await;
        assert_eq!(get(&app, path, &admin).await.status(), 200, "{path}");
    }
}

async fn head_hash_at(app: &TestApp, position: u64) -> [u8; 32] {
    app.log
        .read_all_stored(position - 1, 1)
        .await
        .expect("read")[0]
        .hash
}
