//! The service as a whole over real HTTP, on SQLite and PostgreSQL: health and readiness,
//! problem+json for unknown paths and bad bodies, registration, the OpenAPI document.

use crate::common::{ann, problem, raw_post};
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{Options, spawn_app, spawn_app_with};
use serde_json::{Value, json};

fn hidden() -> Options {
    let mut options = Options::default();
    options.auth.hide_account_existence = true;
    options
}

// Health

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
    assert_eq!(
        response.headers()["x-request-id"],
        "req-123",
        "a client's request id is echoed"
    );
    let body = problem(response, 404).await;
    assert_eq!(body["type"], "urn:idlog:problem:not-found");
    assert!(body["title"].is_string());
}

// Registration

async fn registering_creates_an_unverified_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post("/api/v1/auth/register", &ann()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let position: u64 = response.headers()["x-log-position"]
        .to_str()
        .expect("header")
        .parse()
        .expect("number");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        location,
        format!("/api/v1/users/{}", body["id"].as_str().expect("id"))
    );
    assert_eq!(body["email"], "ann.lee@example.com");
    assert_eq!(body["username"], "ann_lee");
    assert_eq!(body["phone"], "+14155550100");
    assert_eq!(body["roles"], json!(["user"]));
    assert_eq!(
        (
            body["status"].as_str(),
            body["verification_status"].as_str()
        ),
        (Some("active"), Some("not_verified"))
    );
    assert!(
        body.get("password_hash").is_none() && !body.to_string().contains("argon2"),
        "no hash leaves"
    );

    let events = app.log.read_all(0, 10).await.expect("read");
    assert_eq!(
        events.len() as u64,
        position,
        "registered and verification requested"
    );
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["UserRegistered", "EmailVerificationRequested"]);
    let metadata = events[0].metadata().expect("metadata");
    assert_eq!(metadata.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(metadata.user_agent.as_deref(), Some("idlog-tests/1.0"));
    assert!(metadata.request_id.is_some());
    assert_eq!(metadata.actor.id.as_deref(), body["id"].as_str());
    assert!(
        !events[0].payload.to_string().contains("correct horse"),
        "the password is never stored"
    );
}

async fn a_taken_email_or_username_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.post("/api/v1/auth/register", &ann()).await.status(),
        201
    );
    let mut same_email = ann();
    same_email["email"] = json!("ANN.LEE@example.COM");
    same_email["username"] = json!("someone_else");
    same_email["phone"] = json!(null);
    let body = problem(app.post("/api/v1/auth/register", &same_email).await, 409).await;
    assert_eq!(body["type"], "urn:idlog:problem:email-taken");
    let mut same_username = ann();
    same_username["email"] = json!("other@example.com");
    same_username["phone"] = json!(null);
    let body = problem(app.post("/api/v1/auth/register", &same_username).await, 409).await;
    assert_eq!(body["type"], "urn:idlog:problem:username-taken");
    // The registration's two events and the wallet the worker opened.
    app.quiet().await;
    assert_eq!(
        app.log.head().await.expect("head").position,
        3,
        "refusals appended nothing"
    );
}

async fn invalid_fields_are_reported_together(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"email": "not-an-email", "password": "password1", "phone": "555-0100", "username": "a"});
    let body = problem(app.post("/api/v1/auth/register", &body).await, 422).await;
    assert_eq!(body["type"], "urn:idlog:problem:validation");
    let mut pointers: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/email", "/password", "/phone", "/username"]);
    let short = json!({"email": "bo@example.com", "password": "short"});
    let body = problem(app.post("/api/v1/auth/register", &short).await, 422).await;
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("at least 8")
    );
    let same = json!({"email": "bo@example.com", "password": "BO@example.com"});
    problem(app.post("/api/v1/auth/register", &same).await, 422).await;
    assert_eq!(app.log.head().await.expect("head").position, 0);
}

async fn bad_bodies_are_refused_as_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = format!("{}/api/v1/auth/register", app.address);
    let send = |body: String, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = send("{\"email\": ".into(), "application/json")
        .await
        .expect("request");
    assert_eq!(
        problem(malformed, 400).await["type"],
        "urn:idlog:problem:malformed-json"
    );
    let wrong_type = send(
        json!({"email": 5, "password": "x"}).to_string(),
        "application/json",
    )
    .await
    .expect("request");
    assert_eq!(
        problem(wrong_type, 422).await["type"],
        "urn:idlog:problem:invalid-body"
    );
    let mut unknown = ann();
    unknown["is_admin"] = json!(true);
    let unknown = send(unknown.to_string(), "application/json")
        .await
        .expect("request");
    let body = problem(unknown, 422).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("is_admin")
    );
    let no_type = send(ann().to_string(), "text/plain")
        .await
        .expect("request");
    problem(no_type, 415).await;
    // Declared too large: refused before the body is read.
    let response = raw_post(
        &app.address,
        "/api/v1/auth/register",
        api::MAX_BODY_BYTES + 1,
        b"",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{response}"
    );
    assert!(
        response.contains("urn:idlog:problem:body-too-large"),
        "{response}"
    );
    let wrong_method = app.client.get(&url).send().await.expect("request");
    assert_eq!(
        problem(wrong_method, 405).await["type"],
        "urn:idlog:problem:method-not-allowed"
    );
    assert_eq!(app.log.head().await.expect("head").position, 0);
}

async fn hidden_account_existence_answers_alike(backend: Backend) {
    let app = spawn_app_with(backend, hidden()).await;
    let first = app.post("/api/v1/auth/register", &ann()).await;
    let second = app.post("/api/v1/auth/register", &ann()).await;
    assert_eq!(
        (first.status(), second.status()),
        (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED)
    );
    let (first, second): (Value, Value) = (
        first.json().await.expect("json"),
        second.json().await.expect("json"),
    );
    assert_eq!(first, second);
    app.quiet().await;
    assert_eq!(
        app.log.head().await.expect("head").position,
        3,
        "only the first registered (two events, and the wallet the worker opened)"
    );
}

// The API description

async fn the_openapi_document_covers_every_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    let expected = [
        ("get", "/health"),
        ("get", "/health/ready"),
        ("get", "/.well-known/jwks.json"),
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("post", "/api/v1/auth/logout-all"),
        ("get", "/api/v1/auth/me"),
        ("post", "/api/v1/auth/password/change"),
        ("post", "/api/v1/auth/password/forgot"),
        ("post", "/api/v1/auth/password/reset"),
        ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions/{id}"),
        ("post", "/api/v1/auth/introspect"),
        ("post", "/api/v1/auth/login/mfa"),
        ("post", "/api/v1/auth/mfa/totp/enroll"),
        ("post", "/api/v1/auth/mfa/totp/confirm"),
        ("delete", "/api/v1/auth/mfa/totp"),
        ("post", "/api/v1/auth/email/verify/send"),
        ("post", "/api/v1/auth/email/verify"),
        ("get", "/api/v1/auth/email/verify"),
        ("post", "/api/v1/auth/phone/verify/send"),
        ("post", "/api/v1/auth/phone/verify"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/users/me"),
        ("patch", "/api/v1/users/me"),
        ("get", "/api/v1/users/{id}"),
        ("patch", "/api/v1/users/{id}"),
        ("delete", "/api/v1/users/{id}"),
        ("post", "/api/v1/users/{id}/lock"),
        ("post", "/api/v1/users/{id}/unlock"),
        ("post", "/api/v1/users/{id}/deactivate"),
        ("post", "/api/v1/users/{id}/reactivate"),
        ("post", "/api/v1/users/{id}/password-reset"),
        ("put", "/api/v1/users/{id}/password"),
        ("post", "/api/v1/users/{id}/verify-email"),
        ("post", "/api/v1/users/{id}/verify-phone"),
        ("post", "/api/v1/users/{id}/restore"),
        ("get", "/api/v1/users/{id}/lockout"),
        ("post", "/api/v1/users/{id}/forget"),
        ("get", "/api/v1/users/{id}/export"),
        ("get", "/api/v1/users/{id}/profile"),
        ("put", "/api/v1/users/{id}/profile"),
        ("post", "/api/v1/users/{id}/profile/picture"),
        ("get", "/api/v1/users/{id}/profile/picture"),
        ("delete", "/api/v1/users/{id}/profile/picture"),
        ("post", "/api/v1/organizations"),
        ("get", "/api/v1/organizations/{id}"),
        ("patch", "/api/v1/organizations/{id}"),
        ("get", "/api/v1/partners/{code}"),
        ("get", "/api/v1/permissions"),
        ("post", "/api/v1/permissions"),
        ("delete", "/api/v1/permissions/{name}"),
        ("post", "/api/v1/organizations/{id}/members"),
        ("get", "/api/v1/organizations/{id}/api-keys"),
        ("get", "/api/v1/organizations/{id}/partner-activity"),
        ("post", "/api/v1/organizations/{id}/partner-activity"),
        ("get", "/api/v1/analytics/partners/{id}"),
        ("get", "/api/v1/analytics/transactions"),
        ("get", "/api/v1/partner-actions"),
        ("post", "/api/v1/partner-actions"),
        ("delete", "/api/v1/partner-actions/{name}"),
        ("get", "/api/v1/users/{id}/wallet"),
        ("get", "/api/v1/users/{id}/wallet/history"),
        ("post", "/api/v1/users/{id}/wallet/credit"),
        ("post", "/api/v1/users/{id}/wallet/debit"),
        ("post", "/api/v1/users/{id}/wallet/freeze"),
        ("post", "/api/v1/users/{id}/wallet/unfreeze"),
        ("get", "/api/v1/ip-blocks"),
        ("post", "/api/v1/ip-blocks"),
        ("delete", "/api/v1/ip-blocks/{network}"),
        ("get", "/api/v1/roles"),
        ("post", "/api/v1/roles"),
        ("put", "/api/v1/roles/{role}"),
        ("delete", "/api/v1/roles/{role}"),
        ("get", "/api/v1/roles/{role}/users"),
        ("put", "/api/v1/users/{id}/role-profiles/{role}"),
        ("post", "/api/v1/organizations/{id}/api-keys"),
        ("delete", "/api/v1/organizations/{id}/api-keys/{key_id}"),
        ("patch", "/api/v1/organizations/{id}/members/{user_id}"),
        ("delete", "/api/v1/organizations/{id}/members/{user_id}"),
        ("post", "/api/v1/organizations/{id}/invitations"),
        ("get", "/api/v1/organizations/{id}/invitations"),
        ("delete", "/api/v1/organizations/{id}/invitations/{user_id}"),
        ("get", "/api/v1/auth/invitations"),
        ("post", "/api/v1/auth/invitations/{organization_id}/accept"),
        ("post", "/api/v1/auth/invitations/{organization_id}/decline"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users/search"),
        ("get", "/api/v1/users/{id}/sessions"),
        ("delete", "/api/v1/users/{id}/sessions/{session_id}"),
        ("get", "/api/v1/users/{id}/activity"),
        ("get", "/api/v1/users/{id}/notifications"),
        ("get", "/api/v1/users/{id}/devices"),
        ("get", "/api/v1/activity"),
        ("get", "/api/v1/analytics/dashboard"),
        ("get", "/api/v1/analytics/daily"),
        ("get", "/api/v1/analytics/organizations/{id}"),
        ("get", "/api/v1/analytics/verification-funnel"),
        ("get", "/api/v1/organizations"),
        ("get", "/api/v1/organizations/{id}/members"),
        ("get", "/metrics"),
        ("post", "/api/v1/admin/storage/verify"),
        ("post", "/api/v1/admin/storage/rebuild"),
        ("get", "/api/v1/admin/deliveries"),
        ("get", "/api/v1/admin/processing"),
        ("post", "/api/v1/admin/read-models/{name}/retry"),
        ("post", "/api/v1/admin/read-models/{name}/skip"),
        ("post", "/api/v1/admin/workers/dead-letters/retry"),
        ("get", "/api/v1/users/{id}/history"),
        ("get", "/api/v1/audit/events"),
        ("get", "/api/v1/audit/verify"),
        ("get", "/api/v1/audit/checkpoints"),
    ];
    let paths = document["paths"].as_object().expect("paths");
    let documented: usize = paths
        .values()
        .map(|operations| operations.as_object().expect("operations").len())
        .sum();
    assert_eq!(
        documented,
        expected.len(),
        "every documented operation is expected, and the reverse"
    );
    for (method, path) in expected {
        let operation = &document["paths"][path][method];
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is documented"));
        let problems = responses
            .iter()
            .filter(|(_, answer)| answer["content"].get("application/problem+json").is_some());
        if path != "/health" && path != "/.well-known/jwks.json" && path != "/metrics" {
            assert!(problems.count() > 0, "{method} {path} documents its errors");
        }
        if operation["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            assert!(
                responses.contains_key("422"),
                "{method} {path} documents validation errors"
            );
        }
    }
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for schema in [
        "Problem",
        "FieldError",
        "UserView",
        "TokenResponse",
        "LoginRequest",
        "RegisterRequest",
    ] {
        assert!(schemas.contains_key(schema), "{schema} is described");
    }
    let docs = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .expect("request");
    assert_eq!(docs.status(), 200);
    assert!(
        docs.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    // Everything the page loads is idlog's own: it works without internet.
    let html = docs.text().await.expect("html");
    let loaded: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/assets/") || part.contains("://"))
        .collect();
    assert!(loaded.len() >= 3, "{loaded:?}");
    for address in loaded {
        assert!(address.starts_with("/assets/"), "/docs loads {address}");
        let file = app
            .client
            .get(app.url(address))
            .send()
            .await
            .expect("asset");
        assert_eq!(file.status(), 200, "{address}");
    }
}

test_both_backends!(
    the_openapi_document_covers_every_endpoint,
    health_answers,
    readiness_checks_the_database,
    unknown_paths_are_problem_json,
    registering_creates_an_unverified_user,
    a_taken_email_or_username_is_a_conflict,
    invalid_fields_are_reported_together,
    bad_bodies_are_refused_as_problems,
    hidden_account_existence_answers_alike,
);
