//! The HTTP API over real HTTP, on SQLite and PostgreSQL.

use api::{AppState, Application};
use commands::{ClaimHasher, CommandHandler};
use eventstore::test_both_backends;
use eventstore::testing::{Backend, TestDb};
use serde_json::Value;

struct TestApp {
    address: String,
    client: reqwest::Client,
    _db: TestDb,
}

/// The real server on a random port over a fresh database.
async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDb::new(backend).await.expect("test database");
    let log = db.open().await.expect("open").log;
    let state = AppState {
        commands: CommandHandler::new(log, ClaimHasher::new([7; 32])),
    };
    let app = Application::build("127.0.0.1:0".parse().expect("address"), state)
        .await
        .expect("bind");
    let address = format!("http://{}", app.local_addr().expect("address"));
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::new(),
        _db: db,
    }
}

async fn health_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

async fn readiness_checks_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(format!("{}/health/ready", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["status"].as_str(), body["log_head"].as_u64()),
        (Some("ready"), Some(0))
    );
}

async fn unknown_paths_are_problem_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(format!("{}/no/such/thing", app.address))
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response.headers()["x-request-id"],
        "req-123",
        "a client's request id is echoed"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "urn:idlog:problem:not-found");
    assert_eq!(body["status"], 404);
    assert!(body["title"].is_string());
}

test_both_backends!(
    health_answers,
    readiness_checks_the_database,
    unknown_paths_are_problem_json
);
