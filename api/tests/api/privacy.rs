//! Forgetting and exporting a person over real HTTP, on SQLite and PostgreSQL: who may do it,
//! and what the log says afterwards.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::spawn_app;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn only_the_person_with_their_password_or_an_administrator_may_forget(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    let bob = app.register("bob@example.com", PASSWORD).await;
    let ann_token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let post = |path: String, token: String, body: Value| {
        let app = &app;
        async move {
            app.send(reqwest::Method::POST, &path, &token, Some(body), &[])
                .await
        }
    };
    app.quiet().await;
    let head = app.head_position().await;

    // Someone else: not found to them, with or without a password.
    let other = post(
        format!("/api/v1/users/{bob}/forget"),
        ann_token.clone(),
        json!({"password": PASSWORD}),
    )
    .await;
    problem(other, 404).await;
    // Themself: only with their password.
    let missing = post(
        format!("/api/v1/users/{ann}/forget"),
        ann_token.clone(),
        json!({}),
    )
    .await;
    let missing = problem(missing, 403).await;
    assert_eq!(missing["errors"][0]["pointer"], "/password", "{missing}");
    let wrong = post(
        format!("/api/v1/users/{ann}/forget"),
        ann_token.clone(),
        json!({"password": "not it at all, no"}),
    )
    .await;
    problem(wrong, 403).await;
    let unknown_field = post(
        format!("/api/v1/users/{ann}/forget"),
        admin.clone(),
        json!({"reason": "x"}),
    )
    .await;
    problem(unknown_field, 422).await;
    assert_eq!(app.head_position().await, head, "nothing appended");

    // A plain user cannot export someone else: not found to them.
    let someone = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{bob}/export"),
            &ann_token,
            None,
            &[],
        )
        .await;
    problem(someone, 404).await;

    let forgot = post(
        format!("/api/v1/users/{ann}/forget"),
        ann_token.clone(),
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(forgot.status(), 200);
    assert!(forgot.headers().contains_key("x-log-position"));
    let body: Value = forgot.json().await.expect("json");
    assert_eq!(body["status"], "forgotten");
    assert_eq!(body["events_in_clear"], 0);
    // Her token died with her sessions.
    let me = app.get_with_token("/api/v1/auth/me", &ann_token).await;
    assert_eq!(me.status(), 401);

    // An administrator forgets bob (idempotently); forgetting again is "not found".
    let key = [("idempotency-key", "forget-bob")];
    let first = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{bob}/forget"),
            &admin,
            Some(json!({})),
            &key,
        )
        .await;
    assert_eq!(first.status(), 200);
    let retried = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{bob}/forget"),
            &admin,
            Some(json!({})),
            &key,
        )
        .await;
    assert_eq!(
        retried.status(),
        200,
        "an idempotent retry answers the same"
    );
    assert_eq!(
        app.events_of_type("UserForgotten").await.len(),
        2,
        "appended once each"
    );
    let again = post(
        format!("/api/v1/users/{bob}/forget"),
        admin.clone(),
        json!({}),
    )
    .await;
    problem(again, 404).await;
    let export = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{bob}/export"),
            &admin,
            None,
            &[],
        )
        .await;
    problem(export, 404).await;

    // The log: sessions revoked before the forgetting, both keys destroyed, chain intact.
    let revoked = app.events_of_type("SessionRevoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].payload["reason"], "user_forgotten");
    let stream = app.log.read_stream(&ann).await.expect("read");
    assert_eq!(stream[0].payload["email"], json!({"$erased": true}));
    assert_eq!(
        app.log.verify_chain(|_| {}).await.expect("verify").broken,
        None
    );
    // The same address registers again as a new person.
    let anew = app.register("ann@example.com", PASSWORD).await;
    assert_ne!(anew, ann);
}

async fn a_person_exports_their_own_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let ann = app.register("ann@example.com", PASSWORD).await;
    // An administrator acts on Ann: their address and user agent are theirs, not Ann's.
    let locked = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/lock"),
            &admin,
            Some(serde_json::json!({"reason": "a check"})),
            &[("user-agent", "admin-console/1")],
        )
        .await;
    assert_eq!(locked.status(), 200);
    let export = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{ann}/export"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(export.status(), 200);
    let body: Value = export.json().await.expect("json");
    let by_others: Vec<&Value> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .chain(body["activity"].as_array().expect("activity"))
        .filter(|entry| {
            let actor = entry["actor"]["id"].as_str().or(entry["actor_id"].as_str());
            actor != Some(ann.as_str())
        })
        .collect();
    assert!(
        by_others
            .iter()
            .any(|entry| entry["event_type"] == "AccountLocked"),
        "{body}"
    );
    assert!(
        by_others
            .iter()
            .all(|entry| entry["ip"].is_null() && entry["user_agent"].is_null()),
        "{by_others:?}"
    );
    let unlocked = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/users/{ann}/unlock"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(unlocked.status(), 200);
    let token = app.login("ann@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let export = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{ann}/export"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains(&format!("idlog-user-{ann}.json"))
    );
    let body: Value = export.json().await.expect("json");
    assert_eq!(body["format"], "idlog.personal-data.v1");
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["events"][0]["event_type"], "UserRegistered");
    assert_eq!(body["events"][0]["payload"]["email"], "ann@example.com");
    assert!(body["events"][0]["payload"].get("password_hash").is_none());
    assert_eq!(body["session_events"].as_object().map(|s| s.len()), Some(1));
    // An administrator gets the same document.
    let by_admin = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/users/{ann}/export"),
            &admin,
            None,
            &[],
        )
        .await;
    assert_eq!(by_admin.status(), 200);
}

test_both_backends!(
    only_the_person_with_their_password_or_an_administrator_may_forget,
    a_person_exports_their_own_data,
);
