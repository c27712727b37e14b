//! Partner activity over real HTTP, on SQLite and PostgreSQL: a partner's systems record what
//! they sent and received with the flag for each direction, retries are recorded once, records
//! show in the activity log, lists show each caller the kinds their flags open, and the figures
//! per partner and across partners add up.

use crate::common::problem;
use eventstore::test_both_backends;
use eventstore::testing::Backend;
use idlog::testing::{TestApp, spawn_app};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    app.send(method, path, token, body, headers).await
}

/// An organization named `name` with partner code `code`; answers its id.
async fn partner(app: &TestApp, admin: &str, name: &str, code: &str) -> String {
    let body = json!({"name": name, "partner": {
        "code": code, "communication": "api", "edi_format": "X12",
        "sender_id": format!("{code}S"), "receiver_id": format!("{code}R")
    }});
    let created = send(
        app,
        reqwest::Method::POST,
        "/api/v1/organizations",
        admin,
        Some(body),
        &[],
    )
    .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A key of `organization` with `permissions`, created by an administrator.
async fn key(app: &TestApp, admin: &str, organization: &str, permissions: &[&str]) -> String {
    let created = send(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{organization}/api-keys"),
        admin,
        Some(json!({"name": permissions.join(" "), "permissions": permissions})),
        &[],
    )
    .await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn record(
    app: &TestApp,
    organization: &str,
    token: &str,
    body: Value,
    idempotency: Option<&str>,
) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = idempotency
        .map(|key| ("idempotency-key", key))
        .into_iter()
        .collect();
    send(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{organization}/partner-activity"),
        token,
        Some(body),
        &headers,
    )
    .await
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn a_partner_records_each_direction_with_its_flag_and_retries_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = partner(&app, &admin, "acme", "ACME001").await;
    let uploader = key(&app, &admin, &acme, &["can_upload_files"]).await;
    let downloader = key(&app, &admin, &acme, &["can_download_files"]).await;

    let sent = json!({
        "action": "transaction_sent",
        "resource_type": "edi_document",
        "resource_id": "PO-1001",
        "details": {"filename": "po-1001.edi", "size": 2048, "document_type": "850"},
        "status": "ok"
    });
    let first = record(&app, &acme, &uploader, sent.clone(), Some("po-1001")).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["folder"], "sent");
    assert_eq!(first["kind"], "transaction");
    assert_eq!(first["document_type"], "850");
    // The partner's system retries: the same record, nothing new.
    let again = record(&app, &acme, &uploader, sent.clone(), Some("po-1001")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["record_id"], first["record_id"]);
    assert_eq!(app.events_of_type("PartnerActivityRecorded").await.len(), 1);
    // The same key with another body is refused.
    let changed = json!({"action": "transaction_sent", "status": "error"});
    let reused = problem(
        record(&app, &acme, &uploader, changed, Some("po-1001")).await,
        422,
    )
    .await;
    assert!(
        reused["type"]
            .as_str()
            .expect("type")
            .ends_with("idempotency-key-reused")
    );
    // Another partner's same key is its own record.
    let globex = partner(&app, &admin, "globex", "GLOBEX1").await;
    let globex_systems = key(&app, &admin, &globex, &["can_upload_files"]).await;
    let theirs = record(
        &app,
        &globex,
        &globex_systems,
        sent.clone(),
        Some("po-1001"),
    )
    .await;
    assert_eq!(theirs.status(), 201);
    assert!(theirs.headers().get("idempotent-replayed").is_none());

    // Retries sent at once meet on one record.
    let retry = json!({"action": "transaction_sent", "status": "ok", "resource_id": "PO-2"});
    let answers = futures::future::join_all(
        (0..8).map(|_| record(&app, &acme, &uploader, retry.clone(), Some("po-2"))),
    )
    .await;
    let mut ids = std::collections::BTreeSet::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        let body: Value = answer.json().await.expect("json");
        ids.insert(body["record_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.events_of_type("PartnerActivityRecorded").await.len(), 3);

    // Each direction needs its flag.
    let received = json!({"action": "file_downloaded", "details": {"filename": "997.edi"}});
    problem(
        record(&app, &acme, &uploader, received.clone(), None).await,
        403,
    )
    .await;
    assert_eq!(
        record(&app, &acme, &downloader, received, None)
            .await
            .status(),
        201
    );
    // A transaction says how it ended; a failed one is filed in error.
    let unended = json!({"action": "transaction_received"});
    let body = problem(record(&app, &acme, &downloader, unended, None).await, 422).await;
    assert_eq!(body["errors"][0]["pointer"], "/status");
    let failed =
        json!({"action": "transaction_received", "status": "error", "resource_id": "INV-7"});
    let failed: Value = record(&app, &acme, &downloader, failed, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(failed["folder"], "error");
    // An unknown action is named as such to who may record.
    let unknown = json!({"action": "teleported"});
    let body = problem(record(&app, &acme, &uploader, unknown, None).await, 422).await;
    assert_eq!(body["errors"][0]["pointer"], "/action");

    // Every record is in the activity log, under the key, about acme.
    let head = app.head_position().await;
    let activity = json_of(
        app.get_with_token(
            &format!(
                "/api/v1/activity?action=PartnerActivityRecorded&organization={acme}&min_position={head}"
            ),
            &admin,
        )
        .await,
    )
    .await;
    let rows = activity["items"].as_array().expect("items");
    assert_eq!(rows.len(), 4, "{activity}");
    assert!(
        rows.iter().all(|row| row["actor_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("api-key:"))),
        "{activity}"
    );
}

async fn lists_and_figures_show_what_each_caller_may_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = partner(&app, &admin, "acme", "ACME001").await;
    let globex = partner(&app, &admin, "globex", "GLOBEX1").await;
    let systems = key(
        &app,
        &admin,
        &acme,
        &["can_upload_files", "can_download_files"],
    )
    .await;
    let globex_systems = key(&app, &admin, &globex, &["can_upload_files"]).await;
    for (action, status) in [
        ("transaction_sent", "ok"),
        ("transaction_sent", "ok"),
        ("transaction_sent", "error"),
        ("transaction_received", "ok"),
    ] {
        let body = json!({"action": action, "status": status});
        assert_eq!(
            record(&app, &acme, &systems, body, None).await.status(),
            201
        );
    }
    let upload = json!({"action": "file_uploaded", "details": {"filename": "a.csv", "size": 10}});
    assert_eq!(
        record(&app, &acme, &systems, upload, None).await.status(),
        201
    );
    let globex_sent = json!({"action": "transaction_sent", "status": "ok"});
    assert_eq!(
        record(&app, &globex, &globex_systems, globex_sent, None)
            .await
            .status(),
        201
    );
    let head = app.head_position().await;

    // A member with can_view_transactions reads transactions, not file transfers.
    let viewer_id = app.register("viewer@example.com", PASSWORD).await;
    let added = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/organizations/{acme}/members"),
        &admin,
        Some(json!({"user_id": viewer_id, "role": "readonly", "permissions": ["can_view_transactions"]})),
        &[],
    )
    .await;
    assert_eq!(added.status(), 201);
    let viewer = app.login("viewer@example.com", PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let list = |token: String, query: &'static str| {
        let app = &app;
        let acme = acme.clone();
        async move {
            app.get_with_token(
                &format!(
                    "/api/v1/organizations/{acme}/partner-activity?min_position={head}{query}"
                ),
                &token,
            )
            .await
        }
    };
    let theirs = json_of(list(viewer.clone(), "").await).await;
    let items = theirs["items"].as_array().expect("items");
    assert_eq!(items.len(), 4, "{theirs}");
    assert!(items.iter().all(|item| item["kind"] == "transaction"));
    problem(list(viewer.clone(), "&kind=file").await, 403).await;
    // The key (file flags only) reads file transfers, not transactions.
    let files = json_of(list(systems.clone(), "").await).await;
    assert_eq!(files["items"].as_array().map(Vec::len), Some(1), "{files}");
    assert_eq!(files["items"][0]["filename"], "a.csv");
    // Filters and pages.
    let failed = json_of(list(admin.clone(), "&status=error").await).await;
    assert_eq!(failed["items"].as_array().map(Vec::len), Some(1));
    let page = json_of(list(admin.clone(), "&kind=transaction&limit=3").await).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = json_of(
        app.get_with_token(
            &format!(
                "/api/v1/organizations/{acme}/partner-activity?kind=transaction&limit=3&cursor={cursor}"
            ),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());

    // acme's figures: 3 sent, 1 received, 3 of 4 ok, the failed one listed.
    let figures = json_of(
        app.get_with_token(
            &format!("/api/v1/analytics/partners/{acme}?days=7&min_position={head}"),
            &viewer,
        )
        .await,
    )
    .await;
    assert_eq!(figures["figures"]["sent"], 3, "{figures}");
    assert_eq!(figures["figures"]["received"], 1);
    assert_eq!(figures["figures"]["failed"], 1);
    assert_eq!(figures["figures"]["success_rate"], 0.75);
    // File counts only for who may read file transfers.
    assert!(figures["figures"]["files_sent"].is_null(), "{figures}");
    let staff = json_of(
        app.get_with_token(
            &format!("/api/v1/analytics/partners/{acme}?days=7&min_position={head}"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(staff["figures"]["files_sent"], 1, "{staff}");
    assert_eq!(
        figures["figures"]["daily"].as_array().map(Vec::len),
        Some(7)
    );
    assert_eq!(figures["recent"].as_array().map(Vec::len), Some(4));
    assert_eq!(figures["failed"].as_array().map(Vec::len), Some(1));
    // Not globex's.
    problem(
        app.get_with_token(&format!("/api/v1/analytics/partners/{globex}"), &viewer)
            .await,
        404,
    )
    .await;

    // Across partners: an analyst sees both; the member their own organization's.
    let everyone = json_of(
        app.get_with_token(
            &format!("/api/v1/analytics/transactions?min_position={head}"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(everyone["figures"]["sent"], 4, "{everyone}");
    let lines = everyone["partners"].as_array().expect("partners");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["partner_code"], "ACME001");
    let own = json_of(
        app.get_with_token("/api/v1/analytics/transactions", &viewer)
            .await,
    )
    .await;
    assert_eq!(own["figures"]["sent"], 3, "{own}");
    assert_eq!(own["partners"].as_array().map(Vec::len), Some(1));
}

async fn administrators_extend_the_catalog_of_actions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, admin) = app.admin().await;
    let acme = partner(&app, &admin, "acme", "ACME001").await;
    let receiver = key(&app, &admin, &acme, &["can_download_files"]).await;
    let ack =
        json!({"name": "acknowledgment_received", "kind": "transaction", "direction": "received"});
    let defined = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/partner-actions",
        &admin,
        Some(ack.clone()),
        &[],
    )
    .await;
    assert_eq!(defined.status(), 201);
    let catalog: Value = app
        .get_with_token("/api/v1/partner-actions", &receiver)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        catalog["active"].as_array().map(Vec::len),
        Some(5),
        "{catalog}"
    );
    let body = json!({"action": "acknowledgment_received", "status": "ok"});
    let recorded: Value = record(&app, &acme, &receiver, body.clone(), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(recorded["folder"], "received");
    // Built-in actions stay; a retired one is refused from then on.
    let builtin = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/partner-actions/transaction_sent",
        &admin,
        None,
        &[],
    )
    .await;
    problem(builtin, 409).await;
    let retired = send(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/partner-actions/acknowledgment_received",
        &admin,
        None,
        &[],
    )
    .await;
    assert_eq!(retired.status(), 204);
    problem(record(&app, &acme, &receiver, body, None).await, 422).await;
}

test_both_backends!(
    a_partner_records_each_direction_with_its_flag_and_retries_once,
    lists_and_figures_show_what_each_caller_may_read,
    administrators_extend_the_catalog_of_actions,
);
